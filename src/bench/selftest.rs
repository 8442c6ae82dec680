//! `gsv-server selftest --device gpu`: the fused custom-kernel decode step against the portable
//! one, on a random full-size v2 GPT. CI has no GPU, so this is what proves a kernel: run it on
//! the GPU whenever a kernel changes and record its output (docs/benchmarks.md).
//!
//! Both decoders get the same batch of sequences of different text and prompt lengths (so rows
//! are left-padded) and decode `steps` tokens each, reading every step's logits:
//! - greedy (top-k 1): the tokens must be identical at every step, and the logits within
//!   [`LOGIT_TOLERANCE`] of the reference (relative to its largest magnitude);
//! - sampled (api_v2 defaults, and top-p at two temperatures on other rows; one seed per row,
//!   Exp(1) draws from the host): the tokens must be identical too, since both paths see the
//!   same draws, and the probabilities within [`PROB_TOLERANCE`]. The fused path samples with
//!   the sampler kernel (`models::gpt::sampler_kernel`), so this checks that kernel too.
//!
//! `gsv-server selftest` turns MLX's TF32 matrix products off (unless `MLX_ENABLE_TF32` is set):
//! the portable graph's `addmm` would run in TF32 on CUDA, the fused kernels always in f32, and
//! TF32's 10-bit mantissa moves logits by ~5e-4 — enough to flip near-tied sampled tokens.
use std::sync::Arc;

use mlx_rs::{Array, Dtype};
use serde::Serialize;

use super::cuda_emulator::{CpuEmulator, EmulatorStats};
use crate::models::gpt::decode::{BatchDecoder, DecodeRequest, SeqId};
use crate::models::gpt::gemv::GemvForm;
use crate::models::gpt::sampling::SamplingParams;
use crate::models::gpt::{GptConfig, Text2SemanticDecoder};
use crate::models::{Error, Result};

/// Largest `|logit − reference|` allowed, relative to the reference's largest `|logit|` over the
/// run (f32: both paths sum in f32 in different orders, far below this).
pub const LOGIT_TOLERANCE: f32 = 1e-4;

/// Largest `|prob − reference|` allowed: the sampler kernel sums in another order than MLX.
pub const PROB_TOLERANCE: f32 = 1e-4;

/// A way of running the decode step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepChoice {
    pub compile: bool,
    pub fused: bool,
    /// With `fused`: whole layers as one kernel each (`models::gpt::layer_kernel`).
    pub layer_kernel: bool,
}

impl StepChoice {
    pub const EAGER: Self = Self { compile: false, fused: false, layer_kernel: false };
    pub const PORTABLE: Self = Self { compile: true, fused: false, layer_kernel: false };
    pub const FUSED: Self = Self { compile: true, fused: true, layer_kernel: false };
    pub const LAYER_KERNEL: Self = Self { compile: true, fused: true, layer_kernel: true };
}

/// How one sampling mode compared.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: String,
    pub rows: usize,
    pub steps: usize,
    /// Per row: the first step whose token differs, if any.
    pub first_token_mismatch: Vec<Option<usize>>,
    /// Largest |Δ logit| over every row and step before the first mismatch, relative to the
    /// reference's largest |logit|.
    pub max_rel_logit_diff: f32,
    /// Largest |Δ probability| (after the whole sampling chain) over the same steps.
    pub max_prob_diff: f32,
    pub passed: bool,
}

