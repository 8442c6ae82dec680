//! SoVITS: parity against the golden fixtures, every version-detection branch reachable with
//! real files (header-tag variants of the fixture model), and the load errors users will hit.
use std::path::{Path, PathBuf};

use gsv_server::models::sovits::version::{DetectionRule, FastDetection};
use gsv_server::models::sovits::{SovitsVersion, SynthesizerTrn};
use mlx_rs::Dtype;
use torch_archive::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sovits_file() -> PathBuf {
    fixtures().join("models/sovits/tiny-v2_e8_s96.pth")
}

fn load_err(path: &Path) -> String {
    match SynthesizerTrn::load(path, Dtype::Float32) {
        Ok((_, info)) => panic!("{} loaded unexpectedly as {}", path.display(), info.version),
        Err(e) => e.to_string(),
    }
}

/// A copy of the fixture model with its first two bytes replaced by `tag`.
fn tagged_copy(dir: &tempfile::TempDir, tag: &[u8; 2]) -> PathBuf {
    let mut bytes = std::fs::read(sovits_file()).expect("fixture model");
    bytes[..2].copy_from_slice(tag);
    let path = dir.path().join(format!("tagged-{}.pth", String::from_utf8_lossy(tag)));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

#[test]
fn parity_against_fixtures() {
    let set = gsv_server::parity::FixtureSet::open(fixtures()).expect("fixture set");
    let mut report = gsv_server::parity::Report::default();
    gsv_server::parity::sovits::run(&set, &mut report);
    println!("{report}");
    assert!(report.checks.len() >= 30, "too few sovits checks ran: {}", report.checks.len());
    assert!(report.passed(), "sovits parity failures: {:#?}", report.failures());
}

#[test]
fn plain_v2_file_detects_like_upstream() {
    let (model, info) = SynthesizerTrn::load(&sovits_file(), Dtype::Float32).expect("load");
    // `PK` header, small file → size rule says v1; 732-row text table → v2.
    assert_eq!(info.detected_by, DetectionRule::FileSize);
    assert_eq!(info.file_level_version, SovitsVersion::V1);
    assert_eq!(info.version, SovitsVersion::V2);
    assert_eq!(model.version(), SovitsVersion::V2);
    assert_eq!(info.info.as_deref(), Some("8epoch_96iteration"));
    assert!(info.missing.is_none());
    assert_eq!(info.config.n_symbols, 732);
    assert_eq!(model.samples_per_token(), 1280);
}

#[test]
fn header_tags_v1_v2_are_refined_by_text_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    for tag in [b"00", b"01"] {
        let (_, info) = SynthesizerTrn::load(&tagged_copy(&dir, tag), Dtype::Float32).expect("load tagged");
        assert_eq!(info.detected_by, DetectionRule::HeaderTag);
        assert_eq!(info.version, SovitsVersion::V2, "tag {tag:?}");
    }
}

#[test]
fn header_tags_v3_v4_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (tag, want) in [(b"02", "SoVITS v3 model"), (b"03", "SoVITS v3 LoRA model"), (b"04", "SoVITS v4 LoRA model")] {
        let msg = load_err(&tagged_copy(&dir, tag));
        assert!(msg.contains(want) && msg.contains("not supported yet"), "{msg}");
    }
}

#[test]
fn header_tags_pro_need_the_pro_weights() {
    // A v2 file tagged v2Pro/v2ProPlus: detection says Pro, and the strict load names the Pro
    // tensors the file lacks.
    let dir = tempfile::tempdir().expect("temp dir");
    for tag in [b"05", b"06"] {
        let msg = load_err(&tagged_copy(&dir, tag));
        for key in ["sv_emb.weight", "prelu.weight", "ge_to512.weight"] {
            assert!(msg.contains(key), "tag {tag:?}: {msg}");
        }
    }
}

#[test]
fn unknown_header_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = load_err(&tagged_copy(&dir, b"zz"));
    assert!(msg.contains("7a 7a") && msg.contains("not a SoVITS .pth"), "{msg}");
}

