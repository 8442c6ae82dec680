//! Next-token sampling of the GPT decode, exactly in upstream's order
//! (`AR/models/utils.py: logits_to_probs`, `multinomial_sample_one_no_sync`; spec §5.5):
//!
//! 1. repetition penalty, in place, on every id present in `y` (prompt included, once per id):
//!    `s < 0 ? s·rp : s/rp`;
//! 2. top-p (only when `top_p < 1`) on the sorted softmax: remove where the inclusive cumulative
//!    probability exceeds `top_p`, always keeping the best — **before** the temperature [quirk];
//! 3. `/ max(temperature, 1e-5)`;
//! 4. top-k: `logits < k-th largest → −inf` (ties kept);
//! 5. softmax, then the exponential race `argmax(probs / q)`, `q ~ Exp(1)` i.i.d.
//!
//! The whole chain runs on the device for a batch of rows with per-row parameters, so a decode
//! step never waits for the host: the previous token enters the penalty through a device-side
//! presence mask. Only the Exp(1) noise comes from the host, drawn from a per-request seeded
//! generator (or injected, for parity with upstream's torch RNG draws), which depends on nothing
//! the device computes.
use mlx_rs::error::Exception;
use mlx_rs::ops::indexing::{argmax_axis, IndexOp};
use mlx_rs::transforms::compile::compile;
use mlx_rs::{ops, Array, Dtype};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::Exp1;

use crate::models::{Error, Result};

/// Per-request sampling parameters (api_v2 defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// ≥ 1; values above the vocabulary keep everything.
    pub top_k: usize,
    /// In (0, 1]; 1 disables top-p.
    pub top_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            top_k: 15,
            top_p: 1.0,
            temperature: 1.0,
            repetition_penalty: 1.35,
        }
    }
}

impl SamplingParams {
    /// `top_k = 1`: the argmax of the penalized logits (what the parity fixtures decode with).
    pub fn greedy(repetition_penalty: f32) -> Self {
        Self {
            top_k: 1,
            top_p: 1.0,
            temperature: 1.0,
            repetition_penalty,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.top_k == 0 {
            return Err(Error::Invalid("top_k must be at least 1".into()));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Invalid(format!("top_p {} must be in (0, 1]", self.top_p)));
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Invalid(format!("temperature {} must be ≥ 0", self.temperature)));
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(Error::Invalid(format!(
                "repetition_penalty {} must be > 0",
                self.repetition_penalty
            )));
        }
        Ok(())
    }
}

/// Source of the Exp(1) draws `q` of the exponential race, one row of `vocab` values per step.
pub trait ExpNoise: Send {
    fn fill(&mut self, step: usize, out: &mut [f32]) -> Result<()>;
}

/// Reproducible per-request draws (ChaCha8 seeded with the request seed).
pub struct SeededExpNoise(ChaCha8Rng);

impl SeededExpNoise {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }
}

impl ExpNoise for SeededExpNoise {
    fn fill(&mut self, _step: usize, out: &mut [f32]) -> Result<()> {
        for q in out.iter_mut() {
            *q = self.0.sample(Exp1);
        }
        Ok(())
    }
}

/// Injected draws (e.g. the fixtures' `exp_noise_q`), row `step` for decode step `step`.
pub struct FixedExpNoise {
    rows: Vec<Vec<f32>>,
}

impl FixedExpNoise {
    pub fn new(rows: Vec<Vec<f32>>) -> Self {
        Self { rows }
    }
}

impl ExpNoise for FixedExpNoise {
    fn fill(&mut self, step: usize, out: &mut [f32]) -> Result<()> {
        let row = self.rows.get(step).ok_or_else(|| {
            Error::Invalid(format!("injected noise has {} rows, step {step} needs one", self.rows.len()))
        })?;
        if row.len() != out.len() {
            return Err(Error::Invalid(format!(
                "injected noise row {step} has {} values, vocabulary is {}",
                row.len(),
                out.len()
            )));
        }
        out.copy_from_slice(row);
        Ok(())
    }
}

/// Per-row parameters of a batch as device columns `[B, 1]`.
#[derive(Debug, Clone)]
pub struct BatchParams {
    top_k: Array,
    top_p: Array,
    temperature: Array,
    penalty: Array,
    any_top_p: bool,
}

impl BatchParams {
    /// `[top_k − 1, top_p (2 = off), temperature (≥ 1e-5), penalty]`, each `[B, 1]`.
    pub fn columns(&self) -> [&Array; 4] {
        [&self.top_k, &self.top_p, &self.temperature, &self.penalty]
    }

