//! Parity across stages: the reference clip's prompt semantic tokens, i.e. upstream's
//! `TTS._set_prompt_semantic` (`hubert_input` → CNHuBERT → `SynthesizerTrn.extract_latent`), with
//! the fixture's own `hubert_input` so the resampler is out of the comparison. The per-stage e2e
//! checks (GPT tokens of `e2e_*/gpt`, SoVITS waveforms and the int16 output of `e2e_*/vits`) live
//! in the GPT and SoVITS stages.
use mlx_rs::Dtype;

use super::{ints, mismatches, FixtureSet, Report};
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
    let hubert = Hubert::load(&set.hubert_dir()?, Dtype::Float32)?;
    let t = set.tensors(REF)?;
    let input = t.get("hubert_input").ok_or_else(|| anyhow::anyhow!("{REF} has no hubert_input"))?;
    input.eval()?;
    let ssl = hubert.ssl_content(input.as_slice::<f32>())?;
    let files = set.sovits_files();
    anyhow::ensure!(!files.is_empty(), "no SoVITS .pth in the manifest");
    for sovits in files {
        let (vits, info) = SynthesizerTrn::load(&sovits, Dtype::Float32)?;
        // v2 set: one recorded prompt; v2Pro layout: each model's own `extract_latent` codes.
        let (want, source) = match t.get("prompt_semantic") {
            Some(p) => (ints(p)?, "ref_hubert:prompt_semantic".to_string()),
            None => {
                let file = format!("sovits_{}/extract_latent.safetensors", info.version);
                if !set.has(&file) {
                    continue;
                }
                let c = set.tensors(&file)?;
                (ints(c.get("codes").ok_or_else(|| anyhow::anyhow!("{file}: no codes"))?)?, format!("{file}:codes"))
            }
        };
        let codes = ints(&vits.extract_latent(&ssl)?)?;
        report.exact(
            STAGE,
            format!("{source} (hubert_input → HuBERT → {} extract_latent)", info.version),
            mismatches(&codes, &want),
            "",
        );
    }
    Ok(())
}
