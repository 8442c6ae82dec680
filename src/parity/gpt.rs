//! Parity checks for the `gpt` stage (fixtures README "GPT", "gpt/", "End to end").
//!
//! Driven by the files present: the model comes from the set's `models/gpt/*.ckpt`, every
//! dimension from the checkpoint and the tensors, decoding parameters from the fixtures'
//! metadata and `pipeline.json`.
use std::collections::HashMap;
use std::sync::Arc;

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Dtype};

use super::{mismatches, rel_max_abs, FixtureSet, Report};
use crate::models::gpt::Text2SemanticDecoder;
use crate::models::gpt::decode::{DecodeOutcome, DecodeRequest, StepOutput, StopReason, StopStyle, TokenStream};
use crate::models::gpt::sampling::{FixedExpNoise, SamplingParams};

const STAGE: &str = "gpt";
/// Suggested fp32 acceptance for GPT activations and logits (fixtures README "How to compare").
const REL_TOL: f64 = 1e-4;
/// Sampled decoding: probabilities within this absolute error.
const PROB_TOL: f64 = 1e-6;

pub fn run(set: &FixtureSet, report: &mut Report) {
    let Some(path) = set.find_file("models/gpt", ".ckpt") else {
        report.error(STAGE, "load", "no models/gpt/*.ckpt in the fixture set");
        return;
    };
    match Text2SemanticDecoder::load(&path, Dtype::Float32) {
        Ok((model, _)) => run_with_model(set, Arc::new(model), report),
        Err(e) => report.error(STAGE, "load", e),
    }
}

/// Every GPT check against an already loaded model.
pub fn run_with_model(set: &FixtureSet, model: Arc<Text2SemanticDecoder>, report: &mut Report) {
    if set.has("gpt/inputs.safetensors") {
        if let Err(e) = unit_checks(set, &model, report) {
            report.error(STAGE, "gpt unit fixtures", e);
        }
        for name in ["decode_greedy_rp1", "decode_greedy_rp1.35", "decode_sampled"] {
            let rel = format!("gpt/{name}.safetensors");
            if set.has(&rel) {
                if let Err(e) = decode_check(set, &model, &rel, name, report) {
                    report.error(STAGE, name, e);
                }
            }
        }
    }
    for case in ["e2e_zh", "e2e_en"] {
        if set.has(&format!("{case}/gpt.safetensors")) {
            if let Err(e) = e2e_check(set, &model, case, report) {
                report.error(STAGE, format!("{case} gpt"), e);
            }
        }
    }
}

/// Host integers of an int array.
pub fn ints(a: &Array) -> anyhow::Result<Vec<i64>> {
    let a = a.as_dtype(Dtype::Int64)?;
    a.eval()?;
    Ok(a.as_slice::<i64>().to_vec())
}

fn floats(a: &Array) -> anyhow::Result<Vec<f32>> {
    let a = a.as_dtype(Dtype::Float32)?;
    a.eval()?;
    Ok(a.as_slice::<f32>().to_vec())
}

fn get<'a>(t: &'a HashMap<String, Array>, file: &str, name: &str) -> anyhow::Result<&'a Array> {
    t.get(name).ok_or_else(|| anyhow::anyhow!("{file}: no tensor `{name}`"))
}

/// `max|a-b| / max|b|` over the first `width` values (fixture rows are −inf padded past it).
fn rel_host(port: &[f32], reference: &[f32], width: usize) -> f64 {
    let (mut d, mut s) = (0f64, 0f64);
    for (a, b) in port.iter().zip(reference).take(width) {
        d = d.max((*a as f64 - *b as f64).abs());
        s = s.max((*b as f64).abs());
    }
    if port.len() < width || reference.len() < width {
        return f64::INFINITY;
    }
    if s > 0.0 {
        d / s
    } else {
        d
    }
}

/// The model inputs of `gpt/inputs.safetensors`.
pub struct UnitInputs {
    pub phones: Vec<i32>,
    pub bert: Array,
    pub prompt: Vec<u32>,
    pub teacher: Vec<u32>,
}

