//! Warm-up when a model loads: short syntheses (whole, streamed, a few decoded together) before any request.
//!
//! Why: on a GPU, MLX builds kernels the first time a graph runs — on CUDA it compiles the fused
//! GPT step's custom kernels and every fused element-wise kernel of the compiled SoVITS graphs with
//! NVRTC — and a compiled SoVITS graph is traced on its second call (the first runs eagerly to
//! evaluate lazy weights). On a fresh H100 that first use took about two minutes
//! (docs/cuda.md); without a warm-up the first users' requests would wait for it. MLX keeps the
//! compiled kernels on disk (`MLX_PTX_CACHE_DIR`), so a later start warms up in seconds.
use std::sync::Arc;
use std::time::Instant;

use gsv_text::LanguageSetting;

use super::{ChunkPlan, Clip, Delivery, Event, JobId, Pipeline, Request, TtsError, Voice, VoiceSource};
use crate::audio::encode::{encode_all, AudioFormat};
use crate::models::gpt::fused::WARP_ATTENTION_MAX_ROWS;

/// GPT tokens per warm-up sentence (EOS never sampled): a bounded cost, and three streamed
/// windows (after 8, 24 and 48 tokens).
pub const WARM_UP_TOKENS: usize = 48;

/// What a warm-up did.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmUp {
    pub seconds: f64,
    /// Audio produced over all its syntheses (it is discarded).
    pub samples: usize,
}

/// A voiced-sounding clip (a 140 Hz tone with its octave, amplitude-modulated at 3 Hz) as a
/// 32 kHz WAV file, decoded and resampled by the voice path like an uploaded clip.
pub fn reference_clip(seconds: f32) -> Result<Vec<u8>, TtsError> {
    let rate = 32_000u32;
    let n = (seconds * rate as f32) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (std::f32::consts::TAU * 3.0 * t).sin();
            let s = (std::f32::consts::TAU * 140.0 * t).sin() + 0.4 * (std::f32::consts::TAU * 280.0 * t).sin();
            (s * env * 8000.0) as i16
        })
        .collect();
    encode_all(AudioFormat::Wav, rate, rate, &pcm).map_err(|e| TtsError::Internal(format!("reference clip: {e}")))
}

/// Prepares a throwaway voice (English, so no BERT is needed) and synthesizes a short sentence
/// twice whole and twice streamed with the server's default chunking, with `p`'s models; then,
/// when `batch` > 1, `batch` sentences decoded together (the batched step's own kernels:
/// `matmul` products, the add-norm kernel and, past [`WARP_ATTENTION_MAX_ROWS`] rows, attention
/// by threads).
pub fn warm_up(p: &mut Pipeline, batch: usize) -> Result<WarmUp, TtsError> {
    let t = Instant::now();
    let source = VoiceSource {
        name: "warm-up".into(),
        clip: Clip::Bytes(reference_clip(3.0)?),
        transcript: "This is the warm up voice.".into(),
        language: LanguageSetting::En,
    };
    let voice = Arc::new(Voice::prepare(&p.models, &source)?);
    let streamed = Delivery::Tokens(ChunkPlan { first: 8, every: 16, growth: 2.0, ..ChunkPlan::default() });
    let mut samples = 0;
    for delivery in [Delivery::Sentence, Delivery::Sentence, streamed, streamed] {
        let request = Request::new("Warming up the models.", LanguageSetting::En, voice.clone(), delivery);
        let (pcm, _) = p.synthesize(Request { fixed_tokens: Some(WARM_UP_TOKENS), ..request })?;
        samples += pcm.len();
    }
    if batch > 1 {
        samples += decode_together(p, &voice, batch)?;
    }
    Ok(WarmUp { seconds: t.elapsed().as_secs_f64(), samples })
}

/// Rows a warm-up decodes together at most: enough for every kernel a batched step uses.
pub fn warm_up_batch(max_batch: usize) -> usize {
    max_batch.min(WARP_ATTENTION_MAX_ROWS as usize + 1)
}

/// `batch` fixed-length sentences started together and stepped to their end; their samples.
fn decode_together(p: &mut Pipeline, voice: &Arc<Voice>, batch: usize) -> Result<usize, TtsError> {
    // Ids far from the engine's (which count up from 1); the warm-up runs before any job.
    let ids: Vec<JobId> = (0..batch as JobId).map(|i| JobId::MAX - 1 - i).collect();
    for (i, &id) in ids.iter().enumerate() {
        let request = Request::new("Warming up the models.", LanguageSetting::En, voice.clone(), Delivery::Sentence);
        p.start(id, Request { fixed_tokens: Some(WARM_UP_TOKENS), seed: 1 + i as u64, ..request })?;
    }
    let (mut samples, mut running) = (0, batch);
    while running > 0 {
        if p.active_jobs() == 0 {
            return Err(TtsError::Internal("warm-up: jobs ended without finishing".into()));
        }
        for (_, event) in p.step() {
            match event {
                Event::Audio(a) => samples += a.len(),
                Event::Done(_) => running -= 1,
                Event::Failed(e) => {
                    for &id in &ids {
                        p.cancel(id);
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok(samples)
}
