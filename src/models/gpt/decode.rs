//! The GPT decode loop: upstream's `infer_panel_naive` / `infer_panel_batch_infer`
//! (`AR/models/t2s_model.py`, spec §5.4–5.6) as one batched, pipelined decoder.
//!
//! [`BatchDecoder`] runs any number of sequences in one forward per step. Sequences may have
//! different phone and prompt lengths: each is left-padded to the longest, and padded key
//! columns are masked for every row (upstream's padding mask; a padded query row attends to its
//! own text so that no softmax row is empty). Each sequence has its own sampling parameters,
//! seed, stop rules and step counter; it finishes independently and its rows leave the caches.
//! Requests added between steps join the running batch: they are prefilled together, then their
//! caches and the running ones are left-padded to a common length and stacked.
//! [`TokenStream`] is the single-sequence iterator over the same machinery.
//!
//! ## Evaluation boundaries (pipelining, as mlx-lm's `generate_step`)
//! A call of [`BatchDecoder::step`] returns the tokens of step n, which were queued (lazily
//! built and `async_eval`-ed) by the previous call. Before reading them it builds the graph of
//! step n+1 from the still-lazy tokens of step n and `async_eval`s it, so the device never
//! idles while the host reads, decides and builds:
//! 1. `async_eval(step n+1: tokens, EOS flags, presence)` — nothing waits.
//! 2. `eval(step n: tokens, EOS flags)` — waits for step n only (already in flight), then the
//!    host reads `B` ids and `B` flags. This is the only host sync per step.
//!
//! The overlap is legal because nothing in step n+1 needs a host value from step n: the
//! repetition penalty reads a device-side presence mask updated with the lazy token, the EOS
//! block (`step < 11`), the position and the Exp(1) noise depend only on host counters and the
//! request's own generator. The stop decision of step n is the only thing the host learns late:
//! a row that stops at step n has also been computed in step n+1, whose output is discarded and
//! whose row is dropped before step n+2 is built (one wasted row-step per finished sequence).
//! When every row is certain to stop at step n (step cap or early stop), step n+1 is not built.
//! With `trace` on, the logits and probabilities of step n are read too (parity only).
use std::sync::Arc;

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::transforms::{async_eval, eval};
use mlx_rs::{ops, Array};

use super::model::Text2SemanticDecoder;
use super::step::{self, CompiledStep};
use super::cache::KvCache;
use super::sampling::{self, presence_of, BatchParams, CompiledSampler, ExpNoise, SamplingParams, SeededExpNoise};
use crate::models::{Error, Result};

/// [quirk] EOS cannot be produced while `step < 11` ("at least ~0.4 s"): upstream slices the
/// EOS column off the logits for those steps.
pub const EOS_BLOCKED_STEPS: usize = 11;
/// Upstream's hard cap on decode steps (`range(1500)`).
pub const MAX_STEPS: usize = 1500;

pub type SeqId = u64;

/// Which upstream loop's bookkeeping a sequence follows when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStyle {
    /// `infer_panel_batch_infer` (what `TTS.run` uses, parallel_infer=True): the token of the
    /// stopping step is never kept, whatever the reason.
    Batch,
    /// `infer_panel_naive`: the stopping token is dropped on EOS only; on early stop / step cap
    /// it is kept while `idx` is not incremented ([quirk] `y[-idx:]` then drops the first one).
    Naive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The sampled token or the argmax of the penalized logits was EOS.
    Eos,
    /// More than `early_stop_num` tokens generated.
    EarlyStop,
    /// The step cap (`max_steps`, 1500 upstream) was reached.
    MaxSteps,
}

/// One sequence to decode.
pub struct DecodeRequest {
    /// Phone ids (prompt text phones ++ target phones).
    pub phones: Vec<i32>,
    /// Phone-level BERT features `[bert_dim, phones]`.
    pub bert: Array,
    /// Prompt semantic tokens; `None` = reference-free mode (text only). [quirk] Upstream always
    /// runs reference-free requests through `infer_panel_naive` and returns `idx = 0`.
    pub prompt: Option<Vec<u32>>,
    pub sampling: SamplingParams,
    /// Seed of this request's Exp(1) draws (ignored when `noise` is given).
    pub seed: u64,
    /// Stop after more than this many tokens; `None` disables (upstream `-1`).
    pub early_stop_num: Option<usize>,
    pub max_steps: usize,
    pub stop_style: StopStyle,
    /// Injected Exp(1) draws (parity with upstream's torch RNG).
    pub noise: Option<Box<dyn ExpNoise>>,
    /// Read logits and probabilities at every step into [`StepOutput::trace`] (slow; parity).
    pub trace: bool,
    /// Never sample EOS, so never stop on it (fixed-length benchmarks and the warm-up); not an
    /// upstream behaviour.
    pub ignore_eos: bool,
}

