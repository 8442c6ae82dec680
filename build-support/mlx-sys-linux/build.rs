//! Linux build script laid over the crates.io `mlx-sys` package by `scripts/setup.sh`.
//!
//! The published build script fetches MLX from GitHub with CMake and links Apple frameworks; on
//! Linux we instead compile the bundled mlx-c sources with `cc` against a prebuilt MLX from the
//! `mlx-cpu` (or `mlx-cuda-13`) wheel, whose prefix arrives in `MLX_PREFIX`.
//! This file is gsv-server's own code (MIT/Apache like the crate it patches).

use std::{
    env, fs,
    path::{Path, PathBuf},
};

/// mlx-c v0.7.0 (bundled in mlx-sys 0.7.0) is written against exactly this MLX release; a
/// mismatched `libmlx.so` either fails to compile or dies at load with undefined symbols.
const REQUIRED_MLX_VERSION: (u32, u32, u32) = (0, 32, 2);

fn mlx_version(include: &Path) -> Option<(u32, u32, u32)> {
    let text = fs::read_to_string(include.join("mlx/version.h")).ok()?;
    let grab = |name: &str| -> Option<u32> {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("#define")?.trim();
            let rest = rest.strip_prefix(name)?;
            rest.trim().parse().ok()
        })
    };
    Some((
        grab("MLX_VERSION_MAJOR")?,
        grab("MLX_VERSION_MINOR")?,
        grab("MLX_VERSION_PATCH")?,
    ))
}

fn main() {
    println!("cargo:rerun-if-env-changed=MLX_PREFIX");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=compat");

    let prefix = PathBuf::from(env::var("MLX_PREFIX").unwrap_or_else(|_| {
        panic!("MLX_PREFIX is not set: run scripts/setup.sh, which writes it to .cargo/config.toml")
    }));
    let include = prefix.join("include");
    let libdir = prefix.join("lib");
    match mlx_version(&include) {
        Some(v) if v == REQUIRED_MLX_VERSION => {}
        Some((a, b, c)) => panic!(
            "MLX at {} is {a}.{b}.{c}, but mlx-sys 0.7.0 needs exactly 0.32.2: rerun scripts/setup.sh",
            prefix.display()
        ),
        None => panic!(
            "no MLX headers at {}: rerun scripts/setup.sh",
            include.display()
        ),
    }

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let mlx_c_root = manifest.join("src/mlx-c");
    let compat = manifest.join("compat");

    // mlx-c: every source but object.cpp, as its CMakeLists does.
    let mut sources: Vec<PathBuf> = fs::read_dir(mlx_c_root.join("mlx/c"))
        .expect("mlx-c sources")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .filter(|p| p.file_name().is_some_and(|n| n != "object.cpp"))
        .collect();
    sources.sort();
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .files(&sources)
        .include(&mlx_c_root)
        .include(&include)
        .flag("-include")
        .flag(compat.join("mlx_linux_compat.h").to_str().unwrap())
        .flag_if_supported("-w")
        .opt_level(2)
        .compile("mlxc");

    println!("cargo:rustc-link-search=native={}", libdir.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    // Dependents (gsv-server's build script) read this as DEP_MLX_LIBDIR to set an rpath.
    println!("cargo::metadata=libdir={}", libdir.display());
    println!("cargo::metadata=include={}", include.display());

    let headers = {
        let mut h: Vec<PathBuf> = fs::read_dir(mlx_c_root.join("mlx/c"))
            .expect("mlx-c headers")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "h"))
            .collect();
        h.sort();
        h
    };
    let bindings = headers
        .iter()
        .fold(
            bindgen::Builder::default()
                .rust_target("1.73.0".parse().expect("rust-version"))
                .clang_arg(format!("-I{}", mlx_c_root.display()))
                .clang_arg("-include")
                .clang_arg(compat.join("mlx_linux_compat.h").to_string_lossy())
                .blocklist_function("malloc")
                .blocklist_function("realloc"),
            |b, h| b.header(h.to_string_lossy()),
        )
        .generate()
        .expect("Unable to generate mlx-c bindings (is libclang-dev installed?)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("Couldn't write bindings");
}