    pub fn new(rows: &[SamplingParams], vocab: i32) -> Self {
        let b = rows.len() as i32;
        let col = |v: Vec<f32>| Array::from_slice(&v, &[b, 1]);
        let k: Vec<i32> = rows.iter().map(|p| (p.top_k.min(vocab as usize) as i32 - 1).max(0)).collect();
        Self {
            top_k: Array::from_slice(&k, &[b, 1]),
            top_p: col(rows.iter().map(|p| if p.top_p < 1.0 { p.top_p } else { 2.0 }).collect()),
            temperature: col(rows.iter().map(|p| p.temperature.max(1e-5)).collect()),
            penalty: col(rows.iter().map(|p| p.repetition_penalty).collect()),
            any_top_p: rows.iter().any(|p| p.top_p < 1.0),
        }
    }
}

/// Lazy results of one sampling step for `B` rows.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// `[B]` uint32 chosen tokens.
    pub tokens: Array,
    /// `[B]` bool: the argmax of the **penalized** logits is EOS (upstream's second stop test).
    pub eos_argmax: Array,
    /// `[B, V]` f32 probabilities after the whole chain.
    pub probs: Array,
    /// `[B, V]` bool presence mask including the new tokens (the next step's penalty set).
    pub presence: Array,
}

/// Samples one token per row. `logits [B, V]` f32 (raw `ar_predict_layer` output),
/// `presence [B, V]` bool (ids present in `y`), `eos_blocked [B]` bool (rows at step < 11,
/// whose EOS column upstream slices off — here set to −inf, which gives the same probabilities,
/// argmax and top-k), `q [B, V]` Exp(1) draws.
pub fn sample(
    logits: &Array,
    presence: &Array,
    eos_blocked: &Array,
    eos: i32,
    params: &BatchParams,
    q: &Array,
) -> Result<Sampled> {
    let v = logits.shape()[1];
    let neg_inf = Array::from_f32(f32::NEG_INFINITY);
    let cols = ops::arange::<_, i32>(0, v, 1)?.reshape(&[1, v])?;
    let eos_col = cols.eq(Array::from_int(eos))?;
    let blocked = eos_blocked.reshape(&[-1, 1])?.logical_and(&eos_col)?;
    let logits = ops::select(&blocked, &neg_inf, logits)?;

    // 1. repetition penalty (in place upstream: the EOS stop test sees these values).
    let penalized_vals = ops::select(
        &logits.lt(Array::from_f32(0.0))?,
        &logits.multiply(&params.penalty)?,
        &logits.divide(&params.penalty)?,
    )?;
    let logits = ops::select(presence, &penalized_vals, &logits)?;
    let eos_argmax = argmax_axis(&logits, -1, false)?.eq(Array::from_int(eos))?;

    // One descending sort serves top-p and top-k: removing a top-p suffix and dividing by a
    // positive temperature keep the order, so the k-th largest is read off the same sort.
    let order = ops::argsort_axis(&logits.negative()?, -1)?;
    let mut sorted = logits.take_along_axis(&order, -1)?;
    let mut logits = logits;
    if params.any_top_p {
        // 2. top-p on the sorted softmax, keeping the best entry.
        let cum = ops::softmax_axis(&sorted, -1, true)?.cumsum(-1, None, None)?;
        let first = cols.eq(Array::from_int(0))?;
        let remove_sorted = cum.gt(&params.top_p)?.logical_and(&first.logical_not()?)?;
        let remove = ops::zeros_dtype(logits.shape(), Dtype::Bool)?.put_along_axis(&order, &remove_sorted, -1)?;
        logits = ops::select(&remove, &neg_inf, &logits)?;
        sorted = ops::select(&remove_sorted, &neg_inf, &sorted)?;
    }
    // 3. temperature.
    let logits = logits.divide(&params.temperature)?;
    let sorted = sorted.divide(&params.temperature)?;
    // 4. top-k against the k-th largest value.
    let pivot = sorted.take_along_axis(&params.top_k, -1)?;
    let logits = ops::select(&logits.lt(&pivot)?, &neg_inf, &logits)?;
    // 5. softmax and the exponential race.
    let probs = ops::softmax_axis(&logits, -1, true)?;
    let tokens = argmax_axis(&probs.divide(q)?, -1, false)?;
    let presence = presence.logical_or(&cols.eq(&tokens.reshape(&[-1, 1])?)?)?;
    Ok(Sampled {
        tokens,
        eos_argmax,
        probs,
        presence,
    })
}

type SampleFn = Box<dyn for<'a> FnMut(&'a [Array]) -> std::result::Result<Vec<Array>, Exception>>;

/// [`sample`] as one compiled graph, so that a GPU pays host work for a handful of fused nodes
/// instead of ~30 small ones per step. Every per-row parameter is already an array input; only
/// whether any row uses top-p decides the graph's shape, so there is one compiled function for
/// each answer. Same results as [`sample`] (the decoder tests compare compiled and eager runs).
pub struct CompiledSampler {
    eos: i32,
    with_top_p: Option<SampleFn>,
    without_top_p: Option<SampleFn>,
    /// The one-node CUDA sampler, used instead of the compiled graphs where given.
    kernel: Option<super::sampler_kernel::SamplerKernel>,
}

