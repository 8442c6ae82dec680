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
//! - the four projections with a matrix-vector kernel for up to [`GEMV_MAX_ROWS`] rows that
//!   reads the torch-layout weight `[out, in]` directly (no transpose node) and adds the bias
//!   (and the FFN's ReLU) in its epilogue; larger batches use `matmul` plus a bias add.
//!
//! - the cache write (views of q|k|v, the position broadcast, two scatters) with one copy
//!   kernel while the cache is small ([`KV_COPY_MAX_BYTES`]).
//!
//! A layer is then 8 kernels: q|k|v product + bias, the cache write, attention, output
//! product, add-norm, FFN product + bias + ReLU, FFN product, add-norm. The math is the portable
//! path's, in f32 accumulators; `gsv-server selftest --device gpu` checks the two against each
//! other.
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::model::{Block, Text2SemanticDecoder};
use crate::models::cuda_kernel::{CudaKernel, TemplateArg};
use crate::models::layers::{LayerNorm, Linear};
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

/// One warp per output column, for all `R` rows: `out[r, n] = act(Σ_k x[r, k]·w[n, k] + bias[n])`
/// with `w` in torch's `[out, in]` layout, read once and coalesced along `k`. `{BIAS}` is the
/// bias term (or `0.0f`), so one body serves the kernels with and without a bias input.
const GEMV: &str = r#"
  const int n = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
  if (n >= N) return;
  const T* wr = w + static_cast<size_t>(n) * K;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
#pragma unroll 4
  for (int k = lane; k < K; k += 32) {
    const float wk = static_cast<float>(wr[k]);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] += wk * static_cast<float>(x[static_cast<size_t>(r) * K + k]);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    float a = acc[r];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    acc[r] = a;
  }
  if (lane == 0) {
    const float b = {BIAS};
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float y = acc[r] + b;
      out[static_cast<size_t>(r) * N + n] = static_cast<T>(RELU ? fmaxf(y, 0.0f) : y);
    }
  }
"#;

/// The cache write of one layer without scatter or views: `k_out`/`v_out` are copies of the
/// buffers `[B, H, CAP, HD]` with position `offset` taken from the packed q|k|v projection
/// `qkv [B, 3D]` (k at `D + h·HD`, v at `2D + h·HD`). Each thread moves `VEC` elements of one
/// row of `HD`. A custom kernel cannot write its input in place, so this pays a copy of both
/// buffers per layer; [`KV_COPY_MAX_BYTES`] keeps it to caches where that copy costs less than
/// the seven graph nodes it replaces (two reshapes/slices per buffer, the position broadcast and
/// two scatters: ~25 µs of host work on MLX's CUDA backend).
const KV_WRITE: &str = r#"
  constexpr int D = H * HD;
  constexpr int VEC = 4;
  const size_t t = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t i = t * VEC;
  if (i >= TOTAL) return;
  const int d0 = static_cast<int>(i % HD);
  const int j = static_cast<int>((i / HD) % CAP);
  const size_t bh = i / (static_cast<size_t>(CAP) * HD);
  if (j == offset[0]) {
    const size_t b = bh / H;
    const size_t h = bh - b * H;
    const size_t src = b * 3 * D + h * HD + d0;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      k_out[i + e] = qkv[src + D + e];
      v_out[i + e] = qkv[src + 2 * D + e];
    }
  } else {
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      k_out[i + e] = k[i + e];
      v_out[i + e] = v[i + e];
    }
  }
"#;

/// Largest K (and V) buffer, in bytes, whose layer write goes through [`KV_WRITE`]'s copy; a
/// larger one (long contexts, wide batches) uses the scatter, which writes in place.
pub const KV_COPY_MAX_BYTES: usize = 8 << 20;

/// Rows (batch size) up to which the projections run through the matrix-vector kernel; above
/// it a matrix product reads each weight once for every row tile anyway.
pub const GEMV_MAX_ROWS: i32 = 16;

/// The kernels of one model's fused step (JIT-compiled by MLX on first launch).
pub struct FusedKernels {
    attention: CudaKernel,
    kv_write: CudaKernel,
    add_norm: CudaKernel,
    gemv: CudaKernel,
    gemv_bias: CudaKernel,
}

