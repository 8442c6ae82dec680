//! Benchmarks on random full-size models built in memory (no model files): `gsv-server bench`,
//! `gsv-server doctor --bench` and `cargo bench`. This module depends on `models` and `tts`,
//! never the reverse.
//!
//! - `gpt`: decode tokens/s at batch 1 and N; `gpt_step`: where one step's time goes;
//! - `sovits`: decode real-time factor; `e2e`: one sentence through the real pipeline;
//! - `kernel_times`: the fused step's kernels replayed one by one (in the step breakdown);
//! - `toy`: a decode-like step with no model at all (`doctor --bench`);
//! - `selftest`: the fused CUDA decode step against the portable one (`gsv-server selftest`);
//! - `cuda_emulator`: runs those custom CUDA kernels on the CPU (`gsv-server selftest --emulate`).
use std::time::Instant;

pub mod cuda_emulator;
pub mod e2e;
pub mod gpt;
pub mod gpt_step;
pub mod kernel_times;
pub mod selftest;
pub mod sovits;
pub mod toy;

/// What `gsv-server bench` measures (full-size v2 dimensions, random weights built in memory).
#[derive(Debug, Clone)]
pub struct FullBenchOptions {
    pub dtype: mlx_rs::Dtype,
    /// GPT batch-1 tokens (EOS ignored) and per-position report points.
    pub gpt_tokens: usize,
    pub gpt_positions: Vec<usize>,
    pub batch_sizes: Vec<usize>,
    pub batch_tokens: usize,
    /// SoVITS decode length in tokens (250 = 10 s).
    pub sovits_tokens: usize,
    /// SoVITS generation (dimensions of its public config); v2Pro/v2ProPlus also time the
    /// speaker embedding of a 10 s reference.
    pub sovits_version: crate::models::sovits::SovitsVersion,
    pub repeats: usize,
    pub skip_features: bool,
    /// Steps per piece of the GPT step breakdown; 0 skips it.
    pub breakdown_steps: usize,
    /// GPT tokens of the end-to-end sentence; 0 skips the end-to-end stage.
    pub e2e_tokens: usize,
    /// Tokens before the first streamed chunk of the end-to-end stage.
    pub e2e_first_chunk: usize,
    /// Growth of each later streamed chunk of the end-to-end stage (server default 2; 1 = fixed).
    pub e2e_chunk_growth: f32,
    pub e2e_lead: f32,
}

impl Default for FullBenchOptions {
    fn default() -> Self {
        let server = crate::config::Defaults::default();
        Self {
            dtype: mlx_rs::Dtype::Float32,
            gpt_tokens: 500,
            gpt_positions: vec![1, 250, 500],
            batch_sizes: vec![4, 16],
            batch_tokens: 128,
            sovits_tokens: 250,
            sovits_version: crate::models::sovits::SovitsVersion::V2,
            repeats: 3,
            skip_features: false,
            breakdown_steps: 100,
            e2e_tokens: 100,
            e2e_first_chunk: server.stream_first_chunk_tokens,
            e2e_chunk_growth: server.stream_chunk_growth,
            e2e_lead: server.stream_lead_seconds,
        }
    }
}

