//! GPT decode benchmark on random weights of the full v2 size (24 layers, d 512, 16 heads,
//! FFN 2048, 1025/732 vocabularies, BERT 1024), built in memory: no model files needed.
//!
//! It drives the real [`BatchDecoder`] (pipelined steps, KV cache, device sampler with the
//! api_v2 defaults) with EOS ignored, so every run decodes a fixed number of tokens:
//! - batch 1: tokens/s and the per-token time around chosen positions (flat = O(1) cache);
//! - batch N: aggregate tokens/s of N sequences of different lengths decoded together.
//!
//! `benches/gpt_decode.rs` and `gsv-server bench` call [`run`].
use std::sync::Arc;
use std::time::Instant;

use mlx_rs::transforms::eval;
use mlx_rs::Dtype;
use serde::Serialize;

use super::gpt_step::{self, StepBreakdown};
use crate::models::gpt::cache::KvCache;
use crate::models::gpt::decode::{BatchDecoder, DecodeRequest};
use crate::models::gpt::gemv;
use crate::models::gpt::sampling::SamplingParams;
use crate::models::gpt::{step, GptConfig, Text2SemanticDecoder};
use crate::models::Result;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub config: GptConfig,
    pub dtype: Dtype,
    /// Tokens decoded in the batch-1 run (≥ the largest position to report).
    pub tokens: usize,
    /// Positions (decode step indices) whose per-token time is reported.
    pub positions: Vec<usize>,
    /// Steps averaged around each position.
    pub window: usize,
    pub batch_sizes: Vec<usize>,
    /// Tokens per sequence in the batched runs.
    pub batch_tokens: usize,
    pub phones: usize,
    pub prompt_tokens: usize,
    pub seed: u64,
    /// Cache lengths at which one 24-layer K/V write is timed in isolation (each chosen so the
    /// timed writes stay inside one 256-block: growth is amortized separately).
    pub kv_probe_lengths: Vec<usize>,
    /// Steps timed per piece of the step breakdown ([`gpt_step`]); 0 skips it.
    pub breakdown_steps: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            config: GptConfig::v2(),
            dtype: Dtype::Float32,
            tokens: 1500,
            positions: vec![1, 250, 500, 1000, 1500],
            window: 8,
            batch_sizes: vec![4, 16],
            batch_tokens: 128,
            phones: 60,
            prompt_tokens: 150,
            seed: 0,
            kv_probe_lengths: vec![1, 400, 1400, 2900],
            breakdown_steps: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionTiming {
    pub position: usize,
    pub ms_per_token: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SingleResult {
    pub tokens: usize,
    /// First `step()`: prompt pass + first sample.
    pub prefill_ms: f64,
    /// Decode steps after the first, wall clock.
    pub decode_s: f64,
    pub tokens_per_s: f64,
    pub per_position: Vec<PositionTiming>,
    /// `max/min − 1` of the per-position times (≤ 0.10 means flat within ±10 %).
    pub position_spread: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    pub batch: usize,
    pub tokens_per_seq: usize,
    pub prefill_ms: f64,
    pub decode_s: f64,
    pub aggregate_tokens_per_s: f64,
    pub ms_per_step: f64,
}

/// The fused step's kernel forms a run used (`models::gpt::gemv`, `models::gpt::fused`).
#[derive(Debug, Clone, Serialize)]
pub struct StepForms {
    /// Rows the matrix-vector kernels take, and from which the tiled form does.
    pub gemv_max_rows: i32,
    pub tiled_min_rows: i32,
    /// Whether the vector form replaced the column form.
    pub vector: bool,
    /// Batches up to which the attention kernel spread a head over warps.
    pub attention_warps_max_rows: i32,
    /// Whether a layer of up to 16 rows was one grid-synchronised kernel (`models::gpt::layer_kernel`).
    pub layer_kernel: bool,
    /// That kernel's launch: [blocks, threads per block] (one block per multiprocessor by default).
    pub layer_kernel_grid: Option<[i32; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub device: String,
    pub dtype: String,
    pub layers: i32,
    pub d_model: i32,
    pub heads: i32,
    /// Whether decode steps ran as one compiled graph (`models::gpt::step`).
    pub compiled: bool,
    /// Whether the compiled step used custom CUDA kernels (`models::gpt::fused`).
    pub fused: bool,
    pub step_forms: StepForms,
    pub phones: usize,
    pub prompt_tokens: usize,
    pub single: SingleResult,
    pub batched: Vec<BatchResult>,
    /// ms per token for the in-place K/V write of all layers, by cache length (flat = O(1)).
    pub kv_write: Vec<PositionTiming>,
    /// Where a step's time goes, at batch 1 and at the largest batch (see [`gpt_step`]).
    pub breakdown: Vec<StepBreakdown>,
}

fn request(m: &Text2SemanticDecoder, phones: usize, prompt: usize, tokens: usize, seed: u64) -> Result<DecodeRequest> {
    let cfg = &m.config;
    let ids: Vec<i32> = (0..phones).map(|i| ((i * 37 + seed as usize * 11) % cfg.phoneme_vocab_size as usize) as i32).collect();
    let key = mlx_rs::random::key(seed)?;
    let bert = mlx_rs::random::normal::<f32>(&[cfg.bert_dim, phones as i32], None, None, &key)?;
    let prompt: Vec<u32> = (0..prompt).map(|i| ((i * 131 + seed as usize * 7) % (cfg.vocab_size as usize - 1)) as u32).collect();
    let mut r = DecodeRequest::new(ids, bert, Some(prompt), usize::MAX);
    r.sampling = SamplingParams::default();
    r.seed = seed;
    r.max_steps = tokens;
    r.early_stop_num = None;
    r.ignore_eos = true;
    Ok(r)
}

/// Steps until every sequence has finished; returns (first step ms, per-step seconds after it,
/// tokens produced).
fn drive(dec: &mut BatchDecoder) -> Result<(f64, Vec<f64>, usize)> {
    let t0 = Instant::now();
    let mut produced = dec.step()?.len();
    let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut last = Instant::now();
    let mut steps = Vec::new();
    while !dec.is_empty() {
        produced += dec.step()?.len();
        let now = Instant::now();
        steps.push((now - last).as_secs_f64());
        last = now;
    }
    Ok((prefill_ms, steps, produced))
}

pub fn run(opts: &BenchOptions) -> Result<BenchResult> {
    let model = Arc::new(Text2SemanticDecoder::random(opts.config.clone(), opts.dtype, opts.seed)?);
    let compiled = step::compile_enabled();
    let fused = compiled && step::fused_enabled(&model);
    // One decoder for warm-up and measurement, as the server's engine keeps one: a compiled
    // step is traced once per (batch, cache capacity) shape, so the warm-up covers the same
    // shapes as the measured run; eager decoding only needs its kernels loaded.
    let mut dec = BatchDecoder::new(Arc::clone(&model));
    let warm_tokens = if compiled { opts.tokens } else { 8 };
    dec.add(request(&model, opts.phones, opts.prompt_tokens, warm_tokens, opts.seed)?)?;
    drive(&mut dec)?;

    dec.add(request(&model, opts.phones, opts.prompt_tokens, opts.tokens, opts.seed)?)?;
    let (prefill_ms, steps, produced) = drive(&mut dec)?;
    let decode_s: f64 = steps.iter().sum();
    // steps[i] is the time of decode step i + 1.
    let per_position: Vec<PositionTiming> = opts
        .positions
        .iter()
        .filter(|&&p| p >= 1 && !steps.is_empty())
        // Upstream's last step index is 1499: a position past the run is measured at its end.
        .map(|&p| p.min(steps.len()))
        .map(|p| {
            let lo = p.saturating_sub(opts.window / 2).max(1) - 1;
            let hi = (lo + opts.window.max(1)).min(steps.len());
            let lo = hi.saturating_sub(opts.window.max(1)).min(lo);
            let w = &steps[lo..hi];
            PositionTiming {
                position: p,
                ms_per_token: w.iter().sum::<f64>() * 1e3 / w.len() as f64,
            }
        })
        .collect();
    let (mn, mx) = per_position
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), t| (a.min(t.ms_per_token), b.max(t.ms_per_token)));
    let single = SingleResult {
        tokens: produced,
        prefill_ms,
        decode_s,
        tokens_per_s: steps.len() as f64 / decode_s.max(1e-9),
        position_spread: if per_position.is_empty() { 0.0 } else { mx / mn - 1.0 },
        per_position,
    };

    let mut batched = Vec::new();
    for &b in &opts.batch_sizes {
        let add_batch = |dec: &mut BatchDecoder| -> Result<()> {
            for i in 0..b {
                // Different text and prompt lengths, so rows are left-padded as in real traffic.
                let phones = opts.phones.saturating_sub(i * 3).max(4);
                let prompt = opts.prompt_tokens.saturating_sub(i * 5).max(1);
                dec.add(request(&model, phones, prompt, opts.batch_tokens, opts.seed + 1 + i as u64)?)?;
            }
            Ok(())
        };
        if compiled {
            add_batch(&mut dec)?;
            drive(&mut dec)?;
        }
        add_batch(&mut dec)?;
        let (prefill_ms, steps, produced) = drive(&mut dec)?;
        let decode_s: f64 = steps.iter().sum();
        batched.push(BatchResult {
            batch: b,
            tokens_per_seq: opts.batch_tokens,
            prefill_ms,
            decode_s,
            aggregate_tokens_per_s: (produced.saturating_sub(b)) as f64 / decode_s.max(1e-9),
            ms_per_step: decode_s * 1e3 / steps.len().max(1) as f64,
        });
    }
    let kv_write = opts
        .kv_probe_lengths
        .iter()
        .map(|&l| kv_write_ms(&opts.config, opts.dtype, l).map(|ms| PositionTiming { position: l, ms_per_token: ms }))
        .collect::<Result<Vec<_>>>()?;
    let mut breakdown = Vec::new();
    if opts.breakdown_steps > 0 {
        let mut sizes = vec![1];
        sizes.extend(opts.batch_sizes.iter().copied().max().filter(|&b| b > 1));
        let cache_len = opts.phones + opts.prompt_tokens;
        for b in sizes {
            breakdown.push(gpt_step::breakdown(&model, compiled, fused, b, cache_len, opts.breakdown_steps)?);
        }
    }
    let device = format!("{:?}", mlx_rs::Device::default());
    let layer_kernel = crate::models::gpt::fused::layer_kernel_enabled();
    Ok(BenchResult {
        device,
        dtype: format!("{:?}", opts.dtype),
        compiled,
        fused,
        step_forms: StepForms {
            gemv_max_rows: gemv::gemv_max_rows(),
            tiled_min_rows: gemv::tiled_min_rows(),
            vector: gemv::vector_columns(),
            attention_warps_max_rows: crate::models::gpt::fused::warp_attention_max_rows(),
            layer_kernel,
            layer_kernel_grid: (layer_kernel && crate::models::cuda_kernel::available()).then(|| {
                let (blocks, threads) = crate::models::gpt::layer_kernel::grid();
                [blocks, threads]
            }),
        },
        layers: opts.config.n_layer,
        d_model: opts.config.hidden_dim,
        heads: opts.config.n_head,
        phones: opts.phones,
        prompt_tokens: opts.prompt_tokens,
        single,
        batched,
        kv_write,
        breakdown,
    })
}

