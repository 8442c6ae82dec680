//! The reverse flow and the Generator of a decode as one compiled MLX graph
//! (`mlx_rs::transforms::compile`), traced once per latent length.
//!
//! On MLX's CUDA backend a SoVITS decode is bound by per-node host work, not by the GPU: on an
//! H100 the Generator of 1 s of audio took as long as that of 10 s (34 against 32 ms), and each
//! chunk of a streamed sentence paid 18–25 ms (docs/benchmarks.md). Built op by op, the flow and
//! Generator of one decode are ~1,500 graph nodes with MLX's convolutions and length buckets
//! (~4,000 with the tap GEMMs), each created through the C API and encoded at evaluation. A
//! compiled function replays a traced, simplified graph instead: element-wise chains (LeakyReLU,
//! bias and residual adds, the buckets' casts) are fused and no op is rebuilt on the host.
//!
//! The trace is keyed by the input shapes: a streaming decoder meets a few window lengths again and
//! again, a server of one-shot sentences a new length per sentence, where the first decode of a
//! length costs a trace (about one eager build). Traces are kept for [`MAX_LENGTHS`] lengths, then
//! dropped together (which frees MLX's compile cache for them) and started again.
use std::cell::RefCell;
use std::collections::BTreeSet;

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::Array;

use super::flow::Flow;
use super::generator::Generator;
use crate::device::SwitchCell;
use crate::models::{Error, Result};

/// Latent lengths traced before the traces are dropped and started again.
pub const MAX_LENGTHS: usize = 64;

type SynthesisFn = Box<dyn FnMut(&[Array]) -> std::result::Result<Vec<Array>, Exception>>;

/// `(z_p, g) → (z, o)` compiled over one model's flow and Generator.
#[derive(Default)]
pub struct CompiledSynthesis {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    f: Option<SynthesisFn>,
    lengths: BTreeSet<i32>,
}

impl CompiledSynthesis {
    /// `z = flow⁻¹(z_p, g)`, `o = Generator(z, g)`; the first call for a model runs them eagerly
    /// (which also evaluates weights that are still lazy, such as folded weight norms: a compiled
    /// function must capture evaluated arrays, or it re-runs their computation every call).
    pub fn run(&self, flow: &Flow, dec: &Generator, z_p: &Array, g: &Array) -> Result<(Array, Array)> {
        let mut state = self.state.try_borrow_mut().map_err(|_| Error::Invalid("compiled synthesis re-entered".into()))?;
        if state.f.is_none() {
            let z = flow.reverse(z_p, g)?;
            let o = dec.forward(&z, Some(g))?;
            mlx_rs::transforms::eval([&z, &o])?;
            state.f = Some(trace(flow, dec));
            return Ok((z, o));
        }
        let t = z_p.shape().get(1).copied().unwrap_or(0);
        if !state.lengths.contains(&t) && state.lengths.len() >= MAX_LENGTHS {
            // Replacing the function drops the old one, which erases its traces.
            state.lengths.clear();
            state.f = Some(trace(flow, dec));
        }
        state.lengths.insert(t);
        let f = state.f.as_mut().ok_or_else(|| Error::Invalid("compiled synthesis missing".into()))?;
        let mut out = f(&[z_p.clone(), g.clone()])?.into_iter();
        match (out.next(), out.next()) {
            (Some(z), Some(o)) => Ok((z, o)),
            _ => Err(Error::Invalid("compiled synthesis returned too few arrays".into())),
        }
    }
}

fn trace(flow: &Flow, dec: &Generator) -> SynthesisFn {
    let (flow, dec) = (flow.clone(), dec.clone());
    let f = move |inputs: &[Array]| -> std::result::Result<Vec<Array>, Exception> {
        let [z_p, g] = inputs else {
            return Err(Exception::custom("compiled synthesis takes z_p and g"));
        };
        let run = || -> Result<Vec<Array>> {
            let z = flow.reverse(z_p, g)?;
            let o = dec.forward(&z, Some(g))?;
            Ok(vec![z, o])
        };
        run().map_err(|e| Exception::custom(e.to_string()))
    };
    Box::new(compile(f, false))
}

