//! A whole transformer layer of the decode step as **one** CUDA kernel.
//!
//! [`super::fused`] spends five kernels per layer because LayerNorm, attention and each product
//! need the whole previous result before they start; on MLX's CUDA backend each graph node costs
//! host work on every step (~7–9 µs on an H100 host, more than the kernel itself at batch 1), so a
//! 24-layer step of 123 nodes stays host-bound near 1 ms. Here the layer's stages run in one
//! launch of one block per multiprocessor ([`cuda_kernel::resident_blocks`]), separated by a grid
//! barrier (`gsv_grid_sync`: every block is resident, so blocks can wait for each other):
//! 0. every warp asks L2 for the weights of its columns and the cache columns it will score;
//! 1. every block normalises the layer's input rows into shared memory — the previous layer's
//!    `LayerNorm(x + (y + bias))`, or the step's embedding (the first layer also copies the
//!    step's `offset` and `left_pad` into device memory for the others: [`LayerOutput::index`])
//!    — and the q|k|v product of its columns goes to a scratch buffer; barrier;
//! 2. attention of the new query over the cache, split into `S` column ranges per (row, head) so
//!    that every warp has work, each lane of a warp scoring a column of its own (32 columns a
//!    memory round trip); each writes its partial (max, sum, weighted values), the last of a
//!    (row, head) to finish merges them, and the new key and value go **into the cache buffers
//!    in place**; barrier;
//! 3. every block reads the merged rows into shared memory; the output product; barrier;
//! 4. `LayerNorm(x + (attention + bias))` per block, the FFN's first product + bias + ReLU; barrier;
//! 5. the FFN's second product (its bias and norm go to the next layer, or to the head).
//!
//! One node per layer instead of five; the math is the fused step's (the products sum in its
//! order; attention sums its columns in another), checked against the portable step by
//! `gsv-server selftest` and, without a GPU, by the CPU emulator, which runs grid-synchronised
//! kernels with all blocks as fibers.
//!
//! Why the cache is written in place, through a cast-away `const`: an MLX kernel only has fresh
//! outputs, and copying a cache per layer per step (what the five-kernel step's copy blocks do)
//! costs as much as the layer. It is sound because the decode step owns
//! its buffers alone ([`super::cache::KvCache::take_for_write`]), they are evaluated and
//! contiguous, and the next reader of a buffer is the same layer's kernel one step later, which
//! depends on this launch through the sampled tokens.
use mlx_rs::{Array, Dtype};

use super::fused::bias;
use super::model::{Block, Text2SemanticDecoder};
use crate::models::cuda_kernel::{self, CudaKernel, TemplateArg, WARP_EMBED_ROWS, WARP_NORM_ROWS};
use crate::models::layers::LayerNorm;
use crate::models::{Error, Result};

/// An A/B knob: the integer in the environment variable `name`, if one is set.
fn knob(name: &str) -> Option<i32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Threads per block (16 warps) by default; `GSV_LAYER_KERNEL_THREADS` (256 or 512) moves it
/// for an A/B. H100, 2026-12-07, one block per multiprocessor (132): 512 threads 701–725
/// tokens/s at batch 1, 2,521 at 4 streams, 6,338–6,388 at 16; 256 threads 648 / 2,135 / 4,466;
/// two blocks of 512 a multiprocessor 719 / 2,363 / 5,556 (docs/benchmarks.md).
const THREADS: i32 = 512;

/// Threads per block of a layer kernel launch.
pub fn threads_per_block() -> i32 {
    match knob("GSV_LAYER_KERNEL_THREADS") {
        Some(n @ (256 | 512)) => n,
        _ => THREADS,
    }
}

/// Words of the barrier counter's line (one is used; more keep it out of MLX's pool of scalars,
/// see [`LayerKernels::new`]); stage 2's counts per (row, head) follow.
const SYNC_WORDS: i32 = 32;

/// Most rows a launch takes: they sit in shared memory whole (`ROWS_MAX · D` floats).
pub const ROWS_MAX: i32 = 16;

/// Shared memory for the rows, in bytes (static shared memory stops at 48 KiB).
const ROWS_SHARED_BYTES: i32 = 40 << 10;

/// Most column ranges per (row, head) by default: every block merges all the partials, so more
/// ranges cost each block more reads. `GSV_LAYER_KERNEL_SPLITS` (1–32) moves it for an A/B.
const SPLITS_MAX: i32 = 16;

