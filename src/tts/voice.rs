//! A voice: a reference clip and its transcript, prepared once and cached — prompt semantic tokens
//! (CNHuBERT → `extract_latent`), the style vector (spectrogram → `ref_enc`, plus for
//! v2Pro/v2ProPlus the speaker embedding of ERes2NetV2 through `sv_emb`), and the transcript's
//! phones and BERT features — so a request only runs its own text (upstream `TTS.set_ref_audio` +
//! the prompt part of `TTS.run`).
use std::path::PathBuf;
use std::time::Instant;

use gsv_text::LanguageSetting;
use mlx_rs::Array;

use super::{Models, TtsError};
use crate::audio::ReferenceAudio;
use crate::models::sovits::Style;

/// Where a reference clip comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Clip {
    Path(PathBuf),
    /// An encoded file (WAV, FLAC, MP3, OGG) held in memory.
    Bytes(Vec<u8>),
}

/// What a voice is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceSource {
    pub name: String,
    pub clip: Clip,
    /// Transcript of the clip; empty selects upstream's reference-free mode (no prompt text and
    /// no prompt tokens: the clip only gives the style).
    pub transcript: String,
    pub language: LanguageSetting,
}

/// A prepared voice.
pub struct Voice {
    pub name: String,
    pub language: LanguageSetting,
    pub ref_seconds: f32,
    /// Prompt semantic tokens; `None` in reference-free mode.
    pub prompt_semantic: Option<Vec<u32>>,
    /// Transcript phone ids and their BERT features `[bert_dim, n]` (empty when reference-free).
    pub prompt_phones: Vec<i32>,
    pub prompt_bert: Option<Array>,
    pub style: Style,
    /// Seconds spent per stage while preparing (`hubert`, `text`, …).
    pub prepare_seconds: Vec<(&'static str, f64)>,
}

impl Voice {
    pub fn prepare(models: &Models, source: &VoiceSource) -> Result<Self, TtsError> {
        models.text_version.check_language(source.language)?;
        let mut timings = Vec::new();
        let t = Instant::now();
        let audio = match &source.clip {
            Clip::Path(p) => ReferenceAudio::from_path(p)?,
            Clip::Bytes(b) => ReferenceAudio::from_bytes(b, &format!("reference clip of voice {}", source.name))?,
        };
        let ref_seconds = audio.wav16k.len() as f32 / crate::audio::HUBERT_SAMPLE_RATE as f32;
        let spec = audio.spectrogram()?;
        timings.push(("reference", t.elapsed().as_secs_f64()));
        // v2Pro/v2ProPlus: the speaker embedding of the 32 kHz clip (after the peak rule).
        let t = Instant::now();
        let sv = models.speaker_embedding(&audio.wav32k)?;
        if sv.is_some() {
            timings.push(("speaker", t.elapsed().as_secs_f64()));
        }
        let style = models.sovits.style(&spec, sv.as_ref())?;
        style.ge.eval()?;
        style.ge_text.eval()?;

        let reference_free = source.transcript.trim().is_empty();
        let (prompt_semantic, prompt_phones, prompt_bert) = if reference_free {
            (None, Vec::new(), None)
        } else {
            let t = Instant::now();
            let rate = models.sovits.config().sampling_rate as u32;
            let ssl = models.hubert.ssl_content(&audio.hubert_input(rate))?;
            let codes = models.sovits.extract_latent(&ssl)?;
            codes.eval()?;
            let prompt: Vec<u32> = codes.as_slice::<i32>().iter().map(|&c| c as u32).collect();
            timings.push(("hubert", t.elapsed().as_secs_f64()));

            let t = Instant::now();
            let seg = gsv_text::prompt_phones(&source.transcript, source.language, models.text_version)?;
            let (phones, bert) = models.text_features(&seg)?;
            timings.push(("text", t.elapsed().as_secs_f64()));
            (Some(prompt), phones, Some(bert))
        };
        Ok(Self {
            name: source.name.clone(),
            language: source.language,
            ref_seconds,
            prompt_semantic,
            prompt_phones,
            prompt_bert,
            style,
            prepare_seconds: timings,
        })
    }

    pub fn prompt_tokens(&self) -> usize {
        self.prompt_semantic.as_ref().map_or(0, Vec::len)
    }
}