pub fn unit_inputs(set: &FixtureSet) -> anyhow::Result<UnitInputs> {
    let file = "gpt/inputs.safetensors";
    let t = set.tensors(file)?;
    let phones = ints(get(&t, file, "phone_ids")?)?.into_iter().map(|v| v as i32).collect();
    let bert = get(&t, file, "bert_feature")?.index(0);
    let prompt = ints(get(&t, file, "prompt_semantic")?)?.into_iter().map(|v| v as u32).collect();
    let teacher = ints(get(&t, file, "teacher_tokens")?)?.into_iter().map(|v| v as u32).collect();
    Ok(UnitInputs { phones, bert, prompt, teacher })
}

fn unit_checks(set: &FixtureSet, model: &Text2SemanticDecoder, report: &mut Report) -> anyhow::Result<()> {
    let inp = unit_inputs(set)?;
    let (trace, mut caches) = model.prompt_pass_trace(&inp.phones, &inp.bert, Some(&inp.prompt))?;
    let file = "gpt/prompt_pass.safetensors";
    if set.has(file) {
        let t = set.tensors(file)?;
        let pairs: [(&str, Option<&Array>); 6] = [
            ("x_text_emb", Some(&trace.x_text_emb)),
            ("x_plus_bert", Some(&trace.x_plus_bert)),
            ("x_pos", Some(&trace.x_pos)),
            ("y_pos", trace.y_pos.as_ref()),
            ("xy_pos", Some(&trace.xy_pos)),
            ("xy_dec", Some(&trace.xy_dec)),
        ];
        for (name, port) in pairs {
            let reference = get(&t, file, name)?;
            match port {
                Some(p) => match rel_max_abs(p, reference) {
                    Ok(v) => report.within(STAGE, format!("prompt_pass {name}"), "rel_max_abs", v, REL_TOL),
                    Err(e) => report.error(STAGE, format!("prompt_pass {name}"), e),
                },
                None => report.error(STAGE, format!("prompt_pass {name}"), "not computed"),
            }
        }
        let mask = ints(get(&t, file, "attn_mask")?)?;
        let port: Vec<i64> = trace.attn_mask.iter().map(|&m| m as i64).collect();
        report.exact(STAGE, "prompt_pass attn_mask", mismatches(&port, &mask), "");
    }
    let file = "gpt/first_step_logits.safetensors";
    if set.has(file) {
        let t = set.tensors(file)?;
        let v = rel_max_abs(&trace.logits, get(&t, file, "logits")?)?;
        report.within(STAGE, "first_step_logits", "rel_max_abs", v, REL_TOL);
    }
    let file = "gpt/teacher_forced_logits.safetensors";
    if set.has(file) {
        let t = set.tensors(file)?;
        let want = get(&t, file, "logits")?;
        let want_inputs = get(&t, file, "step_inputs")?;
        let mut worst_logits = rel_max_abs(&trace.logits, &want.index(0))?;
        let mut worst_inputs = 0f64;
        let ty = inp.prompt.len() as i32;
        for (i, &tok) in inp.teacher.iter().enumerate() {
            let x = model.embed_step(&Array::from_slice(&[tok], &[1]), &[ty + i as i32])?;
            worst_inputs = worst_inputs.max(rel_max_abs(&x.reshape(&[-1])?, &want_inputs.index(i as i32))?);
            let h = model.forward(&x, None, &mut caches)?;
            let logits = model.predict(&h.reshape(&[-1])?)?;
            worst_logits = worst_logits.max(rel_max_abs(&logits, &want.index(i as i32 + 1))?);
        }
        report.within(STAGE, "teacher_forced step_inputs", "rel_max_abs", worst_inputs, REL_TOL);
        report.within(STAGE, "teacher_forced logits (KV cache)", "rel_max_abs", worst_logits, REL_TOL);
    }
    Ok(())
}

fn meta_f64(meta: &HashMap<String, serde_json::Value>, key: &str, file: &str) -> anyhow::Result<f64> {
    meta.get(key)
        .and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .ok_or_else(|| anyhow::anyhow!("{file}: metadata has no numeric `{key}`"))
}

