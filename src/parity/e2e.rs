//! Parity across stages: the reference clip's prompt semantic tokens, i.e. upstream's
//! `TTS._set_prompt_semantic` (`hubert_input` → CNHuBERT → `SynthesizerTrn.extract_latent`), with
//! the fixture's own `hubert_input` so the resampler is out of the comparison. The per-stage e2e
//! checks (GPT tokens of `e2e_*/gpt`, SoVITS waveforms and the int16 output of `e2e_*/vits`) live
//! in the GPT and SoVITS stages.
use mlx_rs::Dtype;

use super::{mismatches, FixtureSet, Report};
use crate::models::hubert::Hubert;
use crate::models::sovits::SynthesizerTrn;

const STAGE: &str = "e2e";
const REF: &str = "reference/ref_hubert.safetensors";

pub fn run(set: &FixtureSet, report: &mut Report) {
    if !set.has(REF) {
        return;
    }
    if let Err(e) = prompt_semantic(set, report) {
        report.error(STAGE, "prompt_semantic", e);
    }
}

fn prompt_semantic(set: &FixtureSet, report: &mut Report) -> anyhow::Result<()> {
    let hubert_dir = set
        .find_file("models/chinese-hubert-base", "config.json")
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .ok_or_else(|| anyhow::anyhow!("no chinese-hubert-base folder in the manifest"))?;
    let sovits = set
        .find_file("models/sovits/", ".pth")
        .ok_or_else(|| anyhow::anyhow!("no SoVITS .pth in the manifest"))?;
    let hubert = Hubert::load(&hubert_dir, Dtype::Float32)?;
    let (vits, _) = SynthesizerTrn::load(&sovits, Dtype::Float32)?;
    let t = set.tensors(REF)?;
    let input = t.get("hubert_input").ok_or_else(|| anyhow::anyhow!("{REF} has no hubert_input"))?;
    let want = t.get("prompt_semantic").ok_or_else(|| anyhow::anyhow!("{REF} has no prompt_semantic"))?;
    input.eval()?;
    let ssl = hubert.ssl_content(input.as_slice::<f32>())?;
    let codes = vits.extract_latent(&ssl)?.reshape(&[-1])?.as_dtype(Dtype::Int64)?;
    let want = want.reshape(&[-1])?.as_dtype(Dtype::Int64)?;
    codes.eval()?;
    want.eval()?;
    report.exact(
        STAGE,
        "ref_hubert:prompt_semantic (hubert_input → HuBERT → extract_latent)",
        mismatches(codes.as_slice::<i64>(), want.as_slice::<i64>()),
        "",
    );
    Ok(())
}
