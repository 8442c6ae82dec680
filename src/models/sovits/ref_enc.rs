//! Upstream `modules.MelStyleEncoder` (`ref_enc`): reference linear spectrogram → style vector.
use mlx_rs::{ops, Array};

use super::config::{STYLE_HEADS, STYLE_HIDDEN, STYLE_KERNEL};
use super::modules::{channels, conv1d, linear, mish};
use crate::models::layers::{Conv1d, Linear};
use crate::models::weights::Weights;
use crate::models::Result;

pub struct MelStyleEncoder {
    spectral: [Linear; 2],
    temporal: Vec<Conv1d>,
    w_qs: Linear,
    w_ks: Linear,
    w_vs: Linear,
    attn_fc: Linear,
    fc: Linear,
    in_dim: i32,
}

impl MelStyleEncoder {
    pub fn load(w: &mut Weights, prefix: &str, in_dim: i32, out_dim: i32) -> Result<Self> {
        let h = STYLE_HIDDEN;
        let temporal = (0..2)
            .map(|i| {
                conv1d(
                    w,
                    &format!("{prefix}.temporal.{i}.conv1.conv"),
                    h,
                    2 * h,
                    STYLE_KERNEL,
                    true,
                    1,
                    (STYLE_KERNEL - 1) / 2,
                    1,
                )
            })
            .collect::<Result<_>>()?;
        let attn = |w: &mut Weights, name: &str| linear(w, &format!("{prefix}.slf_attn.{name}"), h, h);
        Ok(Self {
            spectral: [
                linear(w, &format!("{prefix}.spectral.0.fc"), in_dim, h)?,
                linear(w, &format!("{prefix}.spectral.3.fc"), h, h)?,
            ],
            temporal,
            w_qs: attn(w, "w_qs")?,
            w_ks: attn(w, "w_ks")?,
            w_vs: attn(w, "w_vs")?,
            attn_fc: attn(w, "fc")?,
            fc: linear(w, &format!("{prefix}.fc.fc"), h, out_dim)?,
            in_dim,
        })
    }

    /// Spectrogram bins this encoder reads (704 for v2, every bin for v1).
    pub fn in_dim(&self) -> i32 {
        self.in_dim
    }

    /// `spec [1,T,≥in_dim]` channels-last → `[1,1,out]` (all frames valid).
    pub fn forward(&self, spec: &Array) -> Result<Array> {
        let mut x = channels(spec, 0, self.in_dim);
        for l in &self.spectral {
            x = mish(&l.forward(&x)?)?;
        }
        let h = STYLE_HIDDEN;
        for conv in &self.temporal {
            // Conv1dGLU: first half · sigmoid(second half), residual add.
            let y = conv.forward(&x)?;
            x = x.add(&channels(&y, 0, h).multiply(ops::sigmoid(channels(&y, h, 2 * h))?)?)?;
        }
        x = x.add(&self.self_attention(&x)?)?;
        let x = self.fc.forward(&x)?;
        Ok(x.mean_axis(1, true)?)
    }

    fn self_attention(&self, x: &Array) -> Result<Array> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let dk = STYLE_HIDDEN / STYLE_HEADS;
        let heads = |l: &Linear| -> Result<Array> {
            Ok(l.forward(x)?
                .reshape(&[b, t, STYLE_HEADS, dk])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        let (q, k, v) = (heads(&self.w_qs)?, heads(&self.w_ks)?, heads(&self.w_vs)?);
        // [quirk] scores are divided by sqrt(d_model = 128), not sqrt(d_k = 64).
        let scores = ops::matmul(&q, &k.transpose_axes(&[0, 1, 3, 2])?)?
            .divide(Array::from_f32((STYLE_HIDDEN as f32).sqrt()))?;
        let p = ops::softmax_axis(&scores, -1, true)?;
        let out = ops::matmul(&p, &v)?
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[b, t, STYLE_HIDDEN])?;
        self.attn_fc.forward(&out)
    }
}
