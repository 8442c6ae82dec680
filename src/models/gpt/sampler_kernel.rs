//! The sampler of [`super::sampling::sample`] as one custom CUDA kernel (one block per row).
//!
//! The portable chain (penalty, argsort, top-p cumsum, temperature, top-k pivot, softmax, race,
//! presence update) is ~19 graph nodes even compiled, each ~5–10 µs of host work on MLX's CUDA
//! backend per step. Here a block holds its row in shared memory and does the same steps in the
//! same order:
//! 1. `−inf` on EOS while blocked, then the repetition penalty on present ids;
//! 2. a bitonic sort of (value, id), descending, ties by ascending id (a stable sort of the
//!    negated logits, as `argsort`), its stages within a warp through shuffles; `eos_argmax` =
//!    the first of the sorted ids is EOS;
//! 3. top-p (when `top_p ≤ 1`): the sorted softmax's running sum keeps the first
//!    `max(1, #{cum ≤ top_p})` entries — the suffix the portable path removes;
//! 4. temperature, and the top-k pivot `sorted[k]/T` (or `−inf` when top-p already removed it);
//! 5. softmax over what is left and the exponential race `argmax(probs / q)` (first id on ties);
//! 6. the presence mask with the new token.
//!
//! Float sums run in a different order than MLX's reductions, so probabilities agree to float
//! noise (~1e-7), not bit for bit; `gsv-server selftest --device gpu` compares the fused step
//! *and* this sampler against the portable ones, token for token, with the same Exp(1) draws.
use mlx_rs::{Array, Dtype};

use super::sampling::{BatchParams, Sampled};
use crate::models::cuda_kernel::{CudaKernel, TemplateArg, BLOCK_SUM};
use crate::models::{Error, Result};

/// Threads per block (one block per row).
const THREADS: i32 = 1024;

/// Largest vocabulary the kernel sorts in shared memory (`8·SORT_N` bytes).
pub const MAX_VOCAB: i32 = 4096;

const HEADER: &str = r#"
__device__ __forceinline__ bool gsv_before(float a, int ia, float b, int ib) {
  return a > b || (a == b && ia < ib);
}
"#;

const SAMPLE: &str = r#"
  constexpr int NW = NT / 32;
  constexpr int PER = SORT_N / NT;
  const float NEG_INF = __int_as_float(0xff800000);
  __shared__ float sv[SORT_N];
  __shared__ int si[SORT_N];
  __shared__ float red[NW];
  __shared__ float best_v[NW];
  __shared__ int best_i[NW];
  const int row = blockIdx.x;
  const int tid = threadIdx.x;
  const size_t base = static_cast<size_t>(row) * V;
  const float pen = penalty[row];
  const float temp = temperature[row];
  const float topp = top_p[row];
  const int kth = top_k[row];
  const bool blocked = eos_blocked[row];

  // 1. EOS block and repetition penalty.
  for (int c = tid; c < SORT_N; c += NT) {
    float l = NEG_INF;
    if (c < V) {
      l = logits[base + c];
      if (blocked && c == EOS) l = NEG_INF;
      if (presence[base + c]) l = l < 0.0f ? l * pen : l / pen;
      // Every probability is written even when step 5 skips an id (NaN logits, see there).
      probs[base + c] = 0.0f;
    }
    sv[c] = l;
    si[c] = c;
  }
  __syncthreads();

  // 2. Bitonic sort: descending value, ascending id among equals. Thread `tid` holds positions
  //    tid + q·NT in registers; a stage whose partners are under 32 apart (j < 32) pairs lanes
  //    of one warp and exchanges through shuffles, the others go through shared memory with a
  //    block barrier each — the same compare-exchanges in the same order; at 2048 keys 45 of
  //    the 66 stages run in registers and the sort takes 28 block barriers instead of 66.
  float kv[PER];
  int ki[PER];
