//! The real [`Backend`]: the TTS pipeline (`crate::tts`) behind the engine's seam.
//!
//! Translates the engine's validated [`SynthesisJob`] into a `tts::Request`, keeps the prepared
//! voices (configured ones for the process's life, request-supplied ones in a small bounded
//! cache keyed by content hash), and maps pipeline events and errors to the engine's.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use gsv_text::{LanguageSetting, SplitMethod};

use super::backend::{
    Backend, BackendConfig, BackendFactory, Chunking, JobEvent, JobId, JobStats, RefAudio, SynthesisJob, VoiceInfo,
    VoiceSelect, VoiceSpec,
};
use super::error::EngineError;
use crate::models::gpt::sampling::SamplingParams;
use crate::tts::{ChunkPlan, Clip, Delivery, Event, ModelFiles, Models, Pipeline, Request, TtsError, Voice, VoiceSource};

/// Request-supplied voices kept prepared (HuBERT + BERT of a clip are worth caching, but uploads
/// must not grow memory without bound).
const INLINE_CACHE: usize = 16;
/// SoVITS noise scale (upstream's fixed 0.5; api_v2 does not expose it).
const NOISE_SCALE: f32 = 0.5;

impl From<TtsError> for EngineError {
    fn from(e: TtsError) -> Self {
        match e {
            TtsError::InvalidInput(message) => EngineError::InvalidInput { message, param: None },
            TtsError::Unavailable(m) => EngineError::Unavailable(m),
            TtsError::Internal(m) => EngineError::Internal(m),
        }
    }
}

/// The pipeline plus the voices it speaks with.
pub struct TtsBackend {
    pipeline: Pipeline,
    voices: HashMap<String, Arc<Voice>>,
    inline: VecDeque<(String, Arc<Voice>)>,
    min_ref_seconds: f32,
    max_ref_seconds: f32,
}

/// Builds [`TtsBackend`] on the worker thread: selects the device, loads the four models.
pub fn factory() -> BackendFactory {
    Box::new(|cfg: &BackendConfig| {
        let backend = crate::device::select(cfg.device).map_err(EngineError::Unavailable)?;
        crate::models::gpt::step::set_compile(cfg.compile.forced());
        tracing::info!(%backend, compile = crate::models::gpt::step::compile_enabled(), "MLX device selected");
        let files = ModelFiles {
            gpt: cfg.models.gpt.clone(),
            sovits: cfg.models.sovits.clone(),
            hubert: cfg.models.hubert.clone(),
            bert: cfg.models.bert.clone(),
            sv: cfg.models.sv.clone(),
        };
        let models = Models::load(&files, mlx_rs::Dtype::Float32)?;
        Ok(Box::new(TtsBackend {
            pipeline: Pipeline::new(models),
            voices: HashMap::new(),
            inline: VecDeque::new(),
            min_ref_seconds: cfg.min_ref_seconds,
            max_ref_seconds: cfg.max_ref_seconds,
        }) as Box<dyn Backend>)
    })
}

fn language(param: &str, s: &str) -> Result<LanguageSetting, EngineError> {
    s.parse::<LanguageSetting>().map_err(|e| EngineError::invalid(param, format!("`{param}`: {e}")))
}

impl TtsBackend {
    fn prepare(&self, spec: &VoiceSpec) -> Result<Voice, EngineError> {
        if spec.gpt.is_some() || spec.sovits.is_some() {
            return Err(EngineError::invalid(
                "voice",
                format!("voice `{}` names its own GPT/SoVITS weights; this server serves one model set", spec.name),
            ));
        }
        let source = VoiceSource {
            name: spec.name.clone(),
            clip: match &spec.ref_audio {
                RefAudio::Path(p) => Clip::Path(p.clone()),
                RefAudio::Bytes(b) => Clip::Bytes(b.clone()),
            },
            transcript: spec.transcript.clone(),
            language: language("language", &spec.language)?,
        };
        let voice = Voice::prepare(&self.pipeline.models, &source)?;
        if voice.ref_seconds < self.min_ref_seconds || voice.ref_seconds > self.max_ref_seconds {
            return Err(EngineError::invalid(
                "reference",
                format!(
                    "the reference clip of `{}` lasts {:.2} s; it must last between {} and {} s",
                    spec.name, voice.ref_seconds, self.min_ref_seconds, self.max_ref_seconds
                ),
            ));
        }
        Ok(voice)
    }

