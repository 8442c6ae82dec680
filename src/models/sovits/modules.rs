//! Shared SoVITS blocks (upstream `module/modules.py`, `module/commons.py`) and shape-checked
//! loading helpers. Sequences are channels-last `[B, T, C]` (see `layers.rs`).
use mlx_rs::{ops, ops::indexing::IndexOp, Array};

use super::mask::FrameMask;
use crate::models::layers::{fold_weight_norm, Conv1d, LayerNorm, Linear};
use crate::models::weights::Weights;
use crate::models::Result;

/// HiFi-GAN / ResBlock slope (`modules.LRELU_SLOPE`).
pub const LRELU_SLOPE: f32 = 0.1;

/// Takes `name` checking its torch shape. On a missing or mis-shaped key (recorded for
/// `Weights::finish`) a zero array of the expected shape stands in, so that construction can go
/// on and every problem is reported at once.
pub fn take(w: &mut Weights, name: &str, shape: &[i32]) -> Result<Array> {
    let a = w.take_shaped(name, shape);
    if a.shape() == shape {
        Ok(a)
    } else {
        Ok(Array::zeros::<f32>(shape)?)
    }
}

/// A conv weight in torch layout, plain (`.weight`) or weight-normed (`.weight_g`/`.weight_v`,
/// norm dim 0), folded to a plain weight once here.
pub fn conv_weight(w: &mut Weights, prefix: &str, shape: &[i32]) -> Result<Array> {
    let g_name = format!("{prefix}.weight_g");
    if w.contains(&g_name) {
        let mut g_shape = vec![1; shape.len()];
        g_shape[0] = shape[0];
        let g = take(w, &g_name, &g_shape)?;
        let v = take(w, &format!("{prefix}.weight_v"), shape)?;
        fold_weight_norm(&g, &v, 0)
    } else {
        take(w, &format!("{prefix}.weight"), shape)
    }
}

/// Loads `torch.nn.Conv1d(cin, cout, k)` (weight-normed or not) with optional bias.
#[allow(clippy::too_many_arguments)]
pub fn conv1d(
    w: &mut Weights,
    prefix: &str,
    cin: i32,
    cout: i32,
    k: i32,
    bias: bool,
    stride: i32,
    padding: i32,
    dilation: i32,
) -> Result<Conv1d> {
    let weight = conv_weight(w, prefix, &[cout, cin, k])?;
    let bias = if bias { Some(take(w, &format!("{prefix}.bias"), &[cout])?) } else { None };
    Conv1d::from_torch(&weight, bias, stride, padding, dilation, 1)
}

/// A kernel-1 `Conv1d` is a `Linear` on channels-last input: weight `[out, in, 1]` → `[out, in]`.
pub fn pointwise(w: &mut Weights, prefix: &str, cin: i32, cout: i32) -> Result<Linear> {
    let weight = conv_weight(w, prefix, &[cout, cin, 1])?.reshape(&[cout, cin])?;
    let bias = take(w, &format!("{prefix}.bias"), &[cout])?;
    Ok(Linear::new(weight, Some(bias)))
}

/// `torch.nn.Linear(cin, cout)`.
pub fn linear(w: &mut Weights, prefix: &str, cin: i32, cout: i32) -> Result<Linear> {
    let weight = take(w, &format!("{prefix}.weight"), &[cout, cin])?;
    Ok(Linear::new(weight, Some(take(w, &format!("{prefix}.bias"), &[cout])?)))
}

/// `modules.LayerNorm` (channel LN with `gamma`/`beta`, eps 1e-5): on channels-last input it is
/// a plain last-axis LayerNorm.
pub fn channel_norm(w: &mut Weights, prefix: &str, channels: i32) -> Result<LayerNorm> {
    Ok(LayerNorm {
        weight: take(w, &format!("{prefix}.gamma"), &[channels])?,
        bias: take(w, &format!("{prefix}.beta"), &[channels])?,
        eps: 1e-5,
    })
}