#[test]
fn gpt_checkpoint_given_as_sovits() {
    let msg = load_err(&fixtures().join("models/gpt/tiny-v2-e15.ckpt"));
    assert!(msg.contains("GPT") && msg.contains("not a SoVITS .pth"), "{msg}");
}

#[test]
fn truncated_and_missing_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = std::fs::read(sovits_file()).expect("fixture model");
    let cut = dir.path().join("truncated.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let msg = load_err(&cut);
    assert!(msg.contains("truncated.pth"), "{msg}");
    let msg = load_err(&dir.path().join("absent.pth"));
    assert!(msg.contains("absent.pth"), "{msg}");
}

fn fixture_value() -> Value {
    torch_archive::load_file(sovits_file()).expect("parse fixture model")
}

fn weight_items(v: &mut Value) -> &mut Vec<(Value, Value)> {
    let Value::Dict(top) = v else { panic!("top level is not a dict") };
    let (_, w) = top
        .iter_mut()
        .find(|(k, _)| matches!(k, Value::Str(s) if s == "weight"))
        .expect("weight entry");
    let Value::Dict(items) = w else { panic!("weight is not a dict") };
    items
}

const V2_FAST: FastDetection = FastDetection {
    model_version: SovitsVersion::V2,
    lora: false,
    rule: DetectionRule::FileSize,
};

