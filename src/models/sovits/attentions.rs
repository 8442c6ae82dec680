//! Upstream `module/attentions.py`: the VITS transformer encoder with relative-position
//! multi-head attention, on channels-last `[B, T, C]`.
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::mask::FrameMask;
use super::modules::{channel_norm, pointwise, take};
use crate::models::layers::{Conv1d, LayerNorm, Linear};
use crate::models::weights::Weights;
use crate::models::Result;

/// Relative-position tables shared by all heads (`heads_share=True`): `[2w+1, d_k]` each.
#[derive(Clone)]
struct Relative {
    window: i32,
    /// `emb_rel_kᵀ` `[d_k, 2w+1]` (a view made once, not a node per call).
    emb_k_t: Array,
    emb_v: Array,
}

/// `attentions.MultiHeadAttention` (q/k/v/o are kernel-1 convs). With a window the scores gain
/// `q_i·E_k[j−i+w]` and the output `Σ p_ij·E_v[j−i+w]` for `|j−i| ≤ w`; beyond the window the
/// relative terms are zero (upstream pads the tables with zeros, it does not clip).
#[derive(Clone)]
pub struct MultiHeadAttention {
    proj: Projections,
    o: Linear,
    heads: i32,
    k_channels: i32,
    rel: Option<Relative>,
}

/// How the queries, keys and values are projected.
#[derive(Clone)]
enum Projections {
    /// Self-attention: `conv_q|conv_k|conv_v` stacked into one product `[3C, C]` (one matrix
    /// product and its graph node instead of three).
    Packed(Linear),
    /// Cross-attention: q from the queries, k and v from the context.
    Separate { q: Linear, k: Linear, v: Linear },
}