/// Mean time of 64 single-token writes into every layer's cache, starting at length `len`.
fn kv_write_ms(cfg: &GptConfig, dtype: Dtype, len: usize) -> Result<f64> {
    let (h, hd) = (cfg.n_head, cfg.head_dim());
    let one = mlx_rs::random::normal::<f32>(&[1, h, 1, hd], None, None, None)?.as_dtype(dtype)?;
    let pre = mlx_rs::random::normal::<f32>(&[1, h, len as i32, hd], None, None, None)?.as_dtype(dtype)?;
    let mut caches: Vec<KvCache> = (0..cfg.n_layer).map(|_| KvCache::new()).collect();
    for c in caches.iter_mut() {
        c.update_and_fetch(&pre, &pre)?;
        eval(c.state())?;
    }
    let n = 64;
    let t = Instant::now();
    for _ in 0..n {
        for c in caches.iter_mut() {
            c.update_and_fetch(&one, &one)?;
        }
        eval(caches.iter().flat_map(|c| c.state()))?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / n as f64)
}

/// A tiny smoke run of the benchmark path (kept in the test suite so the bench cannot rot).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_on_a_tiny_config() {
        let opts = BenchOptions {
            config: GptConfig { embedding_dim: 32, hidden_dim: 32, n_head: 4, n_layer: 2, ..GptConfig::v2() },
            tokens: 300,
            positions: vec![1, 250, 300],
            batch_sizes: vec![3],
            batch_tokens: 20,
            phones: 12,
            prompt_tokens: 10,
            kv_probe_lengths: vec![1, 300],
            breakdown_steps: 4,
            ..Default::default()
        };
        let r = run(&opts).expect("bench");
        assert_eq!(r.single.tokens, 300);
        assert_eq!(r.single.per_position.len(), 3);
        assert!(r.single.tokens_per_s > 0.0);
        assert_eq!(r.batched.len(), 1);
        assert!(r.batched[0].aggregate_tokens_per_s > 0.0);
        assert_eq!(r.kv_write.len(), 2);
        assert_eq!(r.breakdown.iter().map(|b| b.batch).collect::<Vec<_>>(), [1, 3]);
        assert!(r.breakdown.iter().all(|b| b.layers_sync_ms > 0.0 && b.sampler_sync_ms > 0.0));
    }
}
