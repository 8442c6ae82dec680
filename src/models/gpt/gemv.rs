//! The fused step's matrix-vector products `out[r, n] = act(Σ_k x[r, k]·w[n, k] + bias[n])` for a
//! few rows `r < R ≤ 16`, with `w` in torch's `[out, in]` layout read once, in two forms:
//! - **column** ([`GEMV_COLUMN`]): one warp per output column, the `R` rows accumulated in
//!   registers; every warp reads all of `x` (`R` loads per weight element). What batch 1 wants.
//! - **vector** ([`GEMV_VECTOR`]): the column form reading its weights 16 bytes per lane
//!   (`float4`) instead of 4, so a warp keeps four times the bytes in flight. On an H100 every
//!   product of batch 1 was latency-bound with a few warps per SM (a 4 MB weight in 9.6 µs,
//!   0.4 TB/s of 3.35; docs/benchmarks.md): more bytes per load is the standard cure. The
//!   default since the H100 run of 2026-12-07 ([`set_vector_columns`], `bench --gemv-vector`).
//! - **tiled** ([`GEMV_TILED`]): one block of 4 warps per 4 columns, the warps splitting `K` (and
//!   its normalising prologue spread over the whole block, [`ADD_NORM_ROWS_BLOCK`]); each
//!   lane accumulates 4 columns × `R` rows, so an input element serves 4 weights, and the partial
//!   sums are reduce-scattered across the warp (31 shuffles for 32 values, not 5 each) and summed
//!   over the warps in shared memory. Meant for batches, where the column form spends most of its
//!   loads on `x`; chosen from [`tiled_min_rows`] rows on (`bench --gemv-tiled-min-rows`; off by
//!   default: at 16 rows it beat the column form, 2.9 against 4.0 ms per step of layers on an
//!   H100, but not cuBLAS's `matmul`, 2.1–2.3 ms, which batches take by default,
//!   [`DEFAULT_GEMV_ROWS`]).
//!
//! Each form has a plain kernel (`x` in global memory) and a normalising one whose every block
//! first computes its rows into shared memory — `LayerNorm(x + (y + rbias))` of the previous
//! layer ([`ADD_NORM_ROWS`]) or the step's embedding ([`EMBED_ROWS`]) — and block 0 writes them
//! out as the next residual: the add-norm kernel and its graph node folded into the product.
use mlx_rs::Array;

use crate::models::cuda_kernel::{CudaKernel, TemplateArg, BLOCK_SUM, WARP_EMBED_ROWS, WARP_NORM_ROWS};
use crate::models::layers::LayerNorm;
use crate::models::{Error, Result};

/// Most rows the matrix-vector kernels take (their per-lane accumulators); above it a matrix
/// product reads each weight once for every row tile anyway.
pub const GEMV_MAX_ROWS: i32 = 16;

/// Rows up to which the fused step uses the matrix-vector kernels by default: batch 1 only.
/// Measured on an H100 (2026-12-07, docs/benchmarks.md): at 16 rows the decode layers took
/// 2.1–2.3 ms per step with `matmul` (cuBLAS) + the add-norm kernel, 2.9 with the tiled form and
/// 4.0 with the column form; at batch 1 the column form and `matmul` ran alike (1.18–1.27 ms), the
/// kernels with 123 graph nodes per step instead of 323.
pub const DEFAULT_GEMV_ROWS: i32 = 1;

/// The row limit in use (≤ [`GEMV_MAX_ROWS`]; `bench --gemv-max-rows` moves it for an A/B of
/// the matrix-vector kernels against `matmul` + the add-norm kernel at a given batch size).
static GEMV_ROWS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(DEFAULT_GEMV_ROWS);

/// Sets the row limit of the matrix-vector kernels for steps built from now on (`None` =
/// [`DEFAULT_GEMV_ROWS`]; clamped to `0 ..= GEMV_MAX_ROWS`, 0 = always `matmul`).
pub fn set_gemv_max_rows(rows: Option<i32>) {
    let rows = rows.unwrap_or(DEFAULT_GEMV_ROWS).clamp(0, GEMV_MAX_ROWS);
    GEMV_ROWS.store(rows, std::sync::atomic::Ordering::Relaxed);
}