impl MultiHeadAttention {
    /// `packed`: the layer serves self-attention only ([`Self::self_attention`]).
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        w: &mut Weights,
        prefix: &str,
        channels: i32,
        out_channels: i32,
        heads: i32,
        window: Option<i32>,
        packed: bool,
    ) -> Result<Self> {
        let k_channels = channels / heads;
        let rel = match window {
            Some(win) => {
                let shape = [1, 2 * win + 1, k_channels];
                let emb_k = take(w, &format!("{prefix}.emb_rel_k"), &shape)?.reshape(&shape[1..])?;
                let emb_v = take(w, &format!("{prefix}.emb_rel_v"), &shape)?.reshape(&shape[1..])?;
                Some(Relative {
                    window: win,
                    emb_k_t: emb_k.t(),
                    emb_v,
                })
            }
            None => None,
        };
        let q = pointwise(w, &format!("{prefix}.conv_q"), channels, channels)?;
        let k = pointwise(w, &format!("{prefix}.conv_k"), channels, channels)?;
        let v = pointwise(w, &format!("{prefix}.conv_v"), channels, channels)?;
        let proj = if packed {
            let weight = ops::concatenate(&[&q.weight, &k.weight, &v.weight], 0)?;
            let biases = [&q, &k, &v].map(|l| l.bias.clone());
            let bias = match biases {
                [Some(a), Some(b), Some(c)] => ops::concatenate(&[a, b, c], 0)?,
                _ => return Err(crate::models::Error::Invalid(format!("{prefix}: a projection without bias"))),
            };
            Projections::Packed(Linear::new(weight, Some(bias)))
        } else {
            Projections::Separate { q, k, v }
        };
        Ok(Self {
            proj,
            o: pointwise(w, &format!("{prefix}.conv_o"), channels, out_channels)?,
            heads,
            k_channels,
            rel,
        })
    }

    fn split_heads(&self, x: &Array) -> Result<Array> {
        let s = x.shape();
        Ok(x.reshape(&[s[0], s[1], self.heads, self.k_channels])?
            .transpose_axes(&[0, 2, 1, 3])?)
    }

    /// `x [B,T,C]` attends over itself: every key, or those `keys` marks real.
    pub fn self_attention(&self, x: &Array, keys: Option<&FrameMask>) -> Result<Array> {
        self.attend(x, None, keys)
    }

    /// `x [B,Tq,C]` attends over `c [B,Tk,C]`: every key, or those `keys` marks real.
    pub fn forward(&self, x: &Array, c: &Array, keys: Option<&FrameMask>) -> Result<Array> {
        self.attend(x, Some(c), keys)
    }

    /// q, k, v `[B, H, T, d]` of the queries `x` over the context `c` (`None`: `x` itself).
    fn project(&self, x: &Array, c: Option<&Array>) -> Result<(Array, Array, Array)> {
        match (&self.proj, c) {
            (Projections::Packed(qkv), None) => {
                let (b, t) = (x.shape()[0], x.shape()[1]);
                let y = qkv.forward(x)?.reshape(&[b, t, 3, self.heads, self.k_channels])?.transpose_axes(&[2, 0, 3, 1, 4])?;
                Ok((y.index(0), y.index(1), y.index(2)))
            }
            (Projections::Separate { q, k, v }, c) => {
                let c = c.unwrap_or(x);
                Ok((self.split_heads(&q.forward(x)?)?, self.split_heads(&k.forward(c)?)?, self.split_heads(&v.forward(c)?)?))
            }
            (Projections::Packed(_), Some(_)) => Err(crate::models::Error::Invalid("a self-attention layer given a separate context".into())),
        }
    }

    fn attend(&self, x: &Array, c: Option<&Array>, keys: Option<&FrameMask>) -> Result<Array> {
        let (b, tq) = (x.shape()[0], x.shape()[1]);
        let (q, k, v) = self.project(x, c)?;
        let q = q.multiply(Array::from_f32(1.0 / (self.k_channels as f32).sqrt()))?;
        let mut scores = ops::matmul(&q, &k.transpose_axes(&[0, 1, 3, 2])?)?;
        if let Some(rel) = &self.rel {
            // rel_logits[.., i, r] = q_i · E_k[r]; scores[i, j] += rel_logits[i, j−i+w] inside the window.
            let rel_logits = ops::matmul(&q, &rel.emb_k_t)?;
            let (idx, valid) = band_indices(tq, rel.window, Band::KeyOffsets);
            let shape = [b, self.heads, tq, tq];
            let local = rel_logits.take_along_axis(&ops::broadcast_to(&idx, &shape)?, -1)?;
            scores = scores.add(&local.multiply(&valid)?)?;
        }
        if let Some(keys) = keys {
            scores = keys.mask_keys(&scores)?;
        }
        let p = ops::softmax_axis(&scores, -1, true)?;
        let mut out = ops::matmul(&p, &v)?;
        if let Some(rel) = &self.rel {
            // weights[.., i, r] = p[i, i+r−w] (zero outside the sequence), times E_v.
            let (idx, valid) = band_indices(tq, rel.window, Band::Relative);
            let shape = [b, self.heads, tq, 2 * rel.window + 1];
            let rw = p.take_along_axis(&ops::broadcast_to(&idx, &shape)?, -1)?.multiply(&valid)?;
            out = out.add(&ops::matmul(&rw, &rel.emb_v)?)?;
        }
        let out = out
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[b, tq, self.heads * self.k_channels])?;
        self.o.forward(&out)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Band {
    /// `[T, T]`: for key j of query i, the table row `j−i+w`.
    KeyOffsets,
    /// `[T, 2w+1]`: for table row r of query i, the key `i+r−w`.
    Relative,
}

/// Index elements of [`band_indices`] results kept per thread before the memo starts again (with
/// their masks ≤ 32 MB; one 20 s decode's `T²` band is 1M).
const BAND_MEMO_ELEMENTS: usize = 1 << 22;

/// [`band_indices`] results by `(t, w, band)` and their index elements in all.
#[derive(Default)]
struct BandMemo {
    elements: usize,
    entries: std::collections::HashMap<(i32, i32, Band), (Array, Array)>,
}

thread_local! {
    static BAND_MEMO: std::cell::RefCell<BandMemo> = Default::default();
}

/// Gather indices (clamped into range) and a 0/1 validity mask for the relative terms, built on
/// the host once per length: every layer of a decode, and every decode of that length, shares
/// them (built per call they were `T²` host loops and uploads per layer).
fn band_indices(t: i32, w: i32, band: Band) -> (Array, Array) {
    BAND_MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some(hit) = memo.entries.get(&(t, w, band)) {
            return hit.clone();
        }
        let built = build_band_indices(t, w, band);
        let size = built.0.size();
        if memo.elements + size > BAND_MEMO_ELEMENTS {
            *memo = BandMemo::default();
        }
        memo.elements += size;
        memo.entries.insert((t, w, band), built.clone());
        built
    })
}

