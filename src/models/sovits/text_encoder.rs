//! Upstream `models.TextEncoder` (`enc_p`): content frames and phones → prior mean / log-std.
use mlx_rs::{Array, Dtype};

use super::attentions::Encoder;
use super::config::{SovitsConfig, REL_WINDOW, SSL_DIM};
use super::mask::FrameMask;
use super::modules::{channels, pointwise, take};
use super::mrte::Mrte;
use crate::models::layers::{Embedding, Linear};
use crate::models::weights::Weights;
use crate::models::Result;

#[derive(Clone)]
pub struct TextEncoder {
    ssl_proj: Linear,
    encoder_ssl: Encoder,
    text_embedding: Embedding,
    encoder_text: Encoder,
    mrte: Mrte,
    encoder2: Encoder,
    proj: Linear,
    out_channels: i32,
}

/// Outputs of `enc_p`, channels-last: `x [1,T',H]` (after speed interpolation), `m`, `logs` `[1,T',inter]`.
pub struct EncoderOutput {
    pub x: Array,
    pub m: Array,
    pub logs: Array,
}

impl TextEncoder {
    pub fn load(w: &mut Weights, prefix: &str, cfg: &SovitsConfig) -> Result<Self> {
        let h = cfg.hidden_channels;
        let enc = |w: &mut Weights, name: &str, layers: usize| {
            Encoder::load(
                w,
                &format!("{prefix}.{name}"),
                h,
                cfg.filter_channels,
                cfg.n_heads,
                layers,
                cfg.kernel_size,
                REL_WINDOW,
            )
        };
        Ok(Self {
            ssl_proj: pointwise(w, &format!("{prefix}.ssl_proj"), SSL_DIM, h)?,
            encoder_ssl: enc(w, "encoder_ssl", cfg.n_layers / 2)?,
            text_embedding: Embedding {
                weight: take(w, &format!("{prefix}.text_embedding.weight"), &[cfg.n_symbols, h])?,
            },
            encoder_text: enc(w, "encoder_text", cfg.n_layers)?,
            mrte: Mrte::load(w, &format!("{prefix}.mrte"), h)?,
            encoder2: enc(w, "encoder2", cfg.n_layers / 2)?,
            proj: pointwise(w, &format!("{prefix}.proj"), h, 2 * cfg.inter_channels)?,
            out_channels: cfg.inter_channels,
        })
    }

    /// The part before speed interpolation: `ssl [1,T,768]` (50 Hz), `text` ids `[1,P]` int32,
    /// `ge_text [1,1,512]` → `[1,T,H]` (the output of `encoder2`). `masks`: the real frames and
    /// phones of a padded `ssl` and `text` (see [`FrameMask`]).
    pub fn encode(&self, ssl: &Array, text: &Array, ge_text: &Array, masks: Option<(&FrameMask, &FrameMask)>) -> Result<Array> {
        let (ssl_mask, text_mask) = masks.unzip();
        let y = self.ssl_proj.forward(ssl)?;
        let y = self.encoder_ssl.forward(&y, ssl_mask)?;
        let t = self.text_embedding.forward(text)?;
        let t = self.encoder_text.forward(&t, text_mask)?;
        let y = self.mrte.forward(&y, &t, ge_text, text_mask)?;
        self.encoder2.forward(&y, ssl_mask)
    }

    /// Speed interpolation then `proj`: `y [1,T,H]` → x, m, logs.
    pub fn project(&self, y: &Array, speed: f32) -> Result<EncoderOutput> {
        let x = if speed != 1.0 { interpolate_linear(y, speed)? } else { y.clone() };
        let stats = self.proj.forward(&x)?;
        let c = self.out_channels;
        Ok(EncoderOutput {
            m: channels(&stats, 0, c),
            logs: channels(&stats, c, 2 * c),
            x,
        })
    }
}

/// `F.interpolate(y, size=int(T/speed)+1, mode="linear", align_corners=False)` along time, with
/// torch's CPU index/weight rules computed in f32 (source index clamped at 0, upper neighbour
/// clamped at the end). The all-ones mask stays all ones under nearest interpolation.
pub fn interpolate_linear(y: &Array, speed: f32) -> Result<Array> {
    let t_in = y.shape()[1];
    // [quirk] upstream sizes the output as int(T / speed) + 1 (one frame more than T/speed).
    let t_out = (t_in as f64 / speed as f64) as i32 + 1;
    let scale = t_in as f32 / t_out as f32;
    let mut i0 = Vec::with_capacity(t_out as usize);
    let mut i1 = Vec::with_capacity(t_out as usize);
    let mut l1 = Vec::with_capacity(t_out as usize);
    for d in 0..t_out {
        let src = (scale * (d as f32 + 0.5) - 0.5).max(0.0);
        let lo = (src.floor() as i32).min(t_in - 1);
        let lambda = (src - lo as f32).clamp(0.0, 1.0);
        i0.push(lo);
        i1.push(if lo < t_in - 1 { lo + 1 } else { lo });
        l1.push(lambda);
    }
    let n = t_out;
    let a = y.take_axis(Array::from_slice(&i0, &[n]), 1)?;
    let b = y.take_axis(Array::from_slice(&i1, &[n]), 1)?;
    let l1 = Array::from_slice(&l1, &[1, n, 1]).as_dtype(y.dtype())?;
    let l0 = Array::from_f32(1.0).as_dtype(Dtype::Float32)?.subtract(&l1)?.as_dtype(y.dtype())?;
    Ok(a.multiply(&l0)?.add(&b.multiply(&l1)?)?)
}
