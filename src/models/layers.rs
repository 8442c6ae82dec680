//! Building blocks shared by the networks, loaded from upstream (torch) weights.
//!
//! Layout convention: sequences are channels-last (`[B, T, C]`) inside MLX, because MLX
//! convolutions take `[N, L, C]`; torch conv weights `[out, in/groups, k]` are transposed to
//! MLX's `[out, k, in/groups]` once at load time.
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::weights::Weights;
use super::Result;

/// `torch.nn.Linear`: `y = x Wᵀ + b`, weight kept as stored (`[out, in]`).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Array,
    pub bias: Option<Array>,
    /// `weightᵀ`, a view made once: transposing in `forward` would add a graph node per call
    /// (each costs host work on MLX's CUDA backend); this one is a leaf once first evaluated.
    weight_t: Array,
}

impl Linear {
    pub fn new(weight: Array, bias: Option<Array>) -> Self {
        Self { weight_t: weight.t(), weight, bias }
    }

    pub fn load(w: &mut Weights, prefix: &str, bias: bool) -> Self {
        let weight = w.take(&format!("{prefix}.weight"));
        let bias = bias.then(|| w.take(&format!("{prefix}.bias")));
        Self::new(weight, bias)
    }

    /// `weightᵀ` (the view made once).
    pub fn weight_t(&self) -> &Array {
        &self.weight_t
    }

    /// The same weights without the bias (handles, nothing copied; the transpose kept).
    pub fn unbiased(&self) -> Self {
        Self { weight: self.weight.clone(), bias: None, weight_t: self.weight_t.clone() }
    }

    /// Every array it holds, `weightᵀ` included: what a compiled graph that captures this layer
    /// needs evaluated first (an unevaluated capture is traced as computation and re-run per call).
    pub fn arrays(&self) -> impl Iterator<Item = &Array> {
        [&self.weight, &self.weight_t].into_iter().chain(self.bias.iter())
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(match &self.bias {
            Some(b) => ops::addmm(b, x, &self.weight_t, None, None)?,
            None => ops::matmul(x, &self.weight_t)?,
        })
    }
}

/// `torch.nn.LayerNorm` over the last axis.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Array,
    pub bias: Array,
    pub eps: f32,
}