pub fn leaky_relu(x: &Array, slope: f32) -> Result<Array> {
    Ok(ops::maximum(x, x.multiply(Array::from_f32(slope))?)?)
}

/// `x · tanh(softplus(x))`; `logaddexp(x, 0)` is a softplus that does not overflow.
pub fn mish(x: &Array) -> Result<Array> {
    let sp = ops::logaddexp(x, Array::from_f32(0.0))?;
    Ok(x.multiply(ops::tanh(&sp)?)?)
}

/// Channel slice `x[..., a..b]` of a channels-last array.
pub fn channels(x: &Array, a: i32, b: i32) -> Array {
    x.index((.., .., a..b))
}

/// `commons.fused_add_tanh_sigmoid_multiply`: `tanh(s[:h]) · sigmoid(s[h:])` with `s = a + b`.
pub fn gated(a: &Array, b: &Array, h: i32) -> Result<Array> {
    let s = a.add(b)?;
    Ok(ops::tanh(channels(&s, 0, h))?.multiply(ops::sigmoid(channels(&s, h, 2 * h))?)?)
}

/// `modules.WN`: gated dilated convolutions conditioned on `g` (non-causal WaveNet).
#[derive(Clone)]
pub struct Wn {
    hidden: i32,
    in_layers: Vec<Conv1d>,
    res_skip: Vec<Linear>,
    cond: Option<Linear>,
}

impl Wn {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        w: &mut Weights,
        prefix: &str,
        hidden: i32,
        kernel: i32,
        dilation_rate: i32,
        n_layers: usize,
        gin: i32,
    ) -> Result<Self> {
        let mut in_layers = Vec::with_capacity(n_layers);
        let mut res_skip = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let dilation = dilation_rate.pow(i as u32);
            let padding = (kernel * dilation - dilation) / 2;
            in_layers.push(conv1d(
                w,
                &format!("{prefix}.in_layers.{i}"),
                hidden,
                2 * hidden,
                kernel,
                true,
                1,
                padding,
                dilation,
            )?);
            let out = if i + 1 < n_layers { 2 * hidden } else { hidden };
            res_skip.push(pointwise(w, &format!("{prefix}.res_skip_layers.{i}"), hidden, out)?);
        }
        let cond = if gin > 0 {
            Some(pointwise(w, &format!("{prefix}.cond_layer"), gin, 2 * hidden * n_layers as i32)?)
        } else {
            None
        };
        Ok(Self {
            hidden,
            in_layers,
            res_skip,
            cond,
        })
    }

    /// `x [B,T,H]`, `g [B,1,gin]` → `[B,T,H]`. `mask`: the real frames of a padded `x`, zeroed
    /// before each dilated convolution as upstream's `(x + res) * x_mask` does (without padding
    /// every frame is real and the masks are left out).
    pub fn forward(&self, x: &Array, g: Option<&Array>, mask: Option<&FrameMask>) -> Result<Array> {
        let h = self.hidden;
        let gc = match (&self.cond, g) {
            (Some(c), Some(g)) => Some(c.forward(g)?),
            _ => None,
        };
        let mut x = x.clone();
        let mut out: Option<Array> = None;
        let n = self.in_layers.len();
        for (i, (inl, rs)) in self.in_layers.iter().zip(&self.res_skip).enumerate() {
            let x_in = inl.forward(&FrameMask::apply(mask, &x)?)?;
            let acts = match &gc {
                Some(gc) => gated(&x_in, &channels(gc, 2 * h * i as i32, 2 * h * (i as i32 + 1)), h)?,
                None => gated(&x_in, &Array::from_f32(0.0), h)?,
            };
            let r = rs.forward(&acts)?;
            let skip = if i + 1 < n {
                x = x.add(channels(&r, 0, h))?;
                channels(&r, h, 2 * h)
            } else {
                r
            };
            out = Some(match out {
                Some(o) => o.add(&skip)?,
                None => skip,
            });
        }
        match out {
            Some(o) => Ok(o),
            None => Ok(Array::zeros::<f32>(x.shape())?),
        }
    }
}

