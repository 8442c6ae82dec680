//! Building blocks shared by the networks, loaded from upstream (torch) weights.
//!
//! Layout convention: sequences are channels-last (`[B, T, C]`) inside MLX, because MLX
//! convolutions take `[N, L, C]`; torch conv weights `[out, in/groups, k]` are transposed to
//! MLX's `[out, k, in/groups]` once at load time.
use mlx_rs::{ops, Array};

use super::weights::Weights;
use super::Result;

/// `torch.nn.Linear`: `y = x Wᵀ + b`, weight kept as stored (`[out, in]`).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Array,
    pub bias: Option<Array>,
}

impl Linear {
    pub fn load(w: &mut Weights, prefix: &str, bias: bool) -> Self {
        let weight = w.take(&format!("{prefix}.weight"));
        let bias = bias.then(|| w.take(&format!("{prefix}.bias")));
        Self { weight, bias }
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let wt = self.weight.t();
        Ok(match &self.bias {
            Some(b) => ops::addmm(b, x, &wt, None, None)?,
            None => ops::matmul(x, &wt)?,
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
        let y = ops::conv1d(
            x,
            &self.weight,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
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
