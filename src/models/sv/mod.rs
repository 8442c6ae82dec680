//! The speaker-verification path of v2Pro/v2ProPlus (upstream `GPT_SoVITS/sv.py` as
//! `TTS._get_ref_spec` + `TTS.run` use it): the 32 kHz reference (after the peak rule) →
//! torchaudio-style resample to 16 kHz → Kaldi fbank → ERes2NetV2 `forward3` → embedding
//! `[1, W]` (W = 20480 for the released `pretrained_eres2netv2w24s4ep4.ckpt`), which SoVITS
//! projects with `sv_emb` into its style vector.
use std::path::Path;

use mlx_rs::{Array, Dtype};
use torch_archive::Value;

pub mod eres2netv2;
pub mod fbank;
pub mod resample;
pub mod synthetic;

pub use eres2netv2::{Eres2NetV2, Eres2NetV2Config};

use crate::models::weights::{read_torch_file, Weights};
use crate::models::{Error, Result};

/// Default file name of the released speaker model (upstream `sv.sv_path`).
pub const DEFAULT_FILE_NAME: &str = "pretrained_eres2netv2w24s4ep4.ckpt";

pub struct SpeakerEncoder {
    net: Eres2NetV2,
}

impl SpeakerEncoder {
    /// Loads `torch.save` of a plain state dict (fp16 or fp32) strictly, as `sv.SV` does with
    /// `load_state_dict(strict=True)`.
    pub fn load(path: &Path, dtype: Dtype) -> Result<Self> {
        let value = read_torch_file(path)?;
        let source = path.display().to_string();
        let state = match &value {
            Value::Dict(_) => &value,
            _ => {
                return Err(Error::File {
                    path: path.into(),
                    message: "not a speaker-verification checkpoint (expected a plain ERes2NetV2 state dict)".into(),
                })
            }
        };
        Self::from_weights(Weights::from_state_dict(state, "", dtype, &source)?)
    }

    pub fn from_weights(w: Weights) -> Result<Self> {
        let source = w.source().to_string();
        let net = Eres2NetV2::from_weights(w)?;
        if net.config().feat_dim != fbank::MEL_BINS as i32 {
            return Err(Error::Config {
                source_name: source,
                message: format!(
                    "speaker model reads {} mel bins; the fbank of sv.py has {}",
                    net.config().feat_dim,
                    fbank::MEL_BINS
                ),
            });
        }
        Ok(Self { net })
    }

    pub fn network(&self) -> &Eres2NetV2 {
        &self.net
    }

    /// Width of the embedding (`sv_emb`'s input in SoVITS).
    pub fn embedding_width(&self) -> i32 {
        self.net.config().embedding_width()
    }

    /// `SV.compute_embedding3` on a 16 kHz clip: `[1, W]` f32.
    pub fn embed_16k(&self, wav16k: &[f32]) -> Result<Array> {
        let f = fbank::fbank(wav16k);
        // Three stride-2 stages: fewer than 8 frames (~0.1 s) leave no time step.
        if f.frames < 8 {
            return Err(Error::Invalid(format!(
                "speaker embedding needs at least 8 fbank frames (0.1 s at 16 kHz), got {} samples",
                wav16k.len()
            )));
        }
        let x = Array::from_slice(&f.fbank, &[1, f.frames as i32, fbank::MEL_BINS as i32]);
        self.net.forward3(&x)
    }

    /// The embedding of a reference at 32 kHz (already through upstream's peak rule):
    /// torchaudio resample to 16 kHz, then [`Self::embed_16k`].
    pub fn embed_32k(&self, wav32k: &[f32]) -> Result<Array> {
        self.embed_16k(&resample::to_16k(wav32k))
    }
}
