//! A safe wrapper of MLX's custom CUDA kernels (`mlx::core::fast::cuda_kernel`, bound by mlx-sys
//! as `mlx_fast_cuda_kernel_*`; mlx-rs wraps only the Metal twin).
//!
//! MLX writes the kernel's signature itself: each input `name` becomes `const T* name` (plus
//! `name_shape` / `name_strides` / `name_ndim` when the source mentions them), each output
//! `T* name`, and template arguments become `constexpr int` / `using` lines before the body.
//! The grid counts *threads* (as Metal does); MLX divides it by the block to launch. The result
//! is an ordinary graph node: it can be traced by `compile` and replayed, and its outputs are
//! fresh arrays (a kernel cannot write into an input in place).
//!
//! The kernel is JIT-compiled (NVRTC) on first use per distinct source and template arguments,
//! and only runs on MLX's CUDA backend; [`available`] says whether that is the device in use.
//!
//! Two diagnostics hook in without a GPU: [`record_launches`] writes each launch's
//! [`LaunchSpec`] instead of launching (offline NVRTC compilation), and [`with_emulator`] hands
//! each launch to a [`KernelEmulator`] that runs it on the CPU (`gsv-server selftest --emulate`).
use std::ffi::{c_char, CString};

use mlx_rs::{Array, Dtype, Stream};

use super::{Error, Result};

/// Device helper for kernel headers: the sum of `v` over a block of `NW` warps, returned to every
/// thread, through `red` (`NW` floats of shared memory; safe to call repeatedly with one `red`).
pub const BLOCK_SUM: &str = r#"
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

/// Device helper for kernel headers: rows `r = warp, warp + nw, …` (< `R`, each `K` wide, one warp
/// a row) of `LayerNorm(a + (b + bias))` into `xs` (shared memory), and into `keep` unless null.
/// `CG`: load `a` and `b` past L1 (rows other blocks of the same launch wrote).
pub const WARP_NORM_ROWS: &str = r#"
template <bool CG, class T>
__device__ __forceinline__ void gsv_norm_rows(float* xs, const T* a, const T* b, const T* bias, const T* gamma, const T* beta,
                                              int R, int K, float eps, T* keep, int warp, int nw, int lane) {
  for (int r = warp; r < R; r += nw) {
    const size_t row = static_cast<size_t>(r) * K;
    float s = 0.0f;
    for (int c = lane; c < K; c += 32) {
      const float ta = static_cast<float>(CG ? __ldcg(a + row + c) : a[row + c]);
      const float tb = static_cast<float>(CG ? __ldcg(b + row + c) : b[row + c]);
      const float t = ta + (tb + static_cast<float>(bias[c]));
      xs[row + c] = t;
      s += t;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const float mean = s / K;
    float q = 0.0f;
    for (int c = lane; c < K; c += 32) {
      const float t = xs[row + c] - mean;
      q += t * t;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
    const float rstd = rsqrtf(q / K + eps);
    for (int c = lane; c < K; c += 32) {
      const float t = (xs[row + c] - mean) * rstd * static_cast<float>(gamma[c]) + static_cast<float>(beta[c]);
      xs[row + c] = t;
      if (keep != nullptr) keep[row + c] = static_cast<T>(t);
    }
  }
}
"#;

/// Device helper for kernel headers: rows `r = warp, warp + nw, …` (< `R`, each `K` wide, one warp
/// a row) of the step's embedding `emb[tokens[r]] + alpha·pe[positions[r]]` (ids clamped into the
/// `vocab` and `pe_rows` rows of the tables) into `xs`, and into `keep` unless null.
pub const WARP_EMBED_ROWS: &str = r#"
template <class T, class Tok, class Pos>
__device__ __forceinline__ void gsv_embed_rows(float* xs, const Tok* tokens, const Pos* positions, const T* emb, const T* pe,
                                               const T* alpha, int R, int K, int vocab, int pe_rows, T* keep, int warp, int nw,
                                               int lane) {
  for (int r = warp; r < R; r += nw) {
    const int tok = min(max(static_cast<int>(tokens[r]), 0), vocab - 1);
    const int pos = min(max(static_cast<int>(positions[r]), 0), pe_rows - 1);
    const float a = static_cast<float>(alpha[0]);
    const size_t row = static_cast<size_t>(r) * K;
    for (int c = lane; c < K; c += 32) {
      const float t = static_cast<float>(emb[static_cast<size_t>(tok) * K + c]) + a * static_cast<float>(pe[static_cast<size_t>(pos) * K + c]);
      xs[row + c] = t;
      if (keep != nullptr) keep[row + c] = static_cast<T>(t);
    }
  }
}
"#;

/// Device helper for kernel headers: one column of a warp's online softmax — the score
/// `q · k` (a lane's `PER` dimensions, summed over the warp) folded into the running max `m`, sum
/// `l` and weighted values `acc` with the column's values `v`. Dimensions a lane does not hold
/// must be 0 in `q`.
pub const ONLINE_SOFTMAX: &str = r#"
template <int PER>
__device__ __forceinline__ void gsv_softmax_column(const float* q, const float* k, const float* v, float& m, float& l, float* acc) {
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < PER; ++i) s += q[i] * k[i];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float mn = fmaxf(m, s);
  const float c = expf(m - mn);
  const float p = expf(s - mn);
  l = l * c + p;
#pragma unroll
  for (int i = 0; i < PER; ++i) acc[i] = acc[i] * c + p * v[i];
  m = mn;
}
"#;

/// A compile-time argument of a kernel (a `constexpr int`, `constexpr bool` or a type alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateArg {
    Int(i32),
    Bool(bool),
    Dtype(Dtype),
}

