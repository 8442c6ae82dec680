//! The v2 pipeline, driven one decode step at a time so that many requests share one batched GPT
//! decode (upstream `TTS.run` with `parallel_infer`, but across requests):
//!
//! `start`: text → sentences → (phones, BERT) per sentence, voice prompt prepended.
//! `step`:  one `BatchDecoder::step` for every active sentence of every job; new tokens feed the
//!          job's streaming [`Chunker`] (token streaming) or wait for the sentence's end; SoVITS
//!          turns them into audio, which comes back as [`Event::Audio`] in order.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gsv_text::{LanguageSetting, SplitMethod};
use mlx_rs::{ops::indexing::IndexOp, random, Array};

use super::chunker::{ChunkPlan, Chunker, Playback};
use super::voice::Voice;
use super::{Models, TtsError};
use crate::models::gpt::decode::{BatchDecoder, DecodeRequest, SeqId, StopReason};
use crate::models::gpt::sampling::SamplingParams;
use crate::models::sovits::to_int16;

pub type JobId = u64;

/// How a job's audio is delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delivery {
    /// One chunk per sentence, decoded from the whole sentence (upstream's quality).
    Sentence,
    /// Chunks as tokens decode (see [`ChunkPlan`]); needs speed 1.
    Tokens(ChunkPlan),
}

/// A synthesis request as the pipeline takes it (validated by the caller).
#[derive(Clone)]
pub struct Request {
    pub text: String,
    pub language: LanguageSetting,
    pub voice: Arc<Voice>,
    pub sampling: SamplingParams,
    pub seed: u64,
    pub speed: f32,
    pub split: SplitMethod,
    /// Seconds of silence after each sentence (upstream `fragment_interval`, 0.3).
    pub fragment_interval: f32,
    /// SoVITS noise scale (upstream 0.5, not exposed by api_v2).
    pub noise_scale: f32,
    pub delivery: Delivery,
    /// Benchmarks and the warm-up only: decode exactly this many tokens per sentence, EOS ignored
    /// (random-weight models never say when to stop); `None` = upstream's stop rules.
    pub fixed_tokens: Option<usize>,
}

impl Request {
    /// `text` in `language` spoken by `voice`, with upstream's defaults for the rest (sampling,
    /// speed 1, no splitting, no pause after the sentence, noise scale 0.5, its stop rules), seed 1.
    pub fn new(text: impl Into<String>, language: LanguageSetting, voice: Arc<Voice>, delivery: Delivery) -> Self {
        Self {
            text: text.into(),
            language,
            voice,
            sampling: SamplingParams::default(),
            seed: 1,
            speed: 1.0,
            split: SplitMethod::Cut0,
            fragment_interval: 0.0,
            noise_scale: 0.5,
            delivery,
            fixed_tokens: None,
        }
    }
}

/// Per-job numbers, reported when the job ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub sentences: usize,
    pub tokens: usize,
    pub samples: usize,
    /// Seconds per stage: `text`, `gpt`, `sovits`.
    pub stages: Vec<(&'static str, f64)>,
}

#[derive(Debug)]
pub enum Event {
    /// Mono int16 PCM at the SoVITS rate (32 kHz for v2), in order.
    Audio(Vec<i16>),
    Done(Stats),
    Failed(TtsError),
}

/// One sentence ready for the models.
struct Sentence {
    phones: Vec<i64>,
    gpt_phones: Vec<i32>,
    gpt_bert: Array,
}

struct Job {
    req: Request,
    sentences: Vec<Sentence>,
    /// Index of the sentence being decoded.
    current: usize,
    seq: Option<SeqId>,
    tokens: Vec<u32>,
    chunker: Option<Chunker>,
    /// What the listener has been sent and not played yet (streaming pace).
    playback: Playback,
    /// Seconds the last streamed window took to decode.
    last_window_seconds: f64,
    /// Standard-normal SoVITS noise for the current sentence, drawn once per sentence so that
    /// re-decoded windows see the same draw.
    noise: Option<Array>,
    stats: Stats,
    gpt_seconds: f64,
    sovits_seconds: f64,
    /// Frontend and BERT time (BERT is evaluated when its sentence starts).
    text_seconds: f64,
    /// Most GPT steps the whole job may take (the engine's per-request token budget).
    budget: usize,
    /// GPT steps taken so far, over all sentences.
    steps: usize,
    /// The current sentence's step cap was lowered to fit the budget.
    capped: bool,
}

pub struct Pipeline {
    pub models: Models,
    decoder: BatchDecoder,
    jobs: HashMap<JobId, Job>,
    by_seq: HashMap<SeqId, JobId>,
}

