//! Loads every model file under tests/fixtures/models and checks it against the manifest and
//! against values read once by an independent reader (Python `pickle` + numpy `as_strided`,
//! no torch), recorded below as literals.
#![allow(clippy::excessive_precision)] // literals are exact f16 values as printed by numpy

mod common;

use common::{manifest_file, read_fixture};
use sha2::{Digest, Sha256};
use torch_archive::{DType, Value};

/// Reads a fixture after checking it is the file the manifest describes.
fn load_checked(rel: &str) -> (Vec<u8>, Value) {
    let bytes = read_fixture(rel);
    let rec = manifest_file(rel);
    assert_eq!(
        rec["bytes"].as_u64(),
        Some(bytes.len() as u64),
        "{rel}: size differs from manifest"
    );
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        rec["sha256"].as_str(),
        Some(sha.as_str()),
        "{rel}: sha256 differs from manifest"
    );
    let v = torch_archive::load(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (bytes, v)
}

/// `(name, shape, first values, sum)` of a tensor, from the independent reader.
struct Expect(&'static str, &'static [usize], &'static [f32], f64);

fn check_tensors(
    rel: &str,
    state: &Value,
    count: usize,
    first: &str,
    last: &str,
    expect: &[Expect],
) {
    let names: Vec<&str> = state.tensors().map(|(n, _)| n).collect();
    assert_eq!(names.len(), count, "{rel}: tensor count");
    assert_eq!(
        names.first().copied(),
        Some(first),
        "{rel}: first tensor (file order)"
    );
    assert_eq!(
        names.last().copied(),
        Some(last),
        "{rel}: last tensor (file order)"
    );
    for (name, t) in state.tensors() {
        assert_eq!(t.dtype, DType::F16, "{rel}: {name} dtype");
        assert_eq!(t.data.len(), t.numel() * 2, "{rel}: {name} byte length");
    }
    for Expect(name, shape, head, sum) in expect {
        let t = state
            .get(name)
            .and_then(Value::as_tensor)
            .unwrap_or_else(|| panic!("{rel}: no tensor {name}"));
        assert_eq!(&t.shape, shape, "{rel}: {name} shape");
        let v = t.to_f32_vec();
        assert_eq!(&v[..head.len()], *head, "{rel}: {name} leading values");
        let s: f64 = v.iter().map(|&x| x as f64).sum();
        assert!(
            (s - sum).abs() < 1e-6 * sum.abs().max(1.0),
            "{rel}: {name} sum {s} vs {sum}"
        );
    }
}

/// Every key of a manifest config object equals the loaded config's value.
fn check_config(rel: &str, cfg: &Value, want: &serde_json::Value) {
    let want = want
        .as_object()
        .unwrap_or_else(|| panic!("{rel}: manifest config is not an object"));
    assert!(!want.is_empty());
    for (k, w) in want {
        let got = cfg
            .get(k)
            .unwrap_or_else(|| panic!("{rel}: config lacks {k}"));
        assert!(
            json_eq(got, w),
            "{rel}: config {k} = {got:?}, manifest says {w}"
        );
    }
}

fn json_eq(v: &Value, j: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (v, j) {
        (Value::None, J::Null) => true,
        (Value::Bool(a), J::Bool(b)) => a == b,
        (Value::Int(a), J::Number(n)) => n.as_i64() == Some(*a),
        (Value::Float(a), J::Number(n)) => n.as_f64() == Some(*a),
        (Value::Str(a), J::String(b)) => a == b,
        (Value::List(a) | Value::Tuple(a), J::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        _ => false,
    }
}

#[test]
fn gpt_checkpoint() {
    let rel = "models/gpt/tiny-v2-e15.ckpt";
    let (_, v) = load_checked(rel);
    assert_eq!(v.get("info").and_then(Value::as_str), Some("GPT-e15"));
    let cfg = v.get("config").expect("config");
    assert!(matches!(cfg, Value::Dict(_)), "GPT config is a plain dict");
    check_config(
        rel,
        cfg.get("model").expect("config.model"),
        &manifest_file(rel)["config_model"],
    );
    assert_eq!(
        cfg.path(&["model", "embedding_dim"])
            .and_then(Value::as_i64),
        Some(32)
    );
    assert_eq!(
        cfg.path(&["model", "head"]).and_then(Value::as_i64),
        Some(4)
    );
    assert_eq!(
        cfg.path(&["model", "n_layer"]).and_then(Value::as_i64),
        Some(2)
    );
    assert_eq!(
        cfg.path(&["data", "max_sec"]).and_then(Value::as_i64),
        Some(54)
    );
    assert_eq!(
        cfg.path(&["optimizer", "lr_init"]).and_then(Value::as_f64),
        Some(1e-5)
    );
    let w = v.get("weight").expect("weight");
    check_tensors(
        rel,
        w,
        31,
        "model.bert_proj.weight",
        "model.ar_predict_layer.weight",
        &[
            Expect(
                "model.bert_proj.weight",
                &[32, 1024],
                &[
                    0.0028667449951171875,
                    -0.0165863037109375,
                    -0.009918212890625,
                    0.0028553009033203125,
                ],
                0.6894415020942688,
            ),
            Expect(
                "model.h.layers.1.linear2.weight",
                &[32, 128],
                &[
                    -0.0164794921875,
                    -0.045806884765625,
                    -0.046600341796875,
                    0.00751495361328125,
                ],
                1.5957682728767395,
            ),
            Expect(
                "model.ar_text_position.alpha",
                &[1],
                &[1.056640625],
                1.056640625,
            ),
        ],
    );
}

#[test]
fn sovits_checkpoint() {
    let rel = "models/sovits/tiny-v2_e8_s96.pth";
    let (bytes, v) = load_checked(rel);
    assert_eq!(
        torch_archive::sovits_header(&bytes),
        None,
        "plain v2 file starts with PK"
    );
    assert_eq!(
        v.get("info").and_then(Value::as_str),
        Some("8epoch_96iteration")
    );
    let cfg = v.get("config").expect("config");
    assert_eq!(cfg.class(), Some("utils.HParams"));
    let model = cfg.get("model").expect("config.model");
    assert_eq!(model.class(), Some("utils.HParams"), "nested HParams");
    check_config(rel, model, &manifest_file(rel)["hps_model"]);
    assert_eq!(
        model.get("hidden_channels").and_then(Value::as_i64),
        Some(192)
    );
    assert_eq!(
        cfg.path(&["data", "sampling_rate"]).and_then(Value::as_i64),
        Some(32000)
    );
    assert_eq!(cfg.path(&["data", "mel_fmax"]), Some(&Value::None));
    let w = v.get("weight").expect("weight");
    assert!(
        w.tensors().all(|(n, _)| !n.starts_with("enc_q.")),
        "training save drops enc_q"
    );
    check_tensors(
        rel,
        w,
        529,
        "enc_p.ssl_proj.weight",
        "quantizer.vq.layers.0._codebook.embed_avg",
        &[
            Expect(
                "enc_p.ssl_proj.weight",
                &[192, 768, 1],
                &[
                    -0.02978515625,
                    -0.002410888671875,
                    0.0298309326171875,
                    0.0222930908203125,
                ],
                -6.848549008369446,
            ),
            Expect(
                "quantizer.vq.layers.0._codebook.embed",
                &[1024, 768],
                &[
                    0.358642578125,
                    0.420166015625,
                    -0.302490234375,
                    -0.03765869140625,
                ],
                111.6410584449768,
            ),
            Expect(
                "dec.conv_post.weight",
                &[1, 1, 7],
                &[
                    0.52392578125,
                    0.0008945465087890625,
                    0.775390625,
                    0.55712890625,
                ],
                1.548013687133789,
            ),
        ],
    );
}

#[test]
fn bert_pytorch_model_bin() {
    let rel = "models/chinese-roberta-wwm-ext-large-tiny/pytorch_model.bin";
    let (_, v) = load_checked(rel);
    check_tensors(
        rel,
        &v,
        60,
        "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias",
        &[
            Expect(
                "bert.embeddings.word_embeddings.weight",
                &[74, 64],
                &[0.0, 0.0, 0.0, 0.0],
                -0.19208967685699463,
            ),
            Expect(
                "cls.predictions.decoder.weight",
                &[74, 64],
                &[0.0, 0.0, 0.0, 0.0],
                -0.19208967685699463,
            ),
            Expect(
                "bert.encoder.layer.2.output.dense.weight",
                &[64, 64],
                &[
                    0.0040130615234375,
                    0.0166168212890625,
                    0.01108551025390625,
                    -0.0024776458740234375,
                ],
                -0.7108408808708191,
            ),
        ],
    );
    // Tied decoder/embedding weights come back as two equal tensors.
    assert_eq!(
        v.get("cls.predictions.decoder.weight"),
        v.get("bert.embeddings.word_embeddings.weight")
    );
}

#[test]
fn hubert_pytorch_model_bin() {
    let rel = "models/chinese-hubert-base-tiny/pytorch_model.bin";
    let (_, v) = load_checked(rel);
    check_tensors(
        rel,
        &v,
        35,
        "masked_spec_embed",
        "encoder.layers.0.final_layer_norm.bias",
        &[
            Expect(
                "feature_extractor.conv_layers.0.conv.weight",
                &[32, 1, 10],
                &[0.106201171875, -0.7822265625, 0.216552734375, -0.3369140625],
                -10.535523891448975,
            ),
            Expect(
                "encoder.pos_conv_embed.conv.weight_g",
                &[1, 1, 4],
                &[7.984375, 8.0234375, 7.98046875, 8.0234375],
                32.01171875,
            ),
            Expect(
                "encoder.pos_conv_embed.conv.weight_v",
                &[768, 48, 4],
                &[
                    0.03399658203125,
                    0.048095703125,
                    0.0716552734375,
                    0.050994873046875,
                ],
                -25.536583125591278,
            ),
        ],
    );
}

/// Every model file the manifest lists as a torch.save archive loads (none is left untested).
#[test]
fn every_manifest_torch_file_loads() {
    let m = common::manifest();
    let mut n = 0;
    for f in m["files"].as_array().expect("files") {
        let rel = f["path"].as_str().expect("path");
        if rel.ends_with(".ckpt") || rel.ends_with(".pth") || rel.ends_with(".bin") {
            let v = torch_archive::load_file(common::fixtures().join(rel))
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            let state = v.get("weight").unwrap_or(&v);
            assert!(state.tensors().count() > 10, "{rel}: too few tensors");
            n += 1;
        }
    }
    assert_eq!(n, 4);
}