fn stop_name(s: StopReason) -> &'static str {
    match s {
        StopReason::Eos => "eos",
        StopReason::EarlyStop => "early_stop",
        StopReason::MaxSteps => "max_steps",
    }
}

/// Per-step comparisons shared by the unit decodes and the e2e runs.
fn compare_steps(
    report: &mut Report,
    label: &str,
    t: &HashMap<String, Array>,
    file: &str,
    steps: &[StepOutput],
) -> anyhow::Result<()> {
    let logits_raw = get(t, file, "logits_raw")?;
    let widths = ints(get(t, file, "step_width")?)?;
    let step_tokens = ints(get(t, file, "step_token")?)?;
    let probs = t.get("probs");
    let n = widths.len();
    report.exact(STAGE, format!("{label} steps run"), n.abs_diff(steps.len()), format!("{} vs {n}", steps.len()));
    let mut worst_logits = 0f64;
    let mut worst_probs = 0f64;
    let mut sampled = Vec::new();
    for (i, s) in steps.iter().enumerate().take(n) {
        let tr = s.trace.as_ref().ok_or_else(|| anyhow::anyhow!("step {i} has no trace"))?;
        let w = widths[i] as usize;
        let want = floats(&logits_raw.index(i as i32))?;
        worst_logits = worst_logits.max(rel_host(&tr.logits, &want, w));
        if let Some(p) = probs {
            let want = floats(&p.index(i as i32))?;
            let err = tr.probs.iter().zip(&want).take(w).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
            worst_probs = worst_probs.max(err);
        }
        sampled.push(tr.sampled as i64);
    }
    report.within(STAGE, format!("{label} logits_raw per step"), "rel_max_abs", worst_logits, REL_TOL);
    if probs.is_some() {
        report.within(STAGE, format!("{label} probs per step"), "max_abs", worst_probs, PROB_TOL);
    }
    report.exact(STAGE, format!("{label} step_token"), mismatches(&sampled, &step_tokens), "");
    Ok(())
}

fn check_outcome(report: &mut Report, label: &str, t: &HashMap<String, Array>, file: &str, out: &DecodeOutcome, y_name: &str) -> anyhow::Result<()> {
    let want_y = ints(get(t, file, y_name)?)?;
    let y: Vec<i64> = out.prompt.iter().chain(&out.generated).map(|&v| v as i64).collect();
    report.exact(STAGE, format!("{label} {y_name}"), mismatches(&y, &want_y), "");
    let want_idx = ints(get(t, file, "idx")?)?;
    let idx = want_idx.first().copied().unwrap_or(-1);
    report.exact(STAGE, format!("{label} idx"), (out.idx as i64 != idx) as usize, format!("{} vs {idx}", out.idx));
    Ok(())
}

fn decode_check(set: &FixtureSet, model: &Arc<Text2SemanticDecoder>, file: &str, label: &str, report: &mut Report) -> anyhow::Result<()> {
    let inp = unit_inputs(set)?;
    let t = set.tensors(file)?;
    let meta = set.metadata(file)?;
    let sampling = SamplingParams {
        top_k: meta_f64(&meta, "top_k", file)? as usize,
        top_p: meta_f64(&meta, "top_p", file)? as f32,
        temperature: meta_f64(&meta, "temperature", file)? as f32,
        repetition_penalty: meta_f64(&meta, "repetition_penalty", file)? as f32,
    };
    let early = meta_f64(&meta, "early_stop_num", file)?;
    let mut req = DecodeRequest::new(inp.phones.clone(), inp.bert.clone(), Some(inp.prompt.clone()), 0);
    req.sampling = sampling;
    req.early_stop_num = (early >= 0.0).then_some(early as usize);
    req.stop_style = StopStyle::Naive;
    req.trace = true;
    if let Some(q) = t.get("exp_noise_q") {
        req.noise = Some(Box::new(FixedExpNoise::new(noise_rows(q, get(&t, file, "step_width")?)?)));
    }
    let (out, steps) = TokenStream::new(Arc::clone(model), req)?.run()?;
    compare_steps(report, label, &t, file, &steps)?;
    check_outcome(report, label, &t, file, &out, "y")?;
    let gen: Vec<i64> = out.generated.iter().map(|&v| v as i64).collect();
    report.exact(STAGE, format!("{label} generated"), mismatches(&gen, &ints(get(&t, file, "generated")?)?), "");
    if let Some(want) = meta.get("stop_reason").and_then(|v| v.as_str()) {
        report.exact(STAGE, format!("{label} stop_reason"), (stop_name(out.stop) != want) as usize, format!("{} vs {want}", stop_name(out.stop)));
    }
    Ok(())
}