/// Most GPT steps per sentence (upstream's loop bound).
const MAX_SENTENCE_TOKENS: usize = crate::models::gpt::decode::MAX_STEPS;

impl Pipeline {
    pub fn new(models: Models) -> Self {
        let decoder = BatchDecoder::new(models.gpt.clone());
        Self {
            models,
            decoder,
            jobs: HashMap::new(),
            by_seq: HashMap::new(),
        }
    }

    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Admits a job: runs the text frontend and BERT for all its sentences. Fails only this job.
    pub fn start(&mut self, id: JobId, req: Request) -> Result<(), TtsError> {
        self.start_with_budget(id, req, usize::MAX)
    }

    /// [`Pipeline::start`] with a budget of GPT steps for the whole job: each sentence's step cap
    /// is lowered to what is left, and a sentence stopped by that cap fails the job, so one
    /// request's engine time is bounded whatever its sampling settings do.
    pub fn start_with_budget(&mut self, id: JobId, req: Request, budget: usize) -> Result<(), TtsError> {
        if !(req.speed.is_finite() && req.speed > 0.0) {
            return Err(TtsError::InvalidInput(format!("speed must be a positive number, got {}", req.speed)));
        }
        if matches!(req.delivery, Delivery::Tokens(_)) && (req.speed - 1.0).abs() > 1e-6 {
            return Err(TtsError::InvalidInput(
                "token streaming needs speed 1; use sentence streaming to change the speed".into(),
            ));
        }
        self.models.text_version.check_language(req.language)?;
        let t = Instant::now();
        let segments = gsv_text::preprocess(&req.text, req.language, req.split, self.models.text_version)?;
        let mut sentences = Vec::new();
        for seg in segments.iter().filter(|s| s.kept) {
            let (phones, bert) = self.models.text_features(seg)?;
            let (gpt_phones, gpt_bert) = match &req.voice.prompt_bert {
                Some(pb) => {
                    let mut all = req.voice.prompt_phones.clone();
                    all.extend_from_slice(&phones);
                    (all, mlx_rs::ops::concatenate(&[pb, &bert], 1)?)
                }
                None => (phones.clone(), bert),
            };
            sentences.push(Sentence {
                phones: phones.iter().map(|&p| p as i64).collect(),
                gpt_phones,
                gpt_bert,
            });
        }
        if sentences.is_empty() {
            return Err(TtsError::InvalidInput("the text has nothing to speak".into()));
        }
        let stats = Stats {
            sentences: sentences.len(),
            ..Stats::default()
        };
        let text_seconds = t.elapsed().as_secs_f64();
        let mut job = Job {
            req,
            sentences,
            current: 0,
            seq: None,
            tokens: Vec::new(),
            chunker: None,
            playback: Playback::default(),
            last_window_seconds: 0.0,
            noise: None,
            stats,
            gpt_seconds: 0.0,
            text_seconds,
            sovits_seconds: 0.0,
            budget,
            steps: 0,
            capped: false,
        };
        self.begin_sentence(id, &mut job)?;
        self.jobs.insert(id, job);
        Ok(())
    }

    fn begin_sentence(&mut self, id: JobId, job: &mut Job) -> Result<(), TtsError> {
        let s = &job.sentences[job.current];
        // BERT is lazy until here; evaluating it now books its time to the text stage instead
        // of to the GPT prompt pass that would otherwise run it.
        let t = Instant::now();
        s.gpt_bert.eval()?;
        job.text_seconds += t.elapsed().as_secs_f64();
        let mut dr = DecodeRequest::new(
            s.gpt_phones.clone(),
            s.gpt_bert.clone(),
            job.req.voice.prompt_semantic.clone(),
            self.models.gpt_config.early_stop_num(),
        );
        dr.sampling = job.req.sampling;
        dr.seed = job.req.seed.wrapping_add(job.current as u64);
        if let Some(n) = job.req.fixed_tokens {
            dr.ignore_eos = true;
            dr.early_stop_num = None;
            // The stopping step's token is not kept (batch-loop bookkeeping): one step more.
            dr.max_steps = (n + 1).clamp(2, MAX_SENTENCE_TOKENS);
        }
        let left = job.budget.saturating_sub(job.steps);
        if left == 0 {
            return Err(budget_spent(job.budget));
        }
        job.capped = left < dr.max_steps;
        dr.max_steps = dr.max_steps.min(left);
        let seq = self.decoder.add(dr)?;
        self.by_seq.insert(seq, id);
        job.seq = Some(seq);
        job.tokens.clear();
        job.chunker = match job.req.delivery {
            Delivery::Tokens(plan) => Some(Chunker::new(plan, self.models.sovits.samples_per_token())),
            Delivery::Sentence => None,
        };
        job.noise = None;
        Ok(())
    }