impl DecodeRequest {
    /// Defaults as `TTS.run`: api_v2 sampling, early stop `50 * max_sec`, 1500 steps, batch-loop
    /// bookkeeping.
    pub fn new(phones: Vec<i32>, bert: Array, prompt: Option<Vec<u32>>, early_stop_num: usize) -> Self {
        Self {
            phones,
            bert,
            prompt,
            sampling: SamplingParams::default(),
            seed: 0,
            early_stop_num: Some(early_stop_num),
            max_steps: MAX_STEPS,
            stop_style: StopStyle::Batch,
            noise: None,
            trace: false,
            ignore_eos: false,
        }
    }
}

/// What one step produced for one sequence.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Upstream's loop index `idx` of this step.
    pub step: usize,
    /// The token kept at this step (`None` when the stop rule drops it).
    pub token: Option<u32>,
    /// Set on the sequence's last step.
    pub finished: Option<DecodeOutcome>,
    pub trace: Option<StepTrace>,
}

#[derive(Debug, Clone)]
pub struct StepTrace {
    /// Raw `ar_predict_layer` output (all `vocab` columns, also at steps < 11).
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
    pub sampled: u32,
    pub eos_argmax: bool,
}

/// A finished sequence in upstream's terms: `y = prompt ++ generated`, and `idx`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOutcome {
    pub prompt: Vec<u32>,
    /// Tokens kept after the prompt (upstream's `y[Ty:]`).
    pub generated: Vec<u32>,
    /// Upstream's second return value.
    pub idx: usize,
    pub stop: StopReason,
}

impl DecodeOutcome {
    /// What `TTS.run` feeds to SoVITS: `y[-idx:]` ([quirk] `idx = 0` selects all of `y`), or a
    /// single 0 token when that is empty ("bad zero prediction").
    pub fn pred_semantic(&self) -> Vec<u32> {
        let y: Vec<u32> = self.prompt.iter().chain(&self.generated).copied().collect();
        let out = if self.idx == 0 { y } else { y[y.len().saturating_sub(self.idx)..].to_vec() };
        if out.is_empty() {
            vec![0]
        } else {
            out
        }
    }
}

struct Row {
    id: SeqId,
    prompt: Vec<u32>,
    ref_free: bool,
    generated: Vec<u32>,
    params: SamplingParams,
    noise: Box<dyn ExpNoise>,
    early_stop_num: Option<usize>,
    max_steps: usize,
    style: StopStyle,
    trace: bool,
    ignore_eos: bool,
    left_pad: i32,
    /// Finished or cancelled: leaves the batch at the next step.
    gone: bool,
}

impl Row {
    fn ty(&self) -> i32 {
        self.prompt.len() as i32
    }

    /// Whether the step `step` will stop this row whatever it samples.
    fn certain_stop(&self, step: usize) -> bool {
        step + 1 >= self.max_steps || self.early_stop_num.is_some_and(|e| self.generated.len() + 1 > e)
    }
}

/// A built (lazy, in flight) step of the whole batch.
struct Queued {
    /// Per row: upstream's `idx` of this step.
    steps: Vec<usize>,
    logits: Array,
    sampled: sampling::Sampled,
    /// Per row: the noise source failed for this step (e.g. injected draws ran out). Only an
    /// error if the step is actually used: a speculative step after a stop is discarded.
    noise_errors: Vec<Option<String>>,
}

impl Queued {
    fn take_rows(&self, rows: &[i32]) -> Result<Queued> {
        let idx = Array::from_slice(rows, &[rows.len() as i32]);
        let t = |a: &Array| a.take_axis(&idx, 0);
        Ok(Queued {
            steps: rows.iter().map(|&r| self.steps[r as usize]).collect(),
            noise_errors: rows.iter().map(|&r| self.noise_errors[r as usize].clone()).collect(),
            logits: t(&self.logits)?,
            sampled: sampling::Sampled {
                tokens: t(&self.sampled.tokens)?,
                eos_argmax: t(&self.sampled.eos_argmax)?,
                probs: t(&self.sampled.probs)?,
                presence: t(&self.sampled.presence)?,
            },
        })
    }