/// The middle value (upper middle for an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(repeats: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    f()?; // warm-up: kernels compiled, caches allocated
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// Runs every benchmark and returns one JSON document (the table printer reads the same).
pub fn full(opts: &FullBenchOptions) -> anyhow::Result<serde_json::Value> {
    use crate::models::{bert, hubert, sovits as sovits_model};
    use serde_json::json;

    let device = format!("{:?}", mlx_rs::Device::try_default()?.get_type()?).to_lowercase();
    let mut out = json!({
        "implementation": "gsv-server",
        "version": env!("CARGO_PKG_VERSION"),
        "mlx": crate::device::mlx_version(),
        "device": device,
        "backend": crate::device::gpu_backend().map(|b| b.to_string()).filter(|_| device == "gpu").unwrap_or_else(|| "cpu".into()),
        "dtype": format!("{:?}", opts.dtype),
    });

    let g = gpt::run(&gpt::BenchOptions {
        dtype: opts.dtype,
        tokens: opts.gpt_tokens,
        positions: opts.gpt_positions.clone(),
        batch_sizes: opts.batch_sizes.clone(),
        batch_tokens: opts.batch_tokens,
        breakdown_steps: opts.breakdown_steps,
        ..gpt::BenchOptions::default()
    })?;
    out["gpt"] = serde_json::to_value(&g)?;

    // --sovits-tokens 0 skips SoVITS (and the speaker model): a GPT-only run on a GPU then spends
    // no time compiling SoVITS graphs.
    if opts.sovits_tokens > 0 {
        let cfg = sovits_model::SovitsConfig::for_version(opts.sovits_version);
        let model = sovits_model::synthetic::random_model_of(&cfg, opts.sovits_version, 3, opts.dtype)?;
        let t = sovits::decode_rtf(&model, opts.sovits_tokens, 60, opts.repeats)?;
        let (varied_rtf, varied_worst) = sovits::varied_lengths_rtf(&model, opts.sovits_tokens, 60, 8)?;
        if opts.sovits_version.is_pro() {
            // ERes2NetV2 in the released dimensions on a 10 s reference (resample + fbank + forward3).
            let sv = crate::models::sv::synthetic::random_released(5, opts.dtype)?;
            let clip: Vec<f32> = (0..32_000 * 10).map(|i| (i as f32 * 0.017).sin() * 0.3).collect();
            let seconds = timed(opts.repeats, || {
                let e = sv.embed_32k(&clip)?;
                e.eval()?;
                Ok(())
            })?;
            out["speaker_embedding"] = json!({"reference_seconds": 10.0, "seconds": seconds, "width": sv.embedding_width()});
        }
        out["sovits"] = json!({
            "version": opts.sovits_version.to_string(),
            "tap_convs": sovits_model::modules::tap_convs_enabled(),
            "compiled": sovits_model::compiled::compile_enabled(),
            "conv_buckets": crate::models::layers::conv_buckets_enabled(),
            "tokens": t.tokens, "audio_seconds": t.audio_seconds, "seconds": t.best_seconds,
            "mean_seconds": t.mean_seconds, "rtf": t.rtf,
            "stages": {"enc_p": t.stages[0], "flow": t.stages[1], "generator": t.stages[2]},
            "nodes": {"enc_p": t.nodes[0], "flow": t.nodes[1], "generator": t.nodes[2]},
            "varied_lengths": {"count": 8, "mean_rtf": varied_rtf, "slowest_seconds": varied_worst},
        });
    }

    if !opts.skip_features {
        let hub = hubert::bench_random(hubert::HubertConfig::chinese_hubert_base(), 5)?;
        let clip: Vec<f32> = (0..16_000 * 5).map(|i| (i as f32 * 0.031).sin() * 0.3).collect();
        let hubert_s = timed(opts.repeats, || {
            let y = hub.ssl_content(&clip)?;
            y.eval()?;
            Ok(())
        })?;
        let bm = bert::bench_random(bert::BertConfig::chinese_roberta_wwm_ext_large(), 6)?;
        let ids: Vec<u32> = (0..22u32).map(|i| 101 + i * 37).collect(); // [CLS] + 20 chars + [SEP]
        let bert_s = timed(opts.repeats, || {
            let y = bm.feature_states(&ids)?;
            y.eval()?;
            Ok(())
        })?;
        out["features"] = json!({"hubert_5s_clip_seconds": hubert_s, "bert_20_chars_seconds": bert_s});
    }
    if opts.e2e_tokens > 0 {
        let e2e = e2e::run(&e2e::E2eOptions {
            dtype: opts.dtype,
            tokens: opts.e2e_tokens,
            first_chunk_tokens: opts.e2e_first_chunk,
            chunk_growth: opts.e2e_chunk_growth,
            lead_seconds: opts.e2e_lead,
            repeats: opts.repeats,
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("end-to-end stage: {e}"))?;
        out["e2e"] = serde_json::to_value(&e2e)?;
    }
    if let Some(peak) = mlx_rs::memory::peak_memory().ok() {
        out["peak_memory_bytes"] = json!(peak);
    }
    Ok(out)
}
