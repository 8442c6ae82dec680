//! Chunked decoding for streaming: audio for the newest tokens of a growing code sequence.
//!
//! The decoder has two parts with different reach. `enc_p` is a transformer: every latent
//! frame depends on every code and phone, so no finite context reproduces a one-shot decode
//! exactly; like upstream's `decode_streaming` we therefore run `enc_p` over *all* codes so far
//! (cheap: ~10 % of a decode) and only the flow and the Generator on a window. Those two are
//! convolutional with a finite receptive field ([`receptive_field_frames`]: 45 latent frames
//! each side for v2, 32 from the flow's 16 kernel-5 WN layers and 13 from the Generator), so a
//! window that starts `left_context` tokens before the chunk reproduces the one-shot decode of
//! the same latent bit for bit once `left_context ≥ ⌈45/2⌉ = 23` tokens. Measured on the fixture
//! model (`tests/parity_sovits.rs`, relative max error of the chunk): 0 tokens 0.86, 2 tokens
//! 6e-2, 4 tokens 6e-4, 6 tokens 1e-5, ≥ 8 tokens 1e-6 (float noise): 8 tokens of context suffice.
//! The right edge has the same reach, plus `enc_p`'s global attention: decoding a prefix without
//! the later codes changes its last 2 tokens strongly (0.64, 0.45 relative) and, with random
//! weights, every earlier frame by a few percent; a pipeline therefore holds back the last
//! tokens of a chunk and cross-fades at the seam (upstream: SOLA over 2 tokens).
use mlx_rs::{ops::indexing::IndexOp, Array, Dtype};

use super::config::{SovitsConfig, FLOW_COUPLINGS, FLOW_WN_KERNEL, FLOW_WN_LAYERS};
use super::{Style, SynthesizerTrn};
use crate::models::{Error, Result};

/// One-sided receptive field of flow + Generator in 50 Hz latent frames (an upper bound):
/// how far a change of the latent can move the waveform, and so how much context a window needs.
pub fn receptive_field_frames(cfg: &SovitsConfig) -> usize {
    // Reverse flow: 4 couplings × 4 WN layers, kernel 5, dilation 1 (±2 frames each).
    let flow = FLOW_COUPLINGS * FLOW_WN_LAYERS * (FLOW_WN_KERNEL as usize - 1) / 2;
    // Generator, in output samples at each stage's rate, converted back to latent frames.
    let mut frames = 3.0; // conv_pre, kernel 7
    let mut rate = 1.0f64; // samples per latent frame at the current stage
    let res_reach = cfg
        .resblock_kernel_sizes
        .iter()
        .zip(&cfg.resblock_dilation_sizes)
        .map(|(&k, dil)| {
            let half = (k - 1) as f64 / 2.0;
            dil.iter().map(|&d| half * d as f64 + half).sum::<f64>()
        })
        .fold(0.0, f64::max);
    for (&u, &k) in cfg.upsample_rates.iter().zip(&cfg.upsample_kernel_sizes) {
        // A transposed conv output reads ⌈k/u⌉ inputs: at most that many input samples away.
        frames += (k as f64 / u as f64).ceil() / rate;
        rate *= u as f64;
        frames += res_reach / rate;
    }
    frames += 3.0 / rate; // conv_post, kernel 7
    flow + frames.ceil() as usize
}

impl SynthesizerTrn {
    /// Audio of `codes[start..]` (speed 1) when `codes` is everything decoded so far: `enc_p`
    /// runs over all codes (whole-sentence context, as upstream streaming), the flow and the
    /// Generator over the latent from `start − left_context` tokens on; the context's samples
    /// are dropped. Returns `[(len − start)·1280]` f32. `noise` is the draw for the *whole*
    /// sequence `[1,inter,2·len]` (torch layout), so a chunk sees the same noise as a one-shot
    /// decode; `None` draws fresh noise for the window.
    #[allow(clippy::too_many_arguments)]
    pub fn decode_tail(
        &self,
        codes: &[i64],
        text: &[i64],
        style: &Style,
        start: usize,
        left_context: usize,
        noise_scale: f32,
        noise: Option<&Array>,
    ) -> Result<Array> {
        if start >= codes.len() {
            return Err(Error::Invalid(format!(
                "decode_tail: start {start} is not inside the {} codes",
                codes.len()
            )));
        }
        let latent = self.prior(codes, text, style, 1.0)?;
        let from = start.saturating_sub(left_context);
        let (f0, f1) = (2 * from as i32, 2 * codes.len() as i32);
        let m = latent.m.index((.., f0..f1, ..));
        let logs = latent.logs.index((.., f0..f1, ..));
        let noise = match noise {
            Some(n) => {
                let c = self.config().inter_channels;
                if n.shape() != [1, c, f1] {
                    return Err(Error::Invalid(format!(
                        "decode_tail: noise must cover the whole sequence, [1,{c},{f1}], got {:?}",
                        n.shape()
                    )));
                }
                Some(n.index((.., .., f0..f1)))
            }
            None => None,
        };
        let (_, _, o) = self.synthesize(&m, &logs, style, noise_scale, noise.as_ref())?;
        let skip = ((start - from) * self.samples_per_token()) as i32;
        Ok(o.reshape(&[-1])?.index(skip..).as_dtype(Dtype::Float32)?)
    }
}
