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
    let Some(path) = set.find_file("models/sovits", ".pth") else {
        return;
    };
    match SynthesizerTrn::load(&path, Dtype::Float32) {
        Ok((model, info)) => check_model(set, report, &model, Some(&info)),
        Err(e) => report.error(STAGE, "load", e),
    }
}

/// All checks against an already loaded model (`info` enables the version check).
pub fn check_model(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, info: Option<&SovitsInfo>) {
    if let (Some(info), Some(expected)) = (info, set.manifest["sovits_version_detection"]["final_version"].as_str()) {
        let got = info.version.to_string();
        report.exact(STAGE, "version detection", usize::from(got != expected), format!("{got} by {:?}", info.detected_by));
    }
    if let Err(e) = extract_latent(set, report, model) {
        report.error(STAGE, "extract_latent", e);
    }
    let style = match reference_style(set, model) {
        Ok(s) => s,
        Err(e) => {
            report.error(STAGE, "ge (ref_enc)", e);
            return;
        }
    };
    if let Err(e) = decode_cases(set, report, model, &style) {
        report.error(STAGE, "decode", e);
    }
    let e2e_dirs: Vec<String> = set.manifest["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f["path"].as_str())
                .filter(|p| p.starts_with("e2e_") && p.ends_with("/vits.safetensors"))
                .map(|p| p.trim_end_matches("/vits.safetensors").to_string())
                .collect()
        })
        .unwrap_or_default();
    for dir in e2e_dirs {
        if let Err(e) = e2e_case(set, report, model, &style, &dir) {
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

fn extract_latent(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn) -> anyhow::Result<()> {
    let (file, input) = ("sovits/extract_latent.safetensors", "reference/ref_hubert.safetensors");
    if !set.has(file) || !set.has(input) {
        return Ok(());
    }
    let t = set.tensors(file)?;
    let ssl = set.tensors(input)?;
    let ssl = get(&ssl, input, "ssl_content")?;
    let want = ids(get(&t, file, "codes")?)?;
    let got = ids(&model.extract_latent(ssl)?)?;
    let margins = floats(get(&t, file, "nn_margin")?)?;
    let flips: Vec<String> = got
        .iter()
        .zip(&want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, _)| format!("#{i} margin {:.2e}", margins.get(i).copied().unwrap_or(f32::NAN)))
        .collect();
    let n = super::mismatches(&got, &want);
    report.exact(STAGE, "extract_latent codes", n, flips.join(", "));
    Ok(())
}

fn reference_style(set: &FixtureSet, model: &SynthesizerTrn) -> anyhow::Result<Style> {
    let file = "reference/ref32k_spec.safetensors";
    let t = set.tensors(file)?;
    Ok(model.style(get(&t, file, "spec")?, None)?)
}

fn meta_f32(meta: &HashMap<String, serde_json::Value>, key: &str) -> Option<f32> {
    match meta.get(key)? {
        serde_json::Value::Number(n) => n.as_f64().map(|v| v as f32),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn decode_cases(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, style: &Style) -> anyhow::Result<()> {
    let inputs = "sovits/decode_inputs.safetensors";
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
                .filter(|p| p.starts_with("sovits/decode_") && *p != inputs)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for file in cases {
        let name = file.trim_start_matches("sovits/").trim_end_matches(".safetensors").to_string();
        let t = set.tensors(&file)?;
        let meta = set.metadata(&file)?;
        let ns = meta_f32(&meta, "noise_scale").ok_or_else(|| anyhow::anyhow!("{file}: no noise_scale metadata"))?;
        let speed = meta_f32(&meta, "speed").ok_or_else(|| anyhow::anyhow!("{file}: no speed metadata"))?;
        report.within(STAGE, format!("{name} ge"), "rel_max_abs", rel_max_abs(&style.ge_torch()?, get(&t, &file, "ge")?)?, TOL_MODULE);
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

fn e2e_case(set: &FixtureSet, report: &mut Report, model: &SynthesizerTrn, style: &Style, dir: &str) -> anyhow::Result<()> {
    let file = format!("{dir}/vits.safetensors");
    let t = set.tensors(&file)?;
    let codes = ids(get(&t, &file, "codes")?)?;
    let text = ids(get(&t, &file, "text")?)?;
    report.within(STAGE, format!("{dir} ge"), "rel_max_abs", rel_max_abs(&style.ge_torch()?, get(&t, &file, "ge")?)?, TOL_MODULE);
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