/// One step graph, fused against portable, on random cache contents: the shapes the decode
/// comparison does not reach (one row, more rows than the matrix-vector kernels take, a cache
/// too large for the attention kernel's copy blocks, rows too wide for shared memory).
#[derive(Debug, Clone, Serialize)]
pub struct GraphReport {
    /// The matrix-vector form the products took where they could: `column`, `vector` or `tiled`.
    pub gemv: String,
    /// How the attention kernel spread a head: over `threads` (columns per thread) or `warps`;
    /// `layer`: the whole layer as one kernel (`models::gpt::layer_kernel`).
    pub attention: String,
    pub width: i32,
    pub rows: i32,
    pub capacity: i32,
    pub offset: i32,
    /// Largest |Δ logit| relative to the reference's largest |logit|.
    pub max_rel_logit_diff: f32,
    /// Largest |Δ| over every written cache buffer (the copied columns must match exactly; the
    /// new one is computed, so float noise).
    pub max_cache_diff: f32,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelftestReport {
    pub reference: StepChoice,
    pub candidate: StepChoice,
    pub dtype: String,
    /// Whether MLX ran f32 matrix products in TF32 (`MLX_ENABLE_TF32`, on unless set to 0).
    pub tf32: bool,
    pub left_pads: Vec<usize>,
    pub logit_tolerance: f32,
    pub modes: Vec<ModeReport>,
    pub graphs: Vec<GraphReport>,
    pub passed: bool,
    /// Set when the fused kernels ran on the CPU emulator (`--emulate`), not on a GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmulatorStats>,
}

/// Tokens and logits per row and step of one decoder run.
struct Run {
    tokens: Vec<Vec<u32>>,
    logits: Vec<Vec<Vec<f32>>>,
    probs: Vec<Vec<Vec<f32>>>,
}

fn requests(m: &Text2SemanticDecoder, rows: usize, steps: usize, greedy: bool) -> Result<Vec<DecodeRequest>> {
    let cfg = &m.config;
    (0..rows)
        .map(|i| {
            let phones = 40usize.saturating_sub(7 * i).max(3);
            let prompt = 60usize.saturating_sub(11 * i).max(1);
            let ids: Vec<i32> = (0..phones).map(|j| ((j * 37 + i * 11) % cfg.phoneme_vocab_size as usize) as i32).collect();
            let key = mlx_rs::random::key(100 + i as u64)?;
            let bert = mlx_rs::random::normal::<f32>(&[cfg.bert_dim, phones as i32], None, None, &key)?;
            let prompt: Vec<u32> = (0..prompt).map(|j| ((j * 131 + i * 7) % (cfg.vocab_size as usize - 1)) as u32).collect();
            let mut r = DecodeRequest::new(ids, bert, Some(prompt), usize::MAX);
            r.sampling = if greedy { SamplingParams::greedy(1.35) } else { sampled_params(i) };
            r.seed = 1000 + i as u64;
            r.max_steps = steps;
            r.early_stop_num = None;
            r.ignore_eos = true;
            r.trace = true;
            Ok(r)
        })
        .collect()
}

/// Row `i`'s sampling in the sampled mode: api_v2's defaults, then top-p with a lower and a
/// higher temperature, so that every branch of the sampler runs.
fn sampled_params(i: usize) -> SamplingParams {
    match i % 3 {
        0 => SamplingParams::default(),
        1 => SamplingParams { top_k: 50, top_p: 0.8, temperature: 0.8, repetition_penalty: 1.2 },
        _ => SamplingParams { top_k: 5, top_p: 0.95, temperature: 1.3, repetition_penalty: 1.35 },
    }
}

fn decode(model: &Arc<Text2SemanticDecoder>, choice: StepChoice, reqs: Vec<DecodeRequest>) -> Result<Run> {
    crate::models::gpt::fused::with_layer_kernel_here(choice.layer_kernel, || decode_with(model, choice, reqs))
}

fn decode_with(model: &Arc<Text2SemanticDecoder>, choice: StepChoice, reqs: Vec<DecodeRequest>) -> Result<Run> {
    let n = reqs.len();
    let mut dec = BatchDecoder::with_step(Arc::clone(model), choice.compile, choice.fused);
    let ids: Vec<SeqId> = reqs.into_iter().map(|r| dec.add(r)).collect::<Result<_>>()?;
    let mut run = Run {
        tokens: vec![Vec::new(); n],
        logits: vec![Vec::new(); n],
        probs: vec![Vec::new(); n],
    };
    while !dec.is_empty() {
        for (id, out) in dec.step()? {
            let row = ids.iter().position(|&i| i == id).ok_or_else(|| Error::Invalid("unknown sequence".into()))?;
            if let Some(t) = out.trace {
                run.tokens[row].push(t.sampled);
                run.logits[row].push(t.logits);
                run.probs[row].push(t.probs);
            }
        }
    }
    Ok(run)
}

fn compare(mode: &str, steps: usize, reference: &Run, candidate: &Run) -> ModeReport {
    let rows = reference.tokens.len();
    let mut first_token_mismatch = Vec::with_capacity(rows);
    let (mut max_diff, mut max_ref, mut max_prob_diff) = (0f32, 0f32, 0f32);
    for r in 0..rows {
        let (a, b) = (&reference.tokens[r], &candidate.tokens[r]);
        let mismatch = (0..a.len().max(b.len())).find(|&s| a.get(s) != b.get(s));
        first_token_mismatch.push(mismatch);
        let upto = mismatch.unwrap_or(a.len()).min(reference.logits[r].len()).min(candidate.logits[r].len());
        for s in 0..upto {
            for (x, y) in reference.logits[r][s].iter().zip(&candidate.logits[r][s]) {
                max_ref = max_ref.max(x.abs());
                // NaN on either side must fail, so it is never compared away.
                let d = (x - y).abs();
                max_diff = if d.is_nan() { f32::INFINITY } else { max_diff.max(d) };
            }
            for (x, y) in reference.probs[r][s].iter().zip(&candidate.probs[r][s]) {
                let d = (x - y).abs();
                max_prob_diff = if d.is_nan() { f32::INFINITY } else { max_prob_diff.max(d) };
            }
        }
    }
    let rel = if max_ref > 0.0 { max_diff / max_ref } else { max_diff };
    let complete = reference.tokens.iter().all(|t| t.len() == steps);
    ModeReport {
        mode: mode.into(),
        rows,
        steps,
        passed: complete && first_token_mismatch.iter().all(Option::is_none) && rel <= LOGIT_TOLERANCE && max_prob_diff <= PROB_TOLERANCE,
        first_token_mismatch,
        max_rel_logit_diff: rel,
        max_prob_diff,
    }
}

/// Decodes `rows` left-padded sequences of `steps` tokens with `reference` and `candidate` and
/// compares them, greedy and sampled.
pub fn compare_steps(
    model: &Arc<Text2SemanticDecoder>,
    reference: StepChoice,
    candidate: StepChoice,
    rows: usize,
    steps: usize,
) -> Result<SelftestReport> {
    compare_candidates(model, reference, &[(candidate, None)], rows, steps)
}

/// [`compare_steps`] for several candidates against one reference run per mode; a candidate's
/// modes are named `mode (label)` when it has a label. The report names the first candidate.
fn compare_candidates(
    model: &Arc<Text2SemanticDecoder>,
    reference: StepChoice,
    candidates: &[(StepChoice, Option<&str>)],
    rows: usize,
    steps: usize,
) -> Result<SelftestReport> {
    let candidate = candidates.first().map(|c| c.0).ok_or_else(|| Error::Invalid("selftest: no candidate step".into()))?;
    let mut modes = Vec::new();
    for (mode, greedy) in [("greedy", true), ("sampled", false)] {
        let a = decode(model, reference, requests(model, rows, steps, greedy)?)?;
        for &(choice, label) in candidates {
            let b = decode(model, choice, requests(model, rows, steps, greedy)?)?;
            let name = label.map_or_else(|| mode.to_string(), |l| format!("{mode} ({l})"));
            modes.push(compare(&name, steps, &a, &b));
        }
    }
    let lens: Vec<usize> = requests(model, rows, 1, true)?.iter().map(|r| r.phones.len() + r.prompt.as_ref().map_or(0, Vec::len)).collect();
    let longest = lens.iter().copied().max().unwrap_or(0);
    Ok(SelftestReport {
        reference,
        candidate,
        dtype: format!("{:?}", model.dtype()),
        tf32: std::env::var("MLX_ENABLE_TF32").map_or(true, |v| v != "0"),
        left_pads: lens.iter().map(|l| longest - l).collect(),
        logit_tolerance: LOGIT_TOLERANCE,
        passed: modes.iter().all(|m| m.passed),
        modes,
        graphs: Vec::new(),
        emulator: None,
    })
}

/// Largest `|Δ cache|` allowed in [`GraphReport`] (only the new column is computed).
pub const CACHE_TOLERANCE: f32 = 1e-4;

/// Evaluated inputs of a step graph (`[tokens, positions, offset, left_pad, k_0, v_0, …]`) for
/// `rows` rows over caches of `capacity` positions holding `offset`: random tokens, left padding
/// up to half the written positions, and random cache contents (`seed` picks them).
pub fn random_step_inputs(model: &Text2SemanticDecoder, rows: i32, capacity: i32, offset: i32, seed: u64) -> Result<Vec<Array>> {
    use mlx_rs::random;
    let cfg = &model.config;
    let key = |i: u64| random::key(seed * 1000 + i);
    let tokens = random::randint::<_, i32>(0, cfg.vocab_size, &[rows], &key(0)?)?;
    let left_pad = random::randint::<_, i32>(0, offset / 2 + 1, &[rows], &key(1)?)?;
    let positions = Array::from_int(offset).subtract(&left_pad)?;
    let mut inputs = vec![tokens, positions, Array::from_slice(&[offset], &[1]), left_pad];
    let shape = [rows, cfg.n_head, capacity, cfg.head_dim()];
    for i in 0..2 * model.layers().len() as u64 {
        inputs.push(random::normal::<f32>(&shape, None, None, &key(2 + i)?)?);
    }
    mlx_rs::transforms::eval(inputs.iter())?;
    Ok(inputs)
}

/// The fused step graph against the portable one for `rows` rows over a cache of `capacity`
/// positions holding `offset` (random contents, random left padding; `seed` picks them).
pub fn compare_step_graph(model: &Text2SemanticDecoder, form: GemvForm, warps: bool, rows: i32, capacity: i32, offset: i32, seed: u64) -> Result<GraphReport> {
    let kernels = fused_kernels(model, form, warps)?;
    let attention = if warps { "warps" } else { "threads" };
    compare_graph(model, &kernels, (&format!("{form:?}").to_lowercase(), attention), rows, capacity, offset, seed)
}

/// [`compare_step_graph`] for the one-kernel layers (`models::gpt::layer_kernel`; the head's
/// product in the vector form): they write the cache in place, so the compared buffers are the
/// inputs themselves after the step.
pub fn compare_layer_graph(model: &Text2SemanticDecoder, rows: i32, capacity: i32, offset: i32, seed: u64) -> Result<GraphReport> {
    let kernels = fused_kernels(model, GemvForm::Vector, true)?.with_layer_kernel(model, true)?;
    if !kernels.has_layer_kernel() {
        return Err(Error::Invalid(format!("the layer kernel does not take {:?}", model.config)));
    }
    compare_graph(model, &kernels, ("vector", "layer"), rows, capacity, offset, seed)
}

fn compare_graph(
    model: &Text2SemanticDecoder,
    kernels: &crate::models::gpt::fused::FusedKernels,
    (gemv, attention): (&str, &str),
    rows: i32,
    capacity: i32,
    offset: i32,
    seed: u64,
) -> Result<GraphReport> {
    let cfg = &model.config;
    if offset >= capacity {
        return Err(Error::Invalid(format!("offset {offset} does not fit a cache of {capacity}")));
    }
    let inputs = random_step_inputs(model, rows, capacity, offset, seed)?;
    let reference = crate::models::gpt::step::step_graph(model, &inputs)?;
    mlx_rs::transforms::eval(reference.iter())?;
    let candidate = kernels.step_graph(model, &inputs)?;
    mlx_rs::transforms::eval(candidate.iter())?;
    if reference.len() != candidate.len() {
        return Err(Error::Invalid(format!("{} outputs against {}", candidate.len(), reference.len())));
    }
    let max_abs_diff = |a: &Array, b: &Array| -> Result<f32> {
        let d = a.subtract(b)?.abs()?.max(None)?.item_cast::<f32>();
        Ok(if d.is_nan() { f32::INFINITY } else { d })
    };
    let largest = reference[0].abs()?.max(None)?.item_cast::<f32>();
    let logit = max_abs_diff(&reference[0], &candidate[0])? / largest.max(f32::MIN_POSITIVE);
    let mut cache = 0f32;
    for (a, b) in reference[1..].iter().zip(&candidate[1..]) {
        cache = cache.max(max_abs_diff(a, b)?);
    }
    Ok(GraphReport {
        gemv: gemv.into(),
        attention: attention.into(),
        width: cfg.hidden_dim,
        rows,
        capacity,
        offset,
        max_rel_logit_diff: logit,
        max_cache_diff: cache,
        passed: logit <= LOGIT_TOLERANCE && cache <= CACHE_TOLERANCE,
    })
}

/// The step-graph comparisons of the selftest for a model of `cfg`: one row, 16 (the most the
/// matrix-vector kernels take) over a cache too large for the attention kernel's copy blocks,
/// 17 (matrix products and the add-norm kernel), 1, 3 and 16 rows with the tiled and with the
/// vector matrix-vector forms, attention by warps (1 and 3 rows with its copy blocks, 16 after the
/// scatter, 3 rows of heads of 64), and 16 rows of a one-layer model at least twice as wide (rows
/// that no longer fit the normalising kernels' shared memory).
pub fn compare_step_graphs(cfg: &GptConfig) -> Result<Vec<GraphReport>> {
    use crate::models::gpt::fused::KV_COPY_MAX_BYTES;
    let model = Text2SemanticDecoder::random(cfg.clone(), Dtype::Float32, 7)?;
    // Positions per row that make one buffer exceed the copy blocks' limit.
    let row_bytes = (cfg.hidden_dim as usize) * std::mem::size_of::<f32>();
    let large = ((KV_COPY_MAX_BYTES / (16 * row_bytes)) as i32 / 256 + 1) * 256;
    let mut reports = Vec::new();
    for (rows, capacity, offset) in [(1, 256, 100), (16, large, large - 7), (17, 256, 200)] {
        reports.push(compare_step_graph(&model, GemvForm::Column, false, rows, capacity, offset, 11 + rows as u64)?);
    }
    for form in [GemvForm::Tiled, GemvForm::Vector] {
        for (rows, capacity, offset) in [(1, 256, 60), (3, 256, 90), (16, 256, 150)] {
            reports.push(compare_step_graph(&model, form, false, rows, capacity, offset, 21 + rows as u64)?);
        }
    }
    // Attention by warps: with its copy blocks (1 and 3 rows), and alone after the scatter.
    for (rows, capacity, offset) in [(1, 256, 200), (3, 256, 37), (16, large, large - 3)] {
        reports.push(compare_step_graph(&model, GemvForm::Column, true, rows, capacity, offset, 41 + rows as u64)?);
    }
    // 16 rows of 768 floats are 48 KiB, over the 40 KiB the normalising kernels take.
    let width = (2 * cfg.hidden_dim).max(768);
    let wide = GptConfig { embedding_dim: width, hidden_dim: width, n_head: width / cfg.head_dim(), n_layer: 1, ..cfg.clone() };
    let wide = Text2SemanticDecoder::random(wide, Dtype::Float32, 8)?;
    reports.push(compare_step_graph(&wide, GemvForm::Column, false, 16, 256, 130, 31)?);
    // Heads of 64: attention by warps with two dimensions per lane.
    let hd64 = GptConfig { n_head: (cfg.hidden_dim / 64).max(1), n_layer: 1, ..cfg.clone() };
    let hd64 = Text2SemanticDecoder::random(hd64, Dtype::Float32, 9)?;
    reports.push(compare_step_graph(&hd64, GemvForm::Column, true, 3, 256, 77, 51)?);
    // Whole layers as one kernel: 1, 3 and 16 rows (16 over more positions than a block's
    // share of splits), and heads of 64.
    for (rows, capacity, offset) in [(1, 256, 100), (3, 512, 300), (16, 512, 411)] {
        reports.push(compare_layer_graph(&model, rows, capacity, offset, 61 + rows as u64)?);
    }
    reports.push(compare_layer_graph(&hd64, 3, 256, 77, 71)?);
    Ok(reports)
}

/// The GPU selftest: fused vs portable compiled step on random v2 weights (`config` = v2 when
/// `None`), f32.
pub fn gpu_decode(config: Option<GptConfig>, rows: usize, steps: usize) -> Result<SelftestReport> {
    if !crate::models::cuda_kernel::available() {
        return Err(Error::Invalid(
            "the fused decode step needs MLX's CUDA backend on the GPU (run with --device gpu and the CUDA libmlx; \
             see docs/cuda.md)"
                .into(),
        ));
    }
    fused_against_portable(config.unwrap_or_else(GptConfig::v2), rows, steps)
}

/// Decoding and the step graphs, fused against portable, on a random f32 model of `cfg`.
fn fused_against_portable(cfg: GptConfig, rows: usize, steps: usize) -> Result<SelftestReport> {
    let model = Arc::new(Text2SemanticDecoder::random(cfg.clone(), Dtype::Float32, 5)?);
    let mut candidates = vec![(StepChoice::FUSED, None)];
    if crate::models::gpt::layer_kernel::LayerKernels::supports(&model) {
        candidates.push((StepChoice::LAYER_KERNEL, Some("layer kernel")));
    }
    let mut report = compare_candidates(&model, StepChoice::PORTABLE, &candidates, rows, steps)?;
    report.add_graphs(compare_step_graphs(&cfg)?);
    Ok(report)
}

impl SelftestReport {
    fn add_graphs(&mut self, graphs: Vec<GraphReport>) {
        self.passed &= graphs.iter().all(|g| g.passed);
        self.graphs.extend(graphs);
    }
}

/// A GPT the fused kernels take, small enough for the emulator: 128 wide in 4 heads of 32 (as
/// v2's heads), 2 layers, 129 tokens.
pub fn small_config() -> GptConfig {
    GptConfig { embedding_dim: 128, hidden_dim: 128, n_head: 4, n_layer: 2, vocab_size: 129, eos: 128, bert_dim: 16, ..GptConfig::v2() }
}

/// The selftest with the fused kernels run by the CPU emulator ([`super::cuda_emulator`]) on
/// any device: what proves a kernel's arithmetic before a GPU runs it (`config` = v2 when
/// `None`; a full-size step takes seconds there, so small configs suit tests).
pub fn emulated_decode(config: Option<GptConfig>, rows: usize, steps: usize, blocks: Option<i32>) -> Result<SelftestReport> {
    let mut emulator = CpuEmulator::in_temp_dir()?;
    if let Some(blocks) = blocks {
        emulator = emulator.with_blocks(blocks)?;
    }
    let emulator = std::rc::Rc::new(emulator);
    let dyn_emulator: std::rc::Rc<dyn crate::models::cuda_kernel::KernelEmulator> = emulator.clone();
    let cfg = config.unwrap_or_else(GptConfig::v2);
    let mut report = crate::models::cuda_kernel::with_emulator(dyn_emulator, || fused_against_portable(cfg, rows, steps))?;
    report.emulator = Some(emulator.stats());
    Ok(report)
}

/// The launch specs of every fused-step kernel, recorded (not run) on any device for the shapes
/// that take each branch: batch 1, 3 and 16 with a small cache (attention with its copy blocks,
/// the matrix-vector kernels), 16 rows with a cache over [`KV_COPY_MAX_BYTES`] (scatter, then
/// attention alone) and 17 rows (matrix products and the add-norm kernel). Deduplicated by
/// kernel and template arguments; `scripts/cuda-kernel-check.py` compiles them with NVRTC.
/// A one-layer model twice as wide covers the kernels that take over when rows do not fit.
///
/// [`KV_COPY_MAX_BYTES`]: crate::models::gpt::fused::KV_COPY_MAX_BYTES
pub fn kernel_specs(config: Option<GptConfig>) -> Result<Vec<serde_json::Value>> {
    let cfg = config.unwrap_or_else(GptConfig::v2);
    // One layer twice as wide: its rows no longer fit the normalising kernels' shared memory, so
    // the add-norm kernel and the biased matrix-vector kernel take over.
    let wide = GptConfig { embedding_dim: 2 * cfg.hidden_dim, hidden_dim: 2 * cfg.hidden_dim, n_layer: 1, ..cfg.clone() };
    let mut specs: Vec<serde_json::Value> = Vec::new();
    let few = [(1, 256), (3, 256), (16, 256)];
    for (cfg, shapes, form, warps, layer) in [
        (cfg.clone(), &[(1, 256), (3, 512), (16, 256), (16, 2048), (17, 256)][..], GemvForm::Column, false, false),
        (cfg.clone(), &few[..], GemvForm::Tiled, false, false),
        (cfg.clone(), &few[..], GemvForm::Vector, false, false),
        (cfg.clone(), &[(1, 256), (3, 512), (16, 2048)][..], GemvForm::Column, true, false),
        (cfg, &[(1, 256), (16, 512)][..], GemvForm::Vector, true, true),
        (wide.clone(), &[(16, 256)][..], GemvForm::Column, false, false),
        (wide, &[(3, 256)][..], GemvForm::Column, true, false),
    ] {
        for spec in record_step(cfg, shapes, form, warps, layer)? {
            let key = |v: &serde_json::Value| (v["name"].clone(), v["template"].clone());
            if !specs.iter().any(|s| key(s) == key(&spec)) {
                specs.push(spec);
            }
        }
    }
    Ok(specs)
}

/// The fused step's launches for each `(rows, cache capacity)` on a random model of `cfg`, with
/// the matrix-vector `form` wherever it fits (and attention by warps when `warps`; whole layers as
/// one kernel when `layer`).
fn record_step(cfg: GptConfig, shapes: &[(i32, i32)], form: GemvForm, warps: bool, layer: bool) -> Result<Vec<serde_json::Value>> {
    use crate::models::cuda_kernel::record_launches;
    let model = Text2SemanticDecoder::random(cfg, Dtype::Float32, 5)?;
    // Made while recording: a build without CUDA kernels (this CPU) cannot create them.
    let (kernels, _) = record_launches(|| fused_kernels(&model, form, warps)?.with_layer_kernel(&model, layer));
    let kernels = kernels?;
    let (h, hd) = (model.config.n_head, model.config.head_dim());
    let mut specs = Vec::new();
    for &(rows, capacity) in shapes {
        let mut inputs = vec![
            mlx_rs::Array::zeros::<i32>(&[rows])?,
            mlx_rs::Array::zeros::<i32>(&[rows])?,
            mlx_rs::Array::from_slice(&[capacity / 2], &[1]),
            mlx_rs::Array::zeros::<i32>(&[rows])?,
        ];
        for _ in 0..2 * model.config.n_layer {
            inputs.push(mlx_rs::Array::zeros::<f32>(&[rows, h, capacity, hd])?);
        }
        let (graph, recorded) = record_launches(|| kernels.step_graph(&model, &inputs));
        graph?;
        specs.extend(recorded);
        let (sampled, recorded) = record_launches(|| sample_with_kernel(&model, rows));
        sampled?;
        specs.extend(recorded);
    }
    Ok(specs)
}

/// The fused step's kernels with every product of up to 16 rows in `form` where it fits (the
/// column form elsewhere), attention by warps when `warps`.
fn fused_kernels(model: &Text2SemanticDecoder, form: GemvForm, warps: bool) -> Result<crate::models::gpt::fused::FusedKernels> {
    use crate::models::gpt::fused::FusedKernels;
    use crate::models::gpt::gemv::GEMV_MAX_ROWS;
    let tiled_min = if form == GemvForm::Tiled { 1 } else { GEMV_MAX_ROWS + 1 };
    Ok(FusedKernels::with_gemv_rows(model, GEMV_MAX_ROWS, tiled_min)?.with_vector_columns(form == GemvForm::Vector).with_warp_attention_rows(if warps { i32::MAX } else { 0 }))
}

/// One launch of the sampler kernel for `rows` rows (recorded: see [`record_step`]).
fn sample_with_kernel(model: &Text2SemanticDecoder, rows: i32) -> Result<()> {
    use crate::models::gpt::sampling::{BatchParams, CompiledSampler};
    let v = model.config.vocab_size;
    let mut sampler = CompiledSampler::with_kernel(model.config.eos, v, true)?;
    let params = BatchParams::new(&vec![SamplingParams::default(); rows as usize], v);
    let logits = mlx_rs::Array::zeros::<f32>(&[rows, v])?;
    let presence = mlx_rs::ops::zeros_dtype(&[rows, v], Dtype::Bool)?;
    let blocked = mlx_rs::ops::zeros_dtype(&[rows], Dtype::Bool)?;
    let q = mlx_rs::Array::ones::<f32>(&[rows, v])?;
    sampler.sample(&logits, &presence, &blocked, &params, &q)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_specs_cover_every_fused_kernel() {
        // 384 wide: the doubled layer (768) no longer fits the normalising kernels at 16 rows.
        let cfg = GptConfig { embedding_dim: 384, hidden_dim: 384, n_head: 12, n_layer: 2, vocab_size: 129, eos: 128, bert_dim: 16, ..GptConfig::v2() };
        let specs = kernel_specs(Some(cfg)).unwrap();
        let names: std::collections::BTreeSet<&str> = specs.iter().filter_map(|s| s["name"].as_str()).collect();
        let every = ["gsv_decode_attention", "gsv_decode_attention_kv", "gsv_decode_attention_w", "gsv_decode_attention_kv_w", "gsv_add_norm", "gsv_norm_gemv", "gsv_norm_gemv_bias", "gsv_embed_gemv_bias", "gsv_gemv", "gsv_gemv_bias", "gsv_sample"];
        let forms = ["gsv_norm_gemv_t", "gsv_norm_gemv_bias_t", "gsv_embed_gemv_bias_t", "gsv_gemv_t", "gsv_norm_gemv_v", "gsv_norm_gemv_bias_v", "gsv_embed_gemv_bias_v", "gsv_gemv_v", "gsv_decode_layer_embed", "gsv_decode_layer"];
        for name in every.into_iter().chain(forms) {
            assert!(names.contains(name), "{name} not recorded: {names:?}");
        }
        for s in &specs {
            assert!(s["source"].as_str().is_some_and(|src| !src.is_empty() && !src.contains("{BIAS}") && !src.contains("{COPY}")), "{}", s["name"]);
            let (grid, block) = (&s["grid"], &s["block"]);
            assert_eq!(grid[0].as_i64().unwrap() % block[0].as_i64().unwrap(), 0, "{}: grid not a multiple of the block", s["name"]);
        }
    }

    fn run(tokens: Vec<Vec<u32>>, logit: f32) -> Run {
        let logits = tokens.iter().map(|t| t.iter().map(|_| vec![logit, -1.0, 0.5]).collect()).collect();
        let probs = tokens.iter().map(|t| t.iter().map(|_| vec![0.5, 0.25, 0.25]).collect()).collect();
        Run { tokens, logits, probs }
    }

    #[test]
    fn identical_runs_pass_and_differences_fail() {
        let a = run(vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 2.0);
        assert!(compare("greedy", 4, &a, &run(vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 2.0)).passed);

        let tokens = compare("greedy", 4, &a, &run(vec![vec![1, 2, 3, 4], vec![5, 6, 9, 8]], 2.0));
        assert_eq!(tokens.first_token_mismatch, vec![None, Some(2)]);
        assert!(!tokens.passed);

        let logits = compare("greedy", 4, &a, &run(vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 2.01));
        assert!((logits.max_rel_logit_diff - 0.005).abs() < 1e-4, "{}", logits.max_rel_logit_diff);
        assert!(!logits.passed);

        assert!(!compare("greedy", 4, &a, &run(vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]], f32::NAN)).passed);
        assert!(!compare("greedy", 5, &a, &a).passed, "a run shorter than asked must fail");
        let mut probs = run(vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]], 2.0);
        probs.probs[1][3][0] += 1e-3;
        let probs = compare("sampled", 4, &a, &probs);
        assert!(!probs.passed && probs.max_prob_diff > PROB_TOLERANCE, "{probs:?}");
    }

    #[test]
    #[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), ignore = "the kernel emulator runs on x86-64 Linux only")]
    fn emulated_fused_step_matches_the_portable_step() {
        // Decoding 3 rows takes the matrix-vector kernels with their normalising prologues, the
        // attention kernel with its copy blocks and the sampler kernel; the step graphs take
        // every other branch.
        let report = emulated_decode(Some(small_config()), 3, 12, None).unwrap();
        assert!(report.passed, "{report:#?}");
        assert_eq!(report.graphs.len(), 18);
        assert_eq!(report.modes.len(), 4, "greedy and sampled, five-kernel and one-kernel layers");
        let stats = report.emulator.as_ref().unwrap();
        let every = [
            "gsv_decode_attention",
            "gsv_decode_attention_kv",
            "gsv_decode_attention_w",
            "gsv_decode_attention_kv_w",
            "gsv_add_norm",
            "gsv_norm_gemv",
            "gsv_norm_gemv_bias",
            "gsv_embed_gemv_bias",
            "gsv_gemv",
            "gsv_gemv_bias",
            "gsv_sample",
            "gsv_norm_gemv_t",
            "gsv_norm_gemv_bias_t",
            "gsv_embed_gemv_bias_t",
            "gsv_gemv_t",
            "gsv_norm_gemv_v",
            "gsv_norm_gemv_bias_v",
            "gsv_embed_gemv_bias_v",
            "gsv_gemv_v",
            "gsv_decode_layer_embed",
            "gsv_decode_layer",
        ];
        for name in every {
            assert!(stats.launches.get(name).is_some_and(|&n| n > 0), "{name} never ran: {stats:?}");
        }
    }

    #[test]
    #[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), ignore = "the kernel emulator runs on x86-64 Linux only")]
    fn emulated_layer_kernel_on_a_larger_grid_matches_the_portable_step() {
        // 16 blocks of 16 warps split attention into 16 column ranges per head (the most) at one
        // and at 3 rows of the 4-head model: what the H100's 132 blocks give v2's 16 heads.
        // A grid of 3 blocks only ever splits in 1 or 2.
        let report = emulated_decode(Some(small_config()), 3, 12, Some(16)).unwrap();
        assert!(report.passed, "{report:#?}");
        assert!(report.modes.iter().any(|m| m.mode == "greedy (layer kernel)" && m.passed), "{:#?}", report.modes);
        assert!(emulated_decode(Some(small_config()), 1, 1, Some(crate::bench::cuda_emulator::max_grid_blocks() + 1)).is_err(), "a grid the emulator cannot hold");
    }

    #[test]
    fn eager_and_compiled_portable_steps_agree_on_left_padded_rows() {
        let cfg = GptConfig { embedding_dim: 64, hidden_dim: 64, n_head: 4, n_layer: 2, vocab_size: 129, eos: 128, bert_dim: 16, ..GptConfig::v2() };
        let model = Arc::new(Text2SemanticDecoder::random(cfg, Dtype::Float32, 3).unwrap());
        let report = compare_steps(&model, StepChoice::EAGER, StepChoice::PORTABLE, 3, 40).unwrap();
        assert!(report.passed, "{report:#?}");
        assert_eq!(report.left_pads, vec![0, 18, 36]);
        assert!(report.modes.iter().all(|m| m.first_token_mismatch.iter().all(Option::is_none)));
    }
}
