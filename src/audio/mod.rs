//! Audio I/O: decoding reference clips, resampling, the reference linear spectrogram, and the
//! reference-audio rules of upstream's `TTS._set_prompt_semantic` / `TTS._get_ref_spec`.
//!
//! Everything here is plain `Vec<f32>` work on the CPU except [`spectrogram`], which hands its
//! result to the models as an MLX `Array`.
use std::path::Path;

pub mod encode;
pub mod spectrogram;

// Decoding and resampling live in their own MLX-free crate (the fuzzer builds it alone).
pub use gsv_audio::Error as ClipError;
pub use gsv_audio::{decode_bytes, decode_bytes_limited, decode_file, decode_file_limited, resample, DecodeLimits, DecodedAudio};
pub use spectrogram::{linear_spectrogram, SpectrogramConfig};

/// HuBERT's input rate.
pub const HUBERT_SAMPLE_RATE: u32 = 16_000;
/// The SoVITS v2 rate (reference spectrogram and output audio).
pub const SOVITS_SAMPLE_RATE: u32 = 32_000;
/// Upstream rejects references shorter than 3 s at 16 kHz …
pub const REF_MIN_SAMPLES_16K: usize = 48_000;
/// … and longer than 10 s.
pub const REF_MAX_SAMPLES_16K: usize = 160_000;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, decoding or resampling the clip ([`gsv_audio::Error`]).
    #[error(transparent)]
    Clip(#[from] gsv_audio::Error),
    #[error(
        "reference audio {source_name} is {seconds:.2} s long ({samples} samples at 16 kHz); \
         it must be between 3 and 10 s"
    )]
    Duration {
        source_name: String,
        seconds: f64,
        samples: usize,
    },
    #[error("spectrogram: {0}")]
    Spectrogram(String),
    #[error(transparent)]
    Mlx(#[from] mlx_rs::error::Exception),
}

/// A reference clip prepared the way upstream prepares it, before any model runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceAudio {
    /// Mono 16 kHz, no normalisation at all (librosa.load(sr=16000) upstream); 3–10 s.
    pub wav16k: Vec<f32>,
    /// Mono 32 kHz, divided by `min(2, peak)` when its peak exceeds 1 (`_get_ref_spec`).
    pub wav32k: Vec<f32>,
}

impl ReferenceAudio {
    /// Decodes an encoded file held in memory (`name` is used in error messages and, through its
    /// extension, as a format hint).
    ///
    /// The decode is bounded by the reference rules ([`reference_limits`]): a clip whose header
    /// declares an absurd rate, channel count or length is refused before anything is decoded or
    /// resampled, and decoding stops as soon as the clip is too long.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        Self::from_decoded(&decode_bytes_limited(bytes, name, &reference_limits())?, name)
    }

    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_decoded(&decode_file_limited(path, &reference_limits())?, &path.display().to_string())
    }

    /// Applies upstream's reference rules to decoded mono audio at any rate.
    pub fn from_decoded(audio: &DecodedAudio, name: &str) -> Result<Self> {
        if audio.samples.is_empty() {
            return Err(gsv_audio::Error::Empty { source_name: name.to_string() }.into());
        }
        // The length rule first, on the decoded length: resampling cost grows with the ratio of
        // rates, so a long clip at a tiny rate must be refused before it is resampled.
        let seconds = audio.duration_seconds();
        let approx_16k = (seconds * HUBERT_SAMPLE_RATE as f64) as usize;
        if approx_16k > REF_MAX_SAMPLES_16K + HUBERT_SAMPLE_RATE as usize {
            check_reference_length(approx_16k, name)?;
        }
        let wav16k = resample(&audio.samples, audio.sample_rate, HUBERT_SAMPLE_RATE)?;
        check_reference_length(wav16k.len(), name)?;
        let mut wav32k = resample(&audio.samples, audio.sample_rate, SOVITS_SAMPLE_RATE)?;
        normalize_peak(&mut wav32k);
        Ok(Self { wav16k, wav32k })
    }

    /// The HuBERT input of the TTS path: `wav16k` followed by `int(sovits_rate * 0.3)` zeros.
    ///
    /// [quirk] upstream pads with 0.3 s *at the SoVITS rate* (9600 samples for 32 kHz), which is
    /// 0.6 s at 16 kHz; the prompt therefore ends in ~15 tokens of silence. No feature-extractor
    /// normalisation is applied on this path (upstream calls the HF model directly).
    pub fn hubert_input(&self, sovits_sample_rate: u32) -> Vec<f32> {
        let pad = (sovits_sample_rate as f64 * 0.3) as usize;
        let mut x = Vec::with_capacity(self.wav16k.len() + pad);
        x.extend_from_slice(&self.wav16k);
        x.resize(self.wav16k.len() + pad, 0.0);
        x
    }

    /// The SoVITS `refer` spectrogram `[1, n_fft/2+1, T]` of `wav32k` (v2 settings).
    pub fn spectrogram(&self) -> Result<mlx_rs::Array> {
        linear_spectrogram(&self.wav32k, &SpectrogramConfig::sovits_v2())
    }
}

