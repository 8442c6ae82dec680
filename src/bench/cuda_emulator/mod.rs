//! Runs our MLX custom CUDA kernels on the CPU, so that a kernel is exercised — not only
//! compiled — on a machine without a GPU (this one and CI's), and GPU time goes to speed.
//!
//! Each launch's [`LaunchSpec`] becomes a C++ translation unit: [`RUNTIME`] (CUDA's built-ins
//! as fibers, one per thread of a block; see `runtime.hpp`), the kernel's header, and its body
//! under the signature MLX would write (`const T* in…, T* out…`, template arguments as
//! `constexpr`/`using` lines). The host compiler (`$CXX`, else `c++`) builds it once into a
//! shared library cached by content hash; the launch runs it over the grid, block after block.
//!
//! Buffers are laid out with guard bytes on both sides: inputs' guards read as NaN (a read past
//! a float input shows up in the results), and a launch fails if an output's guards changed
//! (a write out of bounds) or if a float output still holds the fill pattern (an element the
//! kernel never wrote, which on a GPU would be garbage).
//!
//! This is a diagnostic (`gsv-server selftest --emulate`, and the tests): it proves what a kernel
//! computes, not how fast or how racy it is on a GPU — blocks run one at a time, memory is
//! coherent, and `expf` and FMA contraction round like the host's, not like the GPU's.
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use mlx_rs::{Array, Dtype};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::models::cuda_kernel::{KernelEmulator, LaunchSpec, TemplateArg};
use crate::models::{Error, Result};

/// CUDA's built-ins for the host compiler.
pub const RUNTIME: &str = include_str!("runtime.hpp");

/// Whether this platform can run the emulator's runtime (`runtime.hpp`).
pub const SUPPORTED: bool = cfg!(all(target_arch = "x86_64", target_os = "linux"));

/// Guard bytes before and after every buffer.
const GUARD: usize = 4096;
/// What guards and fresh outputs are filled with: as f32, a NaN no arithmetic produces.
const FILL: u8 = 0xff;

/// `int gsv_emu_launch(void** buffers, const unsigned grid_blocks[3], const unsigned block[3],
/// char* err, size_t err_len, unsigned* warnings)`.
type LaunchFn = unsafe extern "C" fn(*mut *mut c_void, *const c_uint, *const c_uint, *mut c_char, usize, *mut c_uint) -> c_int;

/// The libraries' globals (`threadIdx`, fibers, `static` shared memory) are per library, and a
/// library is loaded once per process: one launch at a time, process-wide.
static LAUNCH: Mutex<()> = Mutex::new(());

/// What an emulator ran, per kernel name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EmulatorStats {
    pub launches: BTreeMap<String, usize>,
    /// Distinct kernel builds (source and template arguments) compiled or found in the cache.
    pub builds: usize,
    /// Kernels whose blocks passed `__syncthreads()` after some of their threads returned
    /// (allowed on current GPUs, but worth knowing).
    pub barrier_after_exit: Vec<String>,
}

struct Compiled {
    _library: libloading::Library,
    launch: LaunchFn,
}

/// The CPU emulator; one per thread (see [`crate::models::cuda_kernel::with_emulator`]).
pub struct CpuEmulator {
    dir: PathBuf,
    compiler: String,
    built: RefCell<BTreeMap<String, Rc<Compiled>>>,
    stats: RefCell<EmulatorStats>,
    blocks: i32,
}

/// Threads of a grid-synchronised launch here: every one is a fiber at once, and the runtime
/// has this many (`MAX_FIBERS` in runtime.hpp).
pub const MAX_FIBERS: i32 = 8192;

/// Most blocks a layer kernel launch can have here (16 at its default 512 threads).
pub fn max_grid_blocks() -> i32 {
    MAX_FIBERS / crate::models::gpt::layer_kernel::threads_per_block()
}