/// Threads of this kernel a multiprocessor is sure to hold at once: it takes 76–82 registers a
/// thread (NVRTC for sm_90a, `scripts/cuda-kernel-check.py --resources`), so 64 K registers
/// hold 23 warps, and launches come in blocks of 256 or 512.
const RESIDENT_THREADS: i32 = 512;

/// Blocks per multiprocessor: 1 by default; `GSV_LAYER_KERNEL_BLOCKS_PER_SM` multiplies the warps
/// for an A/B. Every block must stay resident, or the grid barrier never releases (it traps), so
/// the blocks' threads are held to [`RESIDENT_THREADS`]: two blocks of 256, or one of 512.
fn blocks_per_multiprocessor(threads: i32) -> i32 {
    let most = (RESIDENT_THREADS / threads).max(1);
    knob("GSV_LAYER_KERNEL_BLOCKS_PER_SM").map_or(1, |n| n.clamp(1, most))
}

/// Most rows a step takes the layer kernel for: [`ROWS_MAX`], or fewer with
/// `GSV_LAYER_KERNEL_MAX_ROWS` (an A/B of where five kernels and matrix products win); read once.
fn max_rows() -> i32 {
    static ROWS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *ROWS.get_or_init(|| {
        knob("GSV_LAYER_KERNEL_MAX_ROWS").map_or(ROWS_MAX, |n| n.clamp(1, ROWS_MAX))
    })
}

/// The launch shape of a layer kernel here: (blocks, threads per block).
pub fn grid() -> (i32, i32) {
    let threads = threads_per_block();
    (cuda_kernel::resident_blocks() * blocks_per_multiprocessor(threads), threads)
}

fn splits_max() -> i32 {
    knob("GSV_LAYER_KERNEL_SPLITS").map_or(SPLITS_MAX, |n| n.clamp(1, 32))
}

/// Device helpers: the grid barrier and the products over rows held in shared memory (after
/// [`WARP_NORM_ROWS`] and [`WARP_EMBED_ROWS`]).
const HEADER: &str = r#"
#ifndef GSV_EMULATOR
// All blocks of the launch wait here until every block arrived (they are all resident: one per
// multiprocessor). The counter is never reset: block 0 adds 2^31 - (blocks - 1) and the others
// 1, so each barrier flips bit 31 exactly once, whatever the counter held (cooperative groups'
// scheme). A barrier that never releases (blocks not resident) traps instead of hanging.
__device__ __forceinline__ void gsv_grid_sync(unsigned int* counter) {
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned int add = blockIdx.x == 0 ? 0x80000000u - (gridDim.x - 1u) : 1u;
    __threadfence();
    const unsigned int old = atomicAdd(counter, add);
    unsigned int spins = 0;
    while (((old ^ *reinterpret_cast<volatile unsigned int*>(counter)) & 0x80000000u) == 0u) {
      if (++spins > (1u << 26)) __trap();
#if __CUDA_ARCH__ >= 700
      if (spins > 64) __nanosleep(32);
#endif
    }
    __threadfence();
  }
  __syncthreads();
}
#endif

// Column n of rows r < R: each lane's partial sums `acc` summed over the warp, + bias, then ReLU
// if `relu`, written by lane 0.
template <int RMAX>
__device__ __forceinline__ void gsv_store_rows(const float* acc, int R, float bias, bool relu, float* out, int N, int n, int lane) {
#pragma unroll
  for (int r = 0; r < RMAX; ++r) {
    if (r < R) {
      float a = acc[r];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
      if (lane == 0) {
        const float y = a + bias;
        out[static_cast<size_t>(r) * N + n] = relu ? fmaxf(y, 0.0f) : y;
      }
    }
  }
}

// acc[r] += Σ xs4[r·stride + j]·w4[j] over this lane's j = lane, lane + 32, … < k4, in that order;
// U weight loads in flight at a time (a loop of one load each waits a round trip per load).
template <int RMAX, int U>
__device__ __forceinline__ void gsv_rows_dot_n(const float4* xs4, int stride, const float4* w4, int k4, int R, float* acc, int lane) {
  for (int j0 = lane; j0 < k4; j0 += 32 * U) {
    float4 wv[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j0 + 32 * u;
      wv[u] = j < k4 ? w4[j] : float4{0.0f, 0.0f, 0.0f, 0.0f};
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j0 + 32 * u;
      if (j < k4) {
#pragma unroll
        for (int r = 0; r < RMAX; ++r) {
          if (r < R) {
            const float4 xv = xs4[r * stride + j];
            acc[r] += wv[u].x * xv.x + wv[u].y * xv.y + wv[u].z * xv.z + wv[u].w * xv.w;
          }
        }
      }
    }
  }
}

