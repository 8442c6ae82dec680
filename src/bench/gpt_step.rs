//! Where a batch-1 decode step's time goes: the pieces of [`crate::models::gpt::decode::BatchDecoder::step`]
//! timed on their own, on the same random full-size model as [`super::gpt`].
//!
//! A pipelined decode step costs `max(host work, device work)` plus whatever cannot overlap (the
//! one host sync). Timing the pieces separately tells which side bounds it:
//! - `sync_roundtrip_ms`: one tiny kernel and a wait — the floor of any step that reads a token;
//! - `layers_build_ms`: host time to build the step graph (embedding, layers, head), no eval;
//! - `layers_sync_ms`: build + evaluate one step and wait, step after step (host + device, serial);
//! - `layers_pipelined_ms`: build and `async_eval` step after step, one wait at the end — the
//!   device-bound rate of the layer graph when the host keeps ahead;
//! - `sampler_sync_ms`: the device sampler on fixed logits, including the host Exp(1) draw and its
//!   upload, evaluated each step;
//! - `noise_fill_ms`: the host Exp(1) draw of one vocabulary row alone;
//! - `kernels`: with the fused step, each of its kernels replayed alone ([`super::kernel_times`]).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use mlx_rs::transforms::{async_eval, eval};
use mlx_rs::{ops, Array, Dtype};
use serde::Serialize;

use crate::models::gpt::cache::KvCache;
use crate::models::gpt::sampling::{self, BatchParams, CompiledSampler, ExpNoise, SamplingParams, SeededExpNoise};
use crate::models::gpt::step::CompiledStep;
use crate::models::gpt::Text2SemanticDecoder;
use crate::models::graph::node_counts;
use crate::models::Result;

#[derive(Debug, Clone, Serialize)]
pub struct StepBreakdown {
    pub batch: usize,
    pub cache_len: usize,
    pub steps: usize,
    pub compiled: bool,
    /// The compiled step with custom CUDA kernels (`models::gpt::fused`).
    pub fused: bool,
    /// Graph nodes of one decode step (embedding, layers, head; not the sampler): on a GPU
    /// each costs host work at every step, so this bounds batch-1 speed there.
    pub nodes_per_step: usize,
    /// The same nodes by primitive kind.
    pub nodes_by_kind: BTreeMap<String, usize>,
    /// Graph nodes of the sampler (penalty, top-k/top-p, temperature, draw) per step.
    pub sampler_nodes: usize,
    pub sync_roundtrip_ms: f64,
    pub layers_build_ms: f64,
    pub layers_sync_ms: f64,
    pub layers_pipelined_ms: f64,
    pub sampler_sync_ms: f64,
    pub noise_fill_ms: f64,
    /// With the fused step: each of its kernels (and the sampler kernel) replayed alone, slowest
    /// per step first ([`super::kernel_times`]); their `us_per_step` sum is `kernels_ms`.
    pub kernels: Vec<super::kernel_times::KernelTime>,
    pub kernels_ms: f64,
}

/// One decode step's graph over `caches` (compiled or eager), logits `[B, vocab]` (lazy).
fn build_step(
    model: &Text2SemanticDecoder,
    compiled: Option<&mut CompiledStep>,
    tokens: &Array,
    positions: &[i32],
    caches: &mut [KvCache],
) -> Result<Array> {
    let b = positions.len() as i32;
    match compiled {
        Some(c) => c.run(tokens, positions, &ops::zeros::<i32>(&[b])?, caches),
        None => model.step_logits(tokens, positions, None, caches),
    }
}

fn ms_per(n: usize, t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64
}

