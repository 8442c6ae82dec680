//! Several models served by one running server (REAL pipeline). The default model is the v2
//! fixture pair; model `b` is of another generation: a v2ProPlus SoVITS (derived from the v2Pro
//! fixture, see `v2proplus_from_v2pro`) or the v2Pro fixture pair, each with the v2Pro fixture
//! GPT and the speaker-verification model. Each model's output is known from a server that serves
//! it alone. Proves per-request model choice on every route, isolation between models (each
//! output equals what its model alone gives), the LRU bound (unload and reload give the same
//! output, the Pro voice's speaker embedding included), and that `/set_*_weights` changes only
//! the default model and never a request already running (there `b` is a perturbed copy of the v2
//! pair); bad model files answer with their reason and the server keeps going.
mod http_support;

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use gsv_server::config::{Settings, VoiceConfig};
use gsv_server::engine::Readiness;
use gsv_server::server::RunningServer;
use http_support::{fixture_settings, fixtures, json, sentences, start_server, ws_synthesize};
use serde_json::{json, Value};

/// Writes a copy of the torch archive `src` to `dst` whose largest tensor record is perturbed
/// (`x + 0.05·sin(i)` on its f32 values); every other record is copied as is.
fn perturbed_copy(src: &Path, dst: &Path) {
    let bytes = std::fs::read(src).unwrap();
    let mut zin = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let mut records = Vec::new();
    for i in 0..zin.len() {
        let f = zin.by_index_raw(i).unwrap();
        if f.name().contains("/data/") {
            records.push((f.size(), i));
        }
    }
    let largest = records.iter().max().unwrap().1;
    let mut zout = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        if i != largest {
            zout.raw_copy_file(zin.by_index_raw(i).unwrap()).unwrap();
            continue;
        }
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        drop(f);
        for (k, w) in data.chunks_exact_mut(4).enumerate() {
            let x = f32::from_le_bytes([w[0], w[1], w[2], w[3]]) + 0.05 * (k as f32).sin();
            w.copy_from_slice(&x.to_le_bytes());
        }
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).with_alignment(64);
        zout.start_file(name, options).unwrap();
        zout.write_all(&data).unwrap();
    }
    std::fs::write(dst, zout.finish().unwrap().into_inner()).unwrap();
}

struct Files {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    gpt_a: PathBuf,
    sovits_a: PathBuf,
    gpt_b: PathBuf,
    sovits_b: PathBuf,
}

fn pro_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures-pro")
}

/// What model `b` is.
#[derive(Clone, Copy, PartialEq)]
enum B {
    /// The v2Pro fixture pair (its GPT and SoVITS, upstream's outputs in tests/fixtures-pro).
    V2Pro,
    /// The v2Pro fixture GPT with a v2ProPlus SoVITS derived from the v2Pro one.
    V2ProPlus,
    /// A copy of the v2 fixture pair with perturbed weights.
    PerturbedV2,
}

/// The v2 fixture pair as model `a` and `b` as asked.
fn files(b: B) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures().join("models");
    let (gpt_a, sovits_a) = (f.join("gpt/tiny-v2-e15.ckpt"), f.join("sovits/tiny-v2_e8_s96.pth"));
    let p = pro_fixtures().join("models");
    let (gpt_b, sovits_b) = match b {
        B::PerturbedV2 => {
            let (g, s) = (dir.path().join("gpt-b.ckpt"), dir.path().join("sovits-b.pth"));
            perturbed_copy(&gpt_a, &g);
            perturbed_copy(&sovits_a, &s);
            (g, s)
        }
        B::V2Pro => (p.join("gpt/tiny-v2Pro-e15.ckpt"), p.join("sovits/tiny-v2Pro_e8_s96.pth")),
        B::V2ProPlus => {
            let s = dir.path().join("tiny-v2ProPlus.pth");
            v2proplus_from_v2pro(&p.join("sovits/tiny-v2Pro_e8_s96.pth"), &s);
            (p.join("gpt/tiny-v2Pro-e15.ckpt"), s)
        }
    };
    Files { dir: dir.path().to_path_buf(), _dir: dir, gpt_a, sovits_a, gpt_b, sovits_b }
}

