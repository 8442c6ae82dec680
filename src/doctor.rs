//! `gsv-server doctor`: what runs where, and proof that it computes.
use mlx_rs::{Array, Device, DeviceType};

use crate::device::{blas_in_use, gpu_backend, mlx_version, select, DeviceChoice};

/// `gsv-server doctor`: what runs where, and proof that it computes.
pub fn doctor(choice: DeviceChoice, bench: bool) -> anyhow::Result<()> {
    let backend = select(choice).map_err(anyhow::Error::msg)?;
    println!("gsv-server {}", env!("CARGO_PKG_VERSION"));
    println!("MLX version      {}", mlx_version());
    println!(
        "GPU backend      {}",
        gpu_backend().map_or("none".to_string(), |b| b.to_string())
    );
    let dev = Device::try_default()?;
    let dev_type = match dev.get_type()? {
        DeviceType::Cpu => "cpu",
        DeviceType::Gpu => "gpu",
    };
    println!("device in use    {dev_type}:{} ({backend})", dev.get_index()?);
    if crate::models::cuda_kernel::available() {
        // What the one-kernel-per-layer step launches: one block per multiprocessor.
        let sms = crate::models::cuda_kernel::multiprocessors().map_or("unknown".to_string(), |n| n.to_string());
        let (blocks, threads) = crate::models::gpt::layer_kernel::grid();
        println!("CUDA kernels     on: {sms} multiprocessors, layer kernel grid {blocks} x {threads}");
    } else {
        println!("CUDA kernels     off (the portable MLX step runs)");
    }
    for (name, _) in crate::device::MLX_ENV_DEFAULTS {
        let value = std::env::var(name).unwrap_or_else(|_| "(unset)".into());
        println!("{:<16} {name}={value}", "MLX setting");
    }

    // A computation with a known answer: [[1,2],[3,4]]² = [[7,10],[15,22]].
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    let b = a.matmul(&a)?;
    b.eval()?;
    let ok = b.as_slice::<f32>() == [7.0, 10.0, 15.0, 22.0];
    println!("BLAS             {}", blas_in_use());
    println!(
        "check            2x2 matmul {}",
        if ok { "ok" } else { "WRONG" }
    );
    if !ok {
        anyhow::bail!("MLX computed a wrong matmul: {:?}", b.as_slice::<f32>());
    }
    if bench {
        let r = crate::bench::toy::toy_decode(24, 512, 16, 300)?;
        println!(
            "decode-like      24 layers, d 512, f32: {:.2} ms/token ({:.0} tokens/s), 300 steps",
            r.ms_per_token,
            1000.0 / r.ms_per_token
        );
    }
    Ok(())
}
