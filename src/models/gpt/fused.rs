//! The decode step with custom CUDA kernels: fewer, fatter graph nodes per layer.
//!
//! On MLX's CUDA backend each graph node costs ~10 µs of host work per evaluation, and the
//! portable step ([`super::model::Block::forward_into_buffers`]) spends ~15 nodes per layer:
//! head dim 32 has no fused attention kernel there, so attention alone is a mask, a scale, two
//! matrix products and a softmax, plus the mask's own nodes. This path replaces
//! - attention with one kernel over the whole cache buffers that reads the write position and
//!   each row's left padding from arrays (so a compiled step never retraces), and takes q
//!   straight out of the packed q|k|v projection;
//! - `residual + bias → LayerNorm` (both post-norms) with one kernel each;
//! - `addmm` with `matmul` + a bias add that `compile` fuses with its neighbours.
//!
//! A layer is then: q|k|v product, its bias, the two cache writes, attention, output product,
//! add-norm, FFN product, bias + ReLU, FFN product, add-norm. The math is the portable path's,
//! in f32 accumulators; `gsv-server selftest --device gpu` checks the two against each other.
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::model::{Block, Text2SemanticDecoder};
use crate::models::cuda_kernel::{CudaKernel, TemplateArg};
use crate::models::{Error, Result};

/// Threads per block of both kernels (4 warps).
const THREADS: i32 = 128;

/// Block-wide sum over `NW` warps through `red` (`NW` floats of shared memory).
const HEADER: &str = r#"
template <int NW>
__device__ __forceinline__ float gsv_block_sum(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads(); // `red` may still be read by a previous call
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  float t = 0.0f;
#pragma unroll
  for (int w = 0; w < NW; ++w) t += red[w];
  return t;
}
"#;

/// One block per (row, head); each thread runs an online softmax over a strided share of the
/// written, unpadded columns `left_pad[b] ..= offset`, then the block merges the partial
/// maxima, sums and weighted values.
const ATTENTION: &str = r#"
  constexpr int NW = NT / 32;
  constexpr int D = H * HD;
  const int bh = blockIdx.x;
  const int b = bh / H;
  const int h = bh - b * H;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int first = left_pad[b];
  const int last = offset[0];
  const float scale = rsqrtf(static_cast<float>(HD));
  const T* qp = qkv + static_cast<size_t>(b) * 3 * D + h * HD;
  float q[HD];
  float acc[HD];
#pragma unroll
  for (int d = 0; d < HD; ++d) {
    q[d] = static_cast<float>(qp[d]) * scale;
    acc[d] = 0.0f;
  }
  const size_t base = static_cast<size_t>(bh) * CAP * HD;
  float m = __int_as_float(0xff800000);
  float l = 0.0f;
  for (int j = first + tid; j <= last; j += NT) {
    const T* kr = k + base + static_cast<size_t>(j) * HD;
    const T* vr = v + base + static_cast<size_t>(j) * HD;
    float s = 0.0f;
#pragma unroll
    for (int d = 0; d < HD; ++d) s += q[d] * static_cast<float>(kr[d]);
    const float mn = fmaxf(m, s);
    const float c = expf(m - mn);
    const float p = expf(s - mn);
    l = l * c + p;
#pragma unroll
    for (int d = 0; d < HD; ++d) acc[d] = acc[d] * c + p * static_cast<float>(vr[d]);
    m = mn;
  }
  __shared__ float wmax[NW];
  __shared__ float part[NW][HD + 1];
  float wm = m;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) wm = fmaxf(wm, __shfl_xor_sync(0xffffffffu, wm, o));
  if (lane == 0) wmax[warp] = wm;
  __syncthreads();
  float mx = wmax[0];
#pragma unroll
  for (int w = 1; w < NW; ++w) mx = fmaxf(mx, wmax[w]);
  const float c = l > 0.0f ? expf(m - mx) : 0.0f;
