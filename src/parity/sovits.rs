//! Parity checks for the `sovits` stage: version detection, `extract_latent` codes, the style
//! vector and every `decode` intermediate of `sovits/decode_*`, and the end-to-end decodes of
//! `e2e_*/vits.safetensors` including TTS.run's int16 output. Driven by the files present.
use std::collections::HashMap;

use mlx_rs::{Array, Dtype};
use sha2::{Digest, Sha256};

use super::{rel_max_abs, FixtureSet, Report};
use crate::models::sovits::{to_int16, SovitsInfo, Style, SynthesizerTrn};

const STAGE: &str = "sovits";
/// Module activations (fixtures README "How to compare").
const TOL_MODULE: f64 = 1e-4;
/// Waveforms: tanh after 5 upsampling stages.
const TOL_WAVE: f64 = 1e-3;
/// Int16 output, in LSB.
const TOL_LSB: f64 = 2.0;
/// `TTS.run` calls `vits_model.decode` with its default noise_scale (not stored in the e2e files).
const TTS_NOISE_SCALE: f32 = 0.5;

pub fn run(set: &FixtureSet, report: &mut Report) {
    let models: Vec<(String, Option<String>)> = set.manifest["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    let p = f["path"].as_str()?;
                    let version = f["version_detection"]["tts_model_version"].as_str().map(str::to_string);
                    (p.starts_with("models/sovits/") && p.ends_with(".pth")).then(|| (p.to_string(), version))
                })
                .collect()
        })
        .unwrap_or_default();
    let single = models.len() == 1;
    for (rel, version) in models {
        if !set.path(&rel).exists() {
            continue;
        }
        let expected = version.or_else(|| set.manifest["sovits_version_detection"]["final_version"].as_str().map(str::to_string));
        match SynthesizerTrn::load(&set.path(&rel), Dtype::Float32) {
            Ok((model, info)) => {
                let cases = ModelCases::of(set, &model.version().to_string(), single);
                check_model(set, report, &model, Some((&info, expected.as_deref())), &cases)
            }
            Err(e) => report.error(STAGE, format!("load {rel}"), e),
        }
    }
}

/// The fixture folders of one model: `sovits_<version>/` or the v2 set's `sovits/`, and the
/// e2e folders whose suffix names its version (or every unsuffixed one when the set has one model).
pub struct ModelCases {
    pub unit_dir: Option<String>,
    pub e2e_dirs: Vec<String>,
}

impl ModelCases {
    pub fn of(set: &FixtureSet, version: &str, single_model: bool) -> Self {
        let versioned = format!("sovits_{version}");
        let unit_dir = [versioned.as_str(), "sovits"]
            .into_iter()
            .find(|d| set.has(&format!("{d}/decode_inputs.safetensors")) || set.has(&format!("{d}/extract_latent.safetensors")))
            .filter(|d| *d != "sovits" || single_model)
            .map(str::to_string);
        let e2e_dirs = set
            .case_dirs("e2e_", "vits.safetensors")
            .into_iter()
            .filter(|d| match FixtureSet::case_version(d) {
                Some(v) => v == version,
                None => single_model,
            })
            .collect();
        Self { unit_dir, e2e_dirs }
    }
}

/// All checks against an already loaded model (`detection` = its load info and the version the
/// manifest expects, enabling the version check).
pub fn check_model(
    set: &FixtureSet,
    report: &mut Report,
    model: &SynthesizerTrn,
    detection: Option<(&SovitsInfo, Option<&str>)>,
    cases: &ModelCases,
) {
    if let Some((info, Some(expected))) = detection {
        let got = info.version.to_string();
        report.exact(STAGE, format!("version detection ({expected})"), usize::from(got != expected), format!("{got} by {:?}", info.detected_by));
    }
    if let Some(dir) = &cases.unit_dir {
        if let Err(e) = extract_latent(set, report, model, dir) {
            report.error(STAGE, format!("{dir} extract_latent"), e);
        }
    }
    let sv = match reference_sv(set, model) {
        Ok(sv) => sv,
        Err(e) => {
            report.error(STAGE, "reference speaker embedding", e);
            return;
        }
    };
    let style = match reference_style(set, model, sv.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            report.error(STAGE, "ge (ref_enc)", e);
            return;
        }
    };
    if let Some(dir) = &cases.unit_dir {
        if let Err(e) = decode_cases(set, report, model, &style, sv.as_ref(), dir) {
            report.error(STAGE, format!("{dir} decode"), e);
        }
    }
    for dir in &cases.e2e_dirs {
        if let Err(e) = e2e_case(set, report, model, &style, sv.as_ref(), dir) {
            report.error(STAGE, format!("{dir}/vits"), e);
        }
    }
}

fn get<'a>(t: &'a HashMap<String, Array>, file: &str, name: &str) -> anyhow::Result<&'a Array> {
    t.get(name).ok_or_else(|| anyhow::anyhow!("{file}: no tensor `{name}`"))
}

fn ids(a: &Array) -> anyhow::Result<Vec<i64>> {
    let a = a.as_dtype(Dtype::Int64)?;
    a.eval()?;
    Ok(a.as_slice::<i64>().to_vec())
}