/// `v[key]` of a dict or of an object's state (`utils.HParams`).
fn field<'v>(v: &'v mut torch_archive::Value, key: &str) -> &'v mut torch_archive::Value {
    use torch_archive::Value;
    let items = match v {
        Value::Dict(items) => items,
        Value::Object { state, .. } => match state.as_mut() {
            Value::Dict(items) => items,
            other => panic!("object state is not a dict: {other:?}"),
        },
        other => panic!("no field {key} in {other:?}"),
    };
    &mut items.iter_mut().find(|(k, _)| k.as_str() == Some(key)).unwrap_or_else(|| panic!("no field {key}")).1
}

/// Writes a v2ProPlus SoVITS made from the v2Pro fixture the way upstream's two configs differ
/// (s2v2ProPlus.json vs s2v2Pro.json): the Generator's `upsample_initial_channel` × 1.5 and a
/// first upsampling kernel of 20, with new random Generator weights of those sizes, the `06`
/// header and version `v2ProPlus`; every other weight as in the v2Pro file. (Our v2ProPlus
/// Generator's numbers are checked against upstream with scripts/golden/make_versions.py; this
/// file proves the server loads and serves such a file beside a v2 model.)
fn v2proplus_from_v2pro(src: &Path, dst: &Path) {
    use torch_archive::{DType, Tensor, Value};
    let bytes = std::fs::read(src).unwrap();
    assert_eq!(torch_archive::sovits_header(&bytes), Some(*b"05"));
    let mut ckpt = torch_archive::load(&bytes).unwrap();
    let model = field(field(&mut ckpt, "config"), "model");
    let uic = field(model, "upsample_initial_channel").as_i64().unwrap() as usize;
    let new_uic = uic * 3 / 2;
    *field(model, "upsample_initial_channel") = Value::Int(new_uic as i64);
    let Value::List(kernels) = field(model, "upsample_kernel_sizes") else { panic!("kernel list") };
    let (k0, new_k0) = (kernels[0].as_i64().unwrap() as usize, 20);
    kernels[0] = Value::Int(new_k0 as i64);
    let n_kernels = field(model, "resblock_kernel_sizes").as_list().unwrap().len();
    *field(model, "version") = Value::Str("v2ProPlus".into());
    // Channels after upsampling layer i (upstream: initial // 2^(i+1)).
    let ch = |i: usize, c0: usize| c0 >> i;
    let mut k = 0u32;
    let Value::Dict(weights) = field(&mut ckpt, "weight") else { panic!("weight dict") };
    for (name, w) in weights.iter_mut() {
        let name = name.as_str().unwrap().to_string();
        let Some(rest) = name.strip_prefix("dec.") else { continue };
        let Value::Tensor(t) = w else { panic!("{name} is not a tensor") };
        let parts: Vec<&str> = rest.split('.').collect();
        let resize = |c: usize, c0: usize, new: usize| if c == c0 { new } else { c };
        let shape: Vec<usize> = match parts[0] {
            // [C0, inter, 7] and [C0]; cond: [C0, gin, 1] and [C0].
            "conv_pre" | "cond" => t.shape.iter().enumerate().map(|(d, &c)| if d == 0 { new_uic } else { c }).collect(),
            "ups" => {
                let i: usize = parts[1].parse().unwrap();
                let (cin, cout) = ((ch(i, uic), ch(i, new_uic)), (ch(i + 1, uic), ch(i + 1, new_uic)));
                match parts[2] {
                    "bias" => vec![cout.1],
                    // weight_g [in, 1, 1], weight_v [in, out, k].
                    _ => t.shape.iter().enumerate().map(|(d, &c)| match d {
                        0 => cin.1,
                        1 => resize(c, cout.0, cout.1),
                        _ if i == 0 => resize(c, k0, new_k0),
                        _ => c,
                    }).collect(),
                }
            }
            "resblocks" => {
                let i = parts[1].parse::<usize>().unwrap() / n_kernels;
                let (c0, c1) = (ch(i + 1, uic), ch(i + 1, new_uic));
                // [c, c, k], [c, 1, 1], [c]: every channel dimension (kernels are smaller).
                t.shape.iter().enumerate().map(|(d, &c)| if d < 2 && c == c0 { c1 } else { c }).collect()
            }
            "conv_post" => t.shape.iter().enumerate().map(|(d, &c)| if d == 1 { ch(5, new_uic) } else { c }).collect(),
            other => panic!("unexpected Generator weight {other}"),
        };
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                k += 1;
                0.3 * (k as f32 * 0.618).sin()
            })
            .collect();
        let data = match t.dtype {
            DType::F16 => values.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect(),
            DType::F32 => values.iter().flat_map(|&x| x.to_le_bytes()).collect(),
            other => panic!("{name}: {other:?}"),
        };
        *t = Tensor { dtype: t.dtype, shape, data };
    }
    std::fs::write(dst, torch_archive::save(&ckpt, Some(*b"06")).unwrap()).unwrap();
}

