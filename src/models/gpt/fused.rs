//! The decode step with custom CUDA kernels: fewer, fatter graph nodes per layer.
//!
//! On MLX's CUDA backend each graph node costs ~5–10 µs of host work per evaluation (it is
//! re-encoded into a CUDA graph every step), and the portable step
//! ([`super::model::Block::forward_into_buffers`]) spends ~15 nodes per layer: head dim 32 has no
//! fused attention kernel there, so attention alone is a mask, a scale, two matrix products and a
//! softmax, plus the cache writes' views and scatters. A layer here is **5 kernels**:
//! 1. the previous layer's `residual + bias → LayerNorm` folded into the q|k|v product (each
//!    block normalises the few rows into shared memory, block 0 also writes them out as the
//!    next residual) — the normalising kernels of [`super::gemv`];
//! 2. attention of the new query over the whole cache buffers (write position and each row's
//!    left padding read from arrays, so a compiled step never retraces), with the cache copy
//!    that writes the new position done by extra blocks of the same launch — [`ATTENTION`];
//! 3. the output product (its bias goes to 4) — a matrix-vector kernel of [`super::gemv`];
//! 4. `residual + bias → LayerNorm` folded into the FFN's first product + bias + ReLU;
//! 5. the FFN's second product (its bias and norm go to the next layer's 1, or to the head).
//!
//! The products are matrix-vector kernels for up to [`super::gemv::GEMV_MAX_ROWS`] rows that read the
//! torch-layout weight `[out, in]` directly; larger batches use `matmul`, and a cache larger than
//! [`KV_COPY_MAX_BYTES`] is written in place by a scatter instead of copied. The math is the
//! portable path's in f32 accumulators; `gsv-server selftest --device gpu` checks the two
//! against each other, and `gsv-server selftest --dump-kernels` + `scripts/cuda-kernel-check.py`
//! compile every kernel offline with NVRTC.
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::gemv::{self, GemvForm, GemvKernels};
use super::layer_kernel::{LayerKernels, LayerSource};
use super::model::{Block, Text2SemanticDecoder};
use crate::models::cuda_kernel::{CudaKernel, TemplateArg, BLOCK_SUM, ONLINE_SOFTMAX};
use crate::models::layers::{LayerNorm, Linear};
use crate::models::{Error, Result};

/// Threads per block of both kernels (4 warps).
const THREADS: i32 = 128;


/// The start of both attention kernels: blocks from `B·H` on run `{COPY}` and return; the others
/// find their row `b`, head `h`, unpadded columns `first ..= last` and the new q|k|v of the row.
const ATTENTION_START: &str = r#"
  constexpr int NW = NT / 32;
  constexpr int D = H * HD;
  const int B = k_shape[0];
  const int CAP = k_shape[2];
  const int BH = B * H;
  const int tid = threadIdx.x;
  if (static_cast<int>(blockIdx.x) >= BH) {
    {COPY}
    return;
  }
  const int bh = blockIdx.x;
  const int b = bh / H;
  const int h = bh - b * H;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int first = left_pad[b];
  const int last = offset[0];
  const float scale = rsqrtf(static_cast<float>(HD));
  const T* qp = qkv + static_cast<size_t>(b) * 3 * D + h * HD;
  const T* knew = qp + D;
  const T* vnew = qp + 2 * D;
"#;

/// Blocks `0 .. B·H`: one per (row, head); each thread runs an online softmax over a strided
/// share of the unpadded columns `left_pad[b] ..= offset`, then the block merges the partial
/// maxima, sums and weighted values. Column `offset` (the new one) is read from the packed q|k|v
/// projection, so the input buffers need not hold it yet. Blocks from `B·H` on (launched only
/// with `{COPY}`) write the output buffers `k_out`/`v_out` in the meantime: a copy of `k`/`v`
/// with position `offset` taken from q|k|v (a custom kernel cannot write its input in place).
const ATTENTION: &str = r#"
{START}  float q[HD];
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
    const T* kr = j == last ? knew : k + base + static_cast<size_t>(j) * HD;
    const T* vr = j == last ? vnew : v + base + static_cast<size_t>(j) * HD;
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