// As gsv_rows_dot_n; a single row gets an instance of its own: with RMAX accumulators live,
// ptxas issued each weight load after the previous load's sums (a round trip a load; read from
// the SASS).
template <int RMAX, int U>
__device__ __forceinline__ void gsv_rows_dot(const float4* xs4, int stride, const float4* w4, int k4, int R, float* acc, int lane) {
  if (RMAX > 1 && R == 1) {
    gsv_rows_dot_n<1, U>(xs4, stride, w4, k4, R, acc, lane);
  } else {
    gsv_rows_dot_n<RMAX, U>(xs4, stride, w4, k4, R, acc, lane);
  }
}

// out[r, n] = act(Σ_k xs[r, k]·w[n, k] + bias[n]) for r < R and this warp's columns n (every
// `tw`-th from `gw`), the rows `xs [R, K]` in shared memory (16-byte aligned, K % 4 == 0), the
// weight in torch's [N, K] layout read as float4 along k.
template <int RMAX>
__device__ __forceinline__ void gsv_rows_product(const float* xs, int R, int K, const float* w, const float* bias, bool relu,
                                                 float* out, int N, int gw, int tw, int lane) {
  for (int n = gw; n < N; n += tw) {
    float acc[RMAX];
#pragma unroll
    for (int r = 0; r < RMAX; ++r) acc[r] = 0.0f;
    gsv_rows_dot<RMAX, 4>(reinterpret_cast<const float4*>(xs), K / 4, reinterpret_cast<const float4*>(w + static_cast<size_t>(n) * K), K / 4,
                          R, acc, lane);
    gsv_store_rows<RMAX>(acc, R, bias != nullptr ? bias[n] : 0.0f, relu, out, N, n, lane);
  }
}

// As gsv_rows_product for rows `x [R, K]` in global memory written by other blocks of this
// launch: staged through `xs` (XS floats) as many columns at a time as fit (all of them for up
// to XS / K rows), by the whole block.
template <int RMAX, int XS, int NT>
__device__ __forceinline__ void gsv_staged_product(float* xs, const float* x, int R, int K, const float* w, float* out, int N,
                                                   int gw, int tw, int lane) {
  const int kc = min(K, XS / R / 4 * 4);  // R ≤ RMAX: at least D
  const int rounds = (N + tw - 1) / tw;
  for (int round = 0; round < rounds; ++round) {
    const int n = gw + round * tw;
    float acc[RMAX];
#pragma unroll
    for (int r = 0; r < RMAX; ++r) acc[r] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += kc) {
      const int kc4 = (K - k0 < kc ? K - k0 : kc) / 4;
      __syncthreads();
      for (int i = threadIdx.x; i < R * kc4; i += NT) {
        const int r = i / kc4;
        reinterpret_cast<float4*>(xs)[i] = __ldcg(reinterpret_cast<const float4*>(x + static_cast<size_t>(r) * K + k0) + (i - r * kc4));
      }
      __syncthreads();
      if (n < N) {
        gsv_rows_dot<RMAX, 8>(reinterpret_cast<const float4*>(xs), kc4, reinterpret_cast<const float4*>(w + static_cast<size_t>(n) * K + k0),
                              kc4, R, acc, lane);
      }
    }
    if (n < N) gsv_store_rows<RMAX>(acc, R, 0.0f, false, out, N, n, lane);
  }
}

// One (row, head)'s attention from its S partials `pb` (S ≤ 32; split s's max and sum on lane
// s): out[d] for this lane's dimensions d = lane + 32 i < HD.
template <int PER, int HD>
__device__ __forceinline__ void gsv_merge_partials(const float* pb, int S, float* out, int lane) {
  const float ms = lane < S ? __ldcg(pb + lane * (HD + 2) + HD) : __int_as_float(0xff800000);
  const float ls = lane < S ? __ldcg(pb + lane * (HD + 2) + HD + 1) : 0.0f;
  float mx = ms;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const float c = ls > 0.0f ? expf(ms - mx) : 0.0f;
  float sum = ls * c;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  float a[PER];
#pragma unroll
  for (int i = 0; i < PER; ++i) a[i] = 0.0f;
#pragma unroll 8
  for (int s = 0; s < S; ++s) {
    const float cs = __shfl_sync(0xffffffffu, c, s);
#pragma unroll
    for (int i = 0; i < PER; ++i) {
      const int d = lane + 32 * i;
      if (d < HD) a[i] += __ldcg(pb + s * (HD + 2) + d) * cs;
    }
  }
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int d = lane + 32 * i;
    if (d < HD) out[d] = a[i] / sum;
  }
}

