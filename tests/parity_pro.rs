//! v2Pro: `gsv-server parity tests/fixtures-pro` in-process (speaker path, SoVITS v2Pro decode with
//! its conditioning chain, GPT e2e, prompt semantic through the shared HuBERT), and the load
//! errors a v2Pro install can hit.
use std::path::{Path, PathBuf};

use gsv_server::models::sovits::{SovitsVersion, SynthesizerTrn};
use gsv_server::models::sv::SpeakerEncoder;
use gsv_server::tts::{ModelFiles, Models};
use mlx_rs::Dtype;

fn pro() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures-pro")
}

fn v2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn every_stage_of_the_v2pro_fixtures_passes() {
    let report = gsv_server::parity::run(pro()).expect("fixture folder opens");
    println!("{report}");
    for stage in ["reference", "sv", "gpt", "sovits", "e2e"] {
        assert!(!report.stage(stage).is_empty(), "stage {stage} ran no check");
    }
    // Every recorded ERes2NetV2 stage, the whole conditioning chain of the three decodes and the e2e case.
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for must in [
        "fbank_clip:fbank",
        "eres2netv2_clip:layer3.1",
        "eres2netv2_clip:fuse34",
        "ref_sv:sv_emb (compute_embedding3)",
        "ref_sv:wav16k (from the WAV)",
        "version detection (v2Pro)",
        "sovits_v2Pro/decode_ns0 sv_proj",
        "sovits_v2Pro/decode_ns0 ge512",
        "sovits_v2Pro/decode_ns0_speed1.25 o",
        "e2e_zh_v2Pro waveform",
        "e2e_zh_v2Pro pred_semantic",
    ] {
        assert!(names.contains(&must), "check {must:?} did not run: {names:#?}");
    }
    assert!(report.passed(), "failures: {:#?}", report.failures());
}

#[test]
fn pro_model_reads_its_sizes_from_the_files() {
    let (model, info) = SynthesizerTrn::load(&pro().join("models/sovits/tiny-v2Pro_e8_s96.pth"), Dtype::Float32).expect("load");
    assert_eq!(info.version, SovitsVersion::V2Pro);
    assert_eq!(info.config.gin_channels, 256);
    // W of sv_emb comes from the weight, and matches the speaker model's forward3 width.
    let sv = SpeakerEncoder::load(&pro().join("models/sv/tiny_eres2netv2w24s4ep4.ckpt"), Dtype::Float32).expect("sv");
    assert_eq!(model.sv_width(), Some(1920));
    assert_eq!(sv.embedding_width(), 1920);
    let cfg = sv.network().config();
    assert_eq!((cfg.m_channels, cfg.num_blocks, cfg.scale, cfg.expansion), (6, [2, 1, 2, 1], 4, 4));
}

fn pro_files(sv: PathBuf) -> ModelFiles {
    ModelFiles {
        gpt: pro().join("models/gpt/tiny-v2Pro-e15.ckpt"),
        sovits: pro().join("models/sovits/tiny-v2Pro_e8_s96.pth"),
        hubert: v2().join("models/chinese-hubert-base-tiny"),
        bert: v2().join("models/chinese-roberta-wwm-ext-large-tiny"),
        sv,
    }
}