    pub fn cancel(&mut self, id: JobId) {
        if let Some(job) = self.jobs.remove(&id) {
            if let Some(seq) = job.seq {
                self.decoder.remove(seq);
                self.by_seq.remove(&seq);
            }
        }
    }

    /// One batched decode step for every active job; returns each job's events in order.
    pub fn step(&mut self) -> Vec<(JobId, Event)> {
        let mut events = Vec::new();
        if self.decoder.is_empty() {
            return events;
        }
        let t = Instant::now();
        let outputs = match self.decoder.step() {
            Ok(o) => o,
            Err(e) => {
                // A failed batched step fails every job in it; the decoder starts over clean.
                let msg = e.to_string();
                for id in self.jobs.keys().copied().collect::<Vec<_>>() {
                    self.cancel(id);
                    events.push((id, Event::Failed(TtsError::Internal(format!("GPT decode: {msg}")))));
                }
                self.decoder = BatchDecoder::new(self.models.gpt.clone());
                return events;
            }
        };
        let step_seconds = t.elapsed().as_secs_f64() / outputs.len().max(1) as f64;
        for (seq, out) in outputs {
            let Some(&id) = self.by_seq.get(&seq) else { continue };
            let Some(mut job) = self.jobs.remove(&id) else { continue };
            job.gpt_seconds += step_seconds;
            job.steps += 1;
            if let Some(tok) = out.token {
                job.tokens.push(tok);
            }
            let result = match out.finished {
                Some(outcome) if job.capped && outcome.stop == StopReason::MaxSteps => {
                    self.by_seq.remove(&seq);
                    job.seq = None;
                    Err(budget_spent(job.budget))
                }
                Some(outcome) => {
                    self.by_seq.remove(&seq);
                    job.seq = None;
                    // What upstream hands to SoVITS (`y[-idx:]`).
                    job.tokens = outcome.pred_semantic();
                    self.finish_sentence(id, &mut job, &mut events)
                }
                None => self.stream_tokens(&mut job, false).map(|pcm| {
                    if !pcm.is_empty() {
                        // Every chunk counts toward the job's audio, not only a sentence's last.
                        self.emit(id, &mut job, pcm, &mut events);
                    }
                    true
                }),
            };
            match result {
                Ok(true) => {
                    self.jobs.insert(id, job);
                }
                Ok(false) => {
                    let mut stats = job.stats;
                    stats.stages.push(("text", job.text_seconds));
                    stats.stages.push(("gpt", job.gpt_seconds));
                    stats.stages.push(("sovits", job.sovits_seconds));
                    events.push((id, Event::Done(stats)));
                }
                Err(e) => {
                    if let Some(seq) = job.seq {
                        self.decoder.remove(seq);
                        self.by_seq.remove(&seq);
                    }
                    events.push((id, Event::Failed(e)));
                }
            }
        }
        events
    }