#[test]
fn missing_misshaped_and_unexpected_keys_are_all_reported() {
    let mut v = fixture_value();
    let items = weight_items(&mut v);
    items.retain(|(k, _)| !matches!(k, Value::Str(s) if s == "dec.conv_post.weight"));
    for (k, t) in items.iter_mut() {
        if let (Value::Str(s), Value::Tensor(t)) = (k, t) {
            if s == "flow.flows.0.pre.bias" {
                t.shape = vec![t.shape[0] / 2];
                t.data.truncate(t.data.len() / 2);
            }
        }
    }
    items.push((
        Value::Str("extra.weight".into()),
        Value::Tensor(torch_archive::Tensor {
            dtype: torch_archive::DType::F32,
            shape: vec![1],
            data: vec![0; 4],
        }),
    ));
    let msg = match SynthesizerTrn::from_checkpoint(&v, V2_FAST, Dtype::Float32, "corrupt.pth") {
        Ok(_) => panic!("corrupted weights loaded"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("corrupt.pth"), "{msg}");
    assert!(msg.contains("missing keys (1)") && msg.contains("dec.conv_post.weight"), "{msg}");
    assert!(msg.contains("mis-shaped keys (1)") && msg.contains("flow.flows.0.pre.bias"), "{msg}");
    assert!(msg.contains("unexpected keys (1)") && msg.contains("extra.weight"), "{msg}");
}

#[test]
fn missing_config_entry_is_named() {
    let mut v = fixture_value();
    let Value::Dict(top) = &mut v else { panic!("top level is not a dict") };
    top.retain(|(k, _)| !matches!(k, Value::Str(s) if s == "config"));
    let msg = match SynthesizerTrn::from_checkpoint(&v, V2_FAST, Dtype::Float32, "noconfig.pth") {
        Ok(_) => panic!("loaded without config"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("noconfig.pth") && msg.contains("`config`"), "{msg}");
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn to_vec(a: &mlx_rs::Array) -> Vec<f32> {
    a.eval().expect("eval");
    a.as_slice::<f32>().to_vec()
}

/// Streaming seams: a chunk decoded with `left_context` tokens of flow/Generator context matches
/// the one-shot decode to float precision once the context covers the receptive field, and
/// visibly differs without context. Prints the measured error for each context length.
#[test]
fn chunk_decode_matches_one_shot_with_enough_context() {
    use gsv_server::models::sovits::stream::receptive_field_frames;
    let (model, info) = SynthesizerTrn::load(&sovits_file(), Dtype::Float32).expect("load");
    let set = gsv_server::parity::FixtureSet::open(fixtures()).expect("fixture set");
    let spec = set.tensors("reference/ref32k_spec.safetensors").expect("spec");
    let style = model.style(&spec["spec"], None).expect("style");
    let n = 48usize;
    let codes: Vec<i64> = (0..n).map(|i| ((i * 389 + 17) % 1024) as i64).collect();
    let text: Vec<i64> = (0..20).map(|i| ((i * 37 + 3) % 732) as i64).collect();
    let noise = model.noise(2 * n as i32, 5).expect("noise");
    let one = to_vec(&model.decode(&codes, &text, &style, 0.5, 1.0, Some(&noise)).expect("decode"));
    assert_eq!(one.len(), n * model.samples_per_token());
    let peak = max_abs(&one);
    let rf_tokens = receptive_field_frames(&info.config).div_ceil(2);
    println!("receptive field: {} latent frames = {rf_tokens} tokens each side", receptive_field_frames(&info.config));
    let start = 30usize;
    let spt = model.samples_per_token();
    let mut errs = Vec::new();
    for ctx in [0usize, 1, 2, 4, 6, 8, 12, 16, rf_tokens] {
        let tail = to_vec(&model.decode_tail(&codes, &text, &style, start, ctx, 0.5, Some(&noise)).expect("tail"));
        let e = max_diff(&tail, &one[start * spt..]) / peak;
        // Where the error sits: first token of the chunk vs the rest.
        let e_after1 = max_diff(&tail[spt..], &one[(start + 1) * spt..]) / peak;
        println!("left context {ctx:>2} tokens: rel max err {e:.3e} (after the first chunk token {e_after1:.3e})");
        errs.push((ctx, e));
    }
    let (_, e0) = errs[0];
    let (_, e_rf) = *errs.last().expect("errors");
    assert!(e0 > 1e-3, "no-context chunk should differ visibly, got {e0:.3e}");
    assert!(e_rf < 1e-5, "chunk with {rf_tokens} tokens of context should match, got {e_rf:.3e}");

    // Growing sequence: decoding only a prefix (no future codes) changes its last tokens; the
    // enc_p attention also shifts earlier frames slightly. Error per token from the end.
    let k = 36usize;
    let prefix = to_vec(&model.decode(&codes[..k], &text, &style, 0.0, 1.0, None).expect("prefix"));
    let full0 = to_vec(&model.decode(&codes, &text, &style, 0.0, 1.0, None).expect("full"));
    let peak0 = max_abs(&full0);
    let per_token: Vec<String> = (0..k)
        .rev()
        .take(12)
        .map(|t| format!("{:.1e}", max_diff(&prefix[t * spt..(t + 1) * spt], &full0[t * spt..(t + 1) * spt]) / peak0))
        .collect();
    let early = max_diff(&prefix[..(k - 12) * spt], &full0[..(k - 12) * spt]) / peak0;
    println!("prefix of {k} tokens vs full decode, last 12 tokens (newest first): {}", per_token.join(" "));
    println!("prefix of {k} tokens vs full decode, tokens 0..{}: {early:.3e}", k - 12);
}

/// The random-weight builder used by the benchmark enumerates exactly the tensors a real file
/// holds (names and shapes), so the benchmark runs the same network as a loaded model.
#[test]
fn random_model_layout_matches_a_real_file() {
    use gsv_server::models::sovits::synthetic::state_dict_shapes;
    let (_, info) = SynthesizerTrn::load(&sovits_file(), Dtype::Float32).expect("load");
    let mut v = fixture_value();
    let mut real: Vec<(String, Vec<i32>)> = weight_items(&mut v)
        .iter()
        .filter_map(|(k, t)| match (k, t) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.clone(), t.shape.iter().map(|&d| d as i32).collect())),
            _ => None,
        })
        .filter(|(k, _)| !k.starts_with("quantizer.vq.layers.0._codebook.") || k.ends_with(".embed"))
        .collect();
    let mut built = state_dict_shapes(&info.config, info.version);
    real.sort();
    built.sort();
    assert_eq!(built.len(), real.len());
    assert_eq!(built, real);
}
