//! The MLX operations the port relies on, run on this machine's backend (CPU in CI) and checked
//! against plain-Rust reference computations. If the Linux MLX build is broken (wrong BLAS, a
//! miscompiled binding, a half-type ABI slip), these fail before any model test does.
use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::{argmax_axis, topk_axis, IndexOp};
use mlx_rs::fft::{irfft, rfft};
use mlx_rs::{ops, random, transforms, Array, Dtype};

/// Deterministic pseudo-random values in [-1, 1) (a small LCG, so references need no RNG crate).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn host(a: &Array) -> Vec<f32> {
    let a = a.as_dtype(Dtype::Float32).unwrap().contiguous().unwrap();
    a.eval().unwrap();
    a.as_slice::<f32>().to_vec()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn matmul_ref(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    c
}

#[test]
fn matmul_matches_reference() {
    let (m, k, n) = (7, 33, 5);
    let a = values(m * k, 1);
    let b = values(k * n, 2);
    let got = ops::matmul(
        Array::from_slice(&a, &[m as i32, k as i32]),
        Array::from_slice(&b, &[k as i32, n as i32]),
    )
    .unwrap();
    assert_close(&host(&got), &matmul_ref(&a, &b, m, k, n), 1e-5, "matmul");
}

#[test]
fn softmax_and_layer_norm() {
    let x = values(12, 3);
    let xa = Array::from_slice(&x, &[2, 6]);
    let sm = host(&ops::softmax_axis(&xa, -1, None).unwrap());
    let ln = host(&fast::layer_norm(&xa, None, None, 1e-5).unwrap());
    for r in 0..2 {
        let row = &x[r * 6..r * 6 + 6];
        let mx = row.iter().cloned().fold(f32::MIN, f32::max);
        let z: f32 = row.iter().map(|v| (v - mx).exp()).sum();
        let want: Vec<f32> = row.iter().map(|v| (v - mx).exp() / z).collect();
        assert_close(&sm[r * 6..r * 6 + 6], &want, 1e-6, "softmax");
        let mean = row.iter().sum::<f32>() / 6.0;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 6.0;
        let want: Vec<f32> = row.iter().map(|v| (v - mean) / (var + 1e-5).sqrt()).collect();
        assert_close(&ln[r * 6..r * 6 + 6], &want, 1e-5, "layer_norm");
    }
}

/// Reference attention for one head: softmax(q kᵀ · scale + bias) v.
fn attention_ref(q: &[f32], k: &[f32], v: &[f32], lq: usize, lk: usize, d: usize, bias: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0.0; lq * d];
    for i in 0..lq {
        let s: Vec<f32> = (0..lk)
            .map(|j| (0..d).map(|p| q[i * d + p] * k[j * d + p]).sum::<f32>() * scale + bias(i, j))
            .collect();
        let mx = s.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = s.iter().map(|x| (x - mx).exp()).collect();
        let z: f32 = e.iter().sum();
        for p in 0..d {
            out[i * d + p] = (0..lk).map(|j| e[j] / z * v[j * d + p]).sum();
        }
    }
    out
}

#[test]
fn sdpa_with_causal_and_additive_masks() {
    let (l, d) = (5, 8);
    let q = values(l * d, 4);
    let k = values(l * d, 5);
    let v = values(l * d, 6);
    let shape = [1, 1, l as i32, d as i32];
    let (qa, ka, va) = (
        Array::from_slice(&q, &shape),
        Array::from_slice(&k, &shape),
        Array::from_slice(&v, &shape),
    );
    let scale = 1.0 / (d as f32).sqrt();
    let causal = fast::scaled_dot_product_attention(&qa, &ka, &va, scale, ScaledDotProductAttentionMask::Causal, None).unwrap();
    let want = attention_ref(&q, &k, &v, l, l, d, |i, j| if j > i { f32::NEG_INFINITY } else { 0.0 });
    assert_close(&host(&causal), &want, 1e-5, "sdpa causal");

    // An additive mask shaped like the GPT prompt pass: rows < 2 see only columns < 2.
    let bias = |i: usize, j: usize| if i < 2 && j >= 2 { f32::NEG_INFINITY } else { 0.0 };
    let mask: Vec<f32> = (0..l * l).map(|x| bias(x / l, x % l)).collect();
    let mask = Array::from_slice(&mask, &[1, 1, l as i32, l as i32]);
    let got = fast::scaled_dot_product_attention(&qa, &ka, &va, scale, &mask, None).unwrap();
    assert_close(&host(&got), &attention_ref(&q, &k, &v, l, l, d, bias), 1e-5, "sdpa additive");
}

