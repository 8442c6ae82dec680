// CPU runtime for emulating MLX custom CUDA kernels (src/bench/cuda_emulator/mod.rs).
//
// A kernel body written for `mlx::core::fast::cuda_kernel` is compiled by the host C++ compiler
// against this header and run block by block: every thread of a block is a fiber with its own
// stack, switched by a few instructions of assembly (x86-64 System V), and each fiber runs until
// it finishes or reaches `__syncthreads()` or a warp shuffle. A block barrier releases when every
// live thread of the block waits at it; a shuffle releases when all 32 lanes of its warp wait at
// one. Anything else is a deadlock (divergent barriers, a shuffle after lanes exited) and is
// reported as an error instead of hanging.
//
// A kernel that synchronises its whole grid (`gsv_grid_sync`, a spinning barrier on the GPU) runs
// *cooperatively*: all its blocks' threads are fibers at once, and the grid barrier releases when
// every live thread of every block waits at it (a block that returned first is a deadlock, as on
// the GPU). `__shared__` variables live in one section (`gsv_shm`) that the scheduler swaps
// whenever it switches to a fiber of another block, so each block keeps its own shared memory.
//
// What a GPU does that this does not: blocks that communicate through global memory *without* a
// grid barrier, memory ordering, and the exact rounding of `expf`/FMA contraction (results
// differ by float noise).
#define GSV_EMULATOR 1
#include <cfloat>
#include <cmath>
#include <math.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <type_traits>

struct gsv_uint3 {
  unsigned x, y, z;
};
using uint3 = gsv_uint3;
// CUDA's vector type of four floats (16-byte aligned, as a `float4` load requires).
struct alignas(16) float4 {
  float x, y, z, w;
};
using dim3 = gsv_uint3;

static gsv_uint3 threadIdx, blockIdx, blockDim, gridDim;
static constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static __attribute__((section("gsv_shm")))
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
#define __grid_constant__
#define __launch_bounds__(...)

namespace cooperative_groups {}

