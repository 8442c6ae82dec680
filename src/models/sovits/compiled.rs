//! The decode as two compiled MLX graphs (`mlx_rs::transforms::compile`) over length buckets:
//! the content encoding of `enc_p` (codes and phones → `encoder2`'s output) and the synthesis
//! (prior sample, reverse flow, Generator).
//!
//! On MLX's CUDA backend a SoVITS decode is bound by per-node host work, not by the GPU: on an
//! H100 the Generator of 1 s of audio took as long as that of 10 s (34 against 32 ms), `enc_p` 18
//! of a 1 s decode's ~60 ms, and each chunk of a streamed sentence paid 18–25 ms
//! (docs/benchmarks.md). Built op by op, one decode is ~2,700 graph nodes (v2, MLX convolutions
//! with per-convolution buckets), each created through the C API and encoded at evaluation. A
//! compiled function replays a traced, simplified graph instead: element-wise chains (LeakyReLU,
//! the masks, bias and residual adds) are fused and no op is rebuilt on the host.
//!
//! A trace is keyed by its input shapes, and a server meets a new length with every sentence and
//! every streamed chunk (whose `enc_p` runs over all codes so far). So the inputs are padded to a
//! bucket ([`decode_bucket`]: 16 frames at least, then 4 lengths per octave) and the real length
//! goes in as an array: [`FrameMask`] keeps the padded frames out of the real ones exactly where
//! upstream's masks would, so the result is the unpadded decode's. Traces are kept for
//! [`MAX_SHAPES`] buckets per graph, then dropped together (which frees MLX's compile cache for
//! them) and started again.
use std::cell::RefCell;
use std::collections::BTreeSet;

use mlx_rs::error::Exception;
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{ops, Array};

use super::flow::Flow;
use super::generator::Generator;
use super::mask::FrameMask;
use super::quantizer::Quantizer;
use super::text_encoder::TextEncoder;
use crate::device::SwitchCell;
use crate::models::layers::with_exact_conv_lengths;
use crate::models::{Error, Result};

/// Buckets traced per graph before its traces are dropped and started again.
pub const MAX_SHAPES: usize = 128;

/// The padded length of `len` frames: at least 16, then rounded up to a multiple of
/// `2^(⌊log2 len⌋ − 2)` — 4 lengths per octave, at most 25 % more frames (cheap where the decode
/// is bound by host work, as on the GPU, and what keeps the traces few).
pub fn decode_bucket(len: i32) -> i32 {
    let len = len.max(16);
    let step = 1 << (31 - len.leading_zeros() as i32 - 2);
    (len + step - 1) / step * step
}

type GraphFn = Box<dyn FnMut(&[Array]) -> std::result::Result<Vec<Array>, Exception>>;
type Body = dyn Fn(&[Array]) -> Result<Vec<Array>>;

/// One compiled function and the shape keys it has traced.
struct Traces {
    name: &'static str,
    f: Option<GraphFn>,
    keys: BTreeSet<Vec<i32>>,
    max_shapes: usize,
}

impl Traces {
    fn new(name: &'static str, max_shapes: usize) -> RefCell<Self> {
        RefCell::new(Self { name, f: None, keys: BTreeSet::new(), max_shapes })
    }

    /// `body(inputs)`, compiled. The first call of a model runs it eagerly, which also evaluates
    /// weights that are still lazy (such as folded weight norms): a compiled function must capture
    /// evaluated arrays, or it re-runs their computation every call.
    fn run(cell: &RefCell<Self>, key: Vec<i32>, inputs: &[Array], body: impl Fn() -> std::rc::Rc<Body>) -> Result<Vec<Array>> {
        let mut state = cell.try_borrow_mut().map_err(|_| Error::Invalid("compiled decode re-entered".into()))?;
        with_exact_conv_lengths(|| {
            if state.f.is_none() {
                let body = body();
                let out = body(inputs)?;
                mlx_rs::transforms::eval(out.iter())?;
                state.f = Some(trace(body));
                return Ok(out);
            }
            if !state.keys.contains(&key) && state.keys.len() >= state.max_shapes {
                // Replacing the function drops the old one, which erases its traces.
                state.keys.clear();
                state.f = Some(trace(body()));
            }
            state.keys.insert(key);
            let name = state.name;
            let f = state.f.as_mut().ok_or_else(|| Error::Invalid(format!("compiled {name} missing")))?;
            Ok(f(inputs)?)
        })
    }
}

fn trace(body: std::rc::Rc<Body>) -> GraphFn {
    Box::new(compile(move |inputs: &[Array]| body(inputs).map_err(|e| Exception::custom(e.to_string())), false))
}

/// A model's compiled content encoding and synthesis.
pub struct CompiledDecoder {
    content: RefCell<Traces>,
    synthesis: RefCell<Traces>,
}

impl Default for CompiledDecoder {
    fn default() -> Self {
        Self::with_max_shapes(MAX_SHAPES)
    }
}

impl CompiledDecoder {
    /// Keeping at most `max_shapes` traces per graph.
    pub fn with_max_shapes(max_shapes: usize) -> Self {
        Self { content: Traces::new("content encoding", max_shapes), synthesis: Traces::new("synthesis", max_shapes) }
    }