    /// Emits the end of a sentence and starts the next; `Ok(false)` when the job is complete.
    fn finish_sentence(&mut self, id: JobId, job: &mut Job, events: &mut Vec<(JobId, Event)>) -> Result<bool, TtsError> {
        let mut pcm = match job.chunker {
            Some(_) => self.stream_tokens(job, true)?,
            None => {
                let wave = self.decode_sentence(job)?;
                to_int16(&wave, 0)
            }
        };
        job.stats.tokens += job.tokens.len();
        let silence = (job.req.fragment_interval.max(0.0) * self.models.sovits.config().sampling_rate as f32) as usize;
        pcm.extend(std::iter::repeat_n(0i16, silence));
        self.emit(id, job, pcm, events);
        job.current += 1;
        if job.current < job.sentences.len() {
            self.begin_sentence(id, job)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Hands a chunk of the job's audio out, counting it as sent to the listener.
    fn emit(&self, id: JobId, job: &mut Job, pcm: Vec<i16>, events: &mut Vec<(JobId, Event)>) {
        job.stats.samples += pcm.len();
        job.playback.sent(pcm.len() as f64 / self.models.sovits.config().sampling_rate as f64, Instant::now());
        events.push((id, Event::Audio(pcm)));
    }

    /// The standard-normal draw for the current sentence, covering `frames` latent frames.
    fn noise(&self, job: &mut Job, frames: i32) -> Result<Array, TtsError> {
        let c = self.models.sovits.config().inter_channels;
        let have = job.noise.as_ref().map_or(0, |n| n.shape()[2]);
        if have < frames {
            // One draw per sentence, sized for the longest possible sentence, so every window
            // of a streamed sentence reads the same values.
            let full = (2 * MAX_SENTENCE_TOKENS as i32 + 2).max(frames);
            let key = random::key(job.req.seed.wrapping_mul(0x9E37_79B9).wrapping_add(job.current as u64))?;
            job.noise = Some(random::normal::<f32>(&[1, c, full], None, None, &key)?);
        }
        let n = job.noise.as_ref().ok_or_else(|| TtsError::Internal("noise missing".into()))?;
        Ok(n.index((.., .., 0..frames)))
    }

    fn codes(job: &Job) -> Vec<i64> {
        job.tokens.iter().map(|&t| t as i64).collect()
    }

    /// Whole-sentence decode (speed applies).
    fn decode_sentence(&self, job: &mut Job) -> Result<Vec<f32>, TtsError> {
        let t = Instant::now();
        let codes = Self::codes(job);
        let speed = job.req.speed;
        let frames = if (speed - 1.0).abs() < 1e-6 {
            2 * codes.len() as i32
        } else {
            (2.0 * codes.len() as f32 / speed) as i32 + 1
        };
        let noise = self.noise(job, frames)?;
        let s = &job.sentences[job.current];
        let wave = self
            .models
            .sovits
            .decode(&codes, &s.phones, &job.req.voice.style, job.req.noise_scale, speed, Some(&noise))?;
        wave.eval()?;
        let out = wave.as_slice::<f32>().to_vec();
        job.sovits_seconds += t.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Token streaming: decodes the due window (or, with `last`, everything left).
    fn stream_tokens(&self, job: &mut Job, last: bool) -> Result<Vec<i16>, TtsError> {
        let n = job.tokens.len();
        let Some(chunker) = job.chunker.as_ref() else { return Ok(Vec::new()) };
        // The next window must arrive before the listener runs dry: twice the last window's
        // decode time is kept in reserve beyond the plan's lead.
        let ahead = job.playback.ahead(Instant::now()) - 2.0 * job.last_window_seconds;
        if n == 0 || !(last || chunker.due(n, ahead)) {
            return Ok(Vec::new());
        }
        let (start, end) = chunker.window(n);
        let context = chunker.plan().context;
        let t = Instant::now();
        let samples = if start >= end {
            Vec::new()
        } else {
            let codes = Self::codes(job);
            let noise = self.noise(job, 2 * n as i32)?;
            let s = &job.sentences[job.current];
            let wave = self.models.sovits.decode_tail(
                &codes,
                &s.phones,
                &job.req.voice.style,
                start,
                context,
                job.req.noise_scale,
                Some(&noise),
            )?;
            wave.eval()?;
            wave.as_slice::<f32>().to_vec()
        };
        job.last_window_seconds = t.elapsed().as_secs_f64();
        job.sovits_seconds += job.last_window_seconds;
        let chunker = job.chunker.as_mut().ok_or_else(|| TtsError::Internal("chunker missing".into()))?;
        let out = chunker.push(start, end, &samples, last);
        // [quirk, deliberate] streamed chunks are clipped, not peak-normalised: a chunk can't know
        // the sentence's peak.
        Ok(out.iter().map(|&x| (x.clamp(-1.0, 1.0) * 32767.0) as i16).collect())
    }

    /// Runs one job to the end (tests, CLI): all its audio, concatenated.
    pub fn synthesize(&mut self, req: Request) -> Result<(Vec<i16>, Stats), TtsError> {
        let mut pcm = Vec::new();
        let stats = self.run_to_end(req, |a| pcm.extend(a))?;
        Ok((pcm, stats))
    }

    /// Runs one job to the end, handing each audio chunk to `on_audio` as it is produced.
    pub fn run_to_end(&mut self, req: Request, mut on_audio: impl FnMut(Vec<i16>)) -> Result<Stats, TtsError> {
        let id = JobId::MAX;
        self.start(id, req)?;
        loop {
            for (job, ev) in self.step() {
                if job != id {
                    continue;
                }
                match ev {
                    Event::Audio(a) => on_audio(a),
                    Event::Done(stats) => return Ok(stats),
                    Event::Failed(e) => return Err(e),
                }
            }
            if !self.jobs.contains_key(&id) {
                return Err(TtsError::Internal("job vanished".into()));
            }
        }
    }
}

/// The error of a job that used up its token budget.
fn budget_spent(budget: usize) -> TtsError {
    TtsError::InvalidInput(format!(
        "the request reached its budget of {budget} semantic tokens ({:.0} s of audio; limits.max_request_tokens, \
         limits.tokens_per_char): the text or the sampling settings keep the model from stopping",
        budget as f64 / 25.0
    ))
}