fn voice(model: Option<&str>) -> VoiceConfig {
    let mut v = fixture_settings().voices["fixture"].clone();
    v.model = model.map(str::to_string);
    v
}

/// The fixture settings serving `(gpt, sovits)` as the default model and, when given, model `b`
/// (alias `bee`) with voice `fixture-b` on it.
fn settings(default: (&Path, &Path), b: Option<(&Path, &Path)>, max_resident: usize) -> Settings {
    let mut s = fixture_settings();
    // The random fixture GPTs rarely emit EOS on this text: let each sentence run to upstream's
    // 1500-step cap instead of failing at the per-request token budget, so that every model's
    // output is a complete, comparable waveform.
    s.limits.max_request_tokens = 4000;
    s.limits.tokens_per_char = 200;
    s.models.gpt = default.0.to_path_buf();
    s.models.sovits = default.1.to_path_buf();
    s.models.max_resident = max_resident;
    // The speaker model every Pro SoVITS needs (a v2 pair never loads it).
    s.models.sv = pro_fixtures().join("models/sv/tiny_eres2netv2w24s4ep4.ckpt");
    if let Some((gpt, sovits)) = b {
        let table = format!("gpt = {:?}\nsovits = {:?}\naliases = [\"bee\"]", gpt.display().to_string(), sovits.display().to_string());
        s.models.named.insert("b".into(), toml::Value::Table(toml::from_str(&table).unwrap()));
        s.voices.insert("fixture-b".into(), voice(Some("b")));
    }
    s.validate().expect("valid settings");
    s
}

async fn ready(settings: Settings) -> RunningServer {
    let s = start_server(settings, gsv_server::engine::default_backend(), Duration::from_secs(300)).await;
    let st = s.engine.status();
    assert_eq!(st.readiness, Readiness::Ready, "not ready: {st:?}");
    assert!(st.failed_voices.is_empty(), "{:?}", st.failed_voices);
    s
}