/// The fixtures' `exp_noise_q` rows; the padding 0 past a step's width becomes 1 (its
/// probability is 0 either way, and 0/0 would poison the argmax).
fn noise_rows(q: &Array, widths: &Array) -> anyhow::Result<Vec<Vec<f32>>> {
    let widths = ints(widths)?;
    let v = q.shape()[1] as usize;
    let all = floats(q)?;
    Ok(all
        .chunks(v)
        .zip(&widths)
        .map(|(row, &w)| row.iter().enumerate().map(|(j, &x)| if j < w as usize { x } else { 1.0 }).collect())
        .collect())
}

/// The e2e GPT inputs of a case: phones, BERT `[bert_dim, T]`, prompt, sampling, seed.
pub struct E2eInputs {
    pub phones: Vec<i32>,
    pub bert: Array,
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    pub seed: u64,
}

pub fn e2e_inputs(set: &FixtureSet, case: &str) -> anyhow::Result<E2eInputs> {
    let ff = format!("{case}/frontend.safetensors");
    let front = set.tensors(&ff)?;
    let phones = ints(get(&front, &ff, "all_phone_ids")?)?.into_iter().map(|v| v as i32).collect();
    let bert = get(&front, &ff, "all_bert")?.clone();
    let rf = "reference/ref_hubert.safetensors";
    let refs = set.tensors(rf)?;
    let prompt = ints(get(&refs, rf, "prompt_semantic")?)?.into_iter().map(|v| v as u32).collect();
    let pipeline = set.json(&format!("{case}/pipeline.json"))?;
    let inputs = &pipeline["tts_run_inputs"];
    let num = |k: &str| inputs[k].as_f64().ok_or_else(|| anyhow::anyhow!("{case}/pipeline.json: no tts_run_inputs.{k}"));
    Ok(E2eInputs {
        phones,
        bert,
        prompt,
        sampling: SamplingParams {
            top_k: num("top_k")? as usize,
            top_p: num("top_p")? as f32,
            temperature: num("temperature")? as f32,
            repetition_penalty: num("repetition_penalty")? as f32,
        },
        seed: num("seed").unwrap_or(0.0) as u64,
    })
}

fn e2e_check(set: &FixtureSet, model: &Arc<Text2SemanticDecoder>, case: &str, report: &mut Report) -> anyhow::Result<()> {
    let inp = e2e_inputs(set, case)?;
    let file = format!("{case}/gpt.safetensors");
    let t = set.tensors(&file)?;
    let mut req = DecodeRequest::new(inp.phones, inp.bert, Some(inp.prompt), model.config.early_stop_num());
    req.sampling = inp.sampling;
    req.seed = inp.seed;
    req.stop_style = StopStyle::Batch;
    req.trace = true;
    let (out, steps) = TokenStream::new(Arc::clone(model), req)?.run()?;
    let label = format!("{case}");
    compare_steps(report, &label, &t, &file, &steps)?;
    check_outcome(report, &label, &t, &file, &out, "y_full")?;
    let pred: Vec<i64> = out.pred_semantic().iter().map(|&v| v as i64).collect();
    report.exact(STAGE, format!("{label} pred_semantic"), mismatches(&pred, &ints(get(&t, &file, "pred_semantic")?)?), "");
    Ok(())
}