/// Threads per (row, head) block of [`ATTENTION_WARPS`] (32 warps).
const ATTENTION_WARPS_THREADS: i32 = 1024;

/// [`ATTENTION`]'s contract with the work laid out by warps: each warp takes whole columns
/// (`left_pad[b] + warp`, then every `NW`-th) and its lanes the head dimensions (lane `l` holds
/// `d = l + 32·i`), so a column's key and value are one coalesced read each, the score a warp sum.
/// The block's warps then merge their (max, sum, weighted values) in shared memory. Why: on an H100
/// [`ATTENTION`] took ~34 % of a batch-1 step (18.7 µs per layer) with one block of 4 warps per
/// head, each thread reading whole rows (32 separate lines per load instruction); this spreads a
/// head over 32 warps and reads each row once. Taken for batches up to
/// [`warp_attention_max_rows`]; wider batches already fill the GPU with `B·H` blocks.
const ATTENTION_WARPS: &str = r#"
{START}  constexpr int PER = (HD + 31) / 32;
  float q[PER];
  float acc[PER];
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int d = lane + 32 * i;
    q[i] = d < HD ? static_cast<float>(qp[d]) * scale : 0.0f;
    acc[i] = 0.0f;
  }
  const size_t base = static_cast<size_t>(bh) * CAP * HD;
  float m = __int_as_float(0xff800000);
  float l = 0.0f;
#pragma unroll 2
  for (int j = first + warp; j <= last; j += NW) {
    const T* kr = j == last ? knew : k + base + static_cast<size_t>(j) * HD;
    const T* vr = j == last ? vnew : v + base + static_cast<size_t>(j) * HD;
    float kv[PER];
    float vv[PER];
#pragma unroll
    for (int i = 0; i < PER; ++i) {
      const int d = lane + 32 * i;
      kv[i] = d < HD ? static_cast<float>(kr[d]) : 0.0f;
      vv[i] = d < HD ? static_cast<float>(vr[d]) : 0.0f;
    }
    gsv_softmax_column<PER>(q, kv, vv, m, l, acc);
  }
  __shared__ float wm[NW];
  __shared__ float wl[NW];
  __shared__ float wacc[NW][HD + 1];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int d = lane + 32 * i;
    if (d < HD) wacc[warp][d] = acc[i];
  }
  __syncthreads();
  if (warp == 0) {
    float mx = wm[0];
#pragma unroll
    for (int w = 1; w < NW; ++w) mx = fmaxf(mx, wm[w]);
#pragma unroll
    for (int i = 0; i < PER; ++i) {
      const int d = lane + 32 * i;
      if (d < HD) {
        float a = 0.0f;
        float sum = 0.0f;
        for (int w = 0; w < NW; ++w) {
          const float c = wl[w] > 0.0f ? expf(wm[w] - mx) : 0.0f;
          a += wacc[w][d] * c;
          sum += wl[w] * c;
        }
        out[static_cast<size_t>(b) * D + h * HD + d] = static_cast<T>(a / sum);
      }
    }
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

/// The copy blocks of [`ATTENTION`]: `4` elements per thread, grid-strided over the buffers
/// `[B, H, CAP, HD]`; position `offset` comes from q|k|v (k at `D + h·HD`, v at `2D + h·HD`).
const KV_COPY: &str = r#"
    const int at = offset[0];
    const size_t TOTAL = static_cast<size_t>(BH) * CAP * HD;
    const size_t stride = static_cast<size_t>(gridDim.x - BH) * NT * 4;
    for (size_t i = (static_cast<size_t>(blockIdx.x - BH) * NT + tid) * 4; i < TOTAL; i += stride) {
      const int d0 = static_cast<int>(i % HD);
      const int j = static_cast<int>((i / HD) % CAP);
      if (j == at) {
        const size_t bh = i / (static_cast<size_t>(CAP) * HD);
        const size_t src = (bh / H) * 3 * D + (bh % H) * HD + d0;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          k_out[i + e] = qkv[src + D + e];
          v_out[i + e] = qkv[src + 2 * D + e];
        }
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          k_out[i + e] = k[i + e];
          v_out[i + e] = v[i + e];
        }
      }
    }