namespace gsv_emu {

enum State : unsigned char { RUN = 0, BLOCK_BAR = 1, WARP_BAR = 2, GRID_BAR = 3, DONE = 4 };

struct Fiber {
  void* sp;
  State state;
  unsigned shuffles;
};

constexpr size_t STACK_BYTES = 256 << 10;
constexpr unsigned MAX_THREADS = 1024;
// Fibers alive at once: a block's threads, or a cooperative grid's.
constexpr unsigned MAX_FIBERS = 8192;

static Fiber fibers[MAX_FIBERS];
static char* stacks = nullptr;
static void* scheduler_sp = nullptr;
static unsigned current = 0;
static unsigned n_threads = 0;
static unsigned block_base = 0;  // the current block's first fiber
static unsigned long long slots[2][MAX_FIBERS];
static void (*entry)(void*) = nullptr;
static void* entry_ctx = nullptr;
static const char* fault = nullptr;

extern "C" void gsv_emu_switch(void** save_sp, void* next_sp);
asm(R"(
  .text
  .p2align 4
  .hidden gsv_emu_switch
  .type gsv_emu_switch, @function
gsv_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size gsv_emu_switch, .-gsv_emu_switch
)");

inline void park(State s) {
  fibers[current].state = s;
  gsv_emu_switch(&fibers[current].sp, scheduler_sp);
}

[[noreturn]] static void trampoline() {
  entry(entry_ctx);
  fibers[current].state = DONE;
  gsv_emu_switch(&fibers[current].sp, scheduler_sp);
  __builtin_trap();
}

// A fresh stack whose first switch "returns" into `trampoline` as if it had been called.
static void* fresh_stack(unsigned t) {
  char* top = stacks + static_cast<size_t>(t + 1) * STACK_BYTES;
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                        // trampoline's return address
  *--sp = reinterpret_cast<void*>(&trampoline);          // popped by `ret`
  for (int i = 0; i < 6; ++i) *--sp = nullptr;            // rbp rbx r12 r13 r14 r15
  return sp;
}

// Publishes `v` for this thread, waits for the whole warp, and returns lane `src`'s value
// (own value when `src` is outside the block).
template <class V>
inline V shuffle(V v, unsigned src) {
  static_assert(sizeof(V) <= 8, "shuffle of a value over 8 bytes");
  const unsigned me = current;
  const unsigned parity = fibers[me].shuffles++ & 1u;
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  slots[parity][me] = bits;
  park(WARP_BAR);
  if (src - block_base >= n_threads) return v;
  V out;
  std::memcpy(&out, &slots[parity][src], sizeof(V));
  return out;
}

inline unsigned lane_base() { return current & ~31u; }
inline unsigned lane_id() { return current & 31u; }

extern "C" char __start_gsv_shm[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_gsv_shm[] __attribute__((weak, visibility("hidden")));

// Runs the kernel over the grid: block after block, or (`cooperative`) all blocks at once.
// Returns 0, or 1 with a message in `err`.
static int run(const unsigned grid[3], const unsigned block[3], bool cooperative, void (*fn)(void*), void* ctx, char* err,
               size_t err_len, unsigned* warnings) {
  const unsigned n = block[0] * block[1] * block[2];
  const unsigned blocks = grid[0] * grid[1] * grid[2];
  if (n == 0 || n > MAX_THREADS) {
    std::snprintf(err, err_len, "block of %u threads (1..=%u)", n, MAX_THREADS);
    return 1;
  }
  const unsigned group = cooperative ? blocks : 1;
  if (cooperative && (n % 32 != 0 || static_cast<size_t>(group) * n > MAX_FIBERS)) {
    std::snprintf(err, err_len, "a grid-synchronised launch needs whole warps and at most %u threads (%u blocks of %u)",
                  MAX_FIBERS, blocks, n);
    return 1;
  }
  if (stacks == nullptr) {
    void* p = mmap(nullptr, STACK_BYTES * MAX_FIBERS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::snprintf(err, err_len, "cannot map fiber stacks");
      return 1;
    }
    stacks = static_cast<char*>(p);
  }
  entry = fn;
  entry_ctx = ctx;
  n_threads = n;
  fault = nullptr;
  blockDim = {block[0], block[1], block[2]};
  gridDim = {grid[0], grid[1], grid[2]};
  const size_t shm =
      (__start_gsv_shm != nullptr && __stop_gsv_shm != nullptr) ? static_cast<size_t>(__stop_gsv_shm - __start_gsv_shm) : 0;
  for (unsigned g0 = 0; g0 < blocks; g0 += group) {
    const unsigned nb = blocks - g0 < group ? blocks - g0 : group;
    const unsigned total = nb * n;
    // Each block's shared memory while another block's fibers run.
    char* saved = nb > 1 && shm > 0 ? static_cast<char*>(std::calloc(nb, shm)) : nullptr;
    unsigned resident = 0;
    for (unsigned f = 0; f < total; ++f) fibers[f] = Fiber{fresh_stack(f), RUN, 0};
    unsigned alive = total;
    while (alive > 0) {
      for (unsigned f = 0; f < total; ++f) {
        if (fibers[f].state != RUN) continue;
        const unsigned bi = f / n;
        const unsigned t = f - bi * n;
        if (saved != nullptr && bi != resident) {
          std::memcpy(saved + static_cast<size_t>(resident) * shm, __start_gsv_shm, shm);
          std::memcpy(__start_gsv_shm, saved + static_cast<size_t>(bi) * shm, shm);
          resident = bi;
        }
        const unsigned lb = g0 + bi;
        blockIdx = {lb % grid[0], (lb / grid[0]) % grid[1], lb / (grid[0] * grid[1])};
        current = f;
        block_base = bi * n;
        threadIdx = {t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
        gsv_emu_switch(&scheduler_sp, fibers[f].sp);
        if (fibers[f].state == DONE) --alive;
      }
      if (alive == 0) break;
      bool released = false;
      unsigned at_warp = 0;
      for (unsigned w = 0; w < total; w += 32) {
        const unsigned bend = (w / n + 1) * n;
        const unsigned end = w + 32 < bend ? w + 32 : bend;
        unsigned waiting = 0;
        for (unsigned f = w; f < end; ++f) waiting += fibers[f].state == WARP_BAR;
        if (waiting == 0) continue;
        if (waiting == end - w) {
          for (unsigned f = w; f < end; ++f) fibers[f].state = RUN;
          released = true;
        } else {
          at_warp += waiting;
        }
      }
      if (released) continue;
      unsigned at_block = 0, at_grid = 0, emptied = 0;
      for (unsigned bi = 0; bi < nb; ++bi) {
        unsigned live = 0, waiting = 0, warps = 0;
        for (unsigned f = bi * n; f < (bi + 1) * n; ++f) {
          live += fibers[f].state != DONE;
          waiting += fibers[f].state == BLOCK_BAR;
          warps += fibers[f].state == WARP_BAR;
          at_grid += fibers[f].state == GRID_BAR;
        }
        at_block += waiting;
        emptied += live == 0;
        if (waiting > 0 && waiting == live && warps == 0) {
          if (live < n) *warnings |= 1u;  // __syncthreads after some threads returned
          for (unsigned f = bi * n; f < (bi + 1) * n; ++f)
            if (fibers[f].state == BLOCK_BAR) fibers[f].state = RUN;
          released = true;
        }
      }
      if (released) continue;
      if (at_grid > 0 && at_grid == alive && emptied == 0) {
        for (unsigned f = 0; f < total; ++f)
          if (fibers[f].state == GRID_BAR) fibers[f].state = RUN;
        continue;
      }
      std::free(saved);
      std::snprintf(err, err_len,
                    "deadlock in blocks %u..%u: %u threads at __syncthreads, %u at a warp shuffle whose warp is "
                    "incomplete, %u at the grid barrier (%u blocks returned), %u returned",
                    g0, g0 + nb - 1, at_block, at_warp, at_grid, emptied, total - alive);
      return 1;
    }
    std::free(saved);
  }
  return 0;
}

}  // namespace gsv_emu

inline void __syncthreads() { gsv_emu::park(gsv_emu::BLOCK_BAR); }
// The grid barrier of a cooperative launch (on the GPU, a spinning barrier on `counter`).
inline void gsv_grid_sync(unsigned* /*counter*/) { gsv_emu::park(gsv_emu::GRID_BAR); }
// Loads that bypass L1 on the GPU (data other blocks wrote in this launch): plain loads here.
template <class V>
inline V __ldcg(const V* p) { return *p; }
inline void __syncwarp(unsigned = 0xffffffffu) { gsv_emu::shuffle(0, 0); }
// Fibers switch only at barriers and shuffles, so read-modify-writes are atomic as written, and
// every write is seen by the next fiber to run.
template <class V>
inline V atomicAdd(V* p, V v) { const V old = *p; *p = old + v; return old; }
template <class V>
inline V atomicExch(V* p, V v) { const V old = *p; *p = v; return old; }
inline void __threadfence() {}

template <class V>
inline V __shfl_sync(unsigned, V v, int src, int width = 32) {
  const unsigned lane = gsv_emu::lane_id();
  const unsigned seg = lane & ~static_cast<unsigned>(width - 1);
  return gsv_emu::shuffle(v, gsv_emu::lane_base() + seg + (static_cast<unsigned>(src) & (width - 1)));
}
template <class V>
inline V __shfl_xor_sync(unsigned, V v, int mask, int width = 32) {
  const unsigned lane = gsv_emu::lane_id();
  unsigned src = lane ^ static_cast<unsigned>(mask);
  if ((src & ~static_cast<unsigned>(width - 1)) != (lane & ~static_cast<unsigned>(width - 1))) src = lane;
  return gsv_emu::shuffle(v, gsv_emu::lane_base() + src);
}
template <class V>
inline V __shfl_up_sync(unsigned, V v, unsigned delta, int width = 32) {
  const unsigned lane = gsv_emu::lane_id();
  const unsigned in_seg = lane & static_cast<unsigned>(width - 1);
  const unsigned src = in_seg >= delta ? lane - delta : lane;
  return gsv_emu::shuffle(v, gsv_emu::lane_base() + src);
}
template <class V>
inline V __shfl_down_sync(unsigned, V v, unsigned delta, int width = 32) {
  const unsigned lane = gsv_emu::lane_id();
  const unsigned in_seg = lane & static_cast<unsigned>(width - 1);
  const unsigned src = in_seg + delta < static_cast<unsigned>(width) ? lane + delta : lane;
  return gsv_emu::shuffle(v, gsv_emu::lane_base() + src);
}

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float v) { int i; std::memcpy(&i, &v, 4); return i; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned __float_as_uint(float v) { unsigned i; std::memcpy(&i, &v, 4); return i; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

// CUDA's overloaded device min/max: NaN-ignoring for floats, plain comparison otherwise.
template <class A, class B>
inline auto min(A a, B b) -> decltype(a + b) {
  using R = decltype(a + b);
  if constexpr (std::is_floating_point<R>::value) return std::fmin(static_cast<R>(a), static_cast<R>(b));
  else return static_cast<R>(b) < static_cast<R>(a) ? static_cast<R>(b) : static_cast<R>(a);
}
template <class A, class B>
inline auto max(A a, B b) -> decltype(a + b) {
  using R = decltype(a + b);
  if constexpr (std::is_floating_point<R>::value) return std::fmax(static_cast<R>(a), static_cast<R>(b));
  else return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(b) : static_cast<R>(a);
}