fn load_err(files: &ModelFiles) -> String {
    match Models::load(files, Dtype::Float32) {
        Ok(_) => panic!("loaded unexpectedly"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn pro_model_without_or_with_a_wrong_speaker_model_is_a_load_error() {
    let msg = load_err(&pro_files(pro().join("models/sv/missing.ckpt")));
    assert!(msg.contains("missing.ckpt") && msg.contains("v2Pro") && msg.contains("speaker"), "{msg}");
    // A file that is not a speaker model: a GPT checkpoint.
    let msg = load_err(&pro_files(pro().join("models/gpt/tiny-v2Pro-e15.ckpt")));
    assert!(msg.contains("tiny-v2Pro-e15.ckpt"), "{msg}");
}

/// A v2Pro voice prepared by the server's own path (decode the WAV, 32 kHz + peak rule,
/// spectrogram, torchaudio-style 16 kHz, fbank, ERes2NetV2, `sv_emb`, PReLU) gets upstream's `ge`
/// and `ge512` for the same clip, and synthesizes with the streaming decoder.
#[test]
fn v2pro_voice_gets_upstreams_style_and_synthesizes() {
    use gsv_server::models::gpt::sampling::SamplingParams;
    use gsv_server::tts::{ChunkPlan, Clip, Delivery, Pipeline, Request, Voice, VoiceSource};
    use gsv_text::{LanguageSetting, SplitMethod};
    use std::sync::Arc;

    let models = Models::load(&pro_files(pro().join("models/sv/tiny_eres2netv2w24s4ep4.ckpt")), Dtype::Float32).expect("v2Pro set loads");
    assert!(models.sv.is_some());
    let src = VoiceSource {
        name: "pro".into(),
        clip: Clip::Path(pro().join("audio/ref_32k.wav")),
        transcript: "This is a test of the reference voice.".into(),
        language: LanguageSetting::En,
    };
    let voice = Arc::new(Voice::prepare(&models, &src).expect("voice prepares"));
    assert!(voice.prepare_seconds.iter().any(|(stage, _)| *stage == "speaker"));
    let set = gsv_server::parity::FixtureSet::open(pro()).expect("set");
    let want = set.tensors("sovits_v2Pro/decode_ns0.safetensors").expect("decode fixture");
    let ge = gsv_server::parity::rel_max_abs(&voice.style.ge_torch().unwrap(), &want["ge"]).unwrap();
    let ge512 = gsv_server::parity::rel_max_abs(&voice.style.ge_text.transpose_axes(&[0, 2, 1]).unwrap(), &want["ge512"]).unwrap();
    assert!(ge < 1e-3 && ge512 < 1e-3, "voice style vs upstream: ge {ge:.2e}, ge512 {ge512:.2e}");

    let mut p = Pipeline::new(models);
    for delivery in [Delivery::Sentence, Delivery::Tokens(ChunkPlan::default())] {
        let req = Request {
            text: "Hello there, how are you?".into(),
            language: LanguageSetting::En,
            voice: voice.clone(),
            sampling: SamplingParams::default(),
            seed: 3,
            speed: 1.0,
            split: SplitMethod::Cut1,
            fragment_interval: 0.3,
            noise_scale: 0.5,
            fixed_tokens: Some(12),
            delivery,
        };
        let (audio, stats) = p.synthesize(req).expect("synthesis");
        assert_eq!(stats.tokens, 12);
        assert!(audio.iter().any(|&s| s.unsigned_abs() > 100), "not silent");
    }
}

fn pro_sovits() -> PathBuf {
    pro().join("models/sovits/tiny-v2Pro_e8_s96.pth")
}

fn sovits_err(path: &Path) -> String {
    match SynthesizerTrn::load(path, Dtype::Float32) {
        Ok((_, info)) => panic!("{} loaded unexpectedly as {}", path.display(), info.version),
        Err(e) => e.to_string(),
    }
}

#[test]
fn pro_header_tags_dispatch_and_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = std::fs::read(pro_sovits()).expect("fixture model");
    assert_eq!(&bytes[..2], b"05");
    let write = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p
    };
    // `06`: the same payload is taken as v2ProPlus (which differs from v2Pro only by its config).
    let mut plus = bytes.clone();
    plus[..2].copy_from_slice(b"06");
    let (_, info) = SynthesizerTrn::load(&write("plus.pth", &plus), Dtype::Float32).expect("loads as v2ProPlus");
    assert_eq!(info.version, SovitsVersion::V2ProPlus);
    // v3 / LoRA tags: refused by name before anything is parsed.
    for (tag, want) in [(b"02", "SoVITS v3 model"), (b"03", "SoVITS v3 LoRA model"), (b"04", "SoVITS v4 LoRA model")] {
        let mut b = bytes.clone();
        b[..2].copy_from_slice(tag);
        let msg = sovits_err(&write("v3.pth", &b));
        assert!(msg.contains(want) && msg.contains("not supported yet"), "{msg}");
    }
    // Truncated v2Pro file: an error naming the file.
    let msg = sovits_err(&write("cut-pro.pth", &bytes[..bytes.len() * 2 / 3]));
    assert!(msg.contains("cut-pro.pth"), "{msg}");
    // A v2Pro payload under a v1/v2 tag: the Pro tensors are unexpected keys of a v2 model.
    let mut v2 = bytes.clone();
    v2[..2].copy_from_slice(b"01");
    let msg = sovits_err(&write("as-v2.pth", &v2));
    assert!(msg.contains("unexpected keys") && msg.contains("sv_emb.weight"), "{msg}");
}

#[test]
fn v3_weights_under_a_plain_header_are_refused_by_shape() {
    use gsv_server::models::sovits::version::{DetectionRule, FastDetection};
    use torch_archive::Value;
    let mut v = torch_archive::load_file(v2().join("models/sovits/tiny-v2_e8_s96.pth")).expect("parse");
    let Value::Dict(top) = &mut v else { panic!("top level is not a dict") };
    let (_, Value::Dict(items)) = top.iter_mut().find(|(k, _)| matches!(k, Value::Str(s) if s == "weight")).expect("weight") else {
        panic!("weight is not a dict")
    };
    let t = items.iter().find_map(|(_, t)| if let Value::Tensor(t) = t { Some(t.clone()) } else { None }).expect("a tensor");
    items.push((Value::Str("cfm.estimator.proj_out.weight".into()), Value::Tensor(t)));
    let fast = FastDetection { model_version: SovitsVersion::V2, lora: false, rule: DetectionRule::FileSize };
    let msg = match SynthesizerTrn::from_checkpoint(&v, fast, Dtype::Float32, "v3-like.pth") {
        Ok(_) => panic!("a v3-shaped file loaded"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("v3/v4") && msg.contains("not supported yet") && msg.contains("v3-like.pth"), "{msg}");
}

fn host(a: &mlx_rs::Array) -> Vec<f32> {
    let a = a.as_dtype(Dtype::Float32).expect("f32").reshape(&[-1]).expect("flat");
    a.eval().expect("eval");
    a.as_slice::<f32>().to_vec()
}

/// Streaming with a v2Pro style (ge after the PReLU for flow/Generator, ge_to512 for MRTE): a
/// chunk decoded with the receptive field as left context equals the one-shot decode.
#[test]
fn v2pro_chunk_decode_matches_one_shot() {
    use gsv_server::models::sovits::stream::receptive_field_frames;
    let (model, info) = SynthesizerTrn::load(&pro_sovits(), Dtype::Float32).expect("load");
    let set = gsv_server::parity::FixtureSet::open(pro()).expect("set");
    let spec = set.tensors("reference/ref32k_spec.safetensors").expect("spec");
    let sv = set.tensors("reference/ref_sv.safetensors").expect("sv");
    let style = model.style(&spec["spec"], Some(&sv["sv_emb"])).expect("style");
    let n = 40usize;
    let codes: Vec<i64> = (0..n).map(|i| ((i * 389 + 17) % 1024) as i64).collect();
    let text: Vec<i64> = (0..20).map(|i| ((i * 37 + 3) % 732) as i64).collect();
    let noise = model.noise(2 * n as i32, 5).expect("noise");
    let one = host(&model.decode(&codes, &text, &style, 0.5, 1.0, Some(&noise)).expect("decode"));
    let peak = one.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let ctx = receptive_field_frames(&info.config).div_ceil(2);
    let start = 24usize;
    let tail = host(&model.decode_tail(&codes, &text, &style, start, ctx, 0.5, Some(&noise)).expect("tail"));
    let spt = model.samples_per_token();
    let err = tail.iter().zip(&one[start * spt..]).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / peak;
    assert_eq!(tail.len(), (n - start) * spt);
    assert!(err < 1e-5, "chunk vs one-shot: {err:.3e}");
}

/// v2ProPlus's Generator (first upsampling kernel 20, stride 10, 768 channels in the real
/// model) and every other size come from the config: a random-weight model with a tiny
/// ProPlus-shaped config decodes exactly 1280 samples per token. Structural, not golden: the
/// golden v2ProPlus and v1 decodes are checked with `scripts/golden/make_versions.py` (see docs).
#[test]
fn v2proplus_generator_shapes_from_config() {
    use gsv_server::models::sovits::synthetic::random_model_of;
    use gsv_server::models::sovits::SovitsConfig;
    let cfg = SovitsConfig {
        inter_channels: 32,
        filter_channels: 16,
        n_layers: 2,
        upsample_initial_channel: 48,
        upsample_kernel_sizes: vec![20, 16, 8, 2, 2],
        gin_channels: 128,
        ..SovitsConfig::for_version(SovitsVersion::V2ProPlus)
    };
    let model = random_model_of(&cfg, SovitsVersion::V2ProPlus, 1, Dtype::Float32).expect("random v2ProPlus");
    assert_eq!(model.sv_width(), Some(20480));
    let set = gsv_server::parity::FixtureSet::open(pro()).expect("set");
    let spec = set.tensors("reference/ref32k_spec.safetensors").expect("spec");
    let sv = mlx_rs::random::normal::<f32>(&[1, 20480], None, None, None).expect("sv");
    let style = model.style(&spec["spec"], Some(&sv)).expect("style");
    assert_eq!(style.ge.shape(), &[1, 1, 128]);
    assert_eq!(style.ge_text.shape(), &[1, 1, 512]);
    let wav = host(&model.decode(&[1, 2, 3, 4, 5, 6, 7], &[5, 9, 11], &style, 0.0, 1.0, None).expect("decode"));
    assert_eq!(wav.len(), 7 * 1280);
    assert!(wav.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    // A wrong-width speaker embedding is a clear error, not a crash.
    let bad = mlx_rs::Array::zeros::<f32>(&[1, 1920]).expect("zeros");
    let msg = model.style(&spec["spec"], Some(&bad)).err().expect("refused").to_string();
    assert!(msg.contains("20480") && msg.contains("1920"), "{msg}");
}
