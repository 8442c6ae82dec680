//! The GPT decode step as one compiled MLX graph (`mlx_rs::transforms::compile`).
//!
//! An eager decode step builds ~20 graph nodes per layer (projections, reshapes, cache writes,
//! attention, norms) plus the embedding and the output head, and a batch-1 step on a GPU is
//! dominated by that per-node host work and the kernel launches it causes, not by arithmetic
//! (see docs/benchmarks.md). Compiling the whole step traces it once per input shape and replays
//! the simplified, fused graph afterwards.
//!
//! A compiled function only sees values that are *inputs*: anything read from host state while
//! tracing (a cache offset, a left padding) would be frozen into the trace. So every per-step
//! value is an array input here — the tokens, their positions, the cache write position and each
//! row's left padding — and the cache is the whole preallocated buffer `[B, H, capacity, hd]`,
//! written with a dynamic-position scatter and attended under a mask that hides both the
//! unwritten tail and the left padding. The graph's shapes then change only when the batch size
//! or the cache capacity (a multiple of [`KvCache::STEP`]) changes, and each such shape is
//! traced once and kept in MLX's compile cache for the life of the [`CompiledStep`].
//!
//! Two graphs can be compiled: the portable one below (MLX ops only, every backend; the
//! reference) and, on MLX's CUDA backend, the fused one of [`super::fused`] (custom kernels,
//! fewer nodes per layer). Both take the same inputs and give the same outputs.
use std::collections::BTreeMap;
use std::sync::Arc;

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{ops, Array, Dtype};

use super::fused::FusedKernels;
use super::model::Text2SemanticDecoder;
use super::cache::KvCache;
use crate::device::SwitchCell;
use crate::models::{Error, Result};

type StepFn = Box<dyn for<'a> FnMut(&'a [Array]) -> std::result::Result<Vec<Array>, Exception>>;

/// A compiled decode step bound to one model. Owned by one decoder on the inference thread;
/// the function is compiled on the first [`CompiledStep::run`].
pub struct CompiledStep {
    model: Arc<Text2SemanticDecoder>,
    fused: bool,
    step: Option<StepFn>,
}

impl CompiledStep {
    /// The portable step.
    pub fn new(model: Arc<Text2SemanticDecoder>) -> Self {
        Self::with_fused(model, false)
    }

    /// `fused`: the custom-kernel step of [`super::fused`] (CUDA only; see [`fused_enabled`]).
    pub fn with_fused(model: Arc<Text2SemanticDecoder>, fused: bool) -> Self {
        Self { model, fused, step: None }
    }

    pub fn is_fused(&self) -> bool {
        self.fused
    }

    fn step_fn(&mut self) -> Result<&mut StepFn> {
        if self.step.is_none() {
            // Captured weights must already be evaluated: an unevaluated capture would be traced
            // as computation and re-run on every call.
            self.model.eval_weights()?;
            let model = Arc::clone(&self.model);
            let kernels = if self.fused { Some(FusedKernels::new(&model)?) } else { None };
            let f = move |inputs: &[Array]| -> std::result::Result<Vec<Array>, Exception> {
                match &kernels {
                    Some(k) => k.step_graph(&model, inputs),
                    None => step_graph(&model, inputs),
                }
                .map_err(|e| Exception::custom(e.to_string()))
            };
            // An emulated kernel (`cuda_kernel::with_emulator`) runs when applied, on values:
            // it cannot be traced.
            self.step = Some(if self.fused && crate::models::cuda_kernel::emulated() { Box::new(f) } else { Box::new(compile(f, false)) });
        }
        self.step.as_mut().ok_or_else(|| Error::Invalid("compiled step missing".into()))
    }

    /// One step for `B` rows: `tokens [B]` (may be lazy), `positions` (audio position of each
    /// row's token), `left_pad [B]` and the caches, which must all hold `offset` positions.
    /// Writes the new keys/values at `offset` in place of the old buffers and returns the f32
    /// logits `[B, vocab]` (lazy).
    pub fn run(&mut self, tokens: &Array, positions: &[i32], left_pad: &Array, caches: &mut [KvCache]) -> Result<Array> {
        Ok(self.run_counted(tokens, positions, left_pad, caches, false)?.0)
    }