pub fn gemv_max_rows() -> i32 {
    GEMV_ROWS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Threads per block of [`SHARED_ROWS`] (8 warps: 8 output columns share one normalisation).
const NORM_THREADS: i32 = 256;

/// Shared memory [`SHARED_ROWS`] may take for its rows (of the 48 KiB a block gets statically).
const NORM_GEMV_MAX_SHARED_BYTES: i32 = 40 << 10;

/// One warp per output column `n`, for all `R` rows: `out[r, n] = act(Σ_k X(r, k)·w[n, k] +
/// bias[n])` with `w` in torch's `[out, in]` layout, read once and coalesced along `k`. `{X}` reads
/// an input element and `{BIAS}` is the bias term (or `0.0f`), so one body serves [`GEMV`] and
/// [`SHARED_ROWS`], with and without a bias input. Made of [`COLUMN_START`], [`COLUMN_LOOP`] and
/// [`COLUMN_OUT`].
const GEMV_COLUMN: &str = "{START}{LOOP}";

/// The start of [`GEMV_COLUMN`] and [`GEMV_VECTOR`]: column `n`'s weight row and its per-row sums.
const COLUMN_START: &str = r#"
  if (n >= N) return;
  const T* wr = w + static_cast<size_t>(n) * K;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
"#;

/// [`GEMV_COLUMN`]'s loop: lane `l` takes `k ≡ l` (mod 32), one 4-byte weight a load.
const COLUMN_LOOP: &str = r#"
#pragma unroll 4
  for (int k = lane; k < K; k += 32) {
    const float wk = static_cast<float>(wr[k]);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] += wk * {X};
  }
"#;

/// The end of [`GEMV_COLUMN`] and [`GEMV_VECTOR`]: each lane's per-row sums reduced over the
/// warp, then lane 0 adds the bias, applies the activation and writes column `n` of every row.
const COLUMN_OUT: &str = r#"
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

/// [`GEMV_COLUMN`] with `float4` weight loads: lane `l` reads `w[n, 4j .. 4j+4)` for `j ≡ l`
/// (mod 32). Needs `K % 128 == 0` ([`GemvForm::takes`]), `T = float` and a 16-byte aligned weight
/// row; a misaligned one (never seen: MLX allocations are aligned) takes the scalar loop.
/// `{X0}`…`{X3}` read `x[r, k + i]`. Between [`COLUMN_START`] and [`COLUMN_OUT`].
const GEMV_VECTOR: &str = r#"
  static_assert(sizeof(T) == 4, "float4 loads of a 4-byte element type");
{START}
  if ((reinterpret_cast<size_t>(wr) & 15) == 0) {
    const float4* w4 = reinterpret_cast<const float4*>(wr);
#pragma unroll 4
    for (int j = lane; j < K / 4; j += 32) {
      const float4 wv = w4[j];
      const int k = 4 * j;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] += wv.x * {X0} + wv.y * {X1} + wv.z * {X2} + wv.w * {X3};
    }
  } else {
{LOOP}
  }
"#;

/// [`GEMV_COLUMN`] over the input rows `x [R, K]` in global memory.
const GEMV: &str = r#"
  const int n = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
{COLUMN}"#;

/// The rows of a normalising kernel: computed by every block into shared memory by `{PROLOGUE}`
/// (one warp per row; `R·K` floats) and written to `xn` by block 0, the residual of what
/// follows: `LayerNorm(x + (y + rbias))` ([`ADD_NORM_ROWS`]) or the step's embedding
/// ([`EMBED_ROWS`]). Replaces an add-norm kernel (or the embedding's gathers) and its graph
/// nodes; the few rows cost each block `2·R·K` reads from L2.
const SHARED_ROWS: &str = r#"
  constexpr int NW = NT / 32;
  __shared__ float xs[R * K];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
{PROLOGUE}  __syncthreads();
"#;

/// [`GEMV_COLUMN`]'s column in a normalising kernel: one per warp.
const NORM_COLUMN_INDEX: &str = "  const int n = static_cast<int>(blockIdx.x) * NW + warp;\n";

/// [`SHARED_ROWS`]'s prologue for a layer's input `LayerNorm(x + (y + rbias))`.
const ADD_NORM_ROWS: &str = r#"
  gsv_norm_rows<false>(xs, x, y, rbias, gamma, beta, R, K, EPS, blockIdx.x == 0 ? xn : nullptr, warp, NW, lane);