impl CompiledSampler {
    pub fn new(eos: i32) -> Self {
        Self {
            eos,
            with_top_p: None,
            without_top_p: None,
            kernel: None,
        }
    }

    /// With `kernel`, samples through [`super::sampler_kernel::SamplerKernel`] (MLX's CUDA
    /// backend only; the fused decode step's companion), else as [`Self::new`].
    pub fn with_kernel(eos: i32, vocab: i32, kernel: bool) -> Result<Self> {
        let kernel = if kernel && super::sampler_kernel::enabled() && super::sampler_kernel::SamplerKernel::supports(vocab) {
            Some(super::sampler_kernel::SamplerKernel::new(eos)?)
        } else {
            None
        };
        Ok(Self { kernel, ..Self::new(eos) })
    }

    /// [`sample`] with the same arguments.
    pub fn sample(&mut self, logits: &Array, presence: &Array, eos_blocked: &Array, params: &BatchParams, q: &Array) -> Result<Sampled> {
        if let Some(k) = &self.kernel {
            return k.sample(logits, presence, eos_blocked, params, q);
        }
        let (eos, any_top_p) = (self.eos, params.any_top_p);
        let slot = if any_top_p { &mut self.with_top_p } else { &mut self.without_top_p };
        let f = slot.get_or_insert_with(|| {
            let traced = move |x: &[Array]| -> std::result::Result<Vec<Array>, Exception> {
                let [logits, presence, blocked, top_k, top_p, temperature, penalty, q] = x else {
                    return Err(Exception::custom("compiled sampler: wrong number of inputs"));
                };
                let params = BatchParams {
                    top_k: top_k.clone(),
                    top_p: top_p.clone(),
                    temperature: temperature.clone(),
                    penalty: penalty.clone(),
                    any_top_p,
                };
                let s = sample(logits, presence, blocked, eos, &params, q).map_err(|e| Exception::custom(e.to_string()))?;
                Ok(vec![s.tokens, s.eos_argmax, s.probs, s.presence])
            };
            Box::new(compile(traced, false))
        });
        let inputs = [
            logits.clone(),
            presence.clone(),
            eos_blocked.clone(),
            params.top_k.clone(),
            params.top_p.clone(),
            params.temperature.clone(),
            params.penalty.clone(),
            q.clone(),
        ];
        let mut out = f(&inputs)?.into_iter();
        match (out.next(), out.next(), out.next(), out.next()) {
            (Some(tokens), Some(eos_argmax), Some(probs), Some(presence)) => Ok(Sampled {
                tokens,
                eos_argmax,
                probs,
                presence,
            }),
            _ => Err(Error::Invalid("compiled sampler returned too few arrays".into())),
        }
    }
}

/// Presence mask `[1, V]` of the ids in `tokens` (the prompt, before decoding).
pub fn presence_of(tokens: &[u32], vocab: i32) -> Result<Array> {
    let mut row = vec![false; vocab as usize];
    for &t in tokens {
        let slot = row.get_mut(t as usize).ok_or_else(|| {
            Error::Invalid(format!("token {t} outside the vocabulary of {vocab}"))
        })?;
        *slot = true;
    }
    Ok(Array::from_slice(&row, &[1, vocab]))
}

