//! Parity checks for the `sv` stage (v2Pro/v2ProPlus speaker path): the Kaldi fbank of a clip
//! with every intermediate (`sv/fbank_clip`), ERes2NetV2 `forward3` block by block on the stored
//! fbank (`sv/eres2netv2_clip`), and the full-length path of the reference (`reference/ref_sv`):
//! torchaudio resample kernel and 16 kHz signal, fbank, embedding — each stage fed upstream's
//! input, plus the port's own chain from the WAV file. Driven by the files present.
use mlx_rs::{Array, Dtype};

use super::{rel_max_abs, FixtureSet, Report};
use crate::audio::ReferenceAudio;
use crate::models::sv::{fbank, resample, SpeakerEncoder};

const STAGE: &str = "sv";
const FBANK_CLIP: &str = "sv/fbank_clip.safetensors";
const NET_CLIP: &str = "sv/eres2netv2_clip.safetensors";
const REF_SV: &str = "reference/ref_sv.safetensors";
const WAV: &str = "audio/ref_32k.wav";
/// Resampling and fbank are exact between upstream runs (fixtures-pro README "How to compare").
pub const TOL_SIGNAL: f64 = 1e-4;
/// Deep conv stack with BatchNorm: `fuse34` and the embedding.
pub const TOL_NET: f64 = 1e-3;

pub fn run(set: &FixtureSet, report: &mut Report) {
    if set.has(FBANK_CLIP) {
        if let Err(e) = fbank_clip(set, report) {
            report.error(STAGE, "fbank_clip", e);
        }
    }
    let Some(path) = set.find_file("models/sv/", ".ckpt") else {
        return;
    };
    let model = match SpeakerEncoder::load(&path, Dtype::Float32) {
        Ok(m) => m,
        Err(e) => {
            report.error(STAGE, "load speaker model", e);
            return;
        }
    };
    if let Some(w) = set.manifest["sv_model"]["forward3_width"].as_i64() {
        report.exact(STAGE, "forward3 width (read from the weights)", usize::from(w != model.embedding_width() as i64), format!("port {}", model.embedding_width()));
    }
    if set.has(NET_CLIP) && set.has(FBANK_CLIP) {
        if let Err(e) = net_clip(set, &model, report) {
            report.error(STAGE, "eres2netv2_clip", e);
        }
    }
    if set.has(REF_SV) {
        if let Err(e) = full_length(set, &model, report) {
            report.error(STAGE, "ref_sv", e);
        }
    }
}

fn get<'a>(t: &'a std::collections::HashMap<String, Array>, file: &str, name: &str) -> anyhow::Result<&'a Array> {
    t.get(name).ok_or_else(|| anyhow::anyhow!("{file}: no tensor `{name}`"))
}

fn host(a: &Array) -> anyhow::Result<Vec<f32>> {
    let a = a.as_dtype(Dtype::Float32)?.reshape(&[-1])?;
    a.eval()?;
    Ok(a.as_slice::<f32>().to_vec())
}

fn fbank_clip(set: &FixtureSet, report: &mut Report) -> anyhow::Result<()> {
    let t = set.tensors(FBANK_CLIP)?;
    let wav = host(get(&t, FBANK_CLIP, "wav")?)?;
    let f = fbank::fbank(&wav);
    let m = f.frames as i32;
    let bins = (fbank::PADDED / 2 + 1) as i32;
    let banks: Vec<f32> = fbank::mel_banks().iter().map(|&x| x as f32).collect();
    for (name, port) in [
        ("frames_windowed", Array::from_slice(&f.windowed, &[m, fbank::PADDED as i32])),
        ("power_spectrum", Array::from_slice(&f.power, &[m, bins])),
        ("mel_banks", Array::from_slice(&banks, &[fbank::MEL_BINS as i32, bins])),
        ("fbank", Array::from_slice(&f.fbank, &[m, fbank::MEL_BINS as i32])),
    ] {
        let v = rel_max_abs(&port, get(&t, FBANK_CLIP, name)?)?;
        report.within(STAGE, format!("fbank_clip:{name}"), "rel_max_abs", v, TOL_SIGNAL);
    }
    Ok(())
}

fn net_clip(set: &FixtureSet, model: &SpeakerEncoder, report: &mut Report) -> anyhow::Result<()> {
    let input = set.tensors(FBANK_CLIP)?;
    let fb = get(&input, FBANK_CLIP, "fbank")?;
    let x = fb.expand_dims(0)?;
    let t = set.tensors(NET_CLIP)?;
    let trace = model.network().forward3_trace(&x)?;
    let mut seen = 0;
    for (name, port) in &trace {
        // Every stage the fixture recorded (a layer's output is its last block's).
        if let Some(want) = t.get(name) {
            seen += 1;
            let tol = if name == "stem" { TOL_SIGNAL } else { TOL_NET };
            report.within(STAGE, format!("eres2netv2_clip:{name}"), "rel_max_abs", rel_max_abs(port, want)?, tol);
        }
    }
    report.exact(STAGE, "eres2netv2_clip stages compared", t.len().abs_diff(seen), format!("{seen} of {} stored", t.len()));
    Ok(())
}

fn full_length(set: &FixtureSet, model: &SpeakerEncoder, report: &mut Report) -> anyhow::Result<()> {
    let t = set.tensors(REF_SV)?;
    let kernel = resample::kernel();
    let k = kernel.len() as i32;
    report.within(STAGE, "ref_sv:resample_kernel", "rel_max_abs", rel_max_abs(&Array::from_slice(&kernel, &[1, 1, k]), get(&t, REF_SV, "resample_kernel")?)?, TOL_SIGNAL);
    let want16 = get(&t, REF_SV, "wav16k")?;
    if set.has(WAV) {
        // The port's own chain: decode the WAV, 32 kHz + peak rule, torchaudio-style resample.
        let audio = ReferenceAudio::from_path(set.path(WAV))?;
        let ours = resample::to_16k(&audio.wav32k);
        let n = ours.len() as i32;
        report.within(STAGE, "ref_sv:wav16k (from the WAV)", "rel_max_abs", rel_max_abs(&Array::from_slice(&ours, &[1, n]), want16)?, TOL_SIGNAL);
    }
    let wav16 = host(want16)?;
    let f = fbank::fbank(&wav16);
    let port_fb = Array::from_slice(&f.fbank, &[1, f.frames as i32, fbank::MEL_BINS as i32]);
    let want_fb = get(&t, REF_SV, "fbank")?;
    report.within(STAGE, "ref_sv:fbank", "rel_max_abs", rel_max_abs(&port_fb, want_fb)?, TOL_SIGNAL);
    let emb = model.network().forward3(want_fb)?;
    let want = get(&t, REF_SV, "sv_emb")?;
    report.within(STAGE, "ref_sv:sv_emb (stored fbank)", "rel_max_abs", rel_max_abs(&emb, want)?, TOL_NET);
    let emb = model.embed_16k(&wav16)?;
    report.within(STAGE, "ref_sv:sv_emb (compute_embedding3)", "rel_max_abs", rel_max_abs(&emb, want)?, TOL_NET);
    Ok(())
}