/// Whether custom CUDA kernels can run here: the loaded `libmlx` has the CUDA backend and the
/// default device is the GPU (or this thread runs them in a [`KernelEmulator`]).
pub fn available() -> bool {
    if emulated() {
        return true;
    }
    let mut cuda = false;
    // SAFETY: writes one bool.
    unsafe { mlx_sys::mlx_cuda_is_available(&mut cuda) };
    cuda && super::default_device_is_gpu()
}

/// Blocks a grid-synchronised kernel launches: all must be resident at once, or its barrier
/// never releases. One per multiprocessor of the current device ([`multiprocessors`]), 16 if
/// that lookup fails (resident on a GPU of six or more multiprocessors: any since Volta fits
/// three of the layer kernel's blocks, and said in the log: a grid of 16 blocks on a GPU of 132
/// runs the layer kernel several times slower), and what a [`KernelEmulator`] says under one
/// (3 by default: each block's threads are fibers).
pub fn resident_blocks() -> i32 {
    if let Some(n) = EMULATOR.with(|e| e.borrow().as_ref().map(|e| e.resident_blocks())) {
        return n;
    }
    static BLOCKS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *BLOCKS.get_or_init(|| match multiprocessors().filter(|&n| n > 0) {
        Some(n) => n,
        None => {
            tracing::warn!("the GPU's multiprocessor count could not be read (libcuda.so.1): grid-synchronised kernels launch 16 blocks");
            16
        }
    })
}

/// The current CUDA device's multiprocessor count, from the CUDA driver API.
///
/// [quirk] The runtime API is no way to ask: the CUDA wheel of MLX links the CUDA runtime
/// statically (its `libmlx.so` needs no `libcudart`), so `cudaDeviceGetAttribute` is not an
/// exported symbol of the process and a lookup of it fails (it did on the H100, and the layer
/// kernel ran on 16 of its 132 multiprocessors). The driver, `libcuda.so.1`, is always a shared
/// library (`libmlx.so` links it), so opening it returns the loaded copy.
pub fn multiprocessors() -> Option<i32> {
    type Init = unsafe extern "C" fn(u32) -> i32;
    type CtxGetDevice = unsafe extern "C" fn(*mut i32) -> i32;
    type DeviceGet = unsafe extern "C" fn(*mut i32, i32) -> i32;
    type DeviceGetAttribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    const MULTIPROCESSOR_COUNT: i32 = 16; // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    #[cfg(unix)]
    {
        // SAFETY: the CUDA driver's documented signatures; each writes one int. The library is
        // already loaded by MLX's runtime wherever a CUDA kernel can run; dropping this handle
        // only lowers its reference count.
        unsafe {
            let driver = libloading::os::unix::Library::new("libcuda.so.1").ok()?;
            let init = driver.get::<Init>(b"cuInit\0").ok()?;
            let ctx_get_device = driver.get::<CtxGetDevice>(b"cuCtxGetDevice\0").ok()?;
            let device_get = driver.get::<DeviceGet>(b"cuDeviceGet\0").ok()?;
            let get_attribute = driver.get::<DeviceGetAttribute>(b"cuDeviceGetAttribute\0").ok()?;
            // [quirk] Before MLX's first GPU operation the driver is not initialised and every
            // call but this one fails (`gsv-server doctor` said "unknown multiprocessors" on the
            // H100); a second `cuInit` is a no-op.
            if init(0) != 0 {
                return None;
            }
            // The device of this thread's context (MLX's), else ordinal 0 (MLX's default GPU).
            let mut device = 0;
            if ctx_get_device(&mut device) != 0 && device_get(&mut device, 0) != 0 {
                return None;
            }
            let mut n = 0;
            (get_attribute(&mut n, MULTIPROCESSOR_COUNT, device) == 0).then_some(n)
        }
    }
    #[cfg(not(unix))]
    None
}