    fn voice(&mut self, select: &VoiceSelect) -> Result<Arc<Voice>, EngineError> {
        match select {
            VoiceSelect::Named(name) => self.voices.get(name).cloned().ok_or_else(|| EngineError::UnknownVoice(name.clone())),
            VoiceSelect::Inline(spec) => {
                if let Some((_, v)) = self.inline.iter().find(|(n, _)| n == &spec.name) {
                    return Ok(v.clone());
                }
                let v = Arc::new(self.prepare(spec)?);
                if self.inline.len() >= INLINE_CACHE {
                    self.inline.pop_front();
                }
                self.inline.push_back((spec.name.clone(), v.clone()));
                Ok(v)
            }
        }
    }
}

impl Backend for TtsBackend {
    fn load_voice(&mut self, spec: &VoiceSpec) -> Result<VoiceInfo, EngineError> {
        let voice = Arc::new(self.prepare(spec)?);
        let info = VoiceInfo {
            name: spec.name.clone(),
            language: voice.language.as_str().to_string(),
            ref_seconds: voice.ref_seconds,
            prompt_tokens: voice.prompt_tokens(),
        };
        self.voices.insert(spec.name.clone(), voice);
        Ok(info)
    }

    fn remove_voice(&mut self, name: &str) -> bool {
        self.voices.remove(name).is_some()
    }

    fn start(&mut self, id: JobId, job: SynthesisJob) -> Result<(), EngineError> {
        let voice = self.voice(&job.voice)?;
        let split = job
            .text_split_method
            .parse::<SplitMethod>()
            .map_err(|e| EngineError::invalid("text_split_method", e.to_string()))?;
        // Token streaming re-decodes windows at natural speed; with another speed each sentence
        // is decoded whole instead (still streamed sentence by sentence).
        let speed_is_one = (job.speed - 1.0).abs() < 1e-6;
        let delivery = match job.chunking {
            Chunking::Tokens { first_tokens, min_tokens, overlap, .. } if speed_is_one => {
                let d = ChunkPlan::default();
                Delivery::Tokens(ChunkPlan { first: first_tokens.max(1), every: min_tokens.max(1), holdback: overlap.max(1), ..d })
            }
            _ => Delivery::Sentence,
        };
        let budget = job.token_budget;
        let req = Request {
            text: job.text,
            language: language("language", &job.language)?,
            voice,
            sampling: SamplingParams {
                top_k: job.sampling.top_k,
                top_p: job.sampling.top_p,
                temperature: job.sampling.temperature,
                repetition_penalty: job.sampling.repetition_penalty,
            },
            seed: job.sampling.seed,
            speed: job.speed,
            split,
            fragment_interval: job.fragment_interval,
            noise_scale: NOISE_SCALE,
            fixed_tokens: None,
            delivery,
        };
        self.pipeline.start_with_budget(id, req, budget).map_err(EngineError::from)
    }

    fn step(&mut self) -> Vec<(JobId, JobEvent)> {
        self.pipeline
            .step()
            .into_iter()
            .map(|(id, ev)| {
                let ev = match ev {
                    Event::Audio(a) => JobEvent::Audio(a),
                    Event::Done(s) => JobEvent::Done(JobStats {
                        tokens: s.tokens,
                        samples: s.samples,
                        stages: s.stages.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
                    }),
                    Event::Failed(e) => JobEvent::Failed(e.into()),
                };
                (id, ev)
            })
            .collect()
    }

    fn cancel(&mut self, id: JobId) {
        self.pipeline.cancel(id);
    }

    fn active_jobs(&self) -> usize {
        self.pipeline.active_jobs()
    }

    fn limitations(&self) -> Vec<String> {
        match &self.pipeline.models.bert {
            Ok(_) => Vec::new(),
            Err(why) => vec![format!("Chinese text is refused: {why}")],
        }
    }
}