fn floats(a: &Array) -> anyhow::Result<Vec<f32>> {
    let a = a.as_dtype(Dtype::Float32)?.reshape(&[-1])?;
    a.eval()?;
    Ok(a.as_slice::<f32>().to_vec())
}

fn extract_latent(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, dir: &str) -> anyhow::Result<()> {
    let file = format!("{dir}/extract_latent.safetensors");
    let (file, input) = (file.as_str(), "reference/ref_hubert.safetensors");
    if !set.has(file) || !set.has(input) {
        return Ok(());
    }
    let t = set.tensors(file)?;
    let ssl = set.tensors(input)?;
    let ssl = get(&ssl, input, "ssl_content")?;
    let want = ids(get(&t, file, "codes")?)?;
    let got = ids(&model.extract_latent(ssl)?)?;
    // Optional: the margin explains a flipped code (tiny margins may flip between implementations).
    let margins = match t.get("nn_margin") {
        Some(m) => floats(m)?,
        None => Vec::new(),
    };
    let flips: Vec<String> = got
        .iter()
        .zip(&want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, _)| format!("#{i} margin {:.2e}", margins.get(i).copied().unwrap_or(f32::NAN)))
        .collect();
    let n = super::mismatches(&got, &want);
    report.exact(STAGE, format!("{dir} extract_latent codes"), n, flips.join(", "));
    Ok(())
}

/// For v2Pro/v2ProPlus: the stored speaker embedding of the reference (`reference/ref_sv:sv_emb`,
/// the input of every decode; the `sv` stage checks the port's own).
fn reference_sv(set: &FixtureSet, model: &SynthesizerTrn) -> anyhow::Result<Option<Array>> {
    if model.sv_width().is_none() {
        return Ok(None);
    }
    let file = "reference/ref_sv.safetensors";
    let t = set.tensors(file)?;
    Ok(Some(get(&t, file, "sv_emb")?.clone()))
}

fn reference_style(set: &FixtureSet, model: &SynthesizerTrn, sv: Option<&Array>) -> anyhow::Result<Style> {
    let file = "reference/ref32k_spec.safetensors";
    let t = set.tensors(file)?;
    Ok(model.style(get(&t, file, "spec")?, sv)?)
}

/// The conditioning chain of a v2Pro/v2ProPlus decode, each link fed upstream's input:
/// `ge_ref` (ref_enc), `sv_proj` (sv_emb), `ge` (PReLU) and `ge512` (ge_to512).
#[allow(clippy::too_many_arguments)]
fn pro_chain(
    set: &FixtureSet,
    report: &mut Report,
    model: &SynthesizerTrn,
    style: &Style,
    sv: Option<&Array>,
    t: &HashMap<String, Array>,
    file: &str,
    label: &str,
) -> anyhow::Result<()> {
    let Some(sv) = sv else {
        return Ok(());
    };
    if let Some(want) = t.get("ge_ref") {
        let spec_file = "reference/ref32k_spec.safetensors";
        let spec = set.tensors(spec_file)?;
        let ge_ref = model.ref_ge(get(&spec, spec_file, "spec")?)?.transpose_axes(&[0, 2, 1])?;
        report.within(STAGE, format!("{label} ge_ref"), "rel_max_abs", rel_max_abs(&ge_ref, want)?, TOL_MODULE);
    }
    if let Some(want) = t.get("sv_proj") {
        report.within(STAGE, format!("{label} sv_proj"), "rel_max_abs", rel_max_abs(&model.sv_projection(sv)?, want)?, TOL_MODULE);
    }
    if let Some(want) = t.get("ge512") {
        let ge512 = style.ge_text.transpose_axes(&[0, 2, 1])?;
        report.within(STAGE, format!("{label} ge512"), "rel_max_abs", rel_max_abs(&ge512, want)?, TOL_MODULE);
        // ge_to512 alone, on upstream's ge.
        let from_ref = model.style_from_ge(get(t, file, "ge")?.transpose_axes(&[0, 2, 1])?)?;
        let v = rel_max_abs(&from_ref.ge_text.transpose_axes(&[0, 2, 1])?, want)?;
        report.within(STAGE, format!("{label} ge_to512 (upstream ge)"), "rel_max_abs", v, TOL_MODULE);
    }
    Ok(())
}