/// One kernel body with named inputs and outputs; apply it as often as needed.
pub struct CudaKernel {
    /// `None` only for a kernel made while recording on a build without CUDA kernels.
    raw: Option<mlx_sys::mlx_fast_cuda_kernel>,
    name: String,
    input_names: Vec<String>,
    output_names: Vec<String>,
    source: String,
    header: String,
    /// Inputs the kernel writes in place (see [`CudaKernel::writing_inputs`]).
    writes_inputs: Vec<String>,
}

/// One launch as MLX would make it: what [`record_launches`] writes (the JSON that
/// `scripts/cuda-kernel-check.py` reads) and what a [`KernelEmulator`] runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LaunchSpec {
    pub name: String,
    pub inputs: Vec<ArgSpec>,
    pub outputs: Vec<ArgSpec>,
    pub source: String,
    pub header: String,
    /// `[name, value]` pairs: an int, a bool or a dtype name.
    pub template: Vec<(String, TemplateArg)>,
    /// Threads (not blocks) per dimension, as MLX takes them.
    pub grid: [i32; 3],
    pub block: [i32; 3],
    pub ensure_row_contiguous: bool,
    /// Inputs the kernel writes in place (an emulator copies them back).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub writes_inputs: Vec<String>,
}

/// A kernel parameter: its name in the source, dtype and shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArgSpec {
    pub name: String,
    #[serde(serialize_with = "serialize_dtype")]
    pub dtype: Dtype,
    pub shape: Vec<i32>,
}

fn serialize_dtype<S: serde::Serializer>(d: &Dtype, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&dtype_name(*d))
}

impl serde::Serialize for TemplateArg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TemplateArg::Int(i) => s.serialize_i32(*i),
            TemplateArg::Bool(b) => s.serialize_bool(*b),
            TemplateArg::Dtype(d) => serialize_dtype(d, s),
        }
    }
}

/// Runs launches somewhere other than MLX's CUDA backend (a diagnostic: see [`with_emulator`]).
pub trait KernelEmulator {
    /// Runs `spec` on `inputs` (in the spec's order) and returns the outputs, evaluated.
    fn launch(&self, spec: &LaunchSpec, inputs: &[&Array]) -> Result<Vec<Array>>;

    /// The blocks a grid-synchronised launch takes here ([`resident_blocks`]).
    fn resident_blocks(&self) -> i32 {
        3
    }
}

thread_local! {
    /// Launch specs written instead of launches while [`record_launches`] runs.
    static RECORDING: std::cell::RefCell<Option<Vec<serde_json::Value>>> = const { std::cell::RefCell::new(None) };
    /// Launches (spec and inputs) kept while [`capture_launches`] runs.
    static CAPTURE: std::cell::RefCell<Option<Vec<Captured>>> = const { std::cell::RefCell::new(None) };
    /// The emulator of [`with_emulator`], while it runs.
    static EMULATOR: std::cell::RefCell<Option<std::rc::Rc<dyn KernelEmulator>>> = const { std::cell::RefCell::new(None) };
}

/// A launch kept by [`capture_launches`]: its spec and its input arrays.
pub type Captured = (LaunchSpec, Vec<Array>);

/// Runs `f` with every [`CudaKernel::apply`] on this thread launched as usual *and* kept: its
/// spec and its input arrays, so that a benchmark can replay each launch alone on real inputs
/// ([`CudaKernel::apply_spec`]). Call it outside `compile` (traced inputs are placeholders).
pub fn capture_launches<T>(f: impl FnOnce() -> T) -> (T, Vec<Captured>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    let launches = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (out, launches)
}