/// How the Generator's ResBlock convolutions run: as tap GEMMs ([`TapConv`]) or as MLX's own
/// convolution (cuDNN on CUDA); auto = MLX's on CUDA, taps elsewhere.
static TAP_CONVS: crate::device::SwitchCell = crate::device::SwitchCell::auto();

/// Sets how SoVITS models loaded from now on run their ResBlock convolutions: `Some(true)` tap
/// GEMMs, `Some(false)` MLX convolutions, `None` the default.
///
/// The default (docs/cuda.md): on CUDA, MLX's cuDNN convolutions with length buckets — measured
/// on an H100 (2026-12-07) against the taps: the Generator of a 10 s decode 22.9 vs 32.4 ms, the
/// streamed sentence's SoVITS stage 128 vs 179 ms; a length never seen before pays its cuDNN plan
/// once (slowest new-length decode 169 vs 70 ms). Elsewhere the taps: MLX's CPU convolution
/// loops for dilation > 1 (45x slower), and Metal has not been measured.
pub fn set_tap_convs(on: Option<bool>) {
    TAP_CONVS.set(on);
}

/// Whether newly loaded ResBlocks use [`TapConv`] (see [`set_tap_convs`]).
pub fn tap_convs_enabled() -> bool {
    TAP_CONVS.get(|| !crate::models::cuda_kernel::available())
}

/// One ResBlock convolution in the form [`tap_convs_enabled`] chose at load.
#[derive(Clone)]
enum ResConv {
    Taps(TapConv),
    Mlx(Conv1d),
}

impl ResConv {
    fn new(c: Conv1d) -> Result<Self> {
        Ok(if tap_convs_enabled() { ResConv::Taps(TapConv::from_conv(c)?) } else { ResConv::Mlx(c) })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        match self {
            ResConv::Taps(c) => c.forward(x),
            ResConv::Mlx(c) => c.forward(x),
        }
    }
}

/// `modules.ResBlock1`: three (lrelu → dilated conv → lrelu → conv) residual units.
#[derive(Clone)]
pub struct ResBlock1 {
    convs1: Vec<ResConv>,
    convs2: Vec<ResConv>,
}

impl ResBlock1 {
    pub fn load(w: &mut Weights, prefix: &str, ch: i32, k: i32, dilations: &[i32]) -> Result<Self> {
        let mut convs1 = Vec::new();
        let mut convs2 = Vec::new();
        for (j, &d) in dilations.iter().enumerate() {
            let c1 = conv1d(w, &format!("{prefix}.convs1.{j}"), ch, ch, k, true, 1, d * (k - 1) / 2, d)?;
            let c2 = conv1d(w, &format!("{prefix}.convs2.{j}"), ch, ch, k, true, 1, (k - 1) / 2, 1)?;
            convs1.push(ResConv::new(c1)?);
            convs2.push(ResConv::new(c2)?);
        }
        Ok(Self { convs1, convs2 })
    }

    /// `mask`: the real frames of a padded `x`, zeroed before each convolution.
    pub fn forward(&self, x: &Array, mask: Option<&FrameMask>) -> Result<Array> {
        let mut x = x.clone();
        for (c1, c2) in self.convs1.iter().zip(&self.convs2) {
            let t = c1.forward(&FrameMask::apply(mask, &leaky_relu(&x, LRELU_SLOPE)?)?)?;
            let t = c2.forward(&FrameMask::apply(mask, &leaky_relu(&t, LRELU_SLOPE)?)?)?;
            x = t.add(&x)?;
        }
        Ok(x)
    }
}