    /// [`Self::run`], and with `count` the graph nodes of the step per primitive kind (what a
    /// GPU pays host work for; `gsv-server bench` prints their sum as "nodes per step").
    pub fn run_counted(
        &mut self,
        tokens: &Array,
        positions: &[i32],
        left_pad: &Array,
        caches: &mut [KvCache],
        count: bool,
    ) -> Result<(Array, Option<BTreeMap<String, usize>>)> {
        let n_layer = self.model.config.n_layer as usize;
        if caches.len() != n_layer {
            return Err(Error::Invalid(format!("{} kv caches given for {n_layer} layers", caches.len())));
        }
        let b = positions.len() as i32;
        let offset = caches.first().map_or(0, |c| c.offset());
        let mut inputs = Vec::with_capacity(4 + 2 * caches.len());
        inputs.push(tokens.reshape(&[b])?.as_dtype(Dtype::Int32)?);
        inputs.push(Array::from_slice(positions, &[b]));
        inputs.push(Array::from_slice(&[offset], &[1]));
        inputs.push(left_pad.clone());
        for c in caches.iter_mut() {
            let (k, v) = c.take_for_write(1)?;
            inputs.push(k);
            inputs.push(v);
        }
        let outputs = (self.step_fn()?)(&inputs);
        // The buffers must have no other owner when the scatter runs, or MLX copies them.
        drop(inputs);
        let outputs = outputs?;
        let counts = if count {
            Some(crate::models::graph::node_counts(&outputs.iter().collect::<Vec<_>>())?)
        } else {
            None
        };
        let mut outputs = outputs.into_iter();
        let logits = outputs.next().ok_or_else(|| Error::Invalid("compiled step returned nothing".into()))?;
        for c in caches.iter_mut() {
            match (outputs.next(), outputs.next()) {
                (Some(k), Some(v)) => c.put_written(k, v, 1)?,
                _ => return Err(Error::Invalid("compiled step returned too few cache buffers".into())),
            }
        }
        Ok((logits, counts))
    }
}

/// The traced function: `[tokens, positions, offset, left_pad, k_0, v_0, …]` →
/// `[logits, k_0', v_0', …]` (public as the reference the fused step is checked against).
pub fn step_graph(model: &Text2SemanticDecoder, inputs: &[Array]) -> Result<Vec<Array>> {
    let [tokens, positions, offset, left_pad, buffers @ ..] = inputs else {
        return Err(Error::Invalid("compiled step: too few inputs".into()));
    };
    let b = tokens.shape()[0];
    let capacity = buffers.first().map_or(0, |k| k.shape()[2]);
    let x = model.embed_step_at(tokens, positions)?;
    // Column c may be attended by row r iff it is written (c ≤ offset) and not padding.
    let cols = ops::arange::<_, i32>(0, capacity, 1)?.reshape(&[1, capacity])?;
    let keep = cols.le(offset.reshape(&[1, 1])?)?.logical_and(&cols.ge(&left_pad.reshape(&[b, 1])?)?)?;
    let mask = keep.reshape(&[b, 1, 1, capacity])?;
    let (h, new_buffers) = model.forward_step_buffers(&x, &mask, offset, buffers)?;
    let logits = model.predict(&h.reshape(&[b, model.config.hidden_dim])?)?;
    let mut out = Vec::with_capacity(1 + new_buffers.len());
    out.push(logits);
    out.extend(new_buffers);
    Ok(out)
}

/// Process-wide default for new decoders (auto = follow the device).
static COMPILE: SwitchCell = SwitchCell::auto();

/// Whether new decoders compile their step: as [`set_compile`] said, else on for a GPU device
/// (where per-op overhead dominates a decode step) and off on the CPU.
pub fn compile_enabled() -> bool {
    COMPILE.get(crate::models::default_device_is_gpu)
}

/// Sets the default of [`compile_enabled`]; `None` = follow the device.
pub fn set_compile(on: Option<bool>) {
    COMPILE.set(on);
}

/// Process-wide default for the fused step (auto = [`FUSED_BY_DEFAULT`]).
static FUSED: SwitchCell = SwitchCell::auto();

/// What `auto` means for the fused step: on. Its kernels (5 per layer, the sampler kernel, the
/// tiled matrix-vector form) passed `gsv-server selftest --device gpu` on an H100 (2026-12-07,
/// commit 42bddb8: 3 rows x 500 steps and 16 rows x 100, greedy and sampled, and the step-graph
/// branches; docs/benchmarks.md); every change of a kernel is proven there again before release.
pub const FUSED_BY_DEFAULT: bool = true;

/// Whether new compiled decoders use the fused custom-kernel step: as [`set_fused`] said (never
/// where custom CUDA kernels cannot run or the model does not fit them), else
/// [`FUSED_BY_DEFAULT`].
pub fn fused_enabled(model: &Text2SemanticDecoder) -> bool {
    fused_on_this_device() && FusedKernels::supports(model)
}

/// Whether the fused step runs for the models that fit it (f32): as [`set_fused`] said, on the
/// CUDA backend only.
pub fn fused_on_this_device() -> bool {
    FUSED.get(|| FUSED_BY_DEFAULT) && crate::models::cuda_kernel::available()
}

/// Sets the default of [`fused_enabled`]; `None` = [`FUSED_BY_DEFAULT`].
pub fn set_fused(on: Option<bool>) {
    FUSED.set(on);
}