"#;

/// Copy blocks of one [`ATTENTION`] launch at most (each loops over its share).
const KV_COPY_MAX_BLOCKS: i32 = 1024;

/// Batches up to which attention takes [`ATTENTION_WARPS`] by default. At batch 1 (16 blocks of a
/// 132-SM H100), together with the vector products: 924 and 806 tokens/s against 719 and 690 for
/// the thread layout with column products (590 once: processes vary by ±25 % there); at 8 and 16
/// rows (128+ blocks) the thread layout was clearly faster (H100, 2026-12-07, docs/benchmarks.md).
pub const WARP_ATTENTION_MAX_ROWS: i32 = 4;

/// Batches up to which fused steps built from now on take [`ATTENTION_WARPS`]
/// (`bench --attention-warps`).
static WARP_ATTENTION_ROWS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(WARP_ATTENTION_MAX_ROWS);

/// Forces attention by warps on (every batch) or off, or (`None`) up to [`WARP_ATTENTION_MAX_ROWS`].
pub fn set_warp_attention(on: Option<bool>) {
    let rows = match on {
        Some(true) => i32::MAX,
        Some(false) => 0,
        None => WARP_ATTENTION_MAX_ROWS,
    };
    WARP_ATTENTION_ROWS.store(rows, std::sync::atomic::Ordering::Relaxed);
}

