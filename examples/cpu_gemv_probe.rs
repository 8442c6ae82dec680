//! How fast one batch-1 GPT step's worth of matrix-vector products runs on this machine's MLX
//! device, in f32 and with 8- and 4-bit quantised weights (`quantized_matmul`): the 96 weight
//! matrices of the v2 GPT's 24 layers (QKV 1536×512, out 512×512, FFN 2048×512 and 512×2048).
//! `cargo run --release --example cpu_gemv_probe [-- STEPS]`; see docs/benchmarks.md (CPU).
use std::time::Instant;

use mlx_rs::ops::{matmul, quantize, quantized_matmul};
use mlx_rs::transforms::eval;
use mlx_rs::Array;

fn main() -> anyhow::Result<()> {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let shapes = [(1536, 512), (512, 512), (2048, 512), (512, 2048)];
    let mut weights = Vec::new();
    for l in 0..24u64 {
        for (i, &(o, k)) in shapes.iter().enumerate() {
            let key = mlx_rs::random::key(l * 4 + i as u64)?;
            weights.push(mlx_rs::random::normal::<f32>(&[o, k], None, 0.02, &key)?);
        }
    }
    eval(weights.iter())?;
    let x512 = mlx_rs::random::normal::<f32>(&[1, 512], None, None, None)?;
    let x2048 = mlx_rs::random::normal::<f32>(&[1, 2048], None, None, None)?;
    let input = |w: &Array| if w.shape()[1] == 2048 { &x2048 } else { &x512 };

    let time = |f: &dyn Fn() -> anyhow::Result<Vec<Array>>| -> anyhow::Result<f64> {
        eval(f()?.iter())?;
        let t = Instant::now();
        for _ in 0..steps {
            // One step's products, evaluated together as a decode step would be.
            eval(f()?.iter())?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e3 / steps as f64)
    };
    let bytes = |arrays: &[&Array]| arrays.iter().map(|a| a.nbytes()).sum::<usize>() as f64 / 1e6;

    let f32_ms = time(&|| Ok(weights.iter().map(|w| matmul(input(w), w.t())).collect::<Result<_, _>>()?))?;
    println!("f32   {f32_ms:7.2} ms/step  {:6.1} MB of weights", bytes(&weights.iter().collect::<Vec<_>>()));
    for bits in [8, 4] {
        let q: Vec<(Array, Array, Array)> = weights.iter().map(|w| quantize(w, 64, bits)).collect::<Result<_, _>>()?;
        eval(q.iter().flat_map(|(a, b, c)| [a, b, c]))?;
        let ms = time(&|| {
            Ok(q.iter()
                .zip(&weights)
                .map(|((wq, s, b), w)| quantized_matmul(input(w), wq, s, b, true, 64, bits))
                .collect::<Result<_, _>>()?)
        })?;
        let mb = bytes(&q.iter().flat_map(|(a, b, c)| [a, b, c]).collect::<Vec<_>>());
        println!("{bits}-bit {ms:7.2} ms/step  {mb:6.1} MB of weights ({:.2}x f32)", f32_ms / ms);
    }
    Ok(())
}
