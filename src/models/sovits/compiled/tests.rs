use mlx_rs::{random, Dtype};

use super::*;
use crate::models::sovits::config::SovitsConfig;
use crate::models::sovits::synthetic::random_model_of;
use crate::models::sovits::{Style, SovitsVersion, SynthesizerTrn};

fn host(a: &Array) -> Vec<f32> {
    let a = a.as_dtype(Dtype::Float32).unwrap().reshape(&[-1]).unwrap();
    a.eval().unwrap();
    a.as_slice::<f32>().to_vec()
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
}

/// A small v2Pro model (every part of the decode: relative attention, MRTE, flow, Generator,
/// `ge_to512`), eager and compiled from the same weights, and a style.
fn models() -> (SynthesizerTrn, SynthesizerTrn, Style) {
    let cfg = SovitsConfig {
        inter_channels: 16,
        hidden_channels: 32,
        filter_channels: 16,
        n_layers: 2,
        upsample_initial_channel: 32,
        gin_channels: 16,
        ..SovitsConfig::for_version(SovitsVersion::V2Pro)
    };
    let eager = random_model_of(&cfg, SovitsVersion::V2Pro, 7, Dtype::Float32).unwrap().with_compiled_decode(false);
    let compiled = random_model_of(&cfg, SovitsVersion::V2Pro, 7, Dtype::Float32).unwrap().with_compiled_decode(true);
    let ge = random::normal::<f32>(&[1, 1, cfg.gin_channels], None, None, &random::key(1).unwrap()).unwrap();
    let style = eager.style_from_ge(ge).unwrap();
    (eager, compiled, style)
}

fn ids(n: usize, modulo: i64, salt: i64) -> Vec<i64> {
    (0..n as i64).map(|i| (i * 7 + salt) % modulo).collect()
}

#[test]
fn buckets_are_few_and_bounded() {
    let mut buckets: Vec<i32> = (1..=4096).map(decode_bucket).collect();
    for (len, &b) in (1..=4096).zip(&buckets) {
        assert!(b >= len.max(16) && b == decode_bucket(b), "{len} → {b}");
        assert!(len < 16 || b as f32 <= len as f32 * 1.25, "{len} → {b}");
    }
    buckets.dedup();
    // 16, then 4 per octave from 16 to 4096.
    assert_eq!(buckets.len(), 1 + 8 * 4);
}

#[test]
fn the_compiled_decode_over_buckets_is_the_eager_decode() {
    let (eager, compiled, style) = models();
    let (inter, codes_n) = (eager.config().inter_channels, eager.quantizer.bins() as i64);
    let symbols = eager.config().n_symbols as i64;
    // (codes, phones, speed): the model's first decode (run eagerly over the padded inputs), a new
    // bucket (a trace), two lengths of one bucket (21 and 23 codes: 24; their latents 42 and 46:
    // 48), the smallest bucket again, and speed ≠ 1 (interpolated after the compiled encoding).
    for (i, (n, p, speed)) in [(5, 7, 1.0f32), (21, 30, 1.0), (23, 31, 1.0), (6, 3, 1.0), (23, 31, 1.25)].into_iter().enumerate() {
        let (codes, text) = (ids(n, codes_n, i as i64), ids(p, symbols, 3 * i as i64));
        let frames = if speed == 1.0 { 2 * n as i32 } else { ((2 * n) as f64 / speed as f64) as i32 + 1 };
        let noise = random::normal::<f32>(&[1, inter, frames], None, None, &random::key(20 + i as u64).unwrap()).unwrap();
        let want = eager.decode_trace(&codes, &text, &style, 0.6, speed, Some(&noise)).unwrap();
        let got = compiled.decode_trace(&codes, &text, &style, 0.6, speed, Some(&noise)).unwrap();
        for (name, a, b) in [("enc_x", &got.enc_x, &want.enc_x), ("m_p", &got.m_p, &want.m_p), ("logs_p", &got.logs_p, &want.logs_p), ("z_p", &got.z_p, &want.z_p), ("z", &got.z, &want.z), ("o", &got.o, &want.o)] {
            assert_eq!(a.shape(), b.shape(), "decode {i} ({n} codes, {p} phones): {name}");
            let d = max_rel(&host(a), &host(b));
            assert!(d <= 2e-5, "decode {i} ({n} codes, {p} phones, speed {speed}): {name} off by {d:e}");
        }
    }
    // Content: (16,16) first, (24,32), (24,32), (16,16), (24,32); synthesis: 16, 48, 48, 16, and
    // the interpolated 37 frames → 40.
    assert_eq!(compiled.compiled_decoder().unwrap().traced(), (2, 3));
}

#[test]
fn a_streamed_chunk_decodes_the_same_compiled() {
    let (eager, compiled, style) = models();
    let (codes, text) = (ids(30, eager.quantizer.bins() as i64, 1), ids(12, eager.config().n_symbols as i64, 2));
    let noise = random::normal::<f32>(&[1, eager.config().inter_channels, 60], None, None, &random::key(5).unwrap()).unwrap();
    for _ in 0..2 {
        let want = eager.decode_tail(&codes, &text, &style, 20, 8, 0.6, Some(&noise)).unwrap();
        let got = compiled.decode_tail(&codes, &text, &style, 20, 8, 0.6, Some(&noise)).unwrap();
        assert_eq!(got.shape(), want.shape());
        let d = max_rel(&host(&got), &host(&want));
        assert!(d <= 2e-5, "chunk off by {d:e}");
    }
}

#[test]
fn traces_are_dropped_past_the_shape_limit() {
    let (eager, mut compiled, style) = models();
    compiled.compiled = Some(CompiledDecoder::with_max_shapes(2));
    let symbols = eager.config().n_symbols as i64;
    // Four content buckets (16, 24, 32, 48 codes) through a limit of 2: dropped and traced again.
    for (i, n) in [10, 24, 30, 40, 10].into_iter().enumerate() {
        let codes = ids(n, eager.quantizer.bins() as i64, 0);
        let text = ids(9, symbols, 0);
        let noise = random::normal::<f32>(&[1, eager.config().inter_channels, 2 * n as i32], None, None, &random::key(i as u64).unwrap()).unwrap();
        let want = eager.decode(&codes, &text, &style, 0.5, 1.0, Some(&noise)).unwrap();
        let got = compiled.decode(&codes, &text, &style, 0.5, 1.0, Some(&noise)).unwrap();
        let d = max_rel(&host(&got), &host(&want));
        assert!(d <= 2e-5, "decode {i} ({n} codes) off by {d:e}");
        let (content, synthesis) = compiled.compiled_decoder().unwrap().traced();
        assert!(content <= 2 && synthesis <= 2, "decode {i}: {content}, {synthesis} traces kept");
        // The first decode runs eagerly; each later one keeps its own trace.
        assert_eq!(content.min(1), i.min(1), "decode {i}: its trace kept");
    }
}