/// Runs `f` with every [`CudaKernel::apply`] on this thread handed to `emulator`, eagerly (the
/// inputs are evaluated, the outputs come back evaluated). Meanwhile [`available`] is true on
/// this thread, so the fused step and the sampler kernel are chosen as on a GPU, and the fused
/// step is not traced by `compile` (an emulated launch needs values, not tracers). Other threads
/// are unaffected.
pub fn with_emulator<T>(emulator: std::rc::Rc<dyn KernelEmulator>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<std::rc::Rc<dyn KernelEmulator>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            EMULATOR.with(|e| *e.borrow_mut() = previous);
        }
    }
    let _restore = Restore(EMULATOR.with(|e| e.borrow_mut().replace(emulator)));
    f()
}

/// Whether launches on this thread go to a [`KernelEmulator`].
pub fn emulated() -> bool {
    EMULATOR.with(|e| e.borrow().is_some())
}

/// Runs `f` with every [`CudaKernel::apply`] on this thread *recorded* instead of added to the
/// graph (its outputs are zeros of the right shapes), and returns what `f` returned and the
/// launch specs: name, inputs, outputs, source, header, template arguments, grid and block, as
/// `scripts/cuda-kernel-check.py` reads them. Works on any device, so the kernels of a step can
/// be compiled offline with NVRTC before a GPU runs them.
pub fn record_launches<T>(f: impl FnOnce() -> T) -> (T, Vec<serde_json::Value>) {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    let out = f();
    let specs = RECORDING.with(|r| r.borrow_mut().take()).unwrap_or_default();
    (out, specs)
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}").to_ascii_lowercase()
}

impl std::fmt::Debug for CudaKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaKernel").field("name", &self.name).finish_non_exhaustive()
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("kernel text contains a NUL byte: {s:.40}")))
}

fn failed(what: &str, name: &str) -> Error {
    Error::Invalid(format!("custom CUDA kernel `{name}`: {what} failed"))
}

/// An `mlx_vector_string` that frees itself.
struct Strings(mlx_sys::mlx_vector_string);

impl Strings {
    fn new(values: &[&str]) -> Result<Self> {
        let owned = values.iter().map(|v| c_string(v)).collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|v| v.as_ptr()).collect();
        // SAFETY: mlx-c copies every string; `owned` outlives the call.
        let raw = unsafe { mlx_sys::mlx_vector_string_new_data(ptrs.as_mut_ptr(), ptrs.len()) };
        Ok(Self(raw))
    }
}

impl Drop for Strings {
    fn drop(&mut self) {
        // SAFETY: created by mlx_vector_string_new_data, freed once.
        unsafe { mlx_sys::mlx_vector_string_free(self.0) };
    }
}

/// An `mlx_vector_array` that frees itself.
struct Arrays(mlx_sys::mlx_vector_array);

impl Drop for Arrays {
    fn drop(&mut self) {
        // SAFETY: created by mlx-c, freed once; the arrays it holds are reference counted.
        unsafe { mlx_sys::mlx_vector_array_free(self.0) };
    }
}

/// A kernel launch configuration that frees itself.
struct Config(mlx_sys::mlx_fast_cuda_kernel_config);

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: created by mlx_fast_cuda_kernel_config_new, freed once.
        unsafe { mlx_sys::mlx_fast_cuda_kernel_config_free(self.0) };
    }
}

impl CudaKernel {
    /// `source` is the kernel body (MLX adds the signature); `header` goes before it (device
    /// helpers). Inputs are made row-contiguous before the launch.
    pub fn new(name: &str, inputs: &[&str], outputs: &[&str], source: &str, header: &str) -> Result<Self> {
        let (cname, csource, cheader) = (c_string(name)?, c_string(source)?, c_string(header)?);
        let (ins, outs) = (Strings::new(inputs)?, Strings::new(outputs)?);
        // SAFETY: every pointer is valid for the call; mlx-c copies what it keeps.
        let raw = unsafe {
            mlx_sys::mlx_fast_cuda_kernel_new(cname.as_ptr(), ins.0, outs.0, csource.as_ptr(), cheader.as_ptr(), true, 0)
        };
        let raw = if !raw.ctx.is_null() {
            Some(raw)
        } else if RECORDING.with(|r| r.borrow().is_some()) || emulated() {
            None
        } else {
            return Err(failed("creating the kernel", name));
        };
        Ok(Self {
            raw,
            name: name.to_string(),
            input_names: inputs.iter().map(|s| s.to_string()).collect(),
            output_names: outputs.iter().map(|s| s.to_string()).collect(),
            source: source.to_string(),
            header: header.to_string(),
            writes_inputs: Vec::new(),
        })
    }