fn build_band_indices(t: i32, w: i32, band: Band) -> (Array, Array) {
    let cols = match band {
        Band::KeyOffsets => t,
        Band::Relative => 2 * w + 1,
    };
    let mut idx = Vec::with_capacity((t * cols) as usize);
    let mut valid = Vec::with_capacity((t * cols) as usize);
    for i in 0..t {
        for c in 0..cols {
            let (raw, hi, ok) = match band {
                Band::KeyOffsets => (c - i + w, 2 * w, (c - i).abs() <= w),
                Band::Relative => (i + c - w, t - 1, (0..t).contains(&(i + c - w))),
            };
            idx.push(raw.clamp(0, hi));
            valid.push(if ok { 1.0f32 } else { 0.0 });
        }
    }
    (Array::from_slice(&idx, &[t, cols]), Array::from_slice(&valid, &[t, cols]))
}

/// `attentions.FFN`: conv(k) → ReLU → conv(k), "same" padding `(k−1)/2` left, `k/2` right.
#[derive(Clone)]
struct Ffn {
    conv_1: Conv1d,
    conv_2: Conv1d,
    /// Padding added before each convolution: none for an odd `k`, whose symmetric padding the
    /// convolution does itself (one graph node less per convolution).
    pad: (i32, i32),
}

impl Ffn {
    fn load(w: &mut Weights, prefix: &str, ch: i32, filter: i32, k: i32) -> Result<Self> {
        let (own, pad) = if k % 2 == 1 { ((k - 1) / 2, (0, 0)) } else { (0, ((k - 1) / 2, k / 2)) };
        let conv = |w: &mut Weights, name: &str, cin: i32, cout: i32| {
            super::modules::conv1d(w, &format!("{prefix}.{name}"), cin, cout, k, true, 1, own, 1)
        };
        Ok(Self {
            conv_1: conv(w, "conv_1", ch, filter)?,
            conv_2: conv(w, "conv_2", filter, ch)?,
            pad,
        })
    }

    fn same_pad(&self, x: &Array) -> Result<Array> {
        if self.pad == (0, 0) {
            return Ok(x.clone());
        }
        let widths = [(0, 0), self.pad, (0, 0)];
        Ok(ops::pad(x, &widths, None, None)?)
    }

    /// Upstream masks both convolutions' inputs (`conv(pad(x * x_mask))`).
    fn forward(&self, x: &Array, mask: Option<&FrameMask>) -> Result<Array> {
        let h = self.conv_1.forward(&self.same_pad(&FrameMask::apply(mask, x)?)?)?;
        let h = ops::maximum(&h, Array::from_f32(0.0))?;
        self.conv_2.forward(&self.same_pad(&FrameMask::apply(mask, &h)?)?)
    }
}

/// `attentions.Encoder`: post-norm transformer layers, relative attention with window 4.
#[derive(Clone)]
pub struct Encoder {
    layers: Vec<(MultiHeadAttention, LayerNorm, Ffn, LayerNorm)>,
}

impl Encoder {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        w: &mut Weights,
        prefix: &str,
        hidden: i32,
        filter: i32,
        heads: i32,
        n_layers: usize,
        kernel: i32,
        window: i32,
    ) -> Result<Self> {
        let layers = (0..n_layers)
            .map(|i| {
                Ok((
                    MultiHeadAttention::load(w, &format!("{prefix}.attn_layers.{i}"), hidden, hidden, heads, Some(window), true)?,
                    channel_norm(w, &format!("{prefix}.norm_layers_1.{i}"), hidden)?,
                    Ffn::load(w, &format!("{prefix}.ffn_layers.{i}"), hidden, filter, kernel)?,
                    channel_norm(w, &format!("{prefix}.norm_layers_2.{i}"), hidden)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// `x [1,T,C]`; `mask`: the real frames of a padded `x` (see [`FrameMask`]).
    pub fn forward(&self, x: &Array, mask: Option<&FrameMask>) -> Result<Array> {
        let mut x = x.clone();
        for (attn, norm1, ffn, norm2) in &self.layers {
            let y = attn.self_attention(&x, mask)?;
            x = norm1.forward(&x.add(&y)?)?;
            let y = ffn.forward(&x, mask)?;
            x = norm2.forward(&x.add(&y)?)?;
        }
        Ok(x)
    }
}