"#;

/// [`SHARED_ROWS`]'s prologue for the first layer: the step's embedding
/// `emb[tokens[r]] + alpha·pe[positions[r]]` (ids clamped into the tables), also written to `xn`.
const EMBED_ROWS: &str = r#"
  gsv_embed_rows(xs, tokens, positions, emb, pe, alpha, R, K, VOCAB, PE_ROWS, blockIdx.x == 0 ? xn : nullptr, warp, NW, lane);
"#;

/// The tiled form's prologue for `LayerNorm(x + (y + rbias))`: every thread of the block on each
/// row (block sums for the mean and variance), so that a row or two — batch 1 — is spread over
/// all warps instead of the one warp [`ADD_NORM_ROWS`] gives it.
const ADD_NORM_ROWS_BLOCK: &str = r#"
  __shared__ float red[NW];
  for (int r = 0; r < R; ++r) {
    const size_t row = static_cast<size_t>(r) * K;
    float s = 0.0f;
    for (int c = threadIdx.x; c < K; c += NT) {
      const float t = static_cast<float>(x[row + c]) + (static_cast<float>(y[row + c]) + static_cast<float>(rbias[c]));
      xs[row + c] = t;
      s += t;
    }
    const float mean = gsv_block_sum<NW>(s, red) / K;
    float q = 0.0f;
    for (int c = threadIdx.x; c < K; c += NT) {
      const float t = xs[row + c] - mean;
      q += t * t;
    }
    const float rstd = rsqrtf(gsv_block_sum<NW>(q, red) / K + EPS);
    for (int c = threadIdx.x; c < K; c += NT) {
      const float t = (xs[row + c] - mean) * rstd * static_cast<float>(gamma[c]) + static_cast<float>(beta[c]);
      xs[row + c] = t;
      if (blockIdx.x == 0) xn[row + c] = static_cast<T>(t);
    }
  }
"#;

/// The tiled form's prologue for the step's embedding: the `R·K` elements spread over every
/// thread of the block (as [`EMBED_ROWS`] computes them).
const EMBED_ROWS_BLOCK: &str = r#"
  for (int i = threadIdx.x; i < R * K; i += NT) {
    const int r = i / K;
    const int c = i - r * K;
    const int tok = min(max(static_cast<int>(tokens[r]), 0), VOCAB - 1);
    const int pos = min(max(static_cast<int>(positions[r]), 0), PE_ROWS - 1);
    const float t = static_cast<float>(emb[static_cast<size_t>(tok) * K + c]) + static_cast<float>(alpha[0]) * static_cast<float>(pe[static_cast<size_t>(pos) * K + c]);
    xs[i] = t;
    if (blockIdx.x == 0) xn[i] = static_cast<T>(t);
  }
"#;

/// Columns per block of the tiled form.
const TILED_COLUMNS: i32 = 4;

/// Threads per block of the tiled form (4 warps split `K`).
const TILED_THREADS: i32 = 128;

/// The tiled form's body: this block's [`TILED_COLUMNS`] columns `n0 …` for all `R` rows, warp `w`
/// summing `k ∈ [w·K/NWT, (w+1)·K/NWT)`. `{X}` reads `x[r, k]`, `{BIAS}` is the bias of column
/// `n` (or `0.0f`). Values are indexed column-major (`j·R + r`) and padded to a power of two `VP`
/// for the reduce-scatter: at each halving stage a lane keeps one half of its live values, adds
/// the lane `s` apart's copy of that half and sends it the other, so after `H` stages lane `l`
/// holds the warp's sums of indices `(l >> (5 − H))·C + i`, `i < C = VP >> H`.
const GEMV_TILED: &str = r#"
  constexpr int CB = 4;
  constexpr int NWT = NT / 32;
  constexpr int KW = K / NWT;
  constexpr int V = CB * R;
  constexpr int VP = V <= 4 ? 4 : (V <= 8 ? 8 : (V <= 16 ? 16 : (V <= 32 ? 32 : 64)));
  constexpr int H = VP >= 32 ? 5 : (VP == 16 ? 4 : (VP == 8 ? 3 : 2));
  constexpr int C = VP >> H;
  constexpr int SHIFT = 5 - H;
  __shared__ float part[NWT * VP];
  const int n0 = static_cast<int>(blockIdx.x) * CB;
  const T* wr[CB];