#pragma unroll
  for (int q = 0; q < PER; ++q) {
    kv[q] = sv[tid + q * NT];
    ki[q] = si[tid + q * NT];
  }
  for (int k = 2; k <= SORT_N; k <<= 1) {
    if (k > 32) {
#pragma unroll
      for (int q = 0; q < PER; ++q) {
        sv[tid + q * NT] = kv[q];
        si[tid + q * NT] = ki[q];
      }
      __syncthreads();
      for (int j = k >> 1; j >= 32; j >>= 1) {
        for (int t = tid; t < SORT_N; t += NT) {
          const int p = t ^ j;
          if (p > t) {
            const float a = sv[t];
            const float b = sv[p];
            const int ia = si[t];
            const int ib = si[p];
            const bool up = (t & k) == 0;
            if (gsv_before(b, ib, a, ia) == up) {
              sv[t] = b;
              sv[p] = a;
              si[t] = ib;
              si[p] = ia;
            }
          }
        }
        __syncthreads();
      }
#pragma unroll
      for (int q = 0; q < PER; ++q) {
        kv[q] = sv[tid + q * NT];
        ki[q] = si[tid + q * NT];
      }
    }
    for (int j = (k >> 1) < 16 ? (k >> 1) : 16; j > 0; j >>= 1) {
#pragma unroll
      for (int q = 0; q < PER; ++q) {
        const int t = tid + q * NT;
        const float ov = __shfl_xor_sync(0xffffffffu, kv[q], j);
        const int oi = __shfl_xor_sync(0xffffffffu, ki[q], j);
        // As the shared stage: the lower position of a pair ends with the one `gsv_before`
        // puts first where (t & k) == 0, else the other; the upper position the opposite.
        const bool keep_first = ((t & j) == 0) == ((t & k) == 0);
        if (gsv_before(ov, oi, kv[q], ki[q]) == keep_first) {
          kv[q] = ov;
          ki[q] = oi;
        }
      }
    }
  }
#pragma unroll
  for (int q = 0; q < PER; ++q) {
    sv[tid + q * NT] = kv[q];
    si[tid + q * NT] = ki[q];
  }
  __syncthreads();
  const float top = sv[0];

  // 3. top-p over the sorted softmax: keep the first max(1, #{cum <= top_p}).
  int keep = V;
  if (topp <= 1.0f) {
    float e[PER];
    float local = 0.0f;
#pragma unroll
    for (int q = 0; q < PER; ++q) {
      const int i = tid * PER + q;
      e[q] = i < V ? expf(sv[i] - top) : 0.0f;
      local += e[q];
    }
    const float total = gsv_block_sum<NW>(local, red);
    // Exclusive scan of the threads' sums (warp scan, then the warps' totals).
    const int lane = tid & 31;
    const int warp = tid >> 5;
    float incl = local;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float n = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += n;
    }
    __syncthreads();
    if (lane == 31) red[warp] = incl;
    __syncthreads();
    float before = incl - local;
    for (int w = 0; w < warp; ++w) before += red[w];
    float cum = before;
    float kept = 0.0f;
#pragma unroll
    for (int q = 0; q < PER; ++q) {
      cum += e[q];
      const int i = tid * PER + q;
      if (i < V && cum / total <= topp) kept += 1.0f;
    }
    const int n = static_cast<int>(gsv_block_sum<NW>(kept, red) + 0.5f);
    keep = n > 1 ? n : 1;
  }

  // 4. temperature and the top-k pivot; 5. softmax and the exponential race.
  const float pivot = kth < keep ? sv[kth] / temp : NEG_INF;
  const float mx = top / temp;
  float f[PER];
  float local = 0.0f;
#pragma unroll
  for (int q = 0; q < PER; ++q) {
    const int i = tid * PER + q;
    float x = i < keep ? sv[i] / temp : NEG_INF;
    if (x < pivot) x = NEG_INF;
    f[q] = i < V ? expf(x - mx) : 0.0f;
    local += f[q];
  }
  const float total = gsv_block_sum<NW>(local, red);
  float rv = -1.0f;
  int ri = V;