impl CpuEmulator {
    /// Builds kernels into `dir` (created if missing; reused across runs). The runtime's fiber
    /// switch is x86-64 System V assembly for ELF: elsewhere this is an error.
    pub fn new(dir: &Path) -> Result<Self> {
        if !SUPPORTED {
            return Err(Error::Invalid("the CUDA kernel emulator runs on x86-64 Linux only (its fiber switch is written for it)".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::Invalid(format!("kernel emulator cache {}: {e}", dir.display())))?;
        let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        Ok(Self { dir: dir.to_path_buf(), compiler, built: RefCell::new(BTreeMap::new()), stats: RefCell::default(), blocks: 3 })
    }

    /// Grid-synchronised kernels launch `blocks` blocks (3 by default, at most
    /// [`max_grid_blocks`]): a larger GPU's grid, whose attention splits into more column ranges.
    pub fn with_blocks(mut self, blocks: i32) -> Result<Self> {
        let most = max_grid_blocks();
        if !(1..=most).contains(&blocks) {
            return Err(Error::Invalid(format!(
                "the kernel emulator runs 1 to {most} blocks of the layer kernel's {} threads ({MAX_FIBERS} threads in all), not {blocks}",
                MAX_FIBERS / most
            )));
        }
        self.blocks = blocks;
        Ok(self)
    }

    /// In `$TMPDIR/gsv-cuda-emulator`.
    pub fn in_temp_dir() -> Result<Self> {
        Self::new(&std::env::temp_dir().join("gsv-cuda-emulator"))
    }

    pub fn stats(&self) -> EmulatorStats {
        self.stats.borrow().clone()
    }

    fn compiled(&self, spec: &LaunchSpec) -> Result<Rc<Compiled>> {
        let source = translation_unit(spec)?;
        let hash = hex(&Sha256::digest(source.as_bytes())[..10]);
        if let Some(c) = self.built.borrow().get(&hash) {
            return Ok(Rc::clone(c));
        }
        let library = self.dir.join(format!("{}-{hash}.so", spec.name));
        if !library.exists() {
            // Per build until renamed: another process, or another thread of this one (tests run
            // in parallel), may build the same kernel meanwhile.
            static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let build = format!("{}.{}", std::process::id(), BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let cpp = self.dir.join(format!("{}-{hash}.{build}.cpp", spec.name));
            let partial = self.dir.join(format!("{}-{hash}.{build}.so", spec.name));
            std::fs::write(&cpp, &source).map_err(|e| Error::Invalid(format!("writing {}: {e}", cpp.display())))?;
            let out = std::process::Command::new(&self.compiler)
                .args(["-std=c++17", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-w", "-o"])
                .arg(&partial)
                .arg(&cpp)
                .output()
                .map_err(|e| Error::Invalid(format!("kernel emulator: running `{}`: {e} (install a C++ compiler or set CXX)", self.compiler)))?;
            if !out.status.success() {
                return Err(Error::Invalid(format!(
                    "kernel emulator: `{}` does not compile on the host ({}):\n{}",
                    spec.name,
                    cpp.display(),
                    String::from_utf8_lossy(&out.stderr).lines().take(30).collect::<Vec<_>>().join("\n")
                )));
            }
            std::fs::rename(&partial, &library).map_err(|e| Error::Invalid(format!("kernel emulator cache: {e}")))?;
            let _ = std::fs::rename(&cpp, self.dir.join(format!("{}-{hash}.cpp", spec.name)));
        }
        // SAFETY: a library we just built from our runtime; its initialisers only zero globals.
        let lib = unsafe { libloading::Library::new(&library) }.map_err(|e| Error::Invalid(format!("loading {}: {e}", library.display())))?;
        // SAFETY: the symbol is defined by `translation_unit` with exactly this signature.
        let launch = unsafe { lib.get::<LaunchFn>(b"gsv_emu_launch\0") }
            .map(|f| *f)
            .map_err(|e| Error::Invalid(format!("{}: {e}", library.display())))?;
        let c = Rc::new(Compiled { _library: lib, launch });
        self.built.borrow_mut().insert(hash, Rc::clone(&c));
        self.stats.borrow_mut().builds += 1;
        Ok(c)
    }
}

impl KernelEmulator for CpuEmulator {
    fn resident_blocks(&self) -> i32 {
        self.blocks
    }

    fn launch(&self, spec: &LaunchSpec, inputs: &[&Array]) -> Result<Vec<Array>> {
        let kernel = self.compiled(spec)?;
        let mut buffers: Vec<Guarded> = Vec::with_capacity(inputs.len() + spec.outputs.len());
        for (a, arg) in inputs.iter().zip(&spec.inputs) {
            buffers.push(Guarded::from_array(a, &arg.name)?);
        }
        for o in &spec.outputs {
            buffers.push(Guarded::fresh(elements(&o.shape)? * dtype_bytes(o.dtype)?));
        }
        let mut shapes: Vec<[i32; MAX_NDIM]> = Vec::new();
        for name in shape_params(spec) {
            let arg = spec.inputs.iter().find(|a| a.name == name).map(|a| &a.shape[..]).unwrap_or_default();
            if arg.len() > MAX_NDIM {
                return Err(Error::Invalid(format!("kernel emulator: `{}`: {name} has {} dimensions", spec.name, arg.len())));
            }
            let mut s = [0; MAX_NDIM];
            s[..arg.len()].copy_from_slice(arg);
            shapes.push(s);
        }
        let mut ptrs: Vec<*mut c_void> = buffers.iter_mut().map(|b| b.data_ptr()).collect();
        ptrs.extend(shapes.iter_mut().map(|s| s.as_mut_ptr().cast::<c_void>()));
        let (grid, block) = launch_dims(spec)?;
        let mut err = vec![0u8; 512];
        let mut warnings: c_uint = 0;
        let status = {
            let _one_at_a_time = LAUNCH.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: one pointer per parameter, in the signature's order, each to a buffer of the
            // spec's size (plus guards); the kernel's bounds are what the guards check below.
            unsafe { (kernel.launch)(ptrs.as_mut_ptr(), grid.as_ptr(), block.as_ptr(), err.as_mut_ptr().cast(), err.len(), &mut warnings) }
        };
        if status != 0 {
            let msg = String::from_utf8_lossy(&err[..err.iter().position(|&b| b == 0).unwrap_or(err.len())]).into_owned();
            return Err(Error::Invalid(format!("kernel emulator: `{}`: {msg}", spec.name)));
        }
        for (i, arg) in spec.inputs.iter().enumerate().filter(|(_, a)| spec.writes_inputs.contains(&a.name)) {
            write_back(inputs[i], &buffers[i], &spec.name, &arg.name)?;
        }
        let mut outputs = Vec::with_capacity(spec.outputs.len());
        for (o, b) in spec.outputs.iter().zip(&buffers[inputs.len()..]) {
            b.check_guards(&spec.name, &o.name)?;
            if o.dtype == Dtype::Float32 {
                let unwritten = b.data().chunks_exact(4).filter(|w| w.iter().all(|&x| x == FILL)).count();
                if unwritten > 0 {
                    return Err(Error::Invalid(format!("kernel emulator: `{}` left {unwritten} elements of `{}` unwritten", spec.name, o.name)));
                }
            }
            // SAFETY: `b` holds exactly the shape's elements of the dtype; MLX copies them.
            outputs.push(unsafe { Array::from_raw_data(b.data().as_ptr().cast(), &o.shape, o.dtype) });
        }
        let mut stats = self.stats.borrow_mut();
        *stats.launches.entry(spec.name.clone()).or_default() += 1;
        if warnings & 1 != 0 && !stats.barrier_after_exit.contains(&spec.name) {
            stats.barrier_after_exit.push(spec.name.clone());
        }
        Ok(outputs)
    }
}

/// MLX's launch: `block = min(block, grid)` per dimension, `ceil(grid / block)` blocks (the grid
/// counts threads).
fn launch_dims(spec: &LaunchSpec) -> Result<([c_uint; 3], [c_uint; 3])> {
    let (mut grid, mut block) = ([0; 3], [0; 3]);
    for d in 0..3 {
        let (g, b) = (spec.grid[d], spec.block[d]);
        if g <= 0 || b <= 0 {
            return Err(Error::Invalid(format!("kernel emulator: `{}`: grid {:?} / block {:?}", spec.name, spec.grid, spec.block)));
        }
        let b = b.min(g);
        block[d] = b as c_uint;
        grid[d] = ((g + b - 1) / b) as c_uint;
    }
    Ok((grid, block))
}

fn elements(shape: &[i32]) -> Result<usize> {
    shape.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d))).ok_or_else(|| Error::Invalid(format!("bad shape {shape:?}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dtype_bytes(d: Dtype) -> Result<usize> {
    Ok(match d {
        Dtype::Bool | Dtype::Int8 | Dtype::Uint8 => 1,
        Dtype::Float16 | Dtype::Bfloat16 | Dtype::Int16 | Dtype::Uint16 => 2,
        Dtype::Float32 | Dtype::Int32 | Dtype::Uint32 => 4,
        Dtype::Float64 | Dtype::Int64 | Dtype::Uint64 => 8,
        other => return Err(Error::Invalid(format!("kernel emulator: no host type for {other:?}"))),
    })
}

fn c_type(d: Dtype) -> Result<&'static str> {
    Ok(match d {
        Dtype::Float32 => "float",
        Dtype::Float16 => "_Float16",
        Dtype::Float64 => "double",
        Dtype::Bool => "bool",
        Dtype::Int8 => "int8_t",
        Dtype::Int16 => "int16_t",
        Dtype::Int32 => "int32_t",
        Dtype::Int64 => "int64_t",
        Dtype::Uint8 => "uint8_t",
        Dtype::Uint16 => "uint16_t",
        Dtype::Uint32 => "uint32_t",
        Dtype::Uint64 => "uint64_t",
        other => return Err(Error::Invalid(format!("kernel emulator: no host type for {other:?}"))),
    })
}

/// MLX's `MAX_NDIM` (device/config.h): the length of a `Shape` parameter.
const MAX_NDIM: usize = 10;

/// The inputs whose shape the kernel reads (`name_shape` in its body, MLX's substring test),
/// in input order.
fn shape_params(spec: &LaunchSpec) -> impl Iterator<Item = &str> {
    spec.inputs.iter().filter(|a| !a.shape.is_empty() && spec.source.contains(&format!("{}_shape", a.name))).map(|a| a.name.as_str())
}

/// The C++ the host compiler builds for `spec` (what MLX hands NVRTC, on [`RUNTIME`]).
pub fn translation_unit(spec: &LaunchSpec) -> Result<String> {
    for arg in &spec.inputs {
        for suffix in ["_strides", "_ndim"] {
            if spec.source.contains(&format!("{}{suffix}", arg.name)) {
                return Err(Error::Invalid(format!("kernel emulator: `{}` reads {}{suffix}, which it does not pass", spec.name, arg.name)));
            }
        }
    }
    let mut params = Vec::new();
    let mut casts = Vec::new();
    for (i, a) in spec.inputs.iter().enumerate() {
        let t = c_type(a.dtype)?;
        params.push(format!("const {t}* {}", a.name));
        casts.push(format!("static_cast<const {t}*>(p[{i}])"));
    }
    for (i, o) in spec.outputs.iter().enumerate() {
        let t = c_type(o.dtype)?;
        params.push(format!("{t}* {}", o.name));
        casts.push(format!("static_cast<{t}*>(p[{}])", spec.inputs.len() + i));
    }
    // MLX passes a shape by value (`Shape`, MAX_NDIM ints); here a pointer to as many, after the
    // outputs (see `shape_params`).
    for (i, name) in shape_params(spec).enumerate() {
        params.push(format!("const int32_t* {name}_shape"));
        casts.push(format!("static_cast<const int32_t*>(p[{}])", spec.inputs.len() + spec.outputs.len() + i));
    }
    let mut consts = String::new();
    for (name, v) in &spec.template {
        consts += &match v {
            TemplateArg::Int(i) => format!("  constexpr int {name} = {i};\n"),
            TemplateArg::Bool(b) => format!("  constexpr bool {name} = {b};\n"),
            TemplateArg::Dtype(d) => format!("  using {name} = {};\n", c_type(*d)?),
        };
    }
    Ok(format!(
        "{RUNTIME}\n// header\n{header}\nnamespace mlx::core::cu {{\nnamespace cg = cooperative_groups;\n\
         static void gsv_kernel({params}) {{\n{consts}\n{source}\n}}\n}}  // namespace mlx::core::cu\n\n\
         static void gsv_entry(void* ctx) {{\n  void** p = static_cast<void**>(ctx);\n  mlx::core::cu::gsv_kernel({casts});\n}}\n\n\
         extern \"C\" __attribute__((visibility(\"default\"))) int gsv_emu_launch(void** p, const unsigned* grid, \
         const unsigned* block, char* err, size_t err_len, unsigned* warnings) {{\n  \
         return gsv_emu::run(grid, block, {cooperative}, &gsv_entry, p, err, err_len, warnings);\n}}\n",
        header = spec.header,
        params = params.join(", "),
        source = spec.source,
        casts = casts.join(", "),
        cooperative = spec.source.contains("gsv_grid_sync"),
    ))
}

/// A host buffer with [`GUARD`] bytes of [`FILL`] on each side (data 16-byte aligned, as a
/// kernel's `float4` loads need and CUDA allocations are).
struct Guarded {
    bytes: Vec<u128>,
    len: usize,
}

impl Guarded {
    fn fresh(len: usize) -> Self {
        let words = (2 * GUARD + len).div_ceil(16);
        Self { bytes: vec![u128::from_ne_bytes([FILL; 16]); words], len }
    }

    /// The array's elements, row-major.
    fn from_array(a: &Array, name: &str) -> Result<Self> {
        let a = a.contiguous()?;
        a.eval()?;
        let len = a.nbytes();
        let mut g = Self::fresh(len);
        if len > 0 {
            let src = host_bytes(&a).map_err(|e| Error::Invalid(format!("kernel emulator: input `{name}`: {e}")))?;
            g.data_mut().copy_from_slice(src);
        }
        Ok(g)
    }

    fn data(&self) -> &[u8] {
        // SAFETY: `bytes` holds at least 2·GUARD + len bytes.
        let all = unsafe { std::slice::from_raw_parts(self.bytes.as_ptr().cast::<u8>(), self.bytes.len() * 16) };
        &all[GUARD..GUARD + self.len]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`.
        let all = unsafe { std::slice::from_raw_parts_mut(self.bytes.as_mut_ptr().cast::<u8>(), self.bytes.len() * 16) };
        &mut all[GUARD..GUARD + self.len]
    }

    fn data_ptr(&mut self) -> *mut c_void {
        self.data_mut().as_mut_ptr().cast()
    }

    fn check_guards(&self, kernel: &str, output: &str) -> Result<()> {
        // SAFETY: as in `data`.
        let all = unsafe { std::slice::from_raw_parts(self.bytes.as_ptr().cast::<u8>(), self.bytes.len() * 16) };
        let (before, after) = (&all[..GUARD], &all[GUARD + self.len..]);
        if let Some(i) = before.iter().rposition(|&b| b != FILL) {
            return Err(Error::Invalid(format!("kernel emulator: `{kernel}` wrote {} bytes before `{output}`", GUARD - i)));
        }
        if let Some(i) = after.iter().position(|&b| b != FILL) {
            return Err(Error::Invalid(format!("kernel emulator: `{kernel}` wrote past the end of `{output}` (byte {i} after it)")));
        }
        Ok(())
    }
}

/// Copies what a kernel wrote into input `name` (declared in [`LaunchSpec::writes_inputs`]) back
/// into the array's own memory, as the GPU launch writes it in place. The array must be
/// evaluated and row-contiguous (its memory is then what the kernel was handed).
fn write_back(a: &Array, written: &Guarded, kernel: &str, name: &str) -> Result<()> {
    let contiguous = a.contiguous()?;
    contiguous.eval()?;
    let bad = || Error::Invalid(format!("kernel emulator: `{kernel}` writes input `{name}`, which is not an evaluated row-contiguous array"));
    // SAFETY: evaluated arrays of the dtype each accessor is called for; the pointers stay valid
    // while `a` and `contiguous` live.
    let (dst, same) = unsafe {
        match a.dtype() {
            Dtype::Float32 => {
                let (p, q) = (mlx_sys::mlx_array_data_float32(a.as_ptr()), mlx_sys::mlx_array_data_float32(contiguous.as_ptr()));
                (p.cast::<u8>().cast_mut(), p == q)
            }
            Dtype::Uint32 => {
                let (p, q) = (mlx_sys::mlx_array_data_uint32(a.as_ptr()), mlx_sys::mlx_array_data_uint32(contiguous.as_ptr()));
                (p.cast::<u8>().cast_mut(), p == q)
            }
            _ => return Err(bad()),
        }
    };
    if dst.is_null() || !same || written.len != a.nbytes() {
        return Err(bad());
    }
    // SAFETY: `dst` holds `a.nbytes()` bytes (checked above) that MLX owns and nothing reads
    // meanwhile (the emulator runs launches one at a time, on this thread).
    unsafe { std::ptr::copy_nonoverlapping(written.data().as_ptr(), dst, written.len) };
    Ok(())
}

/// An evaluated, row-contiguous array's bytes.
fn host_bytes(a: &Array) -> std::result::Result<&[u8], mlx_rs::error::AsSliceError> {
    fn bytes<T: mlx_rs::ArrayElement>(a: &Array) -> std::result::Result<&[u8], mlx_rs::error::AsSliceError> {
        let s = a.try_as_slice::<T>()?;
        // SAFETY: plain old data viewed as bytes, same lifetime.
        Ok(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) })
    }
    match a.dtype() {
        Dtype::Float32 => bytes::<f32>(a),
        Dtype::Float16 => bytes::<half::f16>(a),
        Dtype::Bfloat16 => bytes::<half::bf16>(a),
        Dtype::Float64 => bytes::<f64>(a),
        Dtype::Bool => bytes::<bool>(a),
        Dtype::Int8 => bytes::<i8>(a),
        Dtype::Int16 => bytes::<i16>(a),
        Dtype::Int32 => bytes::<i32>(a),
        Dtype::Int64 => bytes::<i64>(a),
        Dtype::Uint8 => bytes::<u8>(a),
        Dtype::Uint16 => bytes::<u16>(a),
        Dtype::Uint32 => bytes::<u32>(a),
        Dtype::Uint64 => bytes::<u64>(a),
        d => Err(mlx_rs::error::AsSliceError::DtypeMismatch { expecting: Dtype::Float32, found: d }),
    }
}

#[cfg(test)]
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tests {
    use super::*;
    use crate::models::cuda_kernel::{with_emulator, CudaKernel};

    /// Each block keeps its own shared memory across the grid barrier, and reads what another
    /// block wrote before it: neither holds when blocks run one after another.
    const ACROSS_BLOCKS: &str = r#"
  __shared__ float mine[1];
  if (threadIdx.x == 0) mine[0] = static_cast<float>(blockIdx.x);
  if (threadIdx.x == 0) posted[blockIdx.x] = static_cast<float>(blockIdx.x + 1);
  gsv_grid_sync(const_cast<unsigned int*>(sync));
  const unsigned next = (blockIdx.x + 1) % gridDim.x;
  out[blockIdx.x * blockDim.x + threadIdx.x] = mine[0] * 100.0f + __ldcg(posted + next) + seed[0];
  if (blockIdx.x == 0 && threadIdx.x == 0) const_cast<unsigned int*>(sync)[0] += 1u;
"#;

    /// The first output, and the in-place input `sync` (7 before) after the launch.
    fn launch(source: &str, blocks: i32) -> Result<(Vec<f32>, u32)> {
        let emulator: Rc<dyn crate::models::cuda_kernel::KernelEmulator> = Rc::new(CpuEmulator::in_temp_dir()?);
        with_emulator(emulator, || {
            let (seed, sync) = (Array::from_slice(&[0.5f32], &[1]), Array::from_slice(&[7u32], &[1]));
            // An op before the kernel: mlx-rs installs its error handler there (MLX's own exits).
            mlx_rs::transforms::eval([&seed, &sync])?;
            let kernel = CudaKernel::new("gsv_test_grid_sync", &["seed", "sync"], &["out", "posted"], source, "")?.writing_inputs(&["sync"]);
            let out = kernel.apply(&[&seed, &sync], &[(&[blocks * 64], Dtype::Float32), (&[blocks], Dtype::Float32)], (blocks * 64, 1, 1), (64, 1, 1), &[])?;
            Ok((out[0].as_slice::<f32>().to_vec(), sync.as_slice::<u32>()[0]))
        })
    }

    #[test]
    fn a_grid_barrier_runs_blocks_together_with_their_own_shared_memory() {
        let (out, sync) = launch(ACROSS_BLOCKS, 3).unwrap();
        assert_eq!(sync, 8, "the in-place write reaches the input array");
        for (i, v) in out.iter().enumerate() {
            let b = (i / 64) as f32;
            let next = ((i / 64 + 1) % 3) as f32;
            assert_eq!(*v, b * 100.0 + next + 1.0 + 0.5, "thread {i}");
        }
    }

    #[test]
    fn a_kernel_reads_an_inputs_shape_as_mlx_passes_it() {
        let emulator: Rc<dyn crate::models::cuda_kernel::KernelEmulator> = Rc::new(CpuEmulator::in_temp_dir().unwrap());
        let out = with_emulator(emulator, || {
            let (x, y) = (Array::zeros::<f32>(&[2, 3, 5])?, Array::zeros::<f32>(&[7])?);
            mlx_rs::transforms::eval([&x, &y])?;
            // `y` is read but its shape is not: only `x_shape` is passed.
            let source = "if (threadIdx.x < 3) out[threadIdx.x] = static_cast<float>(x_shape[threadIdx.x]) + y[0];";
            let kernel = CudaKernel::new("gsv_test_shape", &["x", "y"], &["out"], source, "")?;
            let out = kernel.apply(&[&x, &y], &[(&[3], Dtype::Float32)], (32, 1, 1), (32, 1, 1), &[])?;
            Ok::<_, Error>(out[0].as_slice::<f32>().to_vec())
        })
        .unwrap();
        assert_eq!(out, [2.0, 3.0, 5.0]);
    }

    #[test]
    fn the_sampler_kernel_stays_in_bounds_on_nan_logits() {
        use crate::models::gpt::sampler_kernel::SamplerKernel;
        use crate::models::gpt::sampling::{BatchParams, SamplingParams};
        let emulator: Rc<dyn crate::models::cuda_kernel::KernelEmulator> = Rc::new(CpuEmulator::in_temp_dir().unwrap());
        let (b, v) = (2, 129);
        // Row 0 all NaN, row 1 NaN at every third id: the sort is then no order at all.
        let logits: Vec<f32> = (0..b * v).map(|i| if i < v || i % 3 == 0 { f32::NAN } else { (i % 17) as f32 }).collect();
        let sampled = with_emulator(emulator, || {
            let logits = Array::from_slice(&logits, &[b, v]);
            let presence = Array::from_slice(&vec![false; (b * v) as usize], &[b, v]);
            let blocked = Array::from_slice(&[false, false], &[b]);
            let q = Array::from_slice(&vec![1.0f32; (b * v) as usize], &[b, v]);
            let params = BatchParams::new(&[SamplingParams::default(), SamplingParams { top_p: 0.8, ..SamplingParams::default() }], v);
            mlx_rs::transforms::eval([&logits, &presence, &blocked, &q])?;
            let s = SamplerKernel::new(v - 1)?.sample(&logits, &presence, &blocked, &params, &q)?;
            Ok::<_, crate::models::Error>((s.tokens.as_slice::<u32>().to_vec(), s.probs.as_slice::<f32>().len()))
        })
        .unwrap();
        // The guards around every output found no write out of bounds, every probability was
        // written, and a token is an id of the vocabulary or V (no candidate).
        assert_eq!(sampled.1, (b * v) as usize);
        assert!(sampled.0.iter().all(|&t| t <= v as u32), "{:?}", sampled.0);
    }

    #[test]
    fn a_block_that_returns_before_the_grid_barrier_is_a_deadlock() {
        let early = ACROSS_BLOCKS.replace("  gsv_grid_sync", "  if (blockIdx.x == 1) return;\n  gsv_grid_sync");
        let err = launch(&early, 3).unwrap_err().to_string();
        assert!(err.contains("deadlock") && err.contains("1 blocks returned"), "{err}");
    }
}
