//! SoVITS decode timing on a random model (`benches/sovits.rs`, `gsv-server bench`).
use std::time::Instant;

use mlx_rs::{random, Array};

use crate::models::sovits::SynthesizerTrn;
use crate::models::Result;

/// Timing of one decode configuration.
#[derive(Debug, Clone)]
pub struct DecodeTiming {
    pub tokens: usize,
    pub audio_seconds: f64,
    /// Best and mean wall time of a full `decode` (style precomputed, as for a cached voice).
    pub best_seconds: f64,
    pub mean_seconds: f64,
    /// `best_seconds / audio_seconds` (< 1 is faster than real time).
    pub rtf: f64,
    /// Stage split of the best run: enc_p, flow, Generator (seconds).
    pub stages: [f64; 3],
    /// Graph nodes of one decode, by stage as [`Self::stages`] (what bounds a decode where each
    /// node costs host work, as on MLX's CUDA backend).
    pub nodes: [usize; 3],
}

/// Inputs of one decode: a style from a random spectrogram, codes, phones and noise.
struct DecodeInputs {
    style: crate::models::sovits::Style,
    codes: Vec<i64>,
    text: Vec<i64>,
    noise: Array,
}

/// The style of a random reference spectrogram (and speaker embedding for v2Pro/v2ProPlus).
fn random_style(model: &SynthesizerTrn) -> Result<crate::models::sovits::Style> {
    let cfg = model.config();
    let key = random::key(7)?;
    let spec = random::uniform::<f32, f32>(0.0, 1.0, &[1, cfg.spec_channels, 200], &key)?;
    let sv = match model.sv_width() {
        Some(w) => Some(random::normal::<f32>(&[1, w], None, None, &key)?),
        None => None,
    };
    let style = model.style(&spec, sv.as_ref())?;
    style.ge.eval()?;
    Ok(style)
}

fn inputs(model: &SynthesizerTrn, style: crate::models::sovits::Style, tokens: usize, phones: usize) -> Result<DecodeInputs> {
    let cfg = model.config();
    let codes: Vec<i64> = (0..tokens).map(|i| ((i * 7919 + 13) % cfg.codebook_size as usize) as i64).collect();
    let text: Vec<i64> = (0..phones).map(|i| ((i * 31 + 5) % cfg.n_symbols as usize) as i64).collect();
    let noise = model.noise(2 * tokens as i32, 11)?;
    Ok(DecodeInputs { style, codes, text, noise })
}

/// One full decode, evaluated stage by stage: (total, [enc_p, flow, Generator]) seconds.
fn decode_once(model: &SynthesizerTrn, x: &DecodeInputs) -> Result<(f64, [f64; 3])> {
    let t0 = Instant::now();
    let latent = model.prior(&x.codes, &x.text, &x.style, 1.0)?;
    mlx_rs::transforms::eval([&latent.m, &latent.logs])?;
    let t1 = Instant::now();
    // As a decode runs it (compiled or not, `models::sovits::compiled`); with the compiled graph
    // the flow's share is only what evaluating `z` first costs.
    let (_, z, o) = model.synthesize(&latent.m, &latent.logs, &x.style, 0.5, Some(&x.noise))?;
    z.eval()?;
    let t2 = Instant::now();
    o.eval()?;
    let t3 = Instant::now();
    let s = |a: Instant, b: Instant| (b - a).as_secs_f64();
    Ok((s(t0, t3), [s(t0, t1), s(t1, t2), s(t2, t3)]))
}

/// Graph nodes of one decode, built as [`decode_once`] runs it: `enc_p`, then the flow and the
/// Generator (together where they are compiled as one graph, then counted as the Generator's).
fn decode_nodes(model: &SynthesizerTrn, x: &DecodeInputs) -> Result<[usize; 3]> {
    let count = |a: &[&Array]| -> Result<usize> { Ok(crate::models::graph::node_counts(a)?.values().sum()) };
    let latent = model.prior(&x.codes, &x.text, &x.style, 1.0)?;
    let prior = count(&[&latent.m, &latent.logs])?;
    mlx_rs::transforms::eval([&latent.m, &latent.logs])?;
    let (_, z, o) = model.synthesize(&latent.m, &latent.logs, &x.style, 0.5, Some(&x.noise))?;
    let flow = count(&[&z])?;
    let all = count(&[&z, &o])?;
    // A compiled graph's `z` carries the whole graph: nothing is the Generator's alone.
    let (flow, generator) = if model.compiled_decoder().is_some() { (0, all) } else { (flow, all - flow) };
    Ok([prior, flow, generator])
}

/// Times `decode` of `tokens` random codes (25 Hz) with `phones` random phone ids, noise_scale
/// 0.5, after one warm-up run.
pub fn decode_rtf(model: &SynthesizerTrn, tokens: usize, phones: usize, runs: usize) -> Result<DecodeTiming> {
    let cfg = model.config();
    let x = inputs(model, random_style(model)?, tokens, phones)?;
    decode_once(model, &x)?;
    let nodes = decode_nodes(model, &x)?;
    let mut best = (f64::INFINITY, [0.0; 3]);
    let mut total = 0.0;
    for _ in 0..runs.max(1) {
        let r = decode_once(model, &x)?;
        total += r.0;
        if r.0 < best.0 {
            best = r;
        }
    }
    let audio_seconds = (tokens * model.samples_per_token()) as f64 / cfg.sampling_rate as f64;
    Ok(DecodeTiming {
        tokens,
        audio_seconds,
        best_seconds: best.0,
        mean_seconds: total / runs.max(1) as f64,
        rtf: best.0 / audio_seconds,
        stages: best.1,
        nodes,
    })
}

/// A server's view: `count` decodes of lengths `tokens + 1 ..= tokens + count`, each once (a
/// new shape every time, as new sentences bring), after [`decode_rtf`] warmed `tokens`. Returns
/// (mean RTF, slowest decode in seconds). What cuDNN plans per shape cost shows here.
pub fn varied_lengths_rtf(model: &SynthesizerTrn, tokens: usize, phones: usize, count: usize) -> Result<(f64, f64)> {
    let (mut rtf, mut worst) = (0.0, 0.0f64);
    let style = random_style(model)?;
    for len in tokens + 1..=tokens + count {
        let x = inputs(model, style.clone(), len, phones)?;
        let (seconds, _) = decode_once(model, &x)?;
        rtf += seconds / ((len * model.samples_per_token()) as f64 / model.config().sampling_rate as f64);
        worst = worst.max(seconds);
    }
    Ok((rtf / count.max(1) as f64, worst))
}