    fn concat(a: Queued, b: Queued) -> Result<Queued> {
        let c = |x: &Array, y: &Array| ops::concatenate(&[x, y], 0);
        Ok(Queued {
            steps: a.steps.iter().chain(&b.steps).copied().collect(),
            noise_errors: a.noise_errors.into_iter().chain(b.noise_errors).collect(),
            logits: c(&a.logits, &b.logits)?,
            sampled: sampling::Sampled {
                tokens: c(&a.sampled.tokens, &b.sampled.tokens)?,
                eos_argmax: c(&a.sampled.eos_argmax, &b.sampled.eos_argmax)?,
                probs: c(&a.sampled.probs, &b.sampled.probs)?,
                presence: c(&a.sampled.presence, &b.sampled.presence)?,
            },
        })
    }
}

/// The running batch: rows, their caches (aligned, left-padded) and the step in flight.
struct Batch {
    rows: Vec<Row>,
    caches: Vec<KvCache>,
    params: BatchParams,
    /// `[B]` left padding per row; `None` when no row is padded.
    left_pad: Option<Array>,
    queued: Option<Queued>,
}

impl Batch {
    fn refresh(&mut self, vocab: i32) {
        let p: Vec<SamplingParams> = self.rows.iter().map(|r| r.params).collect();
        self.params = BatchParams::new(&p, vocab);
        let pads: Vec<i32> = self.rows.iter().map(|r| r.left_pad).collect();
        self.left_pad = pads.iter().any(|&p| p > 0).then(|| Array::from_slice(&pads, &[pads.len() as i32]));
    }

    fn offset(&self) -> i32 {
        self.caches.first().map_or(0, |c| c.offset())
    }

    fn pad_left(&mut self, n: i32) -> Result<()> {
        for c in &mut self.caches {
            c.pad_left(n)?;
        }
        for r in &mut self.rows {
            r.left_pad += n;
        }
        Ok(())
    }
}

/// Decodes many sequences together; see the module docs. Owns its state (the model is shared
/// through an `Arc`), so an engine thread can keep one and call [`BatchDecoder::step`] in a loop.
pub struct BatchDecoder {
    model: Arc<Text2SemanticDecoder>,
    /// The compiled decode step and sampler, when compilation is on.
    compiled: Option<CompiledStep>,
    sampler: Option<CompiledSampler>,
    pending: Vec<(SeqId, DecodeRequest)>,
    batch: Option<Batch>,
    next_id: SeqId,
}

impl BatchDecoder {
    /// A decoder with the process-wide compile setting ([`step::compile_enabled`]).
    pub fn new(model: Arc<Text2SemanticDecoder>) -> Self {
        Self::with_compile(model, step::compile_enabled())
    }

    /// `compile`: run decode steps through one compiled graph ([`CompiledStep`]) instead of
    /// eager ops. Same results (parity-tested); faster where per-op overhead dominates.
    /// The fused custom-kernel step is used where [`step::fused_enabled`] says.
    pub fn with_compile(model: Arc<Text2SemanticDecoder>, compile: bool) -> Self {
        let fused = compile && step::fused_enabled(&model);
        Self::with_step(model, compile, fused)
    }

    /// `fused` (with `compile`): the compiled step with custom CUDA kernels
    /// ([`super::fused`]), which only runs on MLX's CUDA backend.
    pub fn with_step(model: Arc<Text2SemanticDecoder>, compile: bool, fused: bool) -> Self {
        Self {
            compiled: compile.then(|| CompiledStep::with_fused(Arc::clone(&model), fused)),
            sampler: compile.then(|| sampler_for(&model, fused)),
            model,
            pending: Vec::new(),
            batch: None,
            next_id: 0,
        }
    }

    pub fn model(&self) -> &Arc<Text2SemanticDecoder> {
        &self.model
    }