/// `/v1/tts` as PCM with a fixed seed: (samples, semantic tokens).
async fn tts(c: &reqwest::Client, u: &str, body: Value) -> (Vec<i16>, u32) {
    let mut body = body;
    body["seed"] = json!(7);
    body["format"] = json!("pcm");
    let r = c.post(format!("{u}/v1/tts")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{body}: {}", r.text().await.unwrap_or_default());
    let tokens = r.headers()["x-semantic-tokens"].to_str().unwrap().parse().unwrap();
    let bytes = r.bytes().await.unwrap();
    (bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect(), tokens)
}

/// `/v1/tts` streamed (token chunks) as PCM with a fixed seed: all its samples.
async fn tts_stream(c: &reqwest::Client, u: &str, text: &str) -> Vec<i16> {
    let r = c.post(format!("{u}/v1/tts")).json(&stream_body(text)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn stream_body(text: &str) -> Value {
    json!({"text": text, "voice": "fixture", "stream": true, "seed": 7, "format": "pcm"})
}

const TEXT: &str = "Hello there. How are you?";

/// What each model gives alone (its own server).
async fn alone(files: &Files) -> ((Vec<i16>, u32), (Vec<i16>, u32)) {
    let c = reqwest::Client::new();
    let mut out = Vec::new();
    for pair in [(&files.gpt_a, &files.sovits_a), (&files.gpt_b, &files.sovits_b)] {
        let s = ready(settings((pair.0, pair.1), None, 1)).await;
        out.push(tts(&c, &s.url(), json!({"text": TEXT, "voice": "fixture"})).await);
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    assert_ne!(a.0, b.0, "the two models must sound different");
    (a, b)
}

/// A WebSocket request with sentence chunking and seed 7: (samples, tokens).
async fn ws_request(addr: std::net::SocketAddr, voice: &str, model: Option<&str>) -> (Vec<i16>, u64) {
    let mut msg = json!({"type": "synthesize", "id": "w", "text": TEXT, "voice": voice, "seed": 7, "chunking": "sentence"});
    if let Some(m) = model {
        msg["model"] = json!(m);
    }
    let out = ws_synthesize(addr, msg).await;
    let tokens = out.done()["timings"]["tokens"].as_u64().unwrap();
    (out.pcm, tokens)
}

/// OpenAI speech as 32 kHz WAV: its sample count (the OpenAI route takes no seed, but the
/// greedy fixture voice makes the token count, and so the length, depend on the model only).
async fn openai_samples(c: &reqwest::Client, u: &str, model: &str, voice: &str) -> usize {
    let r = c
        .post(format!("{u}/v1/audio/speech"))
        .json(&json!({"model": model, "input": TEXT, "voice": voice, "response_format": "wav"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{model}: {}", r.text().await.unwrap_or_default());
    let bytes = r.bytes().await.unwrap();
    // A streamed WAV's header cannot know the length: count what follows the `data` tag.
    let data = bytes.windows(4).position(|w| w == b"data").expect("a WAV data chunk") + 8;
    (bytes.len() - data) / 2
}

#[tokio::test]
async fn v2_and_v2proplus_models_concurrently_on_every_route_each_as_alone() {
    let f = files(B::V2ProPlus);
    let ((pcm_a, tok_a), (pcm_b, tok_b)) = alone(&f).await;
    assert_ne!(pcm_a.len(), pcm_b.len(), "the two GPTs must decode a different number of tokens");

    let s = ready(settings((&f.gpt_a, &f.sovits_a), Some((&f.gpt_b, &f.sovits_b)), 2)).await;
    let (c, u) = (reqwest::Client::new(), s.url());
    // Native by model name, native by the voice's model, OpenAI by alias and by a generic id,
    // WebSocket by model and by voice: all at once.
    let (n_a, n_b, n_voice_b, o_b, o_a, w_b, w_a) = tokio::join!(
        tts(&c, &u, json!({"text": TEXT, "voice": "fixture", "model": "default"})),
        tts(&c, &u, json!({"text": TEXT, "voice": "fixture", "model": "b"})),
        tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})),
        openai_samples(&c, &u, "bee", "fixture"),
        openai_samples(&c, &u, "tts-1", "fixture"),
        ws_request(s.addr, "fixture", Some("b")),
        ws_request(s.addr, "fixture-b", None),
    );
    assert_eq!(n_a, (pcm_a.clone(), tok_a), "model default through /v1/tts");
    assert_eq!(n_b, (pcm_b.clone(), tok_b), "model b through /v1/tts");
    assert_eq!(n_voice_b, (pcm_b.clone(), tok_b), "voice fixture-b speaks with model b");
    assert_eq!(o_b, pcm_b.len(), "OpenAI alias `bee` = model b");
    assert_eq!(o_a, pcm_a.len(), "OpenAI `tts-1` = the voice's model (default)");
    assert_eq!(w_b, (pcm_b.clone(), tok_b as u64), "WebSocket model b");
    assert_eq!(w_a, (pcm_b.clone(), tok_b as u64), "WebSocket voice fixture-b");

    // Interleaved one by one: still each model's own output.
    for _ in 0..2 {
        assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b", "model": "default"})).await.0, pcm_a);
        assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture", "model": "bee"})).await.0, pcm_b);
    }

    // The model list: both, version detected, both resident; generic ids after them.
    let (code, v) = json(c.get(format!("{u}/v1/models")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(&ids[..3], ["default", "b", "tts-1"], "{v}");
    assert_eq!((v["data"][0]["version"].as_str(), v["data"][0]["resident"].as_bool()), (Some("v2"), Some(true)), "{v}");
    assert_eq!((v["data"][1]["version"].as_str(), v["data"][1]["resident"].as_bool()), (Some("v2ProPlus"), Some(true)), "{v}");
    assert_eq!(v["data"][1]["aliases"], json!(["bee"]));
    let (code, m) = json(c.get(format!("{u}/v1/models/bee")).send().await.unwrap()).await;
    assert_eq!((code, m["id"].as_str()), (200, Some("b")));
    let (code, e) = json(c.get(format!("{u}/v1/models/nope")).send().await.unwrap()).await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("model_not_found")), "{e}");
    let (_, voices) = json(c.get(format!("{u}/v1/voices")).send().await.unwrap()).await;
    let vb = voices["voices"].as_array().unwrap().iter().find(|v| v["name"] == "fixture-b").unwrap().clone();
    assert_eq!((vb["model"].as_str(), vb["version"].as_str()), (Some("b"), Some("v2ProPlus")), "{voices}");

    // An unknown model is a 400 listing the known ones, in each route's error shape.
    let r = c.post(format!("{u}/v1/tts")).json(&json!({"text": TEXT, "voice": "fixture", "model": "zz"})).send().await.unwrap();
    let (code, e) = json(r).await;
    assert_eq!((code, e["param"].as_str()), (400, Some("model")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("default, b, bee, tts-1"), "{e}");
    let r = c.post(format!("{u}/v1/audio/speech")).json(&json!({"model": "zz", "input": TEXT, "voice": "fixture"})).send().await.unwrap();
    let (code, e) = json(r).await;
    assert_eq!((code, e["error"]["code"].as_str(), e["error"]["param"].as_str()), (400, Some("model_not_found"), Some("model")), "{e}");
}

#[tokio::test]
async fn lru_unloads_the_idle_model_and_reloads_it_unchanged() {
    let f = files(B::V2Pro);
    let s = ready(settings((&f.gpt_a, &f.sovits_a), Some((&f.gpt_b, &f.sovits_b)), 1)).await;
    let (c, u) = (reqwest::Client::new(), s.url());
    let resident = || {
        let st = s.engine.status();
        st.models.iter().map(|m| (m.spec.name.clone(), m.resident)).collect::<Vec<_>>()
    };
    // Voice fixture-b prepared on b at start, which unloaded the default.
    let first_b = tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})).await;
    assert_eq!(resident(), [("default".to_string(), false), ("b".to_string(), true)]);
    let first_a = tts(&c, &u, json!({"text": TEXT, "voice": "fixture"})).await;
    assert_eq!(resident(), [("default".to_string(), true), ("b".to_string(), false)]);
    assert_ne!(first_a.0, first_b.0);
    // b comes back (its voice prepared again) and speaks exactly as before; then the default.
    assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})).await, first_b);
    assert_eq!(resident(), [("default".to_string(), false), ("b".to_string(), true)]);
    assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture"})).await, first_a);
    let (_, h) = json(c.get(format!("{u}/health")).send().await.unwrap()).await;
    assert_eq!(h["models"][0]["resident"], json!(true), "{h}");
    assert_eq!(h["models"][1]["resident"], json!(false), "{h}");
}