#pragma unroll
  for (int d = 0; d < HD; ++d) {
    float a = acc[d] * c;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0) part[warp][d] = a;
  }
  float ls = l * c;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ls += __shfl_xor_sync(0xffffffffu, ls, o);
  if (lane == 0) part[warp][HD] = ls;
  __syncthreads();
  if (tid < HD) {
    float a = 0.0f;
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < NW; ++w) {
      a += part[w][tid];
      s += part[w][HD];
    }
    out[static_cast<size_t>(b) * D + h * HD + tid] = static_cast<T>(a / s);
  }
"#;

/// One block per row: `LayerNorm(x + (y + bias))` with the row held in registers.
const ADD_NORM: &str = r#"
  constexpr int NW = NT / 32;
  constexpr int PER = D / NT;
  __shared__ float red[NW];
  const size_t row = static_cast<size_t>(blockIdx.x) * D;
  float v[PER];
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int c = threadIdx.x + i * NT;
    v[i] = static_cast<float>(x[row + c]) + (static_cast<float>(y[row + c]) + static_cast<float>(bias[c]));
    s += v[i];
  }
  const float mean = gsv_block_sum<NW>(s, red) / D;
  float q = 0.0f;
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    v[i] -= mean;
    q += v[i] * v[i];
  }
  const float rstd = rsqrtf(gsv_block_sum<NW>(q, red) / D + EPS);
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int c = threadIdx.x + i * NT;
    out[row + c] = static_cast<T>(v[i] * rstd * static_cast<float>(gamma[c]) + static_cast<float>(beta[c]));
  }
"#;

/// The kernels of one model's fused step (JIT-compiled by MLX on first launch).
pub struct FusedKernels {
    attention: CudaKernel,
    add_norm: CudaKernel,
}

impl FusedKernels {
    /// Whether the fused step supports this model: head and width fit the kernels' blocks and
    /// every LayerNorm has the same ε (it is compiled into the kernel).
    pub fn supports(model: &Text2SemanticDecoder) -> bool {
        let cfg = &model.config;
        let eps = model.layers().first().map(|l| l.norm1.eps);
        cfg.hidden_dim % THREADS == 0
            && cfg.head_dim() <= 128
            && model.layers().iter().all(|l| Some(l.norm1.eps) == eps && Some(l.norm2.eps) == eps)
    }

    pub fn new(model: &Text2SemanticDecoder) -> Result<Self> {
        if !Self::supports(model) {
            return Err(Error::Invalid(format!("the fused CUDA step does not support {:?}", model.config)));
        }
        let eps = model.layers().first().map_or(1e-5, |l| l.norm1.eps);
        let add_norm_src = format!("  constexpr float EPS = {eps:e}f;\n{ADD_NORM}");
        Ok(Self {
            attention: CudaKernel::new("gsv_decode_attention", &["qkv", "k", "v", "offset", "left_pad"], &["out"], ATTENTION, "")?,
            add_norm: CudaKernel::new("gsv_add_norm", &["x", "y", "bias", "gamma", "beta"], &["out"], &add_norm_src, HEADER)?,
        })
    }

    /// Attention of the one new query per row: `qkv [B, 3D]` (biased projection), the written
    /// cache buffers `[B, H, capacity, hd]`, `offset [1]`, `left_pad [B]` → `[B, D]`.
    fn attention(&self, qkv: &Array, k: &Array, v: &Array, offset: &Array, left_pad: &Array) -> Result<Array> {
        let (b, h, cap, hd) = (k.shape()[0], k.shape()[1], k.shape()[2], k.shape()[3]);
        let out = self.attention.apply(
            &[qkv, k, v, offset, left_pad],
            &[(&[b, h * hd], qkv.dtype())],
            (b * h * THREADS, 1, 1),
            (THREADS, 1, 1),
            &[
                ("T", TemplateArg::Dtype(qkv.dtype())),
                ("H", TemplateArg::Int(h)),
                ("HD", TemplateArg::Int(hd)),
                ("CAP", TemplateArg::Int(cap)),
                ("NT", TemplateArg::Int(THREADS)),
            ],
        )?;
        single(out)
    }

