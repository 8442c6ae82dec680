//! A decode-like step with no model (`gsv-server doctor --bench`).
use std::time::Instant;

use mlx_rs::{fast, ops, ops::indexing::IndexOp, random, Array};

pub struct DecodeTiming {
    pub ms_per_token: f64,
}

/// A decode step shaped like the GPT stage (post-norm blocks, fused attention over a 256-token
/// context, ReLU FFN 4·d) on random weights: shows that the device computes and how fast one
/// token's worth of launches runs, before any model is loaded.
pub fn toy_decode(layers: usize, d: i32, heads: i32, steps: usize) -> anyhow::Result<DecodeTiming> {
    let ctx = 256;
    let hd = d / heads;
    let scale = 0.02f32;
    let mut weights = Vec::new();
    for _ in 0..layers {
        let w = |shape: &[i32]| -> anyhow::Result<Array> {
            Ok(random::normal::<f32>(shape, None, None, None)?.multiply(Array::from_f32(scale))?)
        };
        weights.push([
            w(&[d, 3 * d])?,
            w(&[d, d])?,
            w(&[d, 4 * d])?,
            w(&[4 * d, d])?,
            w(&[1, heads, ctx, hd])?,
            w(&[1, heads, ctx, hd])?,
        ]);
    }
    let ones = Array::ones::<f32>(&[d])?;
    let zeros = Array::zeros::<f32>(&[d])?;
    let mut x = random::normal::<f32>(&[1, 1, d], None, None, None)?;
    let step = |x: &Array| -> anyhow::Result<Array> {
        let mut h = x.clone();
        for [wqkv, wo, w1, w2, k, v] in &weights {
            let qkv = ops::matmul(&h, wqkv)?;
            let q = qkv
                .index((.., .., 0..d))
                .reshape(&[1, 1, heads, hd])?
                .transpose_axes(&[0, 2, 1, 3])?;
            let a = fast::scaled_dot_product_attention(&q, k, v, 1.0 / (hd as f32).sqrt(), None, None)?;
            let a = a.transpose_axes(&[0, 2, 1, 3])?.reshape(&[1, 1, d])?;
            h = fast::layer_norm(&h.add(&ops::matmul(&a, wo)?)?, &ones, &zeros, 1e-5)?;
            let f = ops::matmul(&ops::maximum(&ops::matmul(&h, w1)?, Array::from_f32(0.0))?, w2)?;
            h = fast::layer_norm(&h.add(&f)?, &ones, &zeros, 1e-5)?;
        }
        Ok(h)
    };
    for _ in 0..10 {
        x = step(&x)?;
        x.eval()?;
    }
    let t = Instant::now();
    for _ in 0..steps {
        x = step(&x)?;
        x.eval()?;
    }
    Ok(DecodeTiming {
        ms_per_token: t.elapsed().as_secs_f64() * 1000.0 / steps as f64,
    })
}