/// Process-wide default for models loaded from now on (`bench --compile-sovits`).
static COMPILE_SYNTHESIS: SwitchCell = SwitchCell::auto();

/// What `auto` means: off everywhere for now. On the CPU the arithmetic bounds a decode and
/// compiling changes nothing (measured: 0.43 against 0.40 s for the flow and Generator of 25
/// tokens, 2-core VM); on CUDA it cuts the nodes of one decode from 1,461 to 790 (v2, 25 tokens,
/// MLX convolutions with buckets, counted on the CPU) but has not been timed on a GPU yet, and a
/// change becomes a default there only once measured (docs/cuda.md).
pub const COMPILE_BY_DEFAULT: bool = false;

/// Sets [`compile_enabled`]'s answer; `None` = [`COMPILE_BY_DEFAULT`].
pub fn set_compile(on: Option<bool>) {
    COMPILE_SYNTHESIS.set(on);
}

/// Whether models loaded from now on run the flow and Generator compiled.
pub fn compile_enabled() -> bool {
    COMPILE_SYNTHESIS.get(|| COMPILE_BY_DEFAULT)
}

#[cfg(test)]
mod tests {
    use mlx_rs::{random, Dtype};

    use super::*;
    use crate::models::sovits::config::SovitsConfig;
    use crate::models::sovits::synthetic::random_model;
    use crate::models::sovits::SovitsVersion;

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

    #[test]
    fn compiled_flow_and_generator_match_the_eager_ones_at_every_length() {
        let cfg = SovitsConfig { inter_channels: 32, hidden_channels: 32, filter_channels: 16, n_layers: 2, upsample_initial_channel: 48, gin_channels: 64, ..SovitsConfig::for_version(SovitsVersion::V2) };
        let model = random_model(&cfg, 4, Dtype::Float32).unwrap();
        let g = random::normal::<f32>(&[1, 1, cfg.gin_channels], None, None, &random::key(1).unwrap()).unwrap();
        let compiled = CompiledSynthesis::default();
        // 10 and 14 frames: the first call of a model (eager), a new length (a trace), then
        // the first length again (its trace replayed).
        for (i, t) in [10, 10, 14, 10].into_iter().enumerate() {
            let z_p = random::normal::<f32>(&[1, t, cfg.inter_channels], None, None, &random::key(10 + i as u64).unwrap()).unwrap();
            let (z, o) = compiled.run(model.flow(), model.generator(), &z_p, &g).unwrap();
            let z_ref = model.flow().reverse(&z_p, &g).unwrap();
            let o_ref = model.generator().forward(&z_ref, Some(&g)).unwrap();
            assert_eq!(o.shape(), o_ref.shape());
            let (dz, dout) = (max_rel(&host(&z), &host(&z_ref)), max_rel(&host(&o), &host(&o_ref)));
            assert!(dz <= 1e-5 && dout <= 1e-4, "call {i} (T={t}): z {dz:e}, o {dout:e}");
        }
        assert_eq!(compiled.state.borrow().lengths.iter().copied().collect::<Vec<_>>(), [10, 14]);
    }

    #[test]
    fn traces_are_dropped_past_the_length_limit() {
        let cfg = SovitsConfig { inter_channels: 16, hidden_channels: 16, filter_channels: 8, n_layers: 1, upsample_initial_channel: 32, gin_channels: 16, ..SovitsConfig::for_version(SovitsVersion::V2) };
        let model = random_model(&cfg, 5, Dtype::Float32).unwrap();
        let g = Array::zeros::<f32>(&[1, 1, cfg.gin_channels]).unwrap();
        let compiled = CompiledSynthesis::default();
        for t in 1..=(MAX_LENGTHS as i32 + 2) {
            let z_p = Array::ones::<f32>(&[1, t, cfg.inter_channels]).unwrap();
            let (_, o) = compiled.run(model.flow(), model.generator(), &z_p, &g).unwrap();
            assert_eq!(o.shape()[1], t * model.samples_per_token() as i32 / 2);
        }
        let lengths = compiled.state.borrow().lengths.len();
        assert!((1..=MAX_LENGTHS).contains(&lengths), "{lengths} traces kept");
    }
}