    /// `LayerNorm(x + y + bias)` over the last axis of `[R, D]` rows.
    fn add_norm(&self, x: &Array, y: &Array, bias: &Array, norm: &crate::models::layers::LayerNorm) -> Result<Array> {
        let (r, d) = (x.shape()[0], x.shape()[1]);
        let out = self.add_norm.apply(
            &[x, y, bias, &norm.weight, &norm.bias],
            &[(&[r, d], x.dtype())],
            (r * THREADS, 1, 1),
            (THREADS, 1, 1),
            &[("T", TemplateArg::Dtype(x.dtype())), ("D", TemplateArg::Int(d)), ("NT", TemplateArg::Int(THREADS))],
        )?;
        single(out)
    }

    /// One layer for one position per row: `x [B, D]` → (`[B, D]`, written k, written v).
    fn layer(&self, l: &Block, x: &Array, offset: &Array, left_pad: &Array, k_buf: &Array, v_buf: &Array) -> Result<(Array, Array, Array)> {
        let (b, d) = (x.shape()[0], x.shape()[1]);
        let (n_head, hd) = (k_buf.shape()[1], k_buf.shape()[3]);
        let qkv = ops::matmul(x, &l.in_proj.weight.t())?.add(bias(&l.in_proj)?)?; // [B, 3D]
        let heads = qkv.reshape(&[b, 3, n_head, 1, hd])?;
        let (k_new, v_new) = (heads.index((.., 1)), heads.index((.., 2)));
        let at = ops::broadcast_to(offset.reshape(&[1, 1, 1, 1])?, k_new.shape())?;
        let k = k_buf.put_along_axis(&at, &k_new, 2)?;
        let v = v_buf.put_along_axis(&at, &v_new, 2)?;
        let attn = self.attention(&qkv, &k, &v, offset, left_pad)?;
        let y = ops::matmul(&attn, &l.out_proj.weight.t())?;
        let x = self.add_norm(x, &y, bias(&l.out_proj)?, &l.norm1)?;
        let f = ops::maximum(ops::matmul(&x, &l.linear1.weight.t())?.add(bias(&l.linear1)?)?, Array::from_f32(0.0))?;
        let f = ops::matmul(&f, &l.linear2.weight.t())?;
        let y = self.add_norm(&x, &f, bias(&l.linear2)?, &l.norm2)?;
        debug_assert_eq!(y.shape(), [b, d]);
        Ok((y, k, v))
    }

    /// The traced step, same contract as the portable one: `[tokens, positions, offset,
    /// left_pad, k_0, v_0, …]` → `[logits, k_0', v_0', …]`.
    pub fn step_graph(&self, model: &Text2SemanticDecoder, inputs: &[Array]) -> Result<Vec<Array>> {
        let [tokens, positions, offset, left_pad, buffers @ ..] = inputs else {
            return Err(Error::Invalid("fused step: too few inputs".into()));
        };
        if buffers.len() != 2 * model.layers().len() {
            return Err(Error::Invalid(format!("fused step: {} cache buffers for {} layers", buffers.len(), model.layers().len())));
        }
        let b = tokens.shape()[0];
        let d = model.config.hidden_dim;
        let mut h = model.embed_step_at(tokens, positions)?.reshape(&[b, d])?;
        let mut written = Vec::with_capacity(buffers.len());
        for (layer, kv) in model.layers().iter().zip(buffers.chunks(2)) {
            let (y, k, v) = self.layer(layer, &h, offset, left_pad, &kv[0], &kv[1])?;
            h = y;
            written.push(k);
            written.push(v);
        }
        let mut out = vec![model.predict(&h)?];
        out.extend(written);
        Ok(out)
    }
}

fn bias(l: &crate::models::layers::Linear) -> Result<&Array> {
    l.bias.as_ref().ok_or_else(|| Error::Invalid("fused step: a GPT projection without bias".into()))
}

fn single(out: Vec<Array>) -> Result<Array> {
    out.into_iter().next().ok_or_else(|| Error::Invalid("custom kernel returned no output".into()))
}