/// Batches up to which attention takes [`ATTENTION_WARPS`].
pub fn warp_attention_max_rows() -> i32 {
    WARP_ATTENTION_ROWS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Largest K (and V) buffer, in bytes, that [`ATTENTION`]'s copy blocks write; a larger one
/// (long contexts, wide batches) is written in place by a scatter, then attended without a copy.
pub const KV_COPY_MAX_BYTES: usize = 8 << 20;

/// Whether fused steps take the one-kernel layers of [`super::layer_kernel`] by default: yes since
/// the H100 ran them on its whole grid (2026-12-07, 132 blocks of 512 threads): faster than the
/// five-kernel layers at 1, 4 and 16 rows (725 vs 648, 2,521 vs 1,572, 6,338 vs 5,363 tokens/s in
/// one call; docs/benchmarks.md), and `selftest --device gpu` passed with both forms.
pub const LAYER_KERNEL_BY_DEFAULT: bool = true;

/// Process-wide (auto = [`LAYER_KERNEL_BY_DEFAULT`]); set by `bench --layer-kernel`.
static LAYER_KERNEL: crate::device::SwitchCell = crate::device::SwitchCell::auto();

/// Forces the one-kernel layers on or off for fused steps built from now on (`None`: the default).
pub fn set_layer_kernel(on: Option<bool>) {
    LAYER_KERNEL.set(on);
}

thread_local! {
    /// [`with_layer_kernel_here`]'s choice, over the process-wide one.
    static LAYER_KERNEL_HERE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with fused steps built on this thread taking the one-kernel layers or not (the
/// selftest compares both forms in one process; other threads keep theirs).
pub fn with_layer_kernel_here<T>(on: bool, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LAYER_KERNEL_HERE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(LAYER_KERNEL_HERE.with(|c| c.replace(Some(on))));
    f()
}

/// Whether fused steps built now take the one-kernel layers (where the model fits them).
pub fn layer_kernel_enabled() -> bool {
    LAYER_KERNEL_HERE.with(|c| c.get()).unwrap_or_else(|| LAYER_KERNEL.get(|| LAYER_KERNEL_BY_DEFAULT))
}

/// The kernels of one model's fused step (JIT-compiled by MLX on first launch).
pub struct FusedKernels {
    by_threads: AttentionKernels,
    by_warps: AttentionKernels,
    /// Batches up to which attention takes [`ATTENTION_WARPS`] (else [`ATTENTION`]).
    warp_attention_rows: i32,
    add_norm: CudaKernel,
    column: GemvKernels,
    vector: GemvKernels,
    tiled: GemvKernels,
    /// Rows up to which products take a matrix-vector kernel, and from which the tiled one.
    gemv_max_rows: i32,
    tiled_min_rows: i32,
    /// Whether the vector form replaces the column form where it fits.
    vector_columns: bool,
    /// Whole layers as one kernel each (batches up to [`super::layer_kernel::ROWS_MAX`]).
    layers: Option<LayerKernels>,
}

/// One attention layout's two kernels: alone (after a scatter wrote the cache) and with the copy
/// blocks that write it, and the threads per block it is written for.
struct AttentionKernels {
    alone: CudaKernel,
    with_copy: CudaKernel,
    threads: i32,
}

impl AttentionKernels {
    /// `name`'s kernels from `body` ([`ATTENTION`] or [`ATTENTION_WARPS`]).
    fn new(name: &str, body: &str, threads: i32, header: &str) -> Result<Self> {
        // The batch rows and the cache capacity are read from the cache's shape (`k_shape`, a
        // kernel parameter), not template arguments: MLX JIT-compiles a kernel per distinct
        // source (NVRTC, ~1.5 s each), so with them compiled in, every new (batch size,
        // capacity) pair a server met stalled all its streams once per machine. Nor a small
        // array made on the host per layer: MLX keeps those in managed memory, which the GPU
        // faults over or reads across PCIe.
        let inputs = ["qkv", "k", "v", "offset", "left_pad"];
        let source = |copy: &str| body.replace("{START}", ATTENTION_START).replace("{COPY}", copy);
        Ok(Self {
            alone: CudaKernel::new(name, &inputs, &["out"], &source(""), header)?,
            with_copy: CudaKernel::new(&name.replacen("attention", "attention_kv", 1), &inputs, &["out", "k_out", "v_out"], &source(KV_COPY), header)?,
            threads,
        })
    }
}

/// What a layer starts from: the embedding, or the previous layer's output still before its
/// last `residual + bias → LayerNorm`, which this layer's first kernel folds in.
enum LayerInput<'a> {
    Tokens { tokens: &'a Array, positions: &'a Array },
    Pending(Pending<'a>),
}

struct Pending<'a> {
    x: Array,
    y: Array,
    bias: &'a Array,
    norm: &'a LayerNorm,
    /// The step's `offset` and `left_pad` in device memory, from one-kernel layers
    /// ([`super::layer_kernel::LayerOutput::index`]).
    index: Option<Array>,
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

    /// With the process-wide row limits of [`super::gemv`].
    pub fn new(model: &Text2SemanticDecoder) -> Result<Self> {
        Self::with_gemv_rows(model, gemv::gemv_max_rows(), gemv::tiled_min_rows())?
            .with_vector_columns(gemv::vector_columns())
            .with_warp_attention_rows(warp_attention_max_rows())
            .with_layer_kernel(model, layer_kernel_enabled())
    }

    /// With (where the model fits it) or without the one-kernel layers for up to
    /// [`super::layer_kernel::ROWS_MAX`] rows.
    pub fn with_layer_kernel(mut self, model: &Text2SemanticDecoder, on: bool) -> Result<Self> {
        self.layers = if on && LayerKernels::supports(model) { Some(LayerKernels::new(model)?) } else { None };
        Ok(self)
    }

    /// Whether the one-kernel layers are in use.
    pub fn has_layer_kernel(&self) -> bool {
        self.layers.is_some()
    }

    /// With attention laid out by warps ([`ATTENTION_WARPS`]) instead of by threads for batches
    /// of up to `rows`.
    pub fn with_warp_attention_rows(mut self, rows: i32) -> Self {
        self.warp_attention_rows = rows;
        self
    }

    /// With the vector form (`float4` weight loads) instead of the column form where it fits.
    pub fn with_vector_columns(mut self, on: bool) -> Self {
        self.vector_columns = on;
        self
    }

    /// Products of up to `gemv_max_rows` rows take the matrix-vector kernels, the tiled form from
    /// `tiled_min_rows` rows on.
    pub fn with_gemv_rows(model: &Text2SemanticDecoder, gemv_max_rows: i32, tiled_min_rows: i32) -> Result<Self> {
        if !Self::supports(model) {
            return Err(Error::Invalid(format!("the fused CUDA step does not support {:?}", model.config)));
        }
        let eps = model.layers().first().map_or(1e-5, |l| l.norm1.eps);
        let eps_line = format!("  constexpr float EPS = {eps:e}f;\n");
        Ok(Self {
            by_threads: AttentionKernels::new("gsv_decode_attention", ATTENTION, THREADS, "")?,
            by_warps: AttentionKernels::new("gsv_decode_attention_w", ATTENTION_WARPS, ATTENTION_WARPS_THREADS, ONLINE_SOFTMAX)?,
            warp_attention_rows: 0,
            add_norm: CudaKernel::new("gsv_add_norm", &["x", "y", "bias", "gamma", "beta"], &["out"], &format!("{eps_line}{ADD_NORM}"), BLOCK_SUM)?,
            column: GemvKernels::new(GemvForm::Column, eps)?,
            vector: GemvKernels::new(GemvForm::Vector, eps)?,
            tiled: GemvKernels::new(GemvForm::Tiled, eps)?,
            gemv_max_rows: gemv_max_rows.min(gemv::GEMV_MAX_ROWS),
            tiled_min_rows,
            vector_columns: false,
            layers: None,
        })
    }

    /// The matrix-vector kernels for `r` rows of width `k`, if any takes them: the tiled form
    /// from `tiled_min_rows` rows on where it fits, else the vector form where chosen and it fits,
    /// else the column form, up to `gemv_max_rows`.
    fn gemv(&self, r: i32, k: i32) -> Option<&GemvKernels> {
        if r > self.gemv_max_rows {
            return None;
        }
        [&self.tiled, &self.vector, &self.column].into_iter().find(|g| {
            let chosen = match g.form() {
                GemvForm::Tiled => r >= self.tiled_min_rows,
                GemvForm::Vector => self.vector_columns,
                GemvForm::Column => true,
            };
            chosen && g.form().takes(k)
        })
    }

    /// `x [R, K]` · `wᵀ` (`w [N, K]`) (+ `bias [N]`) (then ReLU) → `[R, N]`: a matrix-vector
    /// kernel for a few rows ([`Self::gemv`]), else `matmul` and element-wise ops.
    fn linear(&self, x: &Array, l: &Linear, relu: bool) -> Result<Array> {
        let (r, k) = (x.shape()[0], x.shape()[1]);
        match self.gemv(r, k) {
            Some(g) => g.linear(x, &l.weight, l.bias.as_ref(), relu),
            None => {
                let y = ops::matmul(x, l.weight_t())?;
                let y = match &l.bias {
                    Some(b) => y.add(b)?,
                    None => y,
                };
                Ok(if relu { ops::maximum(&y, Array::from_f32(0.0))? } else { y })
            }
        }
    }

    /// `LayerNorm(x + (y + rbias))` and that times `wᵀ` (+ bias, ReLU): `(xn [R, K], out [R, N])`,
    /// one normalising matrix-vector node while the rows fit its shared memory, else add-norm +
    /// [`Self::linear`].
    fn norm_linear(&self, p: &Pending, l: &Linear, relu: bool) -> Result<(Array, Array)> {
        let (r, k) = (p.x.shape()[0], p.x.shape()[1]);
        match self.gemv(r, k).filter(|_| gemv::rows_fit_shared(r, k)) {
            Some(g) => g.norm_linear(&p.x, &p.y, p.bias, p.norm, &l.weight, l.bias.as_ref(), relu),
            None => {
                let xn = self.add_norm(&p.x, &p.y, p.bias, p.norm)?;
                let out = self.linear(&xn, l, relu)?;
                Ok((xn, out))
            }
        }
    }

    /// The step's embedding rows `[R, D]` and their biased q|k|v product through `l` (the first
    /// layer's): one normalising matrix-vector node while the rows fit, else MLX's gathers and
    /// [`Self::linear`].
    fn embed_linear(&self, model: &Text2SemanticDecoder, tokens: &Array, positions: &Array, l: &Linear) -> Result<(Array, Array)> {
        let r = tokens.shape()[0];
        let d = model.config.hidden_dim;
        let (emb, pe, alpha) = model.step_embedding_tables();
        match (self.gemv(r, d).filter(|_| gemv::rows_fit_shared(r, d)), l.bias.as_ref()) {
            (Some(g), Some(b)) => g.embed_linear(tokens, positions, emb, pe, alpha, &l.weight, b),
            _ => {
                let x = model.embed_step_at(tokens, positions)?.reshape(&[r, d])?;
                let qkv = self.linear(&x, l, false)?;
                Ok((x, qkv))
            }
        }
    }

    /// Attention of the one new query per row (`qkv [B, 3D]`, biased projection; the layer's
    /// cache buffers `[B, H, capacity, hd]` holding positions `< offset`) → (`[B, D]`, the buffers
    /// with position `offset` written): one node for a small cache, else a scatter in place and
    /// the attention kernel alone.
    fn attention(&self, qkv: &Array, k_buf: &Array, v_buf: &Array, offset: &Array, left_pad: &Array) -> Result<(Array, Array, Array)> {
        let s = k_buf.shape();
        let (b, h, hd) = (s[0], s[1], s[3]);
        let total = i32::try_from(k_buf.size()).map_err(|_| Error::Invalid(format!("cache of {} elements", k_buf.size())))?;
        let kernels = if b <= self.warp_attention_rows { &self.by_warps } else { &self.by_threads };
        let threads = kernels.threads;
        let template = [
            ("T", TemplateArg::Dtype(qkv.dtype())),
            ("H", TemplateArg::Int(h)),
            ("HD", TemplateArg::Int(hd)),
            ("NT", TemplateArg::Int(threads)),
        ];
        let out_shape = [b, h * hd];
        let inputs = [qkv, k_buf, v_buf, offset, left_pad];
        if k_buf.nbytes() > KV_COPY_MAX_BYTES {
            let heads = qkv.reshape(&[b, 3, h, 1, hd])?;
            let (k, v) = super::cache::write_at(k_buf, v_buf, &heads.index((.., 1)), &heads.index((.., 2)), offset)?;
            let inputs = [qkv, &k, &v, offset, left_pad];
            let out = kernels.alone.apply(&inputs, &[(&out_shape, qkv.dtype())], (b * h * threads, 1, 1), (threads, 1, 1), &template)?;
            return Ok((single(out)?, k, v));
        }
        let copy_blocks = ((total / 4 + threads - 1) / threads).clamp(1, KV_COPY_MAX_BLOCKS);
        let outputs = [(&out_shape[..], qkv.dtype()), (s, k_buf.dtype()), (s, v_buf.dtype())];
        let out = kernels.with_copy.apply(&inputs, &outputs, ((b * h + copy_blocks) * threads, 1, 1), (threads, 1, 1), &template)?;
        let mut out = out.into_iter();
        match (out.next(), out.next(), out.next()) {
            (Some(a), Some(k), Some(v)) => Ok((a, k, v)),
            _ => Err(Error::Invalid("attention kernel returned fewer than three outputs".into())),
        }
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

    /// One layer for one position per row: the previous layer's pending output (or the
    /// embedding) → (this layer's pending output, written k, written v).
    #[allow(clippy::too_many_arguments)]
    fn layer<'a>(&self, model: &Text2SemanticDecoder, l: &'a Block, input: LayerInput, offset: &Array, left_pad: &Array, k_buf: &Array, v_buf: &Array) -> Result<(Pending<'a>, Array, Array)> {
        if let Some(layers) = self.layers.as_ref().filter(|_| LayerKernels::takes(k_buf.shape()[0])) {
            let source = match &input {
                LayerInput::Tokens { tokens, positions } => LayerSource::Tokens { tokens, positions, offset, left_pad },
                LayerInput::Pending(p) => {
                    let index = p.index.as_ref().ok_or_else(|| Error::Invalid("layer kernel after a five-kernel layer".into()))?;
                    LayerSource::Pending { x: &p.x, y: &p.y, bias: p.bias, norm: p.norm, index }
                }
            };
            let out = layers.layer(model, l, source, k_buf, v_buf)?;
            // The kernel wrote the new position into the buffers themselves.
            let pending = Pending { x: out.h, y: out.y, bias: bias(&l.linear2)?, norm: &l.norm2, index: Some(out.index) };
            return Ok((pending, k_buf.clone(), v_buf.clone()));
        }
        let (x, qkv) = match input {
            LayerInput::Pending(p) => self.norm_linear(&p, &l.in_proj, false)?,
            LayerInput::Tokens { tokens, positions } => self.embed_linear(model, tokens, positions, &l.in_proj)?,
        };
        let (attn, k, v) = self.attention(&qkv, k_buf, v_buf, offset, left_pad)?;
        // The output and second FFN products leave their bias and norm to the next kernel.
        let y = self.linear(&attn, &l.out_proj.unbiased(), false)?;
        let after_attention = Pending { x, y, bias: bias(&l.out_proj)?, norm: &l.norm1, index: None };
        let (x, f) = self.norm_linear(&after_attention, &l.linear1, true)?;
        let y = self.linear(&f, &l.linear2.unbiased(), false)?;
        Ok((Pending { x, y, bias: bias(&l.linear2)?, norm: &l.norm2, index: None }, k, v))
    }

    /// The traced step, same contract as the portable one: `[tokens, positions, offset,
    /// left_pad, k_0, v_0, …]` → `[logits, k_0', v_0', …]`.
    pub fn step_graph(&self, model: &Text2SemanticDecoder, inputs: &[Array]) -> Result<Vec<Array>> {
        let [tokens, positions, offset, left_pad, buffers @ ..] = inputs else {
            return Err(Error::Invalid("fused step: too few inputs".into()));
        };
        if buffers.len() != 2 * model.layers().len() || buffers.is_empty() {
            return Err(Error::Invalid(format!("fused step: {} cache buffers for {} layers", buffers.len(), model.layers().len())));
        }
        let mut state = LayerInput::Tokens { tokens, positions };
        let mut written = Vec::with_capacity(buffers.len());
        for (layer, kv) in model.layers().iter().zip(buffers.chunks(2)) {
            let (pending, k, v) = self.layer(model, layer, state, offset, left_pad, &kv[0], &kv[1])?;
            state = LayerInput::Pending(pending);
            written.push(k);
            written.push(v);
        }
        let LayerInput::Pending(last) = state else {
            return Err(Error::Invalid("fused step: no layer ran".into()));
        };
        let (_, logits) = self.norm_linear(&last, model.predict_layer(), false)?;
        let mut out = vec![logits.as_dtype(mlx_rs::Dtype::Float32)?];
        out.extend(written);
        Ok(out)
    }
}

/// A GPT projection's bias (every one has one; the fused kernels take it as an input).
pub(super) fn bias(l: &Linear) -> Result<&Array> {
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
