//! Which MLX device runs the models.
use std::fmt;

use mlx_rs::Device;

/// `--device`: `auto` takes the GPU when this MLX build has one (Metal on macOS, CUDA on Linux
/// when the CUDA `libmlx.so` is on the library path), else the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Gpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" | "cuda" | "metal" => Ok(Self::Gpu),
            other => Err(format!("unknown device `{other}` (expected auto, cpu or gpu)")),
        }
    }
}

/// An optimisation that is on, off, or decided by the device (`auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    #[default]
    Auto,
    On,
    Off,
}

impl Switch {
    /// `None` for `auto`.
    pub fn forced(self) -> Option<bool> {
        match self {
            Switch::Auto => None,
            Switch::On => Some(true),
            Switch::Off => Some(false),
        }
    }
}

impl std::str::FromStr for Switch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "on" | "true" | "1" => Ok(Self::On),
            "off" | "false" | "0" => Ok(Self::Off),
            other => Err(format!("unknown value `{other}` (expected auto, on or off)")),
        }
    }
}

/// MLX settings read from the environment that this program needs other than MLX's defaults.
/// A variable the user set wins.
///
/// [quirk] MLX's CUDA backend keeps LRU caches keyed by shape (cuDNN convolution plans, CUDA
/// graphs, …) and, by default, counts every miss of a cache over the life of the process and
/// *fails the evaluation* once they exceed twice its capacity ("Cache thrashing is happening…").
/// A server sees a new shape with every new text or chunk length, so after some hundreds of
/// requests every new length would fail; the check is for notebooks, not services.
pub const MLX_ENV_DEFAULTS: &[(&str, &str)] = &[
    ("MLX_ENABLE_CACHE_THRASHING_CHECK", "0"),
    // cuDNN plans of the SoVITS convolutions: ~100 per bucketed length (see
    // `models::layers::conv_bucket`); a plan is a few kilobytes.
    ("MLX_CUDA_CONV_CACHE_SIZE", "4096"),
];

/// Applies [`MLX_ENV_DEFAULTS`] where unset. MLX reads them when its caches are first built, so
/// this runs first thing in `main`, while the process is single-threaded.
pub fn set_mlx_env_defaults() {
    for (name, value) in MLX_ENV_DEFAULTS {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// A process-wide [`Switch`] that code reads when it builds a model or a decoder: forced on or
/// off, or `auto` (the caller says what auto means where it reads it).
pub struct SwitchCell(std::sync::atomic::AtomicU8);

impl SwitchCell {
    pub const fn auto() -> Self {
        Self(std::sync::atomic::AtomicU8::new(0))
    }

    /// `None` = auto.
    pub fn set(&self, on: Option<bool>) {
        let v = match on {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        self.0.store(v, std::sync::atomic::Ordering::Relaxed);
    }

    /// The forced value, else `auto()`.
    pub fn get(&self, auto: impl FnOnce() -> bool) -> bool {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => auto(),
        }
    }
}

/// The GPU backend compiled into the loaded `libmlx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Metal,
    Cuda,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Metal => "metal",
            Backend::Cuda => "cuda",
        })
    }
}

/// The MLX release of the loaded `libmlx`.
pub fn mlx_version() -> String {
    unsafe {
        let mut s = mlx_sys::mlx_string_new();
        mlx_sys::mlx_version(&mut s);
        let ptr = mlx_sys::mlx_string_data(s);
        let v = if ptr.is_null() {
            String::from("unknown")
        } else {
            std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
        };
        mlx_sys::mlx_string_free(s);
        v
    }
}

/// The GPU backend available in this process, if any.
pub fn gpu_backend() -> Option<Backend> {
    let mut cuda = false;
    let mut metal = false;
    unsafe {
        mlx_sys::mlx_cuda_is_available(&mut cuda);
        mlx_sys::mlx_metal_is_available(&mut metal);
    }
    if metal {
        Some(Backend::Metal)
    } else if cuda {
        Some(Backend::Cuda)
    } else {
        None
    }
}

/// Makes the chosen device MLX's default for this thread and process; returns the backend in use.
pub fn select(choice: DeviceChoice) -> Result<Backend, String> {
    let gpu = gpu_backend();
    let backend = match (choice, gpu) {
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, None) => Backend::Cpu,
        (DeviceChoice::Auto | DeviceChoice::Gpu, Some(b)) => b,
        (DeviceChoice::Gpu, None) => {
            return Err("--device gpu: this MLX build has no GPU backend (on Linux, put the CUDA \
                        libmlx.so of MLX 0.32.2 on LD_LIBRARY_PATH; see docs/cuda.md)"
                .into())
        }
    };
    let device = if backend == Backend::Cpu {
        Device::cpu()
    } else {
        Device::gpu()
    };
    Device::set_default(&device);
    Ok(backend)
}

/// The BLAS library the process has mapped (Linux; the CPU backend's matmul speed depends on it).
pub fn blas_in_use() -> String {
    if cfg!(target_os = "macos") {
        return "Accelerate".into();
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .filter(|n| n.contains("blas") || n.contains("lapack"))
        .collect();
    libs.sort();
    libs.dedup();
    if libs.is_empty() {
        "none mapped".into()
    } else {
        libs.join(", ")
    }
}
