//! Parity checks for the `hubert` stage: the dataset-path normalisation and every intermediate of
//! CNHuBERT on a short clip (`hubert/cnhubert_forward`).
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Dtype};

use super::reference::{hubert_dir, HUBERT_TOLERANCE};
use super::{rel_max_abs, FixtureSet, Report};
use crate::models::hubert::{normalize_input, Hubert};

const STAGE: &str = "hubert";
const FORWARD: &str = "hubert/cnhubert_forward.safetensors";
const REF_HUBERT: &str = "reference/ref_hubert.safetensors";

pub fn run(set: &FixtureSet, report: &mut Report) {
    if !set.has(FORWARD) {
        return;
    }
    if let Err(e) = check(set, report) {
        report.error(STAGE, "cnhubert_forward", e);
    }
}

fn check(set: &FixtureSet, report: &mut Report) -> anyhow::Result<()> {
    let t = set.tensors(FORWARD)?;
    let get = |k: &str| t.get(k).ok_or_else(|| anyhow::anyhow!("{FORWARD} has no {k}"));
    let input_values = get("input_values")?;
    let n = input_values.shape()[1];

    // The clip is the first N samples of the full-length upstream HuBERT input.
    if set.has(REF_HUBERT) {
        let r = set.tensors(REF_HUBERT)?;
        let full = r
            .get("hubert_input")
            .ok_or_else(|| anyhow::anyhow!("{REF_HUBERT} has no hubert_input"))?;
        let clip: Vec<f32> = full.index((0, ..n)).as_slice::<f32>().to_vec();
        let ours = Array::from_slice(&normalize_input(&clip), &[1, n]);
        report.within(STAGE, "input_values (normalisation)", "rel_max_abs", rel_max_abs(&ours, input_values)?, 1e-5);
    }

    let model = Hubert::load(&hubert_dir(set)?, Dtype::Float32)?;
    let out = model.forward_with_hidden_states(input_values)?;
    let conv = out.conv_features.transpose_axes(&[0, 2, 1])?;
    report.within(
        STAGE,
        "conv_features",
        "rel_max_abs",
        rel_max_abs(&conv, get("conv_features")?)?,
        HUBERT_TOLERANCE,
    );
    let want = get("hidden_states")?;
    let n_states = want.shape()[0] as usize;
    if n_states != out.hidden_states.len() {
        report.exact(
            STAGE,
            "hidden_states count",
            n_states.abs_diff(out.hidden_states.len()),
            format!("port {} vs reference {n_states}", out.hidden_states.len()),
        );
    }
    for (i, h) in out.hidden_states.iter().enumerate().take(n_states) {
        let w = want.index(i as i32);
        let h = h.squeeze_axes(&[0])?;
        report.within(STAGE, format!("hidden_states[{i}]"), "rel_max_abs", rel_max_abs(&h, &w)?, HUBERT_TOLERANCE);
    }
    Ok(())
}