#[tokio::test]
async fn set_weights_changes_the_default_only_never_a_running_request() {
    let f = files(B::PerturbedV2);
    let mut st = settings((&f.gpt_a, &f.sovits_a), Some((&f.gpt_b, &f.sovits_b)), 2);
    st.upstream.allowed_weight_dirs = vec![f.dir.clone()];
    // Streams are compared sample for sample below: without pacing their chunk seams fall at
    // fixed token counts, not where the wall clock puts them.
    st.defaults.stream_lead_seconds = 0.0;
    // A configured model whose file is truncated: it fails to load with its reason, on demand.
    let truncated = f.dir.join("truncated.pth");
    std::fs::write(&truncated, &std::fs::read(&f.sovits_a).unwrap()[..4096]).unwrap();
    let table = format!("gpt = {:?}\nsovits = {:?}", f.gpt_a.display().to_string(), truncated.display().to_string());
    st.models.named.insert("broken".into(), toml::Value::Table(toml::from_str(&table).unwrap()));
    let s = ready(st).await;
    let (c, u) = (reqwest::Client::new(), s.url());

    let long = sentences(30);
    let before_long = tts_stream(&c, &u, &long).await;
    let b_before = tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})).await;
    let a_before = tts(&c, &u, json!({"text": TEXT, "voice": "fixture"})).await;

    // Start the long request, read its first bytes, then swap the default's SoVITS.
    let running = c.post(format!("{u}/v1/tts")).json(&stream_body(&long)).send().await.unwrap();
    assert_eq!(running.status(), 200);
    let mut stream = running.bytes_stream();
    let mut got = stream.next().await.unwrap().unwrap().to_vec();
    let r = c.get(format!("{u}/set_sovits_weights")).query(&[("weights_path", f.sovits_b.to_str().unwrap())]).send().await.unwrap();
    let (code, v) = json(r).await;
    assert_eq!((code, v["message"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["model"]["name"], "default");
    assert_eq!(s.engine.active_jobs(), 1, "the long request was still running when the weights changed");
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    let got: Vec<i16> = got.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert_eq!(got, before_long, "the running request kept the weights it started with");

    // New default requests use the new SoVITS (same GPT: same tokens, other audio); b is untouched.
    let a_after = tts(&c, &u, json!({"text": TEXT, "voice": "fixture"})).await;
    assert_ne!(a_after.0, a_before.0);
    assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})).await, b_before);

    // Bad weights: a v3-tagged file, a truncated file, a path outside the allowed places. Each is
    // a 400 with the reason; the default keeps its weights.
    let v3 = f.dir.join("v3.pth");
    let mut bytes = std::fs::read(&f.sovits_a).unwrap();
    bytes[..2].copy_from_slice(b"02");
    std::fs::write(&v3, bytes).unwrap();
    let outside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    for (path, needle) in [(v3.as_path(), "v3"), (truncated.as_path(), "truncated.pth"), (outside.as_path(), "allowed")] {
        let r = c.get(format!("{u}/set_sovits_weights")).query(&[("weights_path", path.to_str().unwrap())]).send().await.unwrap();
        let (code, e) = json(r).await;
        assert_eq!(code, 400, "{e}");
        assert!(e["message"].as_str().unwrap().contains(needle), "{needle}: {e}");
    }
    let r = c.get(format!("{u}/set_gpt_weights")).query(&[("weights_path", f.gpt_b.to_str().unwrap())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The default is now exactly model b's pair: b's output.
    assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture"})).await.0, b_before.0);

    // The broken model: 503 naming the file; the server keeps serving; /v1/models shows why.
    let r = c.post(format!("{u}/v1/tts")).json(&json!({"text": TEXT, "voice": "fixture", "model": "broken"})).send().await.unwrap();
    let (code, e) = json(r).await;
    assert_eq!(code, 503, "{e}");
    assert!(e["error"].as_str().unwrap().contains("truncated.pth"), "{e}");
    let resident: Vec<(String, bool)> = s.engine.status().models.iter().map(|m| (m.spec.name.clone(), m.resident)).collect();
    let want = [("default", true), ("b", true), ("broken", false)].map(|(n, r)| (n.to_string(), r));
    assert_eq!(resident, want, "a model whose file cannot load unloads no resident model");
    assert_eq!(tts(&c, &u, json!({"text": TEXT, "voice": "fixture-b"})).await, b_before);
    let (_, v) = json(c.get(format!("{u}/v1/models/broken")).send().await.unwrap()).await;
    assert!(v["error"].as_str().unwrap().contains("truncated.pth"), "{v}");
    assert_eq!(v["resident"], json!(false));
}