    /// Declares inputs the kernel writes through a cast-away `const` (MLX's kernels only have
    /// fresh outputs). Only sound for an input that the caller owns alone, that is evaluated and
    /// row-contiguous (else MLX hands the kernel a copy and the write is lost), and that no other
    /// node of the same graph reads meanwhile; MLX does not see the write, so the caller must
    /// order every later reader after the launch by data dependencies. A [`KernelEmulator`]
    /// copies such inputs back.
    pub fn writing_inputs(mut self, names: &[&str]) -> Self {
        self.writes_inputs = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Adds the kernel to the graph (lazy, like any op) on the default stream. `outputs` gives
    /// each output's shape and dtype; `grid` counts threads, `block` threads per block.
    ///
    /// The caller's kernel body must stay inside its inputs' and outputs' bounds for these
    /// shapes: that is what makes a launch memory-safe, and it cannot be checked here.
    pub fn apply(
        &self,
        inputs: &[&Array],
        outputs: &[(&[i32], Dtype)],
        grid: (i32, i32, i32),
        block: (i32, i32, i32),
        template: &[(&str, TemplateArg)],
    ) -> Result<Vec<Array>> {
        let name = &self.name;
        if inputs.len() != self.input_names.len() || outputs.len() != self.output_names.len() {
            return Err(Error::Invalid(format!(
                "custom CUDA kernel `{name}`: {} inputs and {} outputs given, {} and {} declared",
                inputs.len(),
                outputs.len(),
                self.input_names.len(),
                self.output_names.len()
            )));
        }
        let emulator = EMULATOR.with(|e| e.borrow().clone());
        let capturing = CAPTURE.with(|c| c.borrow().is_some());
        if emulator.is_some() || capturing || RECORDING.with(|r| r.borrow().is_some()) {
            let spec = self.spec(inputs, outputs, grid, block, template);
            if let Some(zeros) = record(&spec)? {
                return Ok(zeros);
            }
            if capturing {
                let kept = (spec.clone(), inputs.iter().map(|&a| a.clone()).collect());
                CAPTURE.with(|c| c.borrow_mut().as_mut().map(|v| v.push(kept)));
            }
            if let Some(emulator) = emulator {
                return emulator.launch(&spec, inputs);
            }
        }
        let raw = self.raw.ok_or_else(|| failed("creating the kernel", name))?;
        // SAFETY: a fresh config, freed by `Config`'s drop.
        let config = Config(unsafe { mlx_sys::mlx_fast_cuda_kernel_config_new() });
        if config.0.ctx.is_null() {
            return Err(failed("creating a launch config", name));
        }
        let ok = |status: i32, what: &str| if status == 0 { Ok(()) } else { Err(failed(what, name)) };
        for (shape, dtype) in outputs {
            // SAFETY: `shape` is valid for its length; mlx-c copies it.
            ok(
                unsafe { mlx_sys::mlx_fast_cuda_kernel_config_add_output_arg(config.0, shape.as_ptr(), shape.len(), u32::from(*dtype)) },
                "adding an output",
            )?;
        }
        // SAFETY: plain integers into a valid config.
        ok(unsafe { mlx_sys::mlx_fast_cuda_kernel_config_set_grid(config.0, grid.0, grid.1, grid.2) }, "setting the grid")?;
        ok(
            unsafe { mlx_sys::mlx_fast_cuda_kernel_config_set_thread_group(config.0, block.0, block.1, block.2) },
            "setting the block",
        )?;
        for (arg_name, arg) in template {
            let c = c_string(arg_name)?;
            // SAFETY: `c` outlives the call; mlx-c copies the name.
            let status = unsafe {
                match *arg {
                    TemplateArg::Int(v) => mlx_sys::mlx_fast_cuda_kernel_config_add_template_arg_int(config.0, c.as_ptr(), v),
                    TemplateArg::Bool(v) => mlx_sys::mlx_fast_cuda_kernel_config_add_template_arg_bool(config.0, c.as_ptr(), v),
                    TemplateArg::Dtype(d) => {
                        mlx_sys::mlx_fast_cuda_kernel_config_add_template_arg_dtype(config.0, c.as_ptr(), u32::from(d))
                    }
                }
            };
            ok(status, "adding a template argument")?;
        }
        let raw_inputs: Vec<mlx_sys::mlx_array> = inputs.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: the handles are valid for the call; the vector takes its own references.
        let ins = Arrays(unsafe { mlx_sys::mlx_vector_array_new_data(raw_inputs.as_ptr(), raw_inputs.len()) });
        // SAFETY: an empty vector for the results.
        let outs = Arrays(unsafe { mlx_sys::mlx_vector_array_new() });
        let mut res = outs;
        let stream = Stream::new();
        // SAFETY: every handle is valid; the results land in `res`.
        ok(
            unsafe { mlx_sys::mlx_fast_cuda_kernel_apply(&mut res.0, raw, ins.0, config.0, stream.as_ptr()) },
            "adding the launch to the graph",
        )?;
        // SAFETY: reading a vector mlx-c filled.
        let n = unsafe { mlx_sys::mlx_vector_array_size(res.0) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: `a` receives a new reference, owned by the returned `Array`.
            unsafe {
                let mut a = mlx_sys::mlx_array_new();
                ok(mlx_sys::mlx_vector_array_get(&mut a, res.0, i), "reading an output")?;
                out.push(Array::from_ptr(a));
            }
        }
        Ok(out)
    }
}

impl CudaKernel {
    /// The kernel of a recorded or captured launch (MLX's JIT cache makes a second build of the
    /// same source free).
    pub fn from_spec(spec: &LaunchSpec) -> Result<Self> {
        fn names(args: &[ArgSpec]) -> Vec<&str> {
            args.iter().map(|a| a.name.as_str()).collect()
        }
        let inputs: Vec<&str> = spec.writes_inputs.iter().map(String::as_str).collect();
        Ok(Self::new(&spec.name, &names(&spec.inputs), &names(&spec.outputs), &spec.source, &spec.header)?.writing_inputs(&inputs))
    }