#pragma unroll
  for (int j = 0; j < CB; ++j) wr[j] = w + static_cast<size_t>(min(n0 + j, N - 1)) * K;
  float a[VP];
#pragma unroll
  for (int i = 0; i < VP; ++i) a[i] = 0.0f;
#pragma unroll 2
  for (int k = warp * KW + lane; k < (warp + 1) * KW; k += 32) {
    float wk[CB];
#pragma unroll
    for (int j = 0; j < CB; ++j) wk[j] = static_cast<float>(wr[j][k]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float xv = {X};
#pragma unroll
      for (int j = 0; j < CB; ++j) a[j * R + r] += wk[j] * xv;
    }
  }
#pragma unroll
  for (int st = 0; st < 5; ++st) {
    const int s = 16 >> st;
    if (st < H) {
      const int half = VP >> (st + 1);
      const bool upper = (lane & s) != 0;
#pragma unroll
      for (int i = 0; i < half; ++i) {
        const float send = upper ? a[i] : a[i + half];
        const float keep = upper ? a[i + half] : a[i];
        a[i] = keep + __shfl_xor_sync(0xffffffffu, send, s);
      }
    } else {
      a[0] += __shfl_xor_sync(0xffffffffu, a[0], s);
    }
  }
  if ((lane & ((1 << SHIFT) - 1)) == 0) {
#pragma unroll
    for (int i = 0; i < C; ++i) part[warp * VP + (lane >> SHIFT) * C + i] = a[i];
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < V) {
    const int t = threadIdx.x;
    float sum = 0.0f;
#pragma unroll
    for (int q = 0; q < NWT; ++q) sum += part[q * VP + t];
    const int j = t / R;
    const int r = t - j * R;
    const int n = n0 + j;
    if (n < N) {
      const float y = sum + {BIAS};
      out[static_cast<size_t>(r) * N + n] = static_cast<T>(RELU ? fmaxf(y, 0.0f) : y);
    }
  }
"#;

/// [`GEMV_TILED`] over `x [R, K]` in global memory.
const TILED: &str = r#"
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
{COLUMN}"#;

/// How a product's columns are spread over the GPU (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemvForm {
    Column,
    Vector,
    Tiled,
}

impl GemvForm {
    fn threads(self, prologue: bool) -> i32 {
        match (self, prologue) {
            (GemvForm::Column | GemvForm::Vector, false) => 128,
            (GemvForm::Column | GemvForm::Vector, true) => NORM_THREADS,
            (GemvForm::Tiled, _) => TILED_THREADS,
        }
    }

    /// Output columns per block.
    fn columns(self, prologue: bool) -> i32 {
        match self {
            GemvForm::Column | GemvForm::Vector => self.threads(prologue) / 32,
            GemvForm::Tiled => TILED_COLUMNS,
        }
    }

    /// Whether a product of width `k` fits the form (the tiled warps split `K` evenly).
    pub fn takes(self, k: i32) -> bool {
        match self {
            GemvForm::Column => k % 32 == 0,
            GemvForm::Vector => k % 128 == 0,
            GemvForm::Tiled => k % (32 * (TILED_THREADS / 32)) == 0,
        }
    }

    /// The kernel body: the normalising kernel with `prologue` computing its rows, or the plain
    /// one reading them from `x` when `None`; with or without the bias term.
    fn body(self, prologue: Option<&str>, bias: bool) -> String {
        let column = |body: &str| format!("{}{COLUMN_OUT}", body.replace("{START}", COLUMN_START).replace("{LOOP}", COLUMN_LOOP));
        let inner = match self {
            GemvForm::Column => column(GEMV_COLUMN),
            GemvForm::Vector => column(GEMV_VECTOR),
            GemvForm::Tiled => GEMV_TILED.to_string(),
        };
        let outer = match (self, prologue.is_some()) {
            (GemvForm::Tiled, true) => format!("{SHARED_ROWS}{{COLUMN}}"),
            (GemvForm::Tiled, false) => TILED.to_string(),
            (_, true) => format!("{SHARED_ROWS}{NORM_COLUMN_INDEX}{{COLUMN}}"),
            (_, false) => GEMV.to_string(),
        };
        let x = |k: &str| if prologue.is_some() { format!("xs[r * K + {k}]") } else { format!("static_cast<float>(x[static_cast<size_t>(r) * K + {k}])") };
        let inner = inner
            .replace("{X}", &x("k"))
            .replace("{X0}", &x("k"))
            .replace("{X1}", &x("(k + 1)"))
            .replace("{X2}", &x("(k + 2)"))
            .replace("{X3}", &x("(k + 3)"))
            .replace("{BIAS}", if bias { "static_cast<float>(bias[n])" } else { "0.0f" });
        outer.replace("{PROLOGUE}", prologue.unwrap_or("")).replace("{COLUMN}", &inner)
    }
}