/// Times the pieces of a decode step for `batch` rows whose caches hold `cache_len` positions,
/// over `steps` steps each (after a warm-up of the same length, which also traces the compiled
/// graph for every cache capacity the timed steps reach).
/// `fused` selects the custom-kernel step (with `compiled`, on CUDA only).
pub fn breakdown(
    model: &Arc<Text2SemanticDecoder>,
    compiled: bool,
    fused: bool,
    batch: usize,
    cache_len: usize,
    steps: usize,
) -> Result<StepBreakdown> {
    let cfg = &model.config;
    let b = batch as i32;
    let mut step_fn = compiled.then(|| CompiledStep::with_fused(Arc::clone(model), fused));
    let tokens = Array::from_slice(&vec![7i32; batch], &[b]);

    let fresh_caches = || -> Result<Vec<KvCache>> {
        let key = mlx_rs::random::key(1)?;
        let x = mlx_rs::random::normal::<f32>(&[b, cache_len as i32, cfg.hidden_dim], None, None, &key)?
            .as_dtype(model.dtype())?;
        let mut caches = model.new_caches();
        model.forward(&x, None, &mut caches)?;
        eval(caches.iter().flat_map(|c| c.state()))?;
        Ok(caches)
    };
    let positions = |i: usize| vec![(cache_len + i) as i32; batch];

    // Warm-up (and the compiled traces), then the serial and pipelined layer timings. The
    // nodes are counted on a step after the first (the first call also traces).
    let mut caches = fresh_caches()?;
    let mut nodes_by_kind = BTreeMap::new();
    for i in 0..steps {
        if i == 1 || steps == 1 {
            let pos = positions(i);
            let logits = match step_fn.as_mut() {
                Some(c) => {
                    let (logits, counts) = c.run_counted(&tokens, &pos, &ops::zeros::<i32>(&[b])?, &mut caches, true)?;
                    nodes_by_kind = counts.unwrap_or_default();
                    logits
                }
                None => {
                    let logits = model.step_logits(&tokens, &pos, None, &mut caches)?;
                    nodes_by_kind = node_counts(&[&logits])?;
                    logits
                }
            };
            eval([&logits])?;
            continue;
        }
        let logits = build_step(model, step_fn.as_mut(), &tokens, &positions(i), &mut caches)?;
        eval([&logits])?;
    }
    let mut caches = fresh_caches()?;
    let mut build = 0.0;
    let t = Instant::now();
    for i in 0..steps {
        let tb = Instant::now();
        let logits = build_step(model, step_fn.as_mut(), &tokens, &positions(i), &mut caches)?;
        build += tb.elapsed().as_secs_f64();
        eval([&logits])?;
    }
    let layers_sync_ms = ms_per(steps, t);
    let layers_build_ms = build * 1e3 / steps.max(1) as f64;

    let mut caches = fresh_caches()?;
    let t = Instant::now();
    let mut last = None;
    for i in 0..steps {
        let logits = build_step(model, step_fn.as_mut(), &tokens, &positions(i), &mut caches)?;
        async_eval([&logits])?;
        last = Some(logits);
    }
    if let Some(l) = &last {
        eval([l])?;
    }
    let layers_pipelined_ms = ms_per(steps, t);

    // Sampler alone on fixed logits, as the decoder calls it (host noise row per step).
    let v = cfg.vocab_size;
    let key = mlx_rs::random::key(2)?;
    let logits = mlx_rs::random::normal::<f32>(&[b, v], None, None, &key)?;
    let presence = ops::zeros_dtype(&[b, v], Dtype::Bool)?;
    let blocked = Array::from_slice(&vec![false; batch], &[b]);
    let params = BatchParams::new(&vec![SamplingParams::default(); batch], v);
    eval([&logits, &presence])?;
    let mut noise = SeededExpNoise::new(3);
    let mut q = vec![0f32; batch * v as usize];
    // As the decoder samples: through the compiled sampler when the step is compiled.
    let mut compiled_sampler = match compiled {
        true => Some(CompiledSampler::with_kernel(cfg.eos, v, fused)?),
        false => None,
    };
    let mut sample = |qa: &Array| -> Result<sampling::Sampled> {
        match compiled_sampler.as_mut() {
            Some(c) => c.sample(&logits, &presence, &blocked, &params, qa),
            None => sampling::sample(&logits, &presence, &blocked, cfg.eos, &params, qa),
        }
    };
    let sampler_nodes = {
        let s = sample(&Array::from_slice(&q, &[b, v]))?;
        node_counts(&[&s.tokens, &s.eos_argmax, &s.presence])?.values().sum()
    };
    let mut sample_once = |q: &mut Vec<f32>| -> Result<()> {
        noise.fill(0, q)?;
        let s = sample(&Array::from_slice(q, &[b, v]))?;
        eval([&s.tokens, &s.eos_argmax, &s.presence])?;
        Ok(())
    };
    for _ in 0..steps.min(16) {
        sample_once(&mut q)?;
    }
    let t = Instant::now();
    for _ in 0..steps {
        sample_once(&mut q)?;
    }
    let sampler_sync_ms = ms_per(steps, t);

    let mut noise = SeededExpNoise::new(4);
    let t = Instant::now();
    for _ in 0..steps {
        noise.fill(0, &mut q)?;
    }
    let noise_fill_ms = ms_per(steps, t);

    let one = Array::from_f32(1.0);
    let mut x = Array::from_f32(0.0);
    eval([&x])?;
    let t = Instant::now();
    for _ in 0..steps {
        x = x.add(&one)?;
        eval([&x])?;
    }
    let sync_roundtrip_ms = ms_per(steps, t);

    let fused = step_fn.as_ref().is_some_and(|c| c.is_fused());
    let kernels = if fused { super::kernel_times::kernel_times(model, batch, cache_len, steps)? } else { Vec::new() };
    Ok(StepBreakdown {
        kernels_ms: kernels.iter().map(|k| k.us_per_step).sum::<f64>() / 1e3,
        kernels,
        batch,
        cache_len,
        steps,
        compiled,
        fused,
        nodes_per_step: nodes_by_kind.values().sum(),
        nodes_by_kind,
        sampler_nodes,
        sync_roundtrip_ms,
        layers_build_ms,
        layers_sync_ms,
        layers_pipelined_ms,
        sampler_sync_ms,
        noise_fill_ms,
    })
}