    /// `enc_p` up to `encoder2` for `codes` (25 Hz) and phone ids `text`: `[1, 2·len(codes), H]`.
    pub fn content(&self, quantizer: &Quantizer, enc_p: &TextEncoder, codes: &[i32], text: &[i32], ge_text: &Array) -> Result<Array> {
        let (n, p) = (len_i32(codes.len())?, len_i32(text.len())?);
        let (nb, pb) = (decode_bucket(n), decode_bucket(p));
        // Code and phone 0 exist in every table; the padding is masked out.
        let padded = |ids: &[i32], to: i32| -> Vec<i32> { ids.iter().copied().chain(std::iter::repeat(0)).take(to as usize).collect() };
        let inputs = [
            Array::from_slice(&padded(codes, nb), &[nb]),
            Array::from_slice(&padded(text, pb), &[1, pb]),
            Array::from_slice(&[n], &[1]),
            Array::from_slice(&[p], &[1]),
            ge_text.clone(),
        ];
        let body = || -> std::rc::Rc<Body> {
            let (quantizer, enc_p) = (quantizer.clone(), enc_p.clone());
            std::rc::Rc::new(move |inputs: &[Array]| {
                let [codes, text, n, p, ge_text] = inputs else {
                    return Err(Error::Invalid("compiled content encoding takes 5 inputs".into()));
                };
                let frames = FrameMask::new(n, codes.shape()[0])?.repeated(2)?;
                let phones = FrameMask::new(p, text.shape()[1])?;
                Ok(vec![super::content_graph(&quantizer, &enc_p, codes, text, ge_text, Some((&frames, &phones)))?])
            })
        };
        let y = single(Traces::run(&self.content, vec![nb, pb], &inputs, body)?)?;
        Ok(y.index((.., ..2 * n, ..)))
    }

    /// `z_p = m + ε·exp(logs)·noise_scale`, the reverse flow and the Generator over
    /// `m, logs, eps [1,T,C]`: `(z_p, z, o)` as [`super::SynthesizerTrn::synthesize`].
    #[allow(clippy::too_many_arguments)]
    pub fn synthesis(&self, flow: &Flow, dec: &Generator, m: &Array, logs: &Array, eps: &Array, noise_scale: f32, g: &Array) -> Result<(Array, Array, Array)> {
        let t = m.shape()[1];
        let tb = decode_bucket(t);
        let pad = |a: &Array| -> Result<Array> {
            Ok(if tb > t { ops::pad(a, &[(0, 0), (0, tb - t), (0, 0)], None, None)? } else { a.clone() })
        };
        let inputs = [pad(m)?, pad(logs)?, pad(eps)?, Array::from_f32(noise_scale), g.clone(), Array::from_slice(&[t], &[1])];
        let body = || -> std::rc::Rc<Body> {
            let (flow, dec) = (flow.clone(), dec.clone());
            std::rc::Rc::new(move |inputs: &[Array]| {
                let [m, logs, eps, noise_scale, g, t] = inputs else {
                    return Err(Error::Invalid("compiled synthesis takes 6 inputs".into()));
                };
                let mask = FrameMask::new(t, m.shape()[1])?;
                let (z_p, z, o) = super::synthesis_graph(&flow, &dec, m, logs, eps, noise_scale, g, Some(&mask))?;
                Ok(vec![z_p, z, o])
            })
        };
        let mut out = Traces::run(&self.synthesis, vec![tb], &inputs, body)?.into_iter();
        match (out.next(), out.next(), out.next()) {
            (Some(z_p), Some(z), Some(o)) => {
                let samples = dec.out_len(t);
                Ok((z_p.index((.., ..t, ..)), z.index((.., ..t, ..)), o.index((.., ..samples, ..))))
            }
            _ => Err(Error::Invalid("compiled synthesis returned too few arrays".into())),
        }
    }

    /// Shape buckets traced so far: (content encoding, synthesis).
    pub fn traced(&self) -> (usize, usize) {
        (self.content.borrow().keys.len(), self.synthesis.borrow().keys.len())
    }
}

fn len_i32(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::Invalid(format!("{n} ids: too many")))
}

fn single(out: Vec<Array>) -> Result<Array> {
    out.into_iter().next().ok_or_else(|| Error::Invalid("compiled graph returned nothing".into()))
}

/// Process-wide default for models loaded from now on (`bench --compile-sovits`).
static COMPILE_DECODE: SwitchCell = SwitchCell::auto();

/// What `auto` means: on with MLX's CUDA backend, where a decode is bound by the host work per
/// graph node and compiling halves the nodes (H100, 2026-12-07: 10 s of audio RTF 0.0037 →
/// 0.0017; docs/benchmarks.md). Off on the CPU, where the arithmetic bounds a decode and
/// compiling only adds the buckets' padding, and on Metal until timed there.
pub fn compile_by_default() -> bool {
    crate::models::cuda_kernel::available()
}

/// Sets [`compile_enabled`]'s answer; `None` = [`compile_by_default`].
pub fn set_compile(on: Option<bool>) {
    COMPILE_DECODE.set(on);
}

/// Whether models loaded from now on decode through [`CompiledDecoder`].
pub fn compile_enabled() -> bool {
    COMPILE_DECODE.get(compile_by_default)
}

#[cfg(test)]
mod tests;
