//! Parity checks for the `bert` stage: tokenizer ids, every hidden state, the selected
//! `hidden_states[-3]` rows and the phone-level features (`bert/zh_phone_level_features`), with the
//! narrow BERT shipped in the set.
use std::path::PathBuf;

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Dtype};

use super::{mismatches, rel_max_abs, FixtureSet, Report};
use crate::models::bert::{expand_to_phones, load_tokenizer, BertFeatures, BertLayers, BertModel};

const STAGE: &str = "bert";
const FEATURES: &str = "bert/zh_phone_level_features.safetensors";
/// BERT features and activations (fixtures README "How to compare").
pub const TOLERANCE: f64 = 1e-4;

pub fn run(set: &FixtureSet, report: &mut Report) {
    if !set.has(FEATURES) {
        return;
    }
    if let Err(e) = check(set, report) {
        report.error(STAGE, "zh_phone_level_features", e);
    }
}

/// Folder of the shipped BERT (`models/chinese-roberta*/config.json`).
pub fn bert_dir(set: &FixtureSet) -> anyhow::Result<PathBuf> {
    set.find_file("models/chinese-roberta", "config.json")
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .ok_or_else(|| anyhow::anyhow!("no models/chinese-roberta*/config.json in the manifest"))
}

fn ints(a: &Array) -> anyhow::Result<Vec<i64>> {
    let a = a.as_dtype(Dtype::Int64)?;
    a.eval()?;
    Ok(a.as_slice::<i64>().to_vec())
}

fn check(set: &FixtureSet, report: &mut Report) -> anyhow::Result<()> {
    let t = set.tensors(FEATURES)?;
    let get = |k: &str| t.get(k).ok_or_else(|| anyhow::anyhow!("{FEATURES} has no {k}"));
    let meta = set.metadata(FEATURES)?;
    let text = meta
        .get("norm_text")
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow::anyhow!("{FEATURES} metadata has no norm_text"))?
        .to_string();
    let dir = bert_dir(set)?;

    let want_ids = ints(get("input_ids")?)?;
    let tokenizer = load_tokenizer(&dir)?;
    let enc = tokenizer
        .encode(text.as_str(), true)
        .map_err(|e| anyhow::anyhow!("tokenizing {text:?}: {e}"))?;
    let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i as i64).collect();
    report.exact(STAGE, "input_ids", mismatches(&ids, &want_ids), format!("{} tokens", want_ids.len()));

    // Every hidden state from the reference ids (stage by stage).
    let full = BertModel::load(&dir, BertLayers::All, Dtype::Float32)?;
    let ref_ids: Vec<u32> = want_ids.iter().map(|&i| u32::try_from(i)).collect::<Result<_, _>>()?;
    let states = full.hidden_states(&ref_ids)?;
    let want_states = get("hidden_states")?;
    let n_states = want_states.shape()[0] as usize;
    if n_states != states.len() {
        report.exact(
            STAGE,
            "hidden_states count",
            n_states.abs_diff(states.len()),
            format!("port {} vs reference {n_states}", states.len()),
        );
    }
    for (i, s) in states.iter().enumerate().take(n_states) {
        let w = want_states.index(i as i32);
        report.within(STAGE, format!("hidden_states[{i}]"), "rel_max_abs", rel_max_abs(s, &w)?, TOLERANCE);
    }

    // The inference path: truncated model, own tokenizer, word2ph expansion.
    let word2ph: Vec<usize> = ints(get("word2ph")?)?
        .into_iter()
        .map(usize::try_from)
        .collect::<Result<_, _>>()?;
    let features = BertFeatures::load(&dir, Dtype::Float32)?;
    let selected_states = features.model.feature_states(&ref_ids)?;
    let rows = selected_states.shape()[0];
    let selected = selected_states.index((1..rows - 1, ..));
    report.within(STAGE, "selected (hidden_states[-3][1:-1])", "rel_max_abs", rel_max_abs(&selected, get("selected")?)?, TOLERANCE);
    let expanded = expand_to_phones(&selected_states, &word2ph, &text)?;
    let phone_level = features.phone_level_features(&text, &word2ph)?;
    let want = get("phone_level_feature")?;
    report.within(STAGE, "phone_level_feature (from ref ids)", "rel_max_abs", rel_max_abs(&expanded, want)?, TOLERANCE);
    report.within(STAGE, "phone_level_feature (text → features)", "rel_max_abs", rel_max_abs(&phone_level, want)?, TOLERANCE);
    Ok(())
}