fn meta_f32(meta: &HashMap<String, serde_json::Value>, key: &str) -> Option<f32> {
    match meta.get(key)? {
        serde_json::Value::Number(n) => n.as_f64().map(|v| v as f32),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn decode_cases(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, style: &Style, sv: Option<&Array>, dir: &str) -> anyhow::Result<()> {
    let inputs = format!("{dir}/decode_inputs.safetensors");
    let inputs = inputs.as_str();
    if !set.has(inputs) {
        return Ok(());
    }
    let inp = set.tensors(inputs)?;
    let codes = ids(get(&inp, inputs, "codes")?)?;
    let text = ids(get(&inp, inputs, "text")?)?;
    let code_arr = Array::from_slice(&codes.iter().map(|&c| c as i32).collect::<Vec<_>>(), &[codes.len() as i32]);
    let quantized = model.codebook_rows(&code_arr)?;
    report.within(STAGE, "decode_inputs quantized", "rel_max_abs", rel_max_abs(&quantized, get(&inp, inputs, "quantized")?)?, TOL_MODULE);
    let cases: Vec<String> = set.manifest["files"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["path"].as_str())
                .filter(|p| p.starts_with(&format!("{dir}/decode_")) && *p != inputs)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for file in cases {
        let name = file.trim_end_matches(".safetensors").to_string();
        let t = set.tensors(&file)?;
        let meta = set.metadata(&file)?;
        let ns = meta_f32(&meta, "noise_scale").ok_or_else(|| anyhow::anyhow!("{file}: no noise_scale metadata"))?;
        let speed = meta_f32(&meta, "speed").ok_or_else(|| anyhow::anyhow!("{file}: no speed metadata"))?;
        report.within(STAGE, format!("{name} ge"), "rel_max_abs", rel_max_abs(&style.ge_torch()?, get(&t, &file, "ge")?)?, TOL_MODULE);
        pro_chain(set, report, model, style, sv, &t, &file, &name)?;
        let tr = model.decode_trace(&codes, &text, style, ns, speed, Some(get(&t, &file, "noise")?))?;
        for (label, port, key, tol) in [
            ("enc_p_x", &tr.enc_x, "enc_p_x", TOL_MODULE),
            ("m_p", &tr.m_p, "m_p", TOL_MODULE),
            ("logs_p", &tr.logs_p, "logs_p", TOL_MODULE),
            ("z_p", &tr.z_p, "z_p", TOL_MODULE),
            ("z", &tr.z, "z", TOL_MODULE),
            ("o", &tr.o, "o", TOL_WAVE),
        ] {
            let v = rel_max_abs(port, get(&t, &file, key)?)?;
            report.within(STAGE, format!("{name} {label}"), "rel_max_abs", v, tol);
        }
    }
    Ok(())
}

fn e2e_case(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, style: &Style, sv: Option<&Array>, dir: &str) -> anyhow::Result<()> {
    let file = format!("{dir}/vits.safetensors");
    let t = set.tensors(&file)?;
    let codes = ids(get(&t, &file, "codes")?)?;
    let text = ids(get(&t, &file, "text")?)?;
    report.within(STAGE, format!("{dir} ge"), "rel_max_abs", rel_max_abs(&style.ge_torch()?, get(&t, &file, "ge")?)?, TOL_MODULE);
    pro_chain(set, report, model, style, sv, &t, &file, dir)?;
    let tr = model.decode_trace(&codes, &text, style, TTS_NOISE_SCALE, 1.0, Some(get(&t, &file, "noise")?))?;
    for (label, port, key, tol) in [
        ("m_p", &tr.m_p, "m_p", TOL_MODULE),
        ("logs_p", &tr.logs_p, "logs_p", TOL_MODULE),
        ("z", &tr.z, "z", TOL_MODULE),
        ("waveform", &tr.o, "waveform", TOL_WAVE),
    ] {
        report.within(STAGE, format!("{dir} {label}"), "rel_max_abs", rel_max_abs(port, get(&t, &file, key)?)?, tol);
    }
    let w0 = model.decode(&codes, &text, style, 0.0, 1.0, None)?;
    let ref0 = get(&t, &file, "waveform_noise_scale0")?;
    report.within(STAGE, format!("{dir} waveform_noise_scale0"), "rel_max_abs", rel_max_abs(&w0.reshape(ref0.shape())?, ref0)?, TOL_WAVE);

    // TTS.run's int16 output: the recipe on our waveform vs the recipe on upstream's.
    let pipeline = set.json(&format!("{dir}/pipeline.json"))?;
    let out = &pipeline["tts_run_output"];
    let ref_wave = floats(get(&t, &file, "waveform")?)?;
    let total = out["samples"].as_u64().ok_or_else(|| anyhow::anyhow!("{dir}/pipeline.json: no tts_run_output.samples"))? as usize;
    let silence = total
        .checked_sub(ref_wave.len())
        .ok_or_else(|| anyhow::anyhow!("{dir}: tts_run_output.samples {total} < waveform length {}", ref_wave.len()))?;
    let ours = to_int16(&floats(&tr.o)?, silence);
    let theirs = to_int16(&ref_wave, silence);
    let max_lsb = ours.iter().zip(&theirs).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap_or(0);
    let len_diff = ours.len().abs_diff(theirs.len()) as f64;
    report.within(STAGE, format!("{dir} int16 output"), "max_lsb", max_lsb as f64 + len_diff * 1e6, TOL_LSB);
    if let Some(sha) = out["sha256_le_bytes"].as_str() {
        let bytes: Vec<u8> = theirs.iter().flat_map(|s| s.to_le_bytes()).collect();
        let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        report.exact(STAGE, format!("{dir} int16 recipe sha256"), usize::from(hex != sha), "recipe on upstream waveform");
    }
    Ok(())
}