#pragma unroll
  for (int q = 0; q < PER; ++q) {
    const int i = tid * PER + q;
    const int c = i < V ? si[i] : V;
    // `c < V` holds unless NaN logits left the sort unordered; then no write lands out of bounds.
    if (c < V) {
      const float pr = f[q] / total;
      probs[base + c] = pr;
      const float r = pr / noise[base + c];
      if (gsv_before(r, c, rv, ri)) {
        rv = r;
        ri = c;
      }
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, rv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, ri, o);
    if (gsv_before(ov, oi, rv, ri)) {
      rv = ov;
      ri = oi;
    }
  }
  if ((tid & 31) == 0) {
    best_v[tid >> 5] = rv;
    best_i[tid >> 5] = ri;
  }
  __syncthreads();
  float bv = best_v[0];
  int bi = best_i[0];
#pragma unroll
  for (int w = 1; w < NW; ++w) {
    if (gsv_before(best_v[w], best_i[w], bv, bi)) {
      bv = best_v[w];
      bi = best_i[w];
    }
  }
  // 6. presence with the new token.
  for (int c = tid; c < V; c += NT) presence_out[base + c] = presence[base + c] || c == bi;
  if (tid == 0) {
    tokens[row] = static_cast<uint32_t>(bi);
    eos_argmax[row] = si[0] == EOS;
  }
"#;

/// Process-wide: whether decoders beside a fused step sample with the kernel (auto = on).
static ENABLED: crate::device::SwitchCell = crate::device::SwitchCell::auto();

/// `Some(false)` keeps MLX's sampler ops beside the fused step (an A/B switch:
/// `bench --sampler-kernel`).
pub fn set_enabled(on: Option<bool>) {
    ENABLED.set(on);
}

pub fn enabled() -> bool {
    ENABLED.get(|| true)
}

/// The sampler kernel of one model (its EOS id and vocabulary are compiled in).
pub struct SamplerKernel {
    kernel: CudaKernel,
    eos: i32,
}

impl SamplerKernel {
    pub fn supports(vocab: i32) -> bool {
        (1..=MAX_VOCAB).contains(&vocab)
    }

    pub fn new(eos: i32) -> Result<Self> {
        let kernel = CudaKernel::new(
            "gsv_sample",
            &["logits", "presence", "eos_blocked", "top_k", "top_p", "temperature", "penalty", "noise"],
            &["tokens", "eos_argmax", "probs", "presence_out"],
            SAMPLE,
            &format!("{BLOCK_SUM}{HEADER}"),
        )?;
        Ok(Self { kernel, eos })
    }

    /// [`super::sampling::sample`] with the same arguments, as one graph node.
    pub fn sample(&self, logits: &Array, presence: &Array, eos_blocked: &Array, params: &BatchParams, q: &Array) -> Result<Sampled> {
        let (b, v) = (logits.shape()[0], logits.shape()[1]);
        if !Self::supports(v) {
            return Err(Error::Invalid(format!("sampler kernel: vocabulary {v} over {MAX_VOCAB}")));
        }
        let sort_n = (v as u32).next_power_of_two().max(THREADS as u32) as i32;
        let [top_k, top_p, temperature, penalty] = params.columns();
        let logits = logits.as_dtype(Dtype::Float32)?;
        let out = self.kernel.apply(
            &[&logits, presence, eos_blocked, top_k, top_p, temperature, penalty, q],
            &[(&[b], Dtype::Uint32), (&[b], Dtype::Bool), (&[b, v], Dtype::Float32), (&[b, v], Dtype::Bool)],
            (b * THREADS, 1, 1),
            (THREADS, 1, 1),
            &[
                ("V", TemplateArg::Int(v)),
                ("EOS", TemplateArg::Int(self.eos)),
                ("SORT_N", TemplateArg::Int(sort_n)),
                ("NT", TemplateArg::Int(THREADS)),
            ],
        )?;
        let mut out = out.into_iter();
        match (out.next(), out.next(), out.next(), out.next()) {
            (Some(tokens), Some(eos_argmax), Some(probs), Some(presence)) => Ok(Sampled { tokens, eos_argmax, probs, presence }),
            _ => Err(Error::Invalid("sampler kernel returned too few arrays".into())),
        }
    }
}
