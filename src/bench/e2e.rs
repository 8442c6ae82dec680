//! End-to-end timing of the pipeline on random full-size v2 models (no model files): time to first
//! audio and real-time factor for one Chinese sentence spoken by a cached voice, with the same
//! [`Pipeline`] the server's engine drives.
//!
//! Random weights never produce EOS on purpose, so each sentence decodes a fixed number of tokens
//! ([`Request::fixed_tokens`]); the text frontend, BERT, the GPT prompt pass, the decode steps and
//! the SoVITS chunk decodes all run as for a real request.
use std::sync::Arc;
use std::time::Instant;

use gsv_text::{LanguageSetting, Version};
use mlx_rs::Dtype;
use serde::Serialize;

use super::median;
use crate::models::bert::{BertConfig, BertFeatures};
use crate::models::gpt::{GptConfig, Text2SemanticDecoder};
use crate::models::hubert::{self, HubertConfig};
use crate::models::sovits::{self, DetectionRule, SovitsConfig, SovitsInfo, SovitsVersion};
use crate::tts::{ChunkPlan, Clip, Delivery, Models, Pipeline, Request, TtsError, Voice, VoiceSource};

/// Twenty Chinese characters and three punctuation marks.
pub const SENTENCE_ZH_20: &str = "今天天气很好，我们一起去公园散步，看花开了吗。";

#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub dtype: Dtype,
    pub language: LanguageSetting,
    pub text: String,
    /// Transcript of the reference clip (its language is `language`).
    pub transcript: String,
    /// GPT tokens of the (one, unsplit) sentence: 25 per second of audio.
    pub tokens: usize,
    /// Streaming: tokens before the first chunk, before the second, and the growth of each later
    /// one (the server's defaults, `stream_first_chunk_tokens`, `stream_chunk_tokens` and
    /// `stream_chunk_growth`, are 8, 16 and 2), and the pacing lead in seconds
    /// (`stream_lead_seconds`, 0.5; 0 = off).
    pub first_chunk_tokens: usize,
    pub chunk_tokens: usize,
    pub chunk_growth: f32,
    pub lead_seconds: f32,
    pub reference_seconds: f32,
    pub repeats: usize,
}