/// The rows from which products take the tiled form (`bench --gemv-tiled-min-rows`; above
/// [`GEMV_MAX_ROWS`] = never, the default: see the module docs).
static TILED_MIN_ROWS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(GEMV_MAX_ROWS + 1);

/// Sets [`tiled_min_rows`] for steps built from now on (`None` = never).
pub fn set_tiled_min_rows(rows: Option<i32>) {
    TILED_MIN_ROWS.store(rows.unwrap_or(GEMV_MAX_ROWS + 1).max(1), std::sync::atomic::Ordering::Relaxed);
}

pub fn tiled_min_rows() -> i32 {
    TILED_MIN_ROWS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether batch-1-sized products take the vector form where it fits (else the column form).
static VECTOR_COLUMNS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Sets [`vector_columns`] for steps built from now on (`None` = on: with attention by warps,
/// batch 1 ran ahead of the column form in two of three H100 processes, 2026-12-07,
/// docs/benchmarks.md; alone it was not faster).
pub fn set_vector_columns(on: Option<bool>) {
    VECTOR_COLUMNS.store(on.unwrap_or(true), std::sync::atomic::Ordering::Relaxed);
}

pub fn vector_columns() -> bool {
    VECTOR_COLUMNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `R` rows of width `k` fit a normalising kernel's shared memory.
pub fn rows_fit_shared(r: i32, k: i32) -> bool {
    r * k * 4 <= NORM_GEMV_MAX_SHARED_BYTES
}

/// The five matrix-vector kernels of one form (JIT-compiled by MLX on first launch).
pub struct GemvKernels {
    form: GemvForm,
    plain: CudaKernel,
    plain_bias: CudaKernel,
    norm: CudaKernel,
    norm_bias: CudaKernel,
    embed_bias: CudaKernel,
}

impl GemvKernels {
    /// `eps`: the LayerNorm ε of the normalising prologue (compiled in).
    pub fn new(form: GemvForm, eps: f32) -> Result<Self> {
        let suffix = match form {
            GemvForm::Column => "",
            GemvForm::Vector => "_v",
            GemvForm::Tiled => "_t",
        };
        let name = |base: &str| format!("{base}{suffix}");
        let eps_line = format!("  constexpr float EPS = {eps:e}f;\n");
        let (add_norm_rows, embed_rows, header, embed_header) = match form {
            GemvForm::Column | GemvForm::Vector => (ADD_NORM_ROWS, EMBED_ROWS, WARP_NORM_ROWS, WARP_EMBED_ROWS),
            GemvForm::Tiled => (ADD_NORM_ROWS_BLOCK, EMBED_ROWS_BLOCK, BLOCK_SUM, ""),
        };
        let norm = |base: &str, bias: bool| {
            let mut inputs = vec!["x", "y", "rbias", "gamma", "beta", "w"];
            if bias {
                inputs.push("bias");
            }
            CudaKernel::new(&name(base), &inputs, &["xn", "out"], &format!("{eps_line}{}", form.body(Some(add_norm_rows), bias)), header)
        };
        Ok(Self {
            form,
            plain: CudaKernel::new(&name("gsv_gemv"), &["x", "w"], &["out"], &form.body(None, false), "")?,
            plain_bias: CudaKernel::new(&name("gsv_gemv_bias"), &["x", "w", "bias"], &["out"], &form.body(None, true), "")?,
            norm: norm("gsv_norm_gemv", false)?,
            norm_bias: norm("gsv_norm_gemv_bias", true)?,
            embed_bias: CudaKernel::new(
                &name("gsv_embed_gemv_bias"),
                &["tokens", "positions", "emb", "pe", "alpha", "w", "bias"],
                &["xn", "out"],
                &form.body(Some(embed_rows), true),
                embed_header,
            )?,
        })
    }

    pub fn form(&self) -> GemvForm {
        self.form
    }

    /// Template arguments, grid and block of a launch for `r × k` rows and `n` columns.
    fn launch(&self, prologue: bool, r: i32, k: i32, n: i32, relu: bool, dtype: mlx_rs::Dtype) -> Launch {
        let threads = self.form.threads(prologue);
        let columns = self.form.columns(prologue);
        let template = vec![
            ("T", TemplateArg::Dtype(dtype)),
            ("R", TemplateArg::Int(r)),
            ("K", TemplateArg::Int(k)),
            ("N", TemplateArg::Int(n)),
            ("RELU", TemplateArg::Bool(relu)),
            ("NT", TemplateArg::Int(threads)),
        ];
        (template, ((n + columns - 1) / columns * threads, 1, 1), (threads, 1, 1))
    }

    /// `x [R, K]` · `wᵀ` (`w [N, K]`) (+ `bias [N]`) (then ReLU) → `[R, N]`.
    pub fn linear(&self, x: &Array, w: &Array, bias: Option<&Array>, relu: bool) -> Result<Array> {
        let (r, k, n) = (x.shape()[0], x.shape()[1], w.shape()[0]);
        let (template, grid, block) = self.launch(false, r, k, n, relu, x.dtype());
        let outputs = [(&[r, n][..], x.dtype())];
        let out = match bias {
            Some(b) => self.plain_bias.apply(&[x, w, b], &outputs, grid, block, &template)?,
            None => self.plain.apply(&[x, w], &outputs, grid, block, &template)?,
        };
        out.into_iter().next().ok_or_else(|| Error::Invalid("matrix-vector kernel returned nothing".into()))
    }

    /// `xn = LayerNorm(x + (y + rbias))` and `xn · wᵀ` (+ bias, ReLU): `(xn [R, K], out [R, N])`.
    #[allow(clippy::too_many_arguments)]
    pub fn norm_linear(&self, x: &Array, y: &Array, rbias: &Array, norm: &LayerNorm, w: &Array, bias: Option<&Array>, relu: bool) -> Result<(Array, Array)> {
        let (r, k, n) = (x.shape()[0], x.shape()[1], w.shape()[0]);
        let dtype = x.dtype();
        let (template, grid, block) = self.launch(true, r, k, n, relu, dtype);
        let outputs = [(&[r, k][..], dtype), (&[r, n][..], dtype)];
        let (gamma, beta) = (&norm.weight, &norm.bias);
        pair(match bias {
            Some(b) => self.norm_bias.apply(&[x, y, rbias, gamma, beta, w, b], &outputs, grid, block, &template)?,
            None => self.norm.apply(&[x, y, rbias, gamma, beta, w], &outputs, grid, block, &template)?,
        })
    }

    /// The step's embedding rows `emb[tokens] + alpha·pe[positions]` `[R, K]` and their product
    /// with `w` + `bias`: `(rows, out [R, N])`.
    #[allow(clippy::too_many_arguments)]
    pub fn embed_linear(&self, tokens: &Array, positions: &Array, emb: &Array, pe: &Array, alpha: &Array, w: &Array, bias: &Array) -> Result<(Array, Array)> {
        let (r, k, n) = (tokens.shape()[0], emb.shape()[1], w.shape()[0]);
        let dtype = emb.dtype();
        let (mut template, grid, block) = self.launch(true, r, k, n, false, dtype);
        template.push(("VOCAB", TemplateArg::Int(emb.shape()[0])));
        template.push(("PE_ROWS", TemplateArg::Int(pe.shape()[0])));
        let outputs = [(&[r, k][..], dtype), (&[r, n][..], dtype)];
        pair(self.embed_bias.apply(&[tokens, positions, emb, pe, alpha, w, bias], &outputs, grid, block, &template)?)
    }
}

type Launch = (Vec<(&'static str, TemplateArg)>, (i32, i32, i32), (i32, i32, i32));

fn pair(out: Vec<Array>) -> Result<(Array, Array)> {
    let mut out = out.into_iter();
    match (out.next(), out.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::Invalid("custom kernel returned fewer than two outputs".into())),
    }
}