// Ask L2 for the 128-byte line at `p` (nothing in the emulator).
__device__ __forceinline__ void gsv_prefetch_l2(const float* p) {
#ifndef GSV_EMULATOR
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#endif
}

// Ask L2 for the rows n = gw, gw + tw, … < N of `w [N, K]` (one line a lane at a time): the
// stages after the first read them a grid barrier or more later, by then from L2.
__device__ __forceinline__ void gsv_prefetch_rows(const float* w, int K, int N, int gw, int tw, int lane) {
  for (int n = gw; n < N; n += tw) {
    const float* row = w + static_cast<size_t>(n) * K;
    for (int c = 32 * lane; c < K; c += 32 * 32) gsv_prefetch_l2(row + c);
  }
}
"#;

/// The layer's body; `{INPUT}` writes the normalised input rows into `xs` (and, from block 0,
/// into the scratch's `xin` for stage 4's residual).
const LAYER: &str = r#"
  static_assert(sizeof(T) == 4, "f32 only");
  constexpr int NW = NT / 32;
  constexpr int QKV = 3 * D;
  constexpr int PER = (HD + 31) / 32;
  __shared__ __align__(16) float xs[RMAX * D];
  const int R = k_shape[0];
  const int CAP = k_shape[2];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int tw = static_cast<int>(gridDim.x) * NW;
  // Column ranges per (row, head): enough for every warp to have one, at most SPLITS (the
  // host sizes the scratch by the same rule, `LayerKernels::splits`).
  const int S = min(max(tw / (R * H), 1), SPLITS);
  // Warps numbered across blocks first, so that a stage with fewer columns than warps still
  // reads its weights from every multiprocessor.
  const int gw = warp * static_cast<int>(gridDim.x) + static_cast<int>(blockIdx.x);
  unsigned int* barrier = const_cast<unsigned int*>(sync);
  // Stage 2's count of finished splits per (row, head), on their own lines past the barrier's.
  unsigned int* counts = barrier + 32;
  // The scratch (the host sizes it by the same rule): the parts read as float4s first.
  float* xin = scratch;
  float* qkv = xin + R * D;
  float* att = qkv + R * QKV;
  float* ffn = att + R * D;
  float* merged = ffn + R * FF;
  float* part = merged + (MERGE_LAST ? R * D : 0);

  // 1. This warp's columns of every product on their way to L2 (q|k|v's while the input is
  //    normalised, the later stages' while this stage and the attention run); the input rows,
  //    then q|k|v.
  gsv_prefetch_rows(w_in, D, QKV, gw, tw, lane);
  gsv_prefetch_rows(w_out, D, D, gw, tw, lane);
  gsv_prefetch_rows(w1, D, FF, gw, tw, lane);
  gsv_prefetch_rows(w2, FF, D, gw, tw, lane);
  if (PREFETCH_KV) {
    // The cached keys and values this lane scores in stage 2 (the new column is not cached yet).
    const int last = offset[0];
    for (int u = gw; u < R * H * S; u += tw) {
      const int bh = u / S;
      const int s = u - bh * S;
      const size_t base = static_cast<size_t>(bh) * CAP * HD;
      for (int j = left_pad[PAD_AT + bh / H] + 32 * s + lane; j < last; j += 32 * S) {
        for (int d = 0; d < HD; d += 32) {
          gsv_prefetch_l2(k + base + static_cast<size_t>(j) * HD + d);
          gsv_prefetch_l2(v + base + static_cast<size_t>(j) * HD + d);
        }
      }
    }
  }
{INPUT}  __syncthreads();
  gsv_rows_product<RMAX>(xs, R, D, w_in, b_in, false, qkv, QKV, gw, tw, lane);
  gsv_grid_sync(barrier);

  // 2. Attention partials. Split s of a (row, head) takes the chunks of 32 columns s, s + S, …
  //    from `first`; lane t scores column first + 32c + t whole (its key read as float4s), so a
  //    chunk costs one round trip to memory for the keys and one for the values instead of one
  //    per column. The new column (`offset`) is read from q|k|v; the (row, head)'s first split
  //    writes the new key and value into the cache.
  {
    const int last = offset[0];
    const float scale = rsqrtf(static_cast<float>(HD));
    float* kc = const_cast<float*>(k);
    float* vc = const_cast<float*>(v);
    for (int u = gw; u < R * H * S; u += tw) {
      const int bh = u / S;
      const int s = u - bh * S;
      const int b = bh / H;
      const int h = bh - b * H;
      const int first = left_pad[PAD_AT + b];
      const float* qp = qkv + static_cast<size_t>(b) * QKV + h * HD;
      const float4* q4 = reinterpret_cast<const float4*>(qp);
      const size_t base = static_cast<size_t>(bh) * CAP * HD;
      float acc[PER];
#pragma unroll
      for (int i = 0; i < PER; ++i) acc[i] = 0.0f;
      float m = __int_as_float(0xff800000);
      float l = 0.0f;
      for (int j0 = first + 32 * s; j0 <= last; j0 += 32 * S) {
        const int j = j0 + lane;
        float score = __int_as_float(0xff800000);
        if (j <= last) {
          const float4* kr = reinterpret_cast<const float4*>(j == last ? qp + D : k + base + static_cast<size_t>(j) * HD);
          float a = 0.0f;
#pragma unroll 8
          for (int i = 0; i < HD / 4; ++i) {
            const float4 kv = __ldcg(kr + i);
            const float4 qv = __ldcg(q4 + i);
            a += qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w;
          }
          score = a * scale;
        }
        float mx = score;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        // Lane 0's column is ≤ last, so mx is finite.
        const float mn = fmaxf(m, mx);
        const float c = expf(m - mn);
        const float p = j <= last ? expf(score - mn) : 0.0f;
        l = l * c + p;
#pragma unroll
        for (int i = 0; i < PER; ++i) acc[i] *= c;
        // The values of 8 columns loaded before they are summed (loads between the sums of
        // one chain go out one at a time).
        const int n = min(32, last - j0 + 1);
        for (int t0 = 0; t0 < n; t0 += 8) {
          float vv[8][PER];
#pragma unroll
          for (int t = 0; t < 8; ++t) {
            const int j = j0 + t0 + t;
            const float* vr = j == last ? qp + 2 * D : v + base + static_cast<size_t>(j) * HD;
#pragma unroll
            for (int i = 0; i < PER; ++i) {
              const int d = lane + 32 * i;
              vv[t][i] = t0 + t < n && d < HD ? __ldcg(vr + d) : 0.0f;
            }
          }
#pragma unroll
          for (int t = 0; t < 8; ++t) {
            const float pt = __shfl_sync(0xffffffffu, p, t0 + t);
#pragma unroll
            for (int i = 0; i < PER; ++i) acc[i] += pt * vv[t][i];
          }
        }
        m = mn;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
      float* pp = part + static_cast<size_t>(u) * (HD + 2);
#pragma unroll
      for (int i = 0; i < PER; ++i) {
        const int d = lane + 32 * i;
        if (d < HD) pp[d] = acc[i];
        if (s == 0 && d < HD) {
          kc[base + static_cast<size_t>(last) * HD + d] = __ldcg(qp + D + d);
          vc[base + static_cast<size_t>(last) * HD + d] = __ldcg(qp + 2 * D + d);
        }
      }
      if (lane == 0) {
        pp[HD] = m;
        pp[HD + 1] = l;
      }
      if (MERGE_LAST) {
        // The (row, head)'s last split to finish merges all of them (each split's partial is
        // visible once its count is: fence, then count), and resets the count for the next
        // launch; stage 3 then reads finished rows instead of merging S partials a (row, head).
        __threadfence();
        __syncwarp();
        unsigned int done = 0;
        if (lane == 0) done = atomicAdd(counts + bh, 1u);
        done = __shfl_sync(0xffffffffu, done, 0);
        if (done == static_cast<unsigned int>(S - 1)) {
          if (lane == 0) atomicExch(counts + bh, 0u);
          __threadfence();
          gsv_merge_partials<PER, HD>(part + static_cast<size_t>(bh) * S * (HD + 2), S, merged + b * D + h * HD, lane);
        }
      }
    }
  }
  gsv_grid_sync(barrier);

  // 3. Each block gathers every (row, head)'s attention — merged by its last split in stage 2,
  //    or here from the partials (split s on lane s) — then the output product (its bias goes
  //    to stage 4).
  if (MERGE_LAST) {
    for (int i = threadIdx.x; i < R * D / 4; i += NT) reinterpret_cast<float4*>(xs)[i] = __ldcg(reinterpret_cast<const float4*>(merged) + i);
  } else {
    for (int bh = warp; bh < R * H; bh += NW) {
      const int b = bh / H;
      gsv_merge_partials<PER, HD>(part + static_cast<size_t>(bh) * S * (HD + 2), S, xs + b * D + (bh - b * H) * HD, lane);
    }
  }
  __syncthreads();
  gsv_rows_product<RMAX>(xs, R, D, w_out, nullptr, false, att, D, gw, tw, lane);
  gsv_grid_sync(barrier);

  // 4. LayerNorm(x + (attention + bias)): the residual of the FFN, written out by block 0; the
  //    FFN's first product.
  gsv_norm_rows<true>(xs, xin, att, b_out, g1, be1, R, D, EPS, blockIdx.x == 0 ? h_out : nullptr, warp, NW, lane);
  __syncthreads();
  gsv_rows_product<RMAX>(xs, R, D, w1, b1, true, ffn, FF, gw, tw, lane);
  gsv_grid_sync(barrier);

  // 5. The FFN's second product, its input staged from the scratch.
  gsv_staged_product<RMAX, RMAX * D, NT>(xs, ffn, R, FF, w2, y_out, D, gw, tw, lane);
"#;

/// Stage 1's input for layers after the first: `LayerNorm(x + (y + rbias))` of the previous
/// layer's pending output, one warp per row (the fused step's arithmetic).
const PENDING_INPUT: &str = r#"
  gsv_norm_rows<false>(xs, x, y, rbias, gamma, beta, R, D, EPS, blockIdx.x == 0 ? xin : nullptr, warp, NW, lane);
"#;

/// Stage 1's input for the first layer: the step's embedding `emb[tokens[r]] + alpha·pe[positions[r]]`
/// (ids clamped into the tables).
const EMBED_INPUT: &str = r#"
  gsv_embed_rows(xs, tokens, positions, emb, pe, alpha, R, D, VOCAB, PE_ROWS, blockIdx.x == 0 ? xin : nullptr, warp, NW, lane);
  if (blockIdx.x == 0 && static_cast<int>(threadIdx.x) < INDEX_AT + R) {
    const int t = threadIdx.x;
    index[t] = t == 0 ? offset[0] : (t >= INDEX_AT ? left_pad[t - INDEX_AT] : 0);
  }
"#;

/// The layer weights every launch takes, after its input.
const LAYER_INPUTS: [&str; 14] =
    ["w_in", "b_in", "w_out", "b_out", "g1", "be1", "w1", "b1", "w2", "k", "v", "offset", "left_pad", "sync"];

/// What a layer starts from.
pub enum LayerSource<'a> {
    /// The step's tokens, positions, write position `offset [1]` and `left_pad [B]` (the first
    /// layer).
    Tokens { tokens: &'a Array, positions: &'a Array, offset: &'a Array, left_pad: &'a Array },
    /// The previous layer's output `x`, `y` before its last `LayerNorm(x + (y + bias))`, and
    /// the first layer's [`LayerOutput::index`].
    Pending { x: &'a Array, y: &'a Array, bias: &'a Array, norm: &'a LayerNorm, index: &'a Array },
}

/// A layer's output `(h, y)` before its last `LayerNorm(h + (y + linear2.bias))`, and the
/// step's `offset` and `left_pad` as the first layer copied them into device memory
/// (`[offset, 0, 0, 0, left_pad…]`) for the later layers.
pub struct LayerOutput {
    pub h: Array,
    pub y: Array,
    pub index: Array,
}

/// Where `left_pad` starts in [`LayerOutput::index`].
const INDEX_AT: i32 = 4;

/// The FFN's inner width (the first layer's; 0 without layers).
fn ffn_width(model: &Text2SemanticDecoder) -> i32 {
    model.layers().first().map_or(0, |l| l.linear1.weight.shape()[0])
}

/// The two layer kernels of a model (first layer, later layers) and their barrier counter.
pub struct LayerKernels {
    embed: CudaKernel,
    pending: CudaKernel,
    /// The grid barrier's counter (its first `u32`, written in place, never reset).
    sync: Array,
    blocks: i32,
    threads: i32,
    splits_max: i32,
    /// Each lane also asks L2 for the cached keys and values it scores in stage 2 when the
    /// launch starts (`GSV_LAYER_KERNEL_PREFETCH_KV=0` turns it off for an A/B).
    prefetch_kv: bool,
    /// A (row, head)'s last split of stage 2 merges its partials, once, instead of every block
    /// merging all of them in stage 3 (`GSV_LAYER_KERNEL_MERGE_LAST=0` turns it off). H100,
    /// 2026-12-07, tokens/s at 1 / 4 / 16 rows: both on 1,096 / 3,166 / 8,981; this alone 1,017–
    /// 1,067 / 3,205–3,419 / 8,477–8,925; neither 1,038–1,055 / 2,984–3,088 / 7,285–7,366.
    merge_last: bool,
}

impl LayerKernels {
    /// Whether the layer kernel takes this model: what the fused step takes (f32, one ε), whole
    /// rows of [`ROWS_MAX`] in shared memory, widths of whole `float4`s, heads of at most 128.
    pub fn supports(model: &Text2SemanticDecoder) -> bool {
        let cfg = &model.config;
        let ff = ffn_width(model);
        super::fused::FusedKernels::supports(model)
            && cfg.hidden_dim % 4 == 0
            && ff > 0
            && ff % 4 == 0
            && model.layers().iter().all(|l| l.linear1.weight.shape()[0] == ff)
            && ROWS_MAX * cfg.hidden_dim * 4 <= ROWS_SHARED_BYTES
            && cfg.head_dim() <= 128
            && cfg.head_dim() % 4 == 0
            && model.layers().iter().all(|l| l.in_proj.bias.is_some() && l.out_proj.bias.is_some() && l.linear1.bias.is_some())
    }

    pub fn new(model: &Text2SemanticDecoder) -> Result<Self> {
        if !Self::supports(model) {
            return Err(Error::Invalid(format!("the layer kernel does not support {:?}", model.config)));
        }
        let eps = model.layers().first().map_or(1e-5, |l| l.norm1.eps);
        let mut embed_inputs = vec!["tokens", "positions", "emb", "pe", "alpha"];
        embed_inputs.extend(LAYER_INPUTS);
        let mut pending_inputs = vec!["x", "y", "rbias", "gamma", "beta"];
        pending_inputs.extend(LAYER_INPUTS);
        let outputs = ["h_out", "y_out", "scratch"];
        let embed_outputs = ["h_out", "y_out", "scratch", "index"];
        // ε is compiled in (a float cannot be a template argument).
        let body = |input: &str| format!("  constexpr float EPS = {eps:e}f;\n{}", LAYER.replace("{INPUT}", input));
        let header = format!("{WARP_NORM_ROWS}{WARP_EMBED_ROWS}{HEADER}");
        // [quirk] MLX's CUDA allocator keeps arrays of 8 bytes or less in a pool of managed
        // memory that the GPU reaches where it lies (host memory, across PCIe): a one-word
        // counter there made each barrier 132 atomics and a spin over PCIe (440 µs a layer on
        // the H100). Zeros made by the GPU, past 8 bytes, are allocated in device memory.
        let sync = Array::zeros::<u32>(&[SYNC_WORDS + ROWS_MAX * model.config.n_head])?;
        sync.eval()?;
        let (blocks, threads) = grid();
        Ok(Self {
            embed: CudaKernel::new("gsv_decode_layer_embed", &embed_inputs, &embed_outputs, &body(EMBED_INPUT), &header)?.writing_inputs(&["k", "v", "sync"]),
            pending: CudaKernel::new("gsv_decode_layer", &pending_inputs, &outputs, &body(PENDING_INPUT), &header)?.writing_inputs(&["k", "v", "sync"]),
            sync,
            blocks,
            threads,
            splits_max: splits_max(),
            prefetch_kv: knob("GSV_LAYER_KERNEL_PREFETCH_KV").is_none_or(|n| n != 0),
            merge_last: knob("GSV_LAYER_KERNEL_MERGE_LAST").is_none_or(|n| n != 0),
        })
    }

    /// Column ranges per (row, head) of a launch: as the kernel counts them (`S`).
    fn splits(&self, rows: i32, heads: i32) -> i32 {
        (self.blocks * self.threads / 32 / (rows * heads)).clamp(1, self.splits_max)
    }

    /// Whether a step of `rows` rows takes the layer kernel.
    pub fn takes(rows: i32) -> bool {
        (1..=max_rows()).contains(&rows)
    }

    /// One layer for one position per row; the cache buffers `[B, H, capacity, hd]` get
    /// position `offset` written in place.
    pub fn layer(&self, model: &Text2SemanticDecoder, l: &Block, input: LayerSource, k_buf: &Array, v_buf: &Array) -> Result<LayerOutput> {
        let cfg = &model.config;
        let s = k_buf.shape();
        let (rows, h, hd) = (s[0], s[1], s[3]);
        let (d, ff) = (cfg.hidden_dim, l.linear1.weight.shape()[0]);
        if !Self::takes(rows) || h * hd != d || k_buf.dtype() != Dtype::Float32 {
            return Err(Error::Invalid(format!("layer kernel: cache {s:?} for width {d}")));
        }
        let splits = self.splits(rows, h);
        let merged = if self.merge_last { rows * d } else { 0 };
        let scratch = rows * d + rows * 3 * d + rows * d + rows * ff + merged + rows * h * splits * (hd + 2);
        let mut template = vec![
            ("T", TemplateArg::Dtype(Dtype::Float32)),
            ("D", TemplateArg::Int(d)),
            ("H", TemplateArg::Int(h)),
            ("HD", TemplateArg::Int(hd)),
            ("FF", TemplateArg::Int(ff)),
            ("NT", TemplateArg::Int(self.threads)),
            ("RMAX", TemplateArg::Int(ROWS_MAX)),
            ("SPLITS", TemplateArg::Int(self.splits_max)),
            ("PREFETCH_KV", TemplateArg::Bool(self.prefetch_kv)),
            ("MERGE_LAST", TemplateArg::Bool(self.merge_last)),
        ];
        let (row_shape, scratch_shape, index_shape) = ([rows, d], [scratch], [INDEX_AT + rows]);
        let mut outputs: Vec<(&[i32], Dtype)> = vec![(&row_shape, Dtype::Float32), (&row_shape, Dtype::Float32), (&scratch_shape, Dtype::Float32)];
        let mut inputs: Vec<&Array> = Vec::with_capacity(20);
        // [quirk] `offset` and `left_pad` are made on the host each step, and MLX keeps such
        // small arrays where the GPU reads them across PCIe (see `new`): the first layer copies
        // them into a device array (`index`, past 8 bytes) that the later layers read instead.
        let (kernel, offset, left_pad, passed_on) = match input {
            LayerSource::Tokens { tokens, positions, offset, left_pad } => {
                let (emb, pe, alpha) = model.step_embedding_tables();
                inputs.extend([tokens, positions, emb, pe, alpha]);
                template.extend([
                    ("VOCAB", TemplateArg::Int(emb.shape()[0])),
                    ("PE_ROWS", TemplateArg::Int(pe.shape()[0])),
                    ("INDEX_AT", TemplateArg::Int(INDEX_AT)),
                    ("PAD_AT", TemplateArg::Int(0)),
                ]);
                outputs.push((&index_shape, Dtype::Int32));
                (&self.embed, offset, left_pad, None)
            }
            LayerSource::Pending { x, y, bias, norm, index } => {
                inputs.extend([x, y, bias, &norm.weight, &norm.bias]);
                template.push(("PAD_AT", TemplateArg::Int(INDEX_AT)));
                (&self.pending, index, index, Some(index))
            }
        };
        inputs.extend([
            &l.in_proj.weight,
            bias(&l.in_proj)?,
            &l.out_proj.weight,
            bias(&l.out_proj)?,
            &l.norm1.weight,
            &l.norm1.bias,
            &l.linear1.weight,
            bias(&l.linear1)?,
            &l.linear2.weight,
            k_buf,
            v_buf,
            offset,
            left_pad,
            &self.sync,
        ]);
        let out = kernel.apply(&inputs, &outputs, (self.blocks * self.threads, 1, 1), (self.threads, 1, 1), &template)?;
        let mut out = out.into_iter();
        let (h, y) = match (out.next(), out.next(), out.next()) {
            (Some(h), Some(y), Some(_scratch)) => (h, y),
            _ => return Err(Error::Invalid("layer kernel returned fewer than three outputs".into())),
        };
        let index = match passed_on {
            Some(index) => index.clone(),
            None => out.next().ok_or_else(|| Error::Invalid("the first layer kernel returned no index".into()))?,
        };
        Ok(LayerOutput { h, y, index })
    }
}