    /// Launches `spec` (this kernel's, see [`Self::from_spec`]) again on `inputs`.
    pub fn apply_spec(&self, spec: &LaunchSpec, inputs: &[&Array]) -> Result<Vec<Array>> {
        let shapes: Vec<(&[i32], Dtype)> = spec.outputs.iter().map(|o| (&o.shape[..], o.dtype)).collect();
        let template: Vec<(&str, TemplateArg)> = spec.template.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let [gx, gy, gz] = spec.grid;
        let [bx, by, bz] = spec.block;
        self.apply(inputs, &shapes, (gx, gy, gz), (bx, by, bz), &template)
    }

    fn spec(
        &self,
        inputs: &[&Array],
        outputs: &[(&[i32], Dtype)],
        grid: (i32, i32, i32),
        block: (i32, i32, i32),
        template: &[(&str, TemplateArg)],
    ) -> LaunchSpec {
        let arg = |name: &String, dtype: Dtype, shape: &[i32]| ArgSpec { name: name.clone(), dtype, shape: shape.to_vec() };
        LaunchSpec {
            name: self.name.clone(),
            inputs: self.input_names.iter().zip(inputs).map(|(n, a)| arg(n, a.dtype(), a.shape())).collect(),
            outputs: self.output_names.iter().zip(outputs).map(|(n, (s, d))| arg(n, *d, s)).collect(),
            source: self.source.clone(),
            header: self.header.clone(),
            template: template.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            grid: [grid.0, grid.1, grid.2],
            block: [block.0, block.1, block.2],
            ensure_row_contiguous: true,
            writes_inputs: self.writes_inputs.clone(),
        }
    }
}

/// While [`record_launches`] runs: writes the launch's spec and returns zero outputs.
fn record(spec: &LaunchSpec) -> Result<Option<Vec<Array>>> {
    let json = serde_json::to_value(spec).map_err(|e| Error::Invalid(format!("launch spec of `{}`: {e}", spec.name)))?;
    let recorded = RECORDING.with(|r| match r.borrow_mut().as_mut() {
        Some(specs) => {
            specs.push(json);
            true
        }
        None => false,
    });
    if !recorded {
        return Ok(None);
    }
    let zeros = spec
        .outputs
        .iter()
        .map(|o| Array::zeros::<f32>(&o.shape).and_then(|z| z.as_dtype(o.dtype)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some(zeros))
}

impl Drop for CudaKernel {
    fn drop(&mut self) {
        if let Some(raw) = self.raw {
            // SAFETY: created by mlx_fast_cuda_kernel_new, freed once.
            unsafe { mlx_sys::mlx_fast_cuda_kernel_free(raw) };
        }
    }
}
