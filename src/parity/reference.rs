//! Parity checks for the `reference` stage: the reference clip through the port's own audio path
//! (decode → 32 kHz → spectrogram; decode → 16 kHz → +padding) and HuBERT on upstream's
//! `hubert_input` at full length. The prompt ids need SoVITS `extract_latent` and are checked by
//! the end-to-end stage.
use std::path::PathBuf;

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Dtype};

use super::{rel_max_abs, FixtureSet, Report};
use crate::audio::{ReferenceAudio, SOVITS_SAMPLE_RATE};
use crate::models::hubert::Hubert;

const STAGE: &str = "reference";
const WAV: &str = "audio/ref_32k.wav";
const SPEC: &str = "reference/ref32k_spec.safetensors";
const HUBERT: &str = "reference/ref_hubert.safetensors";

/// Spectrogram and per-module activations (fixtures README "How to compare").
pub const SPEC_TOLERANCE: f64 = 1e-4;
/// HuBERT output (deep conv stack).
pub const HUBERT_TOLERANCE: f64 = 1e-3;
/// Port resampler (rubato sinc) vs upstream's soxr HQ, relative to the peak: the two filters
/// differ slightly in passband ripple and transition band, so this bounds "same signal, same
/// alignment", not bit equality (public set: 2.1e-3).
pub const RESAMPLE_TOLERANCE: f64 = 1e-2;

pub fn run(set: &FixtureSet, report: &mut Report) {
    if !set.has(WAV) {
        return;
    }
    let reference = match ReferenceAudio::from_path(set.path(WAV)) {
        Ok(r) => r,
        Err(e) => {
            report.error(STAGE, "decode ref wav", e);
            return;
        }
    };
    if set.has(SPEC) {
        if let Err(e) = spectrogram(set, &reference, report) {
            report.error(STAGE, "ref32k_spec", e);
        }
    }
    if set.has(HUBERT) {
        if let Err(e) = hubert(set, &reference, report) {
            report.error(STAGE, "ref_hubert", e);
        }
    }
}

fn spectrogram(set: &FixtureSet, reference: &ReferenceAudio, report: &mut Report) -> anyhow::Result<()> {
    let want = set.tensors(SPEC)?;
    let want = want.get("spec").ok_or_else(|| anyhow::anyhow!("{SPEC} has no spec"))?;
    let got = reference.spectrogram()?;
    report.within(STAGE, "ref32k_spec:spec", "rel_max_abs", rel_max_abs(&got, want)?, SPEC_TOLERANCE);
    Ok(())
}

/// Folder of the HuBERT model of a fixture set (see [`FixtureSet::hubert_dir`]).
pub fn hubert_dir(set: &FixtureSet) -> anyhow::Result<PathBuf> {
    set.hubert_dir()
}

fn hubert(set: &FixtureSet, reference: &ReferenceAudio, report: &mut Report) -> anyhow::Result<()> {
    let t = set.tensors(HUBERT)?;
    let input = t.get("hubert_input").ok_or_else(|| anyhow::anyhow!("{HUBERT} has no hubert_input"))?;
    let ssl = t.get("ssl_content").ok_or_else(|| anyhow::anyhow!("{HUBERT} has no ssl_content"))?;

    // The port's own 16 kHz branch against librosa/soxr: exact length, loose values.
    let ours = reference.hubert_input(SOVITS_SAMPLE_RATE);
    let n_ref = input.shape()[1] as usize;
    report.exact(
        STAGE,
        "hubert_input length (resample + 9600 pad)",
        ours.len().abs_diff(n_ref),
        format!("port {} vs upstream {n_ref}", ours.len()),
    );
    if ours.len() == n_ref {
        let ours = Array::from_slice(&ours, &[1, n_ref as i32]);
        report.within(
            STAGE,
            "hubert_input (rubato vs soxr_hq)",
            "rel_max_abs",
            rel_max_abs(&ours, input)?,
            RESAMPLE_TOLERANCE,
        );
        // The padding itself must be exact zeros in both.
        let pad = (SOVITS_SAMPLE_RATE as f64 * 0.3) as i32;
        let tail = input.index((.., n_ref as i32 - pad..)).abs()?.max(None)?.item_cast::<f32>();
        report.exact(STAGE, "hubert_input zero padding (upstream)", usize::from(tail != 0.0), "");
    }

    // HuBERT at full length from upstream's exact input (stage by stage).
    let model = Hubert::load(&hubert_dir(set)?, Dtype::Float32)?;
    let wav: Vec<f32> = input.as_slice::<f32>().to_vec();
    let got = model.ssl_content(&wav)?;
    report.within(STAGE, "ref_hubert:ssl_content", "rel_max_abs", rel_max_abs(&got, ssl)?, HUBERT_TOLERANCE);
    Ok(())
}
