//! Linux: give every binary and test an rpath to the MLX runtime that scripts/setup.sh installed,
//! so `gsv-server` runs without LD_LIBRARY_PATH. (LD_LIBRARY_PATH still wins, which is how the
//! CUDA build of libmlx.so is swapped in on NVIDIA machines.)
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIBDIR");
    if let Ok(libdir) = std::env::var("DEP_MLX_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    }
}