impl FusedKernels {
    /// Whether the fused step supports this model: f32 weights, head and width fit the kernels'
    /// blocks, and every LayerNorm has the same ε (it is compiled into the kernel).
    ///
    /// Only f32 is supported: the kernels take one element type for the projection and the KV
    /// cache, which stays f32 under f16/bf16 weights, so NVRTC refuses them there (seen on the
    /// H100, 2026-12-07); such models run the portable compiled step.
    pub fn supports(model: &Text2SemanticDecoder) -> bool {
        let cfg = &model.config;
        let eps = model.layers().first().map(|l| l.norm1.eps);
        let f32_weights = model.layers().iter().all(|l| l.in_proj.weight.dtype() == mlx_rs::Dtype::Float32);
        f32_weights
            && cfg.hidden_dim % THREADS == 0
            && cfg.head_dim() <= 128
            && cfg.head_dim() % 4 == 0
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
            kv_write: CudaKernel::new("gsv_kv_write", &["qkv", "k", "v", "offset"], &["k_out", "v_out"], KV_WRITE, "")?,
            add_norm: CudaKernel::new("gsv_add_norm", &["x", "y", "bias", "gamma", "beta"], &["out"], &add_norm_src, HEADER)?,
            gemv: CudaKernel::new("gsv_gemv", &["x", "w"], &["out"], &GEMV.replace("{BIAS}", "0.0f"), "")?,
            gemv_bias: CudaKernel::new(
                "gsv_gemv_bias",
                &["x", "w", "bias"],
                &["out"],
                &GEMV.replace("{BIAS}", "static_cast<float>(bias[n])"),
                "",
            )?,
        })
    }

    /// `x [R, K]` · `wᵀ` (`w [N, K]`) (+ `bias [N]`) (then ReLU) → `[R, N]`: the matrix-vector
    /// kernel for up to [`GEMV_MAX_ROWS`] rows, else `matmul` and element-wise ops.
    fn linear(&self, x: &Array, l: &Linear, relu: bool) -> Result<Array> {
        let (r, k, n) = (x.shape()[0], x.shape()[1], l.weight.shape()[0]);
        if r > GEMV_MAX_ROWS || k % 32 != 0 {
            let y = ops::matmul(x, &l.weight.t())?;
            let y = match &l.bias {
                Some(b) => y.add(b)?,
                None => y,
            };
            return Ok(if relu { ops::maximum(&y, Array::from_f32(0.0))? } else { y });
        }
        let template = [
            ("T", TemplateArg::Dtype(x.dtype())),
            ("R", TemplateArg::Int(r)),
            ("K", TemplateArg::Int(k)),
            ("N", TemplateArg::Int(n)),
            ("RELU", TemplateArg::Bool(relu)),
        ];
        let out_shape = [r, n];
        let outputs = [(&out_shape[..], x.dtype())];
        let (grid, block) = ((n * 32, 1, 1), (THREADS, 1, 1));
        single(match &l.bias {
            Some(b) => self.gemv_bias.apply(&[x, &l.weight, b], &outputs, grid, block, &template)?,
            None => self.gemv.apply(&[x, &l.weight], &outputs, grid, block, &template)?,
        })
    }

    /// The layer's cache buffers with the new position written: one [`KV_WRITE`] node for a
    /// small cache, else views and two scatters.
    fn write_kv(&self, qkv: &Array, k_buf: &Array, v_buf: &Array, offset: &Array) -> Result<(Array, Array)> {
        let s = k_buf.shape();
        let (b, h, cap, hd) = (s[0], s[1], s[2], s[3]);
        if k_buf.nbytes() > KV_COPY_MAX_BYTES {
            let heads = qkv.reshape(&[b, 3, h, 1, hd])?;
            return super::cache::write_at(k_buf, v_buf, &heads.index((.., 1)), &heads.index((.., 2)), offset);
        }
        let total = i32::try_from(k_buf.size()).map_err(|_| Error::Invalid(format!("cache of {} elements", k_buf.size())))?;
        let threads = total / 4;
        let mut out = self
            .kv_write
            .apply(
                &[qkv, k_buf, v_buf, offset],
                &[(s, k_buf.dtype()), (s, v_buf.dtype())],
                ((threads + THREADS - 1) / THREADS * THREADS, 1, 1),
                (THREADS, 1, 1),
                &[
                    ("T", TemplateArg::Dtype(k_buf.dtype())),
                    ("H", TemplateArg::Int(h)),
                    ("HD", TemplateArg::Int(hd)),
                    ("CAP", TemplateArg::Int(cap)),
                    ("TOTAL", TemplateArg::Int(total)),
                ],
            )?
            .into_iter();
        match (out.next(), out.next()) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(Error::Invalid("kv write kernel returned fewer than two outputs".into())),
        }
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
    fn add_norm(&self, x: &Array, y: &Array, bias: &Array, norm: &LayerNorm) -> Result<Array> {
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
        let qkv = self.linear(x, &l.in_proj, false)?; // [B, 3D], biased
        let (k, v) = self.write_kv(&qkv, k_buf, v_buf, offset)?;
        let attn = self.attention(&qkv, &k, &v, offset, left_pad)?;
        // The output and second FFN products leave their bias to the add-norm kernel.
        let y = self.linear(&attn, &unbiased(&l.out_proj), false)?;
        let x = self.add_norm(x, &y, bias(&l.out_proj)?, &l.norm1)?;
        let f = self.linear(&x, &l.linear1, true)?;
        let f = self.linear(&f, &unbiased(&l.linear2), false)?;
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

/// The same weight without its bias (a cheap handle copy; the bias is applied elsewhere).
fn unbiased(l: &Linear) -> Linear {
    Linear {
        weight: l.weight.clone(),
        bias: None,
    }
}

fn bias(l: &Linear) -> Result<&Array> {
    l.bias.as_ref().ok_or_else(|| Error::Invalid("fused step: a GPT projection without bias".into()))
}

fn single(out: Vec<Array>) -> Result<Array> {
    out.into_iter().next().ok_or_else(|| Error::Invalid("custom kernel returned no output".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gpt::config::GptConfig;

    fn tiny(dtype: mlx_rs::Dtype) -> Text2SemanticDecoder {
        let cfg = GptConfig { embedding_dim: 128, hidden_dim: 128, n_head: 4, n_layer: 2, vocab_size: 129, eos: 128, bert_dim: 16, ..GptConfig::v2() };
        Text2SemanticDecoder::random(cfg, dtype, 3).unwrap()
    }

    #[test]
    fn only_f32_models_take_the_fused_step() {
        assert!(FusedKernels::supports(&tiny(mlx_rs::Dtype::Float32)));
        assert!(!FusedKernels::supports(&tiny(mlx_rs::Dtype::Float16)));
        assert!(!FusedKernels::supports(&tiny(mlx_rs::Dtype::Bfloat16)));
    }
}