impl Default for E2eOptions {
    fn default() -> Self {
        let server = crate::config::Defaults::default();
        Self {
            dtype: Dtype::Float32,
            language: LanguageSetting::Zh,
            text: SENTENCE_ZH_20.into(),
            transcript: "这是一段参考音频的文字。".into(),
            // ~0.2 s per character, as a speaker of the fixtures' pace.
            tokens: 100,
            first_chunk_tokens: server.stream_first_chunk_tokens,
            chunk_tokens: server.stream_chunk_tokens,
            chunk_growth: server.stream_chunk_growth,
            lead_seconds: server.stream_lead_seconds,
            reference_seconds: 5.0,
            repeats: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryTiming {
    /// From `Pipeline::start` (frontend + BERT included) to the first audio samples.
    pub first_audio_ms: f64,
    pub total_ms: f64,
    pub audio_seconds: f64,
    /// `total / audio` (< 1 is faster than real time).
    pub rtf: f64,
    /// Seconds per stage of the median run (`text`, `gpt`, `sovits`).
    pub stages: Vec<(String, f64)>,
    /// Audio chunks the median run handed out (each streamed one is a SoVITS decode).
    pub chunks: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct E2eResult {
    pub text: String,
    pub characters: usize,
    pub tokens: usize,
    pub first_chunk_tokens: usize,
    pub chunk_tokens: usize,
    pub chunk_growth: f32,
    pub lead_seconds: f32,
    pub reference_seconds: f32,
    pub prompt_tokens: usize,
    /// Preparing the voice once (reference decode, spectrogram, HuBERT, transcript BERT).
    pub voice_prepare_ms: f64,
    /// Token streaming with the server's default chunking.
    pub streaming: DeliveryTiming,
    /// One chunk per sentence (upstream's non-streaming mode).
    pub sentence: DeliveryTiming,
}

/// The four networks of a v2 install with random weights of the shipped sizes.
pub fn random_models(dtype: Dtype, seed: u64) -> Result<Models, TtsError> {
    let gpt_config = GptConfig::v2();
    let gpt = Text2SemanticDecoder::random(gpt_config.clone(), dtype, seed)?;
    let config = SovitsConfig::v2();
    let sovits = sovits::synthetic::random_model(&config, seed + 1, dtype)?;
    let sovits_info = SovitsInfo {
        version: SovitsVersion::V2,
        detected_by: DetectionRule::FileSize,
        file_level_version: SovitsVersion::V2,
        info: Some("random weights (benchmark)".into()),
        config,
        missing: None,
        sv_width: None,
    };
    Ok(Models {
        gpt: Arc::new(gpt),
        gpt_config,
        sovits,
        sovits_info,
        hubert: std::rc::Rc::new(hubert::bench_random(HubertConfig::chinese_hubert_base(), seed + 2)?),
        sv: None,
        bert: Ok(std::rc::Rc::new(BertFeatures::bench_random(BertConfig::chinese_roberta_wwm_ext_large(), seed + 3)?)),
        text_version: Version::V2,
        dtype,
    })
}

/// One request run to its end.
struct Run {
    first_audio_ms: f64,
    total_ms: f64,
    samples: usize,
    stages: Vec<(String, f64)>,
    chunks: usize,
}

fn run_once(p: &mut Pipeline, req: Request) -> Result<Run, TtsError> {
    let t = Instant::now();
    let mut first = None;
    let mut samples = 0;
    let mut chunks = 0;
    let stats = p.run_to_end(req, |a| {
        if !a.is_empty() && first.is_none() {
            first = Some(t.elapsed().as_secs_f64() * 1e3);
        }
        samples += a.len();
        chunks += 1;
    })?;
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    let stages = stats.stages.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Ok(Run { first_audio_ms: first.unwrap_or(total_ms), total_ms, samples, stages, chunks })
}

fn timing(p: &mut Pipeline, req: &Request, repeats: usize, rate: f64) -> Result<DeliveryTiming, TtsError> {
    run_once(p, req.clone())?; // warm-up: kernels, compiled step traces, caches
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        runs.push(run_once(p, req.clone())?);
    }
    let total = median(runs.iter().map(|r| r.total_ms).collect());
    let mid = runs.iter().find(|r| r.total_ms == total).unwrap_or(&runs[0]);
    let audio_seconds = mid.samples as f64 / rate;
    Ok(DeliveryTiming {
        first_audio_ms: median(runs.iter().map(|r| r.first_audio_ms).collect()),
        total_ms: total,
        audio_seconds,
        rtf: total / 1e3 / audio_seconds.max(1e-9),
        stages: mid.stages.clone(),
        chunks: mid.chunks,
    })
}

/// On random full-size v2 models.
pub fn run(opts: &E2eOptions) -> Result<E2eResult, TtsError> {
    run_with(random_models(opts.dtype, 11)?, opts)
}

/// On the given models (e.g. real ones loaded from files).
pub fn run_with(models: Models, opts: &E2eOptions) -> Result<E2eResult, TtsError> {
    let rate = models.sovits.config().sampling_rate as f64;
    let source = VoiceSource {
        name: "bench".into(),
        clip: Clip::Bytes(crate::tts::warmup::reference_clip(opts.reference_seconds)?),
        transcript: opts.transcript.clone(),
        language: opts.language,
    };
    Voice::prepare(&models, &source)?; // warm-up
    let t = Instant::now();
    let voice = Arc::new(Voice::prepare(&models, &source)?);
    let voice_prepare_ms = t.elapsed().as_secs_f64() * 1e3;
    let prompt_tokens = voice.prompt_tokens();

    let mut p = Pipeline::new(models);
    let delivery = Delivery::Tokens(ChunkPlan {
        first: opts.first_chunk_tokens.max(1),
        every: opts.chunk_tokens.max(1),
        growth: opts.chunk_growth,
        lead: opts.lead_seconds,
        holdback: 2,
        ..ChunkPlan::default()
    });
    let mut req = Request { fixed_tokens: Some(opts.tokens), ..Request::new(opts.text.clone(), opts.language, voice, delivery) };
    let streaming = timing(&mut p, &req, opts.repeats, rate)?;
    req.delivery = Delivery::Sentence;
    let sentence = timing(&mut p, &req, opts.repeats, rate)?;
    Ok(E2eResult {
        characters: opts.text.chars().filter(|c| c.is_alphanumeric()).count(),
        text: opts.text.clone(),
        tokens: opts.tokens,
        first_chunk_tokens: opts.first_chunk_tokens,
        chunk_tokens: opts.chunk_tokens,
        chunk_growth: opts.chunk_growth,
        lead_seconds: opts.lead_seconds,
        reference_seconds: opts.reference_seconds,
        prompt_tokens,
        voice_prepare_ms,
        streaming,
        sentence,
    })
}