/// torch-style conv1d reference: x [Cin, T], w [Cout, Cin/groups, K] → [Cout, Tout].
fn conv1d_ref(x: &[f32], w: &[f32], cin: usize, t: usize, cout: usize, kk: usize, pad: usize, dil: usize, groups: usize) -> (Vec<f32>, usize) {
    let tout = t + 2 * pad - dil * (kk - 1);
    let (gin, gout) = (cin / groups, cout / groups);
    let mut y = vec![0.0; cout * tout];
    for o in 0..cout {
        let g = o / gout;
        for s in 0..tout {
            let mut acc = 0.0;
            for c in 0..gin {
                for q in 0..kk {
                    let pos = s as isize + (q * dil) as isize - pad as isize;
                    if pos >= 0 && (pos as usize) < t {
                        acc += w[(o * gin + c) * kk + q] * x[(g * gin + c) * t + pos as usize];
                    }
                }
            }
            y[o * tout + s] = acc;
        }
    }
    (y, tout)
}

#[test]
fn conv1d_grouped_and_dilated() {
    let (cin, t, cout, kk, pad, dil, groups) = (4, 11, 6, 3, 2, 2, 2);
    let x = values(cin * t, 7);
    let w = values(cout * (cin / groups) * kk, 8);
    let (want, tout) = conv1d_ref(&x, &w, cin, t, cout, kk, pad, dil, groups);
    // MLX is channels-last: x [1, T, Cin], w [Cout, K, Cin/groups].
    let xa = Array::from_slice(&x, &[1, cin as i32, t as i32]).transpose_axes(&[0, 2, 1]).unwrap();
    let wa = Array::from_slice(&w, &[cout as i32, (cin / groups) as i32, kk as i32]).transpose_axes(&[0, 2, 1]).unwrap();
    let y = ops::conv1d(&xa, &wa, 1, pad as i32, dil as i32, groups as i32).unwrap();
    assert_eq!(y.shape(), &[1, tout as i32, cout as i32]);
    let y = y.transpose_axes(&[0, 2, 1]).unwrap();
    assert_close(&host(&y), &want, 1e-5, "conv1d");
}

#[test]
fn conv_transpose1d_matches_scatter_reference() {
    let (cin, t, cout, kk, stride, pad) = (3, 6, 2, 4, 2, 1);
    let x = values(cin * t, 9);
    let w = values(cin * cout * kk, 10); // torch layout [Cin, Cout, K]
    let tout = (t - 1) * stride - 2 * pad + kk;
    let mut want = vec![0.0f32; cout * tout];
    for c in 0..cin {
        for s in 0..t {
            for o in 0..cout {
                for q in 0..kk {
                    let pos = (s * stride + q) as isize - pad as isize;
                    if pos >= 0 && (pos as usize) < tout {
                        want[o * tout + pos as usize] += x[c * t + s] * w[(c * cout + o) * kk + q];
                    }
                }
            }
        }
    }
    let xa = Array::from_slice(&x, &[1, cin as i32, t as i32]).transpose_axes(&[0, 2, 1]).unwrap();
    let wa = Array::from_slice(&w, &[cin as i32, cout as i32, kk as i32]).transpose_axes(&[1, 2, 0]).unwrap();
    let y = ops::conv_transpose1d(&xa, &wa, stride as i32, pad as i32, None, None, None).unwrap();
    assert_eq!(y.shape(), &[1, tout as i32, cout as i32]);
    let y = y.transpose_axes(&[0, 2, 1]).unwrap();
    assert_close(&host(&y), &want, 1e-5, "conv_transpose1d");
}