impl LayerNorm {
    pub fn load(w: &mut Weights, prefix: &str, eps: f32) -> Self {
        Self {
            weight: w.take(&format!("{prefix}.weight")),
            bias: w.take(&format!("{prefix}.bias")),
            eps,
        }
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(mlx_rs::fast::layer_norm(
            x,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}

/// `torch.nn.Embedding`.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub weight: Array,
}

impl Embedding {
    pub fn load(w: &mut Weights, prefix: &str) -> Self {
        Self {
            weight: w.take(&format!("{prefix}.weight")),
        }
    }

    pub fn forward(&self, ids: &Array) -> Result<Array> {
        Ok(self.weight.take_axis(ids, 0)?)
    }
}

/// Folds `torch.nn.utils.weight_norm` (`w = g · v / ‖v‖`, norm over every axis but `dim`) once at
/// load time, so inference runs a plain convolution.
pub fn fold_weight_norm(g: &Array, v: &Array, dim: i32) -> Result<Array> {
    let ndim = v.ndim() as i32;
    let axes: Vec<i32> = (0..ndim).filter(|&a| a != dim).collect();
    let norm = ops::sqrt(&ops::sum_axes(&v.square()?, &axes, true)?)?;
    Ok(g.multiply(&v.divide(&norm)?)?)
}

/// Loads a conv weight that may be weight-normed (`weight_g`/`weight_v`, norm dim 0) or plain.
pub fn conv_weight(w: &mut Weights, prefix: &str) -> Result<Array> {
    let g_name = format!("{prefix}.weight_g");
    if w.contains(&g_name) {
        let g = w.take(&g_name);
        let v = w.take(&format!("{prefix}.weight_v"));
        fold_weight_norm(&g, &v, 0)
    } else {
        Ok(w.take(&format!("{prefix}.weight")))
    }
}

/// `torch.nn.Conv1d` on channels-last input `[B, T, C]`.
#[derive(Debug, Clone)]
pub struct Conv1d {
    /// MLX layout `[out, k, in/groups]`.
    pub weight: Array,
    pub bias: Option<Array>,
    pub stride: i32,
    pub padding: i32,
    pub dilation: i32,
    pub groups: i32,
}

impl Conv1d {
    /// `torch_weight` is `[out, in/groups, k]` as stored.
    pub fn from_torch(
        torch_weight: &Array,
        bias: Option<Array>,
        stride: i32,
        padding: i32,
        dilation: i32,
        groups: i32,
    ) -> Result<Self> {
        Ok(Self {
            weight: torch_weight.transpose_axes(&[0, 2, 1])?,
            bias,
            stride,
            padding,
            dilation,
            groups,
        })
    }

    /// Loads `{prefix}.weight` (or weight-normed `weight_g`/`weight_v`) and optionally `.bias`.
    pub fn load(
        w: &mut Weights,
        prefix: &str,
        bias: bool,
        stride: i32,
        padding: i32,
        dilation: i32,
        groups: i32,
    ) -> Result<Self> {
        let weight = conv_weight(w, prefix)?;
        let bias = bias.then(|| w.take(&format!("{prefix}.bias")));
        Self::from_torch(&weight, bias, stride, padding, dilation, groups)
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let len = x.shape()[1];
        self.forward_padded_to(x, if conv_buckets_enabled() { conv_bucket(len) } else { len })
    }

    /// [`Self::forward`] with the input zero-padded to `bucket` frames first (same result).
    fn forward_padded_to(&self, x: &Array, bucket: i32) -> Result<Array> {
        let len = x.shape()[1];
        let y = if bucket > len {
            // Zeros after the end are what the convolution's own padding reads there, so the
            // first `out_len(len)` outputs are unchanged (see [`conv_bucket`]).
            let padded = ops::pad(x, &[(0, 0), (0, bucket - len), (0, 0)], None, None)?;
            let y = ops::conv1d(&padded, &self.weight, self.stride, self.padding, self.dilation, self.groups)?;
            y.index((.., ..self.out_len(len), ..))
        } else {
            ops::conv1d(x, &self.weight, self.stride, self.padding, self.dilation, self.groups)?
        };
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

impl Conv1d {
    /// torch's output length for an input of `len` frames.
    pub fn out_len(&self, len: i32) -> i32 {
        let k = self.weight.shape()[1];
        (len + 2 * self.padding - self.dilation * (k - 1) - 1) / self.stride + 1
    }
}

/// The length a convolution's input is zero-padded to when [`conv_buckets_enabled`]: `len`
/// rounded up to a multiple of `2^(⌊log2 len⌋ − 3)`, so at most 8 lengths per octave and at
/// most 12.5 % more frames.
///
/// Why: MLX's CUDA convolution builds a cuDNN plan per input shape (milliseconds each) and keeps
/// it in an LRU cache. A decoder sees a new length with every sentence and streaming window, so
/// without buckets nearly every SoVITS convolution would build a plan. The padding is exact: an
/// output frame `t < out_len(len)` reads input frames up to `t·stride + dilation·(k−1) − padding`,
/// and those past the end are zeros in both forms (the convolution's own padding, or the bucket's).
pub fn conv_bucket(len: i32) -> i32 {
    if len < 16 {
        return len;
    }
    let step = 1 << (31 - len.leading_zeros() as i32 - 3);
    (len + step - 1) / step * step
}

/// Process-wide; auto = where MLX's CUDA backend runs.
static CONV_BUCKETS: crate::device::SwitchCell = crate::device::SwitchCell::auto();

/// Forces [`conv_bucket`] padding on or off (`None`: only on MLX's CUDA backend, where cuDNN
/// plans are built per shape; elsewhere the padding is only extra work).
pub fn set_conv_buckets(on: Option<bool>) {
    CONV_BUCKETS.set(on);
}

pub fn conv_buckets_enabled() -> bool {
    !EXACT_LENGTHS.with(|e| e.get()) && CONV_BUCKETS.get(super::cuda_kernel::available)
}

thread_local! {
    static EXACT_LENGTHS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with [`conv_bucket`] padding off on this thread: for graphs whose lengths are already
/// bucketed as a whole (the compiled SoVITS decode), where padding each convolution again would
/// only add nodes.
pub fn with_exact_conv_lengths<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            EXACT_LENGTHS.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(EXACT_LENGTHS.with(|e| e.replace(true)));
    f()
}

/// `torch.nn.ConvTranspose1d` (groups 1) on channels-last input `[B, T, C]`.
#[derive(Debug, Clone)]
pub struct ConvTranspose1d {
    /// MLX layout `[out, k, in]`.
    pub weight: Array,
    pub bias: Option<Array>,
    pub stride: i32,
    pub padding: i32,
}

impl ConvTranspose1d {
    /// `torch_weight` is `[in, out, k]` as stored.
    pub fn from_torch(
        torch_weight: &Array,
        bias: Option<Array>,
        stride: i32,
        padding: i32,
    ) -> Result<Self> {
        Ok(Self {
            weight: torch_weight.transpose_axes(&[1, 2, 0])?,
            bias,
            stride,
            padding,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let y = ops::conv_transpose1d(x, &self.weight, self.stride, self.padding, None, None, None)?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluated_linear_multiplies_without_a_transpose_node() {
        // What a compiled graph capturing the layer replays per call: with `arrays()` evaluated,
        // the product reads `weightᵀ` as a leaf, with or without the bias (`unbiased`).
        let l = Linear::new(Array::ones::<f32>(&[3, 4]).unwrap(), Some(Array::zeros::<f32>(&[3]).unwrap()));
        mlx_rs::transforms::eval(l.arrays()).unwrap();
        let x = Array::ones::<f32>(&[2, 4]).unwrap();
        x.eval().unwrap();
        for y in [l.forward(&x).unwrap(), ops::matmul(&x, l.unbiased().weight_t()).unwrap()] {
            let kinds = crate::models::graph::node_counts(&[&y]).unwrap();
            assert!(!kinds.contains_key("Transpose"), "{kinds:?}");
        }
        // A transpose made per call is a node of its own.
        let kinds = crate::models::graph::node_counts(&[&ops::matmul(&x, l.weight.t()).unwrap()]).unwrap();
        assert_eq!(kinds.get("Transpose"), Some(&1), "{kinds:?}");
    }

    #[test]
    fn conv_buckets_are_few_and_tight() {
        let mut buckets: Vec<i32> = (1..=4096).map(conv_bucket).collect();
        for (len, &b) in (1..=4096).zip(&buckets) {
            assert!(b >= len && (b - len) * 8 <= len, "{len} -> {b}");
        }
        buckets.dedup();
        // 1..15 exact, then 8 per octave from 16 to 4096.
        assert_eq!(buckets.len(), 15 + 8 * 8 + 1);
    }

    #[test]
    fn a_bucket_padded_convolution_equals_the_plain_one() {
        // (in, out, k, stride, padding, dilation, groups): ResBlock-, WN-, HuBERT-like shapes.
        let cases = [(8, 8, 3, 1, 1, 1, 1), (8, 8, 11, 1, 25, 5, 1), (6, 4, 2, 2, 0, 1, 1), (4, 4, 10, 5, 0, 1, 1), (8, 8, 8, 1, 4, 1, 4), (3, 5, 1, 1, 0, 1, 1)];
        for (i, &(cin, cout, k, stride, padding, dilation, groups)) in cases.iter().enumerate() {
            let w = mlx_rs::random::normal::<f32>(&[cout, cin / groups, k], None, None, None).unwrap();
            let b = mlx_rs::random::normal::<f32>(&[cout], None, None, None).unwrap();
            let conv = Conv1d::from_torch(&w, Some(b), stride, padding, dilation, groups).unwrap();
            for len in [17, 40, 93, 130] {
                let x = mlx_rs::random::normal::<f32>(&[1, len, cin], None, None, None).unwrap();
                let plain = conv.forward_padded_to(&x, len).unwrap();
                assert_eq!(plain.shape()[1], conv.out_len(len), "case {i}");
                for bucket in [conv_bucket(len), len + 7] {
                    let padded = conv.forward_padded_to(&x, bucket).unwrap();
                    assert_eq!(padded.shape(), plain.shape(), "case {i} len {len}");
                    let diff = padded.subtract(&plain).unwrap().abs().unwrap().max(None).unwrap().item_cast::<f32>();
                    assert!(diff < 1e-5, "case {i} len {len} bucket {bucket}: {diff}");
                }
            }
        }
    }
}