/// A `Conv1d` computed from matrix products over its `k` (dilated) taps. MLX's CPU convolution
/// falls back to a direct loop for dilation > 1, about 45× slower than its GEMM path (0.2 s vs
/// 9 s for the 256-channel k11 d5 ResBlock conv of 10 s of audio); these forms run at GEMM speed
/// for every dilation:
/// - **accumulated** (the CPU's): one product per tap on a view of the padded input, summed
///   through `addmm`. The views need no copy and BLAS runs on every core, where a gathered copy
///   is single-threaded: SoVITS v2 on the 2-core CPU went from RTF 1.13–1.20 to 0.42–0.47
///   (2026-12-07, docs/benchmarks.md);
/// - **gathered** (im2col, the GPU's, as measured there): the taps side by side and one product,
///   which writes and reads `k` copies of the input.
#[derive(Clone)]
pub struct TapConv {
    /// `[k·in, out]`, tap-major rows.
    weight: Array,
    bias: Option<Array>,
    k: i32,
    dilation: i32,
    padding: i32,
    accumulate: bool,
}

impl TapConv {
    /// From the MLX-layout conv (`[out, k, in]`, as `layers::Conv1d` keeps it; stride 1, groups
    /// 1), in the form for the default device (accumulated on the CPU, gathered on a GPU).
    pub fn from_conv(c: Conv1d) -> Result<Self> {
        Self::with_form(c, !crate::models::default_device_is_gpu())
    }

    /// `accumulate`: one product per tap summed (else the gathered taps and one product).
    pub fn with_form(c: Conv1d, accumulate: bool) -> Result<Self> {
        let s = c.weight.shape().to_vec();
        let (out, k, cin) = (s[0], s[1], s[2]);
        Ok(Self {
            weight: c.weight.reshape(&[out, k * cin])?.t(),
            bias: c.bias,
            k,
            dilation: c.dilation,
            padding: c.padding,
            accumulate,
        })
    }

    /// `x [B,T,in]` → `[B,T',out]` with torch's output length `T + 2p − d(k−1)`.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let x = if self.padding > 0 {
            ops::pad(x, &[(0, 0), (self.padding, self.padding), (0, 0)], None, None)?
        } else {
            x.clone()
        };
        let t_out = x.shape()[1] - self.dilation * (self.k - 1);
        if self.accumulate && self.k > 1 {
            let cin = x.shape()[2];
            let mut acc: Option<Array> = self.bias.clone();
            for j in 0..self.k {
                let tap = x.index((.., j * self.dilation..j * self.dilation + t_out, ..));
                let w = self.weight.index((j * cin..(j + 1) * cin, ..));
                acc = Some(match acc {
                    Some(a) => ops::addmm(&a, &tap, &w, None, None)?,
                    None => ops::matmul(&tap, &w)?,
                });
            }
            return acc.ok_or_else(|| crate::models::Error::Invalid("tap conv without taps".into()));
        }
        let cols = if self.k == 1 {
            x
        } else {
            let taps: Vec<Array> = (0..self.k)
                .map(|j| x.index((.., j * self.dilation..j * self.dilation + t_out, ..)))
                .collect();
            ops::concatenate(&taps, 2)?
        };
        Ok(match &self.bias {
            Some(b) => ops::addmm(b, &cols, &self.weight, None, None)?,
            None => ops::matmul(&cols, &self.weight)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tap_forms_equal_the_plain_convolution() {
        for (k, d, bias) in [(3, 1, true), (7, 3, true), (11, 5, true), (3, 1, false)] {
            let (cin, cout, len) = (6, 5, 50);
            let w = mlx_rs::random::normal::<f32>(&[cout, cin, k], None, None, None).unwrap();
            let b = bias.then(|| mlx_rs::random::normal::<f32>(&[cout], None, None, None).unwrap());
            let conv = Conv1d::from_torch(&w, b, 1, d * (k - 1) / 2, d, 1).unwrap();
            let x = mlx_rs::random::normal::<f32>(&[1, len, cin], None, None, None).unwrap();
            let want = conv.forward(&x).unwrap();
            for accumulate in [true, false] {
                let got = TapConv::with_form(conv.clone(), accumulate).unwrap().forward(&x).unwrap();
                assert_eq!(got.shape(), want.shape(), "k {k} d {d}");
                let diff = got.subtract(&want).unwrap().abs().unwrap().max(None).unwrap().item_cast::<f32>();
                assert!(diff < 1e-4, "k {k} d {d} accumulate {accumulate}: {diff}");
            }
        }
    }
}