/// Decode bounds of a reference clip: the 10 s rule, checked before resampling.
pub fn reference_limits() -> DecodeLimits {
    DecodeLimits::reference(REF_MAX_SAMPLES_16K as f64 / HUBERT_SAMPLE_RATE as f64)
}

/// Upstream's 3–10 s rule, applied to the 16 kHz length (`OSError` upstream).
pub fn check_reference_length(samples_16k: usize, name: &str) -> Result<()> {
    if (REF_MIN_SAMPLES_16K..=REF_MAX_SAMPLES_16K).contains(&samples_16k) {
        Ok(())
    } else {
        Err(Error::Duration {
            source_name: name.to_string(),
            seconds: samples_16k as f64 / HUBERT_SAMPLE_RATE as f64,
            samples: samples_16k,
        })
    }
}

/// `_get_ref_spec`: if the peak exceeds 1, divide by `min(2, peak)` (so loud clips stay up to 2×
/// louder than full scale rather than being fully normalised).
pub fn normalize_peak(wav: &mut [f32]) {
    let peak = wav.iter().fold(0.0f32, |m, &s| m.max(s.abs()));
    if peak > 1.0 {
        let d = peak.min(2.0);
        wav.iter_mut().for_each(|s| *s /= d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rule_divides_by_min_two_peak() {
        let mut a = vec![0.5, -3.0, 1.5];
        normalize_peak(&mut a);
        assert_eq!(a, vec![0.25, -1.5, 0.75]);
        let mut b = vec![0.5, -1.5];
        normalize_peak(&mut b);
        assert_eq!(b, vec![0.5 / 1.5, -1.0]);
        let mut c = vec![0.5, -1.0];
        normalize_peak(&mut c);
        assert_eq!(c, vec![0.5, -1.0]);
    }

    #[test]
    fn hubert_input_appends_point_three_seconds_at_sovits_rate() {
        let r = ReferenceAudio {
            wav16k: vec![0.1; 50_000],
            wav32k: vec![],
        };
        let x = r.hubert_input(32_000);
        assert_eq!(x.len(), 59_600);
        assert!(x[50_000..].iter().all(|&v| v == 0.0));
        assert_eq!(x[49_999], 0.1);
    }

    #[test]
    fn length_rule_bounds_are_inclusive() {
        assert!(check_reference_length(48_000, "a").is_ok());
        assert!(check_reference_length(160_000, "a").is_ok());
        let e = check_reference_length(47_999, "clip.wav").unwrap_err().to_string();
        assert!(e.contains("clip.wav") && e.contains("3.00 s"), "{e}");
        assert!(check_reference_length(160_001, "a").is_err());
    }
}