/// Row `i` of a `[B, V]` array as a host vector (diagnostics and parity only).
pub fn row_to_vec(a: &Array, i: i32) -> Result<Vec<f32>> {
    let r = a.index(i).as_dtype(Dtype::Float32)?;
    r.eval()?;
    Ok(r.as_slice::<f32>().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `logits_to_probs` written out on the host, step by step.
    fn reference_probs(logits: &[f32], prev: &[u32], p: &SamplingParams) -> Vec<f32> {
        let mut l = logits.to_vec();
        let mut seen = std::collections::BTreeSet::new();
        for &t in prev {
            if seen.insert(t) {
                let s = l[t as usize];
                l[t as usize] = if s < 0.0 { s * p.repetition_penalty } else { s / p.repetition_penalty };
            }
        }
        if p.top_p < 1.0 {
            let mut idx: Vec<usize> = (0..l.len()).collect();
            idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
            let m = idx.iter().map(|&i| l[i]).fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = idx.iter().map(|&i| ((l[i] - m) as f64).exp()).sum();
            let mut cum = 0.0f64;
            let mut remove = vec![false; l.len()];
            for (j, &i) in idx.iter().enumerate() {
                cum += ((l[i] - m) as f64).exp() / z;
                remove[i] = j > 0 && cum as f32 > p.top_p;
            }
            for (x, r) in l.iter_mut().zip(&remove) {
                if *r {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        let t = p.temperature.max(1e-5);
        for x in l.iter_mut() {
            *x /= t;
        }
        let mut s = l.clone();
        s.sort_by(|a, b| b.total_cmp(a));
        let pivot = s[p.top_k.min(s.len()) - 1];
        for x in l.iter_mut() {
            if *x < pivot {
                *x = f32::NEG_INFINITY;
            }
        }
        let m = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = l.iter().map(|&x| ((x - m) as f64).exp()).sum();
        l.iter().map(|&x| (((x - m) as f64).exp() / z) as f32).collect()
    }

    #[test]
    fn device_chain_matches_upstream_order() {
        let v = 50i32;
        let rows = [
            SamplingParams { top_k: 5, top_p: 0.8, temperature: 0.7, repetition_penalty: 1.35 },
            SamplingParams { top_k: 15, top_p: 1.0, temperature: 1.3, repetition_penalty: 1.0 },
            SamplingParams { top_k: 1, top_p: 1.0, temperature: 1.0, repetition_penalty: 2.0 },
            SamplingParams { top_k: 100, top_p: 0.3, temperature: 0.0, repetition_penalty: 1.1 },
        ];
        let b = rows.len() as i32;
        let key = mlx_rs::random::key(7).unwrap();
        let logits = mlx_rs::random::normal::<f32>(&[b, v], 0.0, 3.0, &key).unwrap();
        logits.eval().unwrap();
        let prev: Vec<Vec<u32>> = vec![vec![1, 2, 2, 7, 30], vec![3, 4], vec![0, 9, 11], vec![]];
        let presence = ops::concatenate(
            &prev.iter().map(|p| presence_of(p, v).unwrap()).collect::<Vec<_>>(),
            0,
        )
        .unwrap();
        let blocked = Array::from_slice(&[false, true, false, false], &[b]);
        let mut noise = SeededExpNoise::new(3);
        let mut q = vec![0.0; (b * v) as usize];
        noise.fill(0, &mut q).unwrap();
        let q = Array::from_slice(&q, &[b, v]);
        let params = BatchParams::new(&rows, v);
        let out = sample(&logits, &presence, &blocked, v - 1, &params, &q).unwrap();
        for i in 0..b {
            let mut l = row_to_vec(&logits, i).unwrap();
            if i == 1 {
                l[(v - 1) as usize] = f32::NEG_INFINITY;
            }
            let want = reference_probs(&l, &prev[i as usize], &rows[i as usize]);
            let got = row_to_vec(&out.probs, i).unwrap();
            let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-6, "row {i}: max abs err {err}");
            let qi = row_to_vec(&q, i).unwrap();
            let best = (0..v as usize)
                .max_by(|&a, &c| (want[a] / qi[a]).total_cmp(&(want[c] / qi[c])))
                .unwrap();
            out.tokens.eval().unwrap();
            assert_eq!(out.tokens.as_slice::<u32>()[i as usize] as usize, best, "row {i}");
        }
        // Greedy row: the token is the argmax of the penalized logits.
        let l = row_to_vec(&logits, 2).unwrap();
        let mut pen = l.clone();
        for &t in &prev[2] {
            let s = pen[t as usize];
            pen[t as usize] = if s < 0.0 { s * 2.0 } else { s / 2.0 };
        }
        let am = (0..v as usize).max_by(|&a, &c| pen[a].total_cmp(&pen[c])).unwrap();
        assert_eq!(out.tokens.as_slice::<u32>()[2] as usize, am);
        // The new tokens join the presence mask.
        out.presence.eval().unwrap();
        let pres = out.presence.as_slice::<bool>();
        for i in 0..b as usize {
            assert!(pres[i * v as usize + out.tokens.as_slice::<u32>()[i] as usize]);
        }
    }

    #[test]
    fn seeded_noise_is_reproducible() {
        let mut a = SeededExpNoise::new(42);
        let mut b = SeededExpNoise::new(42);
        let (mut x, mut y) = (vec![0.0; 64], vec![0.0; 64]);
        a.fill(0, &mut x).unwrap();
        b.fill(0, &mut y).unwrap();
        assert_eq!(x, y);
        assert!(x.iter().all(|&q| q > 0.0));
        let mean = x.iter().sum::<f32>() / 64.0;
        assert!((0.5..1.5).contains(&mean), "Exp(1) mean {mean}");
    }

    #[test]
    fn invalid_params_are_rejected() {
        assert!(SamplingParams { top_k: 0, ..Default::default() }.validate().is_err());
        assert!(SamplingParams { top_p: 0.0, ..Default::default() }.validate().is_err());
        assert!(SamplingParams { repetition_penalty: f32::NAN, ..Default::default() }.validate().is_err());
        assert!(SamplingParams::default().validate().is_ok());
    }
}