    /// Queues a sequence; it is prefilled and joins the batch at the next [`BatchDecoder::step`].
    pub fn add(&mut self, req: DecodeRequest) -> Result<SeqId> {
        let cfg = &self.model.config;
        req.sampling.validate()?;
        if req.max_steps == 0 {
            return Err(Error::Invalid("max_steps must be at least 1".into()));
        }
        if req.phones.is_empty() {
            return Err(Error::Invalid("GPT request has no phones".into()));
        }
        if let Some(bad) = req.phones.iter().find(|&&p| p < 0 || p >= cfg.phoneme_vocab_size) {
            return Err(Error::Invalid(format!(
                "phone id {bad} outside the GPT's phoneme table of {} symbols",
                cfg.phoneme_vocab_size
            )));
        }
        if req.bert.shape() != [cfg.bert_dim, req.phones.len() as i32] {
            return Err(Error::Invalid(format!(
                "BERT features have shape {:?}, expected [{}, {}] (one column per phone)",
                req.bert.shape(),
                cfg.bert_dim,
                req.phones.len()
            )));
        }
        if let Some(bad) = req.prompt.iter().flatten().find(|&&t| t as i64 >= cfg.vocab_size as i64) {
            return Err(Error::Invalid(format!(
                "prompt semantic token {bad} outside the vocabulary of {}",
                cfg.vocab_size
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push((id, req));
        Ok(id)
    }

    /// Cancels a sequence (it produces no further output). Returns whether it was known.
    pub fn remove(&mut self, id: SeqId) -> bool {
        if let Some(i) = self.pending.iter().position(|(p, _)| *p == id) {
            self.pending.remove(i);
            return true;
        }
        if let Some(b) = &mut self.batch {
            if let Some(r) = b.rows.iter_mut().find(|r| r.id == id && !r.gone) {
                r.gone = true;
                return true;
            }
        }
        false
    }

    /// Sequences still decoding or waiting to start.
    pub fn len(&self) -> usize {
        self.pending.len() + self.batch.as_ref().map_or(0, |b| b.rows.iter().filter(|r| !r.gone).count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs one decode step for every sequence (prefilling new ones first) and returns what each
    /// produced. Finished sequences report their [`DecodeOutcome`] and leave the batch.
    pub fn step(&mut self) -> Result<Vec<(SeqId, StepOutput)>> {
        self.drop_gone_rows()?;
        if !self.pending.is_empty() {
            let reqs = std::mem::take(&mut self.pending);
            let group = self.prefill(reqs)?;
            self.merge(group)?;
        }
        let model = Arc::clone(&self.model);
        let Some(batch) = self.batch.as_mut() else {
            return Ok(Vec::new());
        };
        let Some(cur) = batch.queued.take() else {
            return Err(Error::Invalid("decoder batch has no step in flight".into()));
        };
        // Pipelining: queue step n+1 before reading step n (see module docs).
        let all_stop = batch.rows.iter().zip(&cur.steps).all(|(r, &s)| r.certain_stop(s));
        if !all_stop {
            let next = decode_graph(&model, self.compiled.as_mut(), self.sampler.as_mut(), batch, &cur)?;
            let mut outs = vec![&next.sampled.tokens, &next.sampled.eos_argmax, &next.sampled.presence];
            if batch.rows.iter().any(|r| r.trace) {
                outs.push(&next.logits);
                outs.push(&next.sampled.probs);
            }
            async_eval(outs)?;
            batch.queued = Some(next);
        }
        eval([&cur.sampled.tokens, &cur.sampled.eos_argmax])?;
        let tokens = cur.sampled.tokens.as_slice::<u32>().to_vec();
        let eos_flags = cur.sampled.eos_argmax.as_slice::<bool>().to_vec();
        let eos = model.config.eos as u32;
        let mut out = Vec::with_capacity(batch.rows.len());
        for (i, row) in batch.rows.iter_mut().enumerate() {
            let step = cur.steps[i];
            let (tok, eos_arg) = (tokens[i], eos_flags[i]);
            let trace = if row.trace {
                Some(StepTrace {
                    logits: sampling::row_to_vec(&cur.logits, i as i32)?,
                    probs: sampling::row_to_vec(&cur.sampled.probs, i as i32)?,
                    sampled: tok,
                    eos_argmax: eos_arg,
                })
            } else {
                None
            };
            if row.gone {
                continue;
            }
            if let Some(e) = &cur.noise_errors[i] {
                return Err(Error::Invalid(format!("sequence {}: noise for step {step}: {e}", row.id)));
            }
            let early = row.early_stop_num.is_some_and(|e| row.generated.len() + 1 > e);
            let reason = if !row.ignore_eos && (eos_arg || tok == eos) {
                Some(StopReason::Eos)
            } else if early {
                Some(StopReason::EarlyStop)
            } else if step + 1 >= row.max_steps {
                Some(StopReason::MaxSteps)
            } else {
                None
            };
            let keep = match reason {
                None => true,
                Some(StopReason::Eos) => false,
                Some(_) => row.style == StopStyle::Naive,
            };
            if keep {
                row.generated.push(tok);
            }
            let finished = reason.map(|stop| {
                row.gone = true;
                DecodeOutcome {
                    prompt: row.prompt.clone(),
                    generated: std::mem::take(&mut row.generated),
                    idx: if row.ref_free { 0 } else { step },
                    stop,
                }
            });
            out.push((
                row.id,
                StepOutput {
                    step,
                    token: keep.then_some(tok),
                    finished,
                    trace,
                },
            ));
        }
        if batch.queued.is_none() && batch.rows.iter().all(|r| r.gone) {
            self.batch = None;
        }
        Ok(out)
    }

    /// Drops finished/cancelled rows from the caches and the step in flight, then the left
    /// padding no remaining row needs.
    fn drop_gone_rows(&mut self) -> Result<()> {
        let vocab = self.model.config.vocab_size;
        let Some(batch) = self.batch.as_mut() else {
            return Ok(());
        };
        if !batch.rows.iter().any(|r| r.gone) {
            return Ok(());
        }
        let keep: Vec<i32> = (0..batch.rows.len() as i32).filter(|&i| !batch.rows[i as usize].gone).collect();
        if keep.is_empty() {
            self.batch = None;
            return Ok(());
        }
        for c in &mut batch.caches {
            c.filter_rows(&keep)?;
        }
        if let Some(q) = &batch.queued {
            batch.queued = Some(q.take_rows(&keep)?);
        }
        let rows = std::mem::take(&mut batch.rows);
        batch.rows = rows.into_iter().filter(|r| !r.gone).collect();
        let min_pad = batch.rows.iter().map(|r| r.left_pad).min().unwrap_or(0);
        if min_pad > 0 {
            for c in &mut batch.caches {
                c.trim_left(min_pad)?;
            }
            for r in &mut batch.rows {
                r.left_pad -= min_pad;
            }
        }
        batch.refresh(vocab);
        Ok(())
    }

    /// The prompt pass of new sequences, left-padded into one forward, with their first sample.
    fn prefill(&self, reqs: Vec<(SeqId, DecodeRequest)>) -> Result<Batch> {
        let model = &self.model;
        let cfg = &model.config;
        let d = cfg.hidden_dim;
        let mut xs = Vec::with_capacity(reqs.len());
        let mut rows = Vec::with_capacity(reqs.len());
        let mut txs = Vec::with_capacity(reqs.len());
        for (id, req) in reqs {
            let x = model.embed_text(&req.phones, &req.bert)?;
            let xy = match &req.prompt {
                Some(p) if !p.is_empty() => ops::concatenate(&[x, model.embed_prompt(p)?], 0)?,
                _ => x,
            };
            txs.push(req.phones.len() as i32);
            xs.push(xy);
            let ref_free = req.prompt.is_none();
            rows.push(Row {
                id,
                prompt: req.prompt.unwrap_or_default(),
                ref_free,
                generated: Vec::new(),
                params: req.sampling,
                noise: req.noise.unwrap_or_else(|| Box::new(SeededExpNoise::new(req.seed))),
                early_stop_num: req.early_stop_num,
                max_steps: req.max_steps,
                style: if ref_free { StopStyle::Naive } else { req.stop_style },
                trace: req.trace,
                ignore_eos: req.ignore_eos,
                left_pad: 0,
                gone: false,
            });
        }
        let s = xs.iter().map(|x| x.shape()[0]).max().unwrap_or(0);
        let b = xs.len() as i32;
        let mut padded = Vec::with_capacity(xs.len());
        for (x, row) in xs.iter().zip(rows.iter_mut()) {
            row.left_pad = s - x.shape()[0];
            padded.push(if row.left_pad > 0 {
                ops::concatenate(&[&ops::zeros_dtype(&[row.left_pad, d], x.dtype())?, x], 0)?
            } else {
                x.clone()
            });
        }
        let x = ops::stack(&padded, 0)?;
        let needs_mask = rows.iter().any(|r| r.left_pad > 0 || r.ty() > 0);
        let mask = if needs_mask {
            let mut keep = Vec::with_capacity((b * s * s) as usize);
            for (row, &tx) in rows.iter().zip(&txs) {
                keep.extend(prefill_keep(s, row.left_pad, tx));
            }
            Some(Array::from_slice(&keep, &[b, 1, s, s]))
        } else {
            None
        };
        let mut caches = model.new_caches();
        let h = model.forward(&x, mask.as_ref(), &mut caches)?;
        let logits = model.predict(&h.index((.., s - 1, ..)))?;
        let presence = ops::concatenate(
            &rows.iter().map(|r| presence_of(&r.prompt, cfg.vocab_size)).collect::<Result<Vec<_>>>()?,
            0,
        )?;
        let mut batch = Batch {
            rows,
            caches,
            params: BatchParams::new(&[], cfg.vocab_size),
            left_pad: None,
            queued: None,
        };
        batch.refresh(cfg.vocab_size);
        let steps = vec![0; batch.rows.len()];
        let (sampled, noise_errors) = sample_rows(model, None, &mut batch, &logits, &presence, &steps)?;
        async_eval([&sampled.tokens, &sampled.eos_argmax, &sampled.presence])?;
        batch.queued = Some(Queued { steps, logits, sampled, noise_errors });
        Ok(batch)
    }

    /// Joins a freshly prefilled group to the running batch (left-padding the shorter side).
    fn merge(&mut self, mut group: Batch) -> Result<()> {
        let Some(mut batch) = self.batch.take() else {
            self.batch = Some(group);
            return Ok(());
        };
        let (oa, og) = (batch.offset(), group.offset());
        if og < oa {
            group.pad_left(oa - og)?;
        } else if oa < og {
            batch.pad_left(og - oa)?;
        }
        let caches = batch
            .caches
            .drain(..)
            .zip(group.caches.drain(..))
            .map(|(a, g)| KvCache::concat_rows(vec![a, g]))
            .collect::<Result<Vec<_>>>()?;
        let queued = match (batch.queued.take(), group.queued.take()) {
            (Some(a), Some(g)) => Queued::concat(a, g)?,
            _ => return Err(Error::Invalid("decoder merge without steps in flight".into())),
        };
        let mut rows = std::mem::take(&mut batch.rows);
        rows.extend(group.rows);
        let mut merged = Batch {
            rows,
            caches,
            params: batch.params,
            left_pad: None,
            queued: Some(queued),
        };
        merged.refresh(self.model.config.vocab_size);
        self.batch = Some(merged);
        Ok(())
    }
}

/// Keep-mask `[S, S]` of one prefill row: `pad` zero positions, then `tx` text and the prompt.
/// Padded columns are blocked for every row; padded rows see the row's text (no empty softmax).
fn prefill_keep(s: i32, pad: i32, tx: i32) -> Vec<bool> {
    let mut keep = Vec::with_capacity((s * s) as usize);
    for r in 0..s {
        for c in 0..s {
            keep.push(c >= pad && if r < pad + tx { c < pad + tx } else { c <= r });
        }
    }
    keep
}

/// Builds the graph of the step after `cur` for every row of the batch (lazy).
fn decode_graph(
    model: &Text2SemanticDecoder,
    compiled: Option<&mut CompiledStep>,
    sampler: Option<&mut CompiledSampler>,
    batch: &mut Batch,
    cur: &Queued,
) -> Result<Queued> {
    // The token sampled at step idx sits at audio position Ty + idx.
    let positions: Vec<i32> = batch.rows.iter().zip(&cur.steps).map(|(r, &s)| r.ty() + s as i32).collect();
    let logits = match compiled {
        Some(c) if model.positions_in_table(&positions) => {
            let b = positions.len() as i32;
            let left_pad = match &batch.left_pad {
                Some(lp) => lp.clone(),
                None => ops::zeros::<i32>(&[b])?,
            };
            c.run(&cur.sampled.tokens, &positions, &left_pad, &mut batch.caches)?
        }
        _ => eager_step(model, batch, &cur.sampled.tokens, &positions)?,
    };
    let steps: Vec<usize> = cur.steps.iter().map(|s| s + 1).collect();
    let (sampled, noise_errors) = sample_rows(model, sampler, batch, &logits, &cur.sampled.presence, &steps)?;
    Ok(Queued { steps, logits, sampled, noise_errors })
}

/// The compiled sampler, with the CUDA sampler kernel beside the fused step (the portable
/// graphs if the kernel cannot be made).
fn sampler_for(model: &Text2SemanticDecoder, fused: bool) -> CompiledSampler {
    let (eos, vocab) = (model.config.eos, model.config.vocab_size);
    CompiledSampler::with_kernel(eos, vocab, fused).unwrap_or_else(|e| {
        tracing::warn!("sampler kernel unavailable, sampling with MLX ops: {e}");
        CompiledSampler::new(eos)
    })
}

/// The decode step op by op: embedding, layers over the cache views, output head.
fn eager_step(model: &Text2SemanticDecoder, batch: &mut Batch, tokens: &Array, positions: &[i32]) -> Result<Array> {
    let kv = batch.offset() + 1;
    let mask = match &batch.left_pad {
        Some(lp) => {
            let b = batch.rows.len() as i32;
            let cols = ops::arange::<_, i32>(0, kv, 1)?.reshape(&[1, kv])?;
            Some(cols.ge(&lp.reshape(&[b, 1])?)?.reshape(&[b, 1, 1, kv])?)
        }
        None => None,
    };
    model.step_logits(tokens, positions, mask.as_ref(), &mut batch.caches)
}

/// Draws each row's Exp(1) noise for its step and samples on the device (through `sampler`'s
/// compiled graph when given).
fn sample_rows(
    model: &Text2SemanticDecoder,
    sampler: Option<&mut CompiledSampler>,
    batch: &mut Batch,
    logits: &Array,
    presence: &Array,
    steps: &[usize],
) -> Result<(sampling::Sampled, Vec<Option<String>>)> {
    let v = model.config.vocab_size as usize;
    let b = batch.rows.len();
    let mut q = vec![1.0f32; b * v];
    let mut errors = vec![None; b];
    for (((row, chunk), &s), err) in batch.rows.iter_mut().zip(q.chunks_mut(v)).zip(steps).zip(errors.iter_mut()) {
        if !row.gone {
            if let Err(e) = row.noise.fill(s, chunk) {
                chunk.fill(1.0);
                *err = Some(e.to_string());
            }
        }
    }
    let q = Array::from_slice(&q, &[b as i32, v as i32]);
    // [quirk] upstream slices EOS off the logits for its first steps. A fixed-length row
    // (`ignore_eos`) never samples it: kept, it would be a code outside SoVITS's codebook.
    let blocked: Vec<bool> = batch.rows.iter().zip(steps).map(|(row, &s)| row.ignore_eos || s < EOS_BLOCKED_STEPS).collect();
    let blocked = Array::from_slice(&blocked, &[b as i32]);
    let sampled = match sampler {
        Some(s) => s.sample(logits, presence, &blocked, &batch.params, &q)?,
        None => sampling::sample(logits, presence, &blocked, model.config.eos, &batch.params, &q)?,
    };
    Ok((sampled, errors))
}

/// Single-sequence decoding as an iterator of [`StepOutput`]s (each yielded as soon as its
/// token exists, the next step already in flight).
pub struct TokenStream {
    decoder: BatchDecoder,
    outcome: Option<DecodeOutcome>,
    failed: bool,
}

impl TokenStream {
    pub fn new(model: Arc<Text2SemanticDecoder>, req: DecodeRequest) -> Result<Self> {
        let mut decoder = BatchDecoder::new(model);
        decoder.add(req)?;
        Ok(Self {
            decoder,
            outcome: None,
            failed: false,
        })
    }

    /// The result once the stream has ended.
    pub fn outcome(&self) -> Option<&DecodeOutcome> {
        self.outcome.as_ref()
    }

    /// Runs to the end and returns the outcome with every step.
    pub fn run(mut self) -> Result<(DecodeOutcome, Vec<StepOutput>)> {
        let mut steps = Vec::new();
        for s in self.by_ref() {
            steps.push(s?);
        }
        let outcome = self.outcome.ok_or_else(|| Error::Invalid("decode ended without an outcome".into()))?;
        Ok((outcome, steps))
    }
}

impl Iterator for TokenStream {
    type Item = Result<StepOutput>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.outcome.is_some() || self.failed {
            return None;
        }
        match self.decoder.step() {
            Ok(mut v) => {
                let (_, out) = v.pop()?;
                if let Some(o) = &out.finished {
                    self.outcome = Some(o.clone());
                }
                Some(Ok(out))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