#[test]
fn rfft_magnitude_and_round_trip() {
    let n = 16;
    let x = values(n, 11);
    let spec = rfft(Array::from_slice(&x, &[n as i32]), None, None).unwrap();
    assert_eq!(spec.shape(), &[(n / 2 + 1) as i32]);
    let mag = host(&spec.abs().unwrap());
    let want: Vec<f32> = (0..=n / 2)
        .map(|k| {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (t, v) in x.iter().enumerate() {
                let ang = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                re += *v as f64 * ang.cos();
                im += *v as f64 * ang.sin();
            }
            (re * re + im * im).sqrt() as f32
        })
        .collect();
    assert_close(&mag, &want, 1e-5, "rfft magnitude");
    let back = irfft(&spec, n as i32, None).unwrap();
    assert_close(&host(&back), &x, 1e-5, "irfft round trip");
}

#[test]
fn take_argmax_topk() {
    let table = Array::from_slice(&[0.0f32, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2]);
    let rows = table.take_axis(Array::from_slice(&[2i32, 0, 2], &[3]), 0).unwrap();
    assert_eq!(host(&rows), vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);

    let logits = Array::from_slice(&[0.1f32, 3.0, -2.0, 2.5, 0.0, 7.0], &[2, 3]);
    let am = argmax_axis(&logits, -1, None).unwrap();
    am.eval().unwrap();
    assert_eq!(am.as_slice::<u32>(), &[1, 2]);

    let row = Array::from_slice(&[5.0f32, -1.0, 9.0, 3.0, 7.0], &[5]);
    let mut top = host(&topk_axis(&row, 3, -1).unwrap());
    top.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(top, vec![9.0, 7.0, 5.0]);
}

#[test]
fn seeded_categorical_sampling_is_reproducible_and_follows_probs() {
    // Probabilities 0.7 / 0.2 / 0.1.
    let logits = Array::from_slice(&[0.7f32.ln(), 0.2f32.ln(), 0.1f32.ln()], &[1, 3]);
    let draw = |seed| {
        let key = random::key(seed).unwrap();
        let s = random::categorical(&logits, -1, random::ShapeOrCount::Count(4000), &key).unwrap();
        s.eval().unwrap();
        s.as_slice::<u32>().to_vec()
    };
    let a = draw(42);
    assert_eq!(a, draw(42), "same seed, same draws");
    assert_ne!(a, draw(43), "another seed, other draws");
    let freq0 = a.iter().filter(|&&t| t == 0).count() as f32 / a.len() as f32;
    assert!((freq0 - 0.7).abs() < 0.04, "P(0) ≈ 0.7, observed {freq0}");
}

#[test]
fn half_precision_round_trips() {
    let x = [0.5f32, -1.25, 3.0, 65504.0];
    for dt in [Dtype::Float16, Dtype::Bfloat16] {
        let y = Array::from_slice(&x, &[4]).as_dtype(dt).unwrap();
        assert_eq!(y.dtype(), dt);
        assert_eq!(host(&y)[..3], x[..3], "{dt:?} exact for representable values");
    }
    let h = Array::from_slice(&[half::f16::from_f32(1.5)], &[1]);
    h.eval().unwrap();
    assert_eq!(h.as_slice::<half::f16>()[0].to_f32(), 1.5);
    let b = Array::from_slice(&[half::bf16::from_f32(-2.0)], &[1]);
    assert_eq!(host(&b), vec![-2.0]);
}

#[test]
fn eval_and_async_eval_agree() {
    let a = Array::from_slice(&values(64, 12), &[8, 8]);
    let b = ops::matmul(&a, &a).unwrap().index((.., 0..4));
    let c = ops::matmul(&a, &a).unwrap().index((.., 0..4));
    transforms::async_eval([&b]).unwrap();
    transforms::eval([&c]).unwrap();
    assert_eq!(host(&b), host(&c));
}
