//! Request validation shared by every synthesis route: raw optional fields in, a validated
//! [`SynthesisJob`] out, or an [`ApiError`] naming the field. Defaults come from the voice's own
//! settings, then `[defaults]` in the config.
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::config::{Settings, GENERIC_MODEL_IDS};
use crate::engine::{Chunking, RefAudio, Sampling, SynthesisJob, VoiceSelect, VoiceSpec};

use super::error::ApiError;

/// Text languages of the v2 model family (spec §1.2).
pub const LANGUAGES: &[&str] = &["auto", "auto_yue", "en", "zh", "ja", "yue", "ko", "all_zh", "all_ja", "all_yue", "all_ko"];
/// Sentence splitting methods (spec §2.1).
pub const SPLIT_METHODS: &[&str] = &["cut0", "cut1", "cut2", "cut3", "cut4", "cut5"];
/// Speed range (OpenAI's contract, applied to every route).
pub const SPEED_RANGE: (f32, f32) = (0.25, 4.0);
/// `top_k` range (the GPT's vocabulary has 1025 entries).
pub const TOP_K_RANGE: (i64, i64) = (1, 1024);
/// `temperature` range, exclusive of 0: above 2 the GPT samples noise that rarely stops.
pub const TEMPERATURE_RANGE: (f32, f32) = (0.0, 2.0);
/// `repetition_penalty` range: below 1 it *rewards* repeating, so a sentence never ends and runs
/// to the step cap (upstream's WebUI offers 0–2; 1.35 is its default).
pub const REPETITION_PENALTY_RANGE: (f32, f32) = (1.0, 2.0);
/// Longest request id on a WebSocket, voice name, or other short identifier.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `ref_audio_path` (`/tts`).
pub const MAX_PATH_CHARS: usize = 4096;

/// At most `max` characters in `value`, or an error naming `param`. Counts without reading past
/// the limit, so a huge value costs no more than a small one.
pub fn check_chars(param: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().nth(max).is_some() {
        let n = value.chars().count();
        return Err(ApiError::invalid(param, format!("`{param}` has {n} characters; the limit is {max}")));
    }
    Ok(())
}

/// A client-supplied value as it may appear in an error message: at most 64 characters.
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_string(),
    }
}

/// The fields every synthesis route can set, before defaults and validation.
#[derive(Debug, Clone, Default)]
pub struct RawParams {
    /// A configured model's name or alias, or a generic id (`tts-1`, ...) meaning "the voice's".
    pub model: Option<String>,
    pub text: String,
    pub language: Option<String>,
    pub voice: Option<VoiceSelect>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub temperature: Option<f32>,
    pub repetition_penalty: Option<f32>,
    /// Negative = random (upstream's -1).
    pub seed: Option<i64>,
    pub speed: Option<f32>,
    pub text_split_method: Option<String>,
    pub batch_size: Option<i64>,
    pub fragment_interval: Option<f32>,
    pub chunking: Option<Chunking>,
}

/// A fresh random seed (32 bits, like upstream's `random.randint(0, 2**32 - 1)`), echoed to the client.
pub fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::time::SystemTime::now().hash(&mut h);
    h.finish() & 0xFFFF_FFFF
}

/// The one request → model resolver of every route: a configured name or alias gives that model;
/// a generic id (`tts-1`, `gpt-sovits`, ...) or none leaves the choice to the voice (its `model`,
/// else the default). Anything else is a 400 listing what exists.
pub fn resolve_model(settings: &Settings, requested: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(id) = requested.map(str::trim) else { return Ok(None) };
    if let Some(name) = settings.resolve_model(id) {
        return Ok(Some(name));
    }
    if GENERIC_MODEL_IDS.contains(&id) {
        return Ok(None);
    }
    let mut known = settings.model_ids();
    known.extend(GENERIC_MODEL_IDS.iter().map(|s| s.to_string()));
    Err(ApiError::invalid("model", format!("`model` `{id}` does not exist (available: {})", known.join(", "))).with_code("model_not_found"))
}

/// Validates `raw` against the settings; picks defaults from the voice, then `[defaults]`.
pub fn build_job(settings: &Settings, raw: RawParams) -> Result<SynthesisJob, ApiError> {
    let model = resolve_model(settings, raw.model.as_deref())?;
    let text = raw.text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("text", "`text` is empty"));
    }
    check_chars("text", text, settings.limits.max_text_chars)?;
    let chars = text.chars().count();
    let voice = raw.voice.ok_or_else(|| ApiError::invalid("voice", "no voice given: name a configured voice or send a reference clip"))?;
    let (voice_lang, vc) = match &voice {
        VoiceSelect::Named(name) => {
            let vc = settings.voices.get(name);
            (vc.map(|v| v.language.to_ascii_lowercase()), vc)
        }
        VoiceSelect::Inline(spec) => (Some(spec.language.clone()), None),
    };
    if let VoiceSelect::Named(name) = &voice {
        check_chars("voice", name, MAX_ID_CHARS)?;
    }
    let language = match raw.language {
        Some(l) => l.trim().to_ascii_lowercase(),
        None => voice_lang.unwrap_or_else(|| "auto".into()),
    };
    check_language("language", &language)?;
    let d = &settings.defaults;
    let top_k = raw.top_k.or(vc.and_then(|v| v.top_k).map(|k| k as i64)).unwrap_or(d.top_k as i64);
    if !(TOP_K_RANGE.0..=TOP_K_RANGE.1).contains(&top_k) {
        return Err(ApiError::invalid("top_k", format!("`top_k` must be between {} and {}, got {top_k}", TOP_K_RANGE.0, TOP_K_RANGE.1)));
    }
    let top_p = raw.top_p.or(vc.and_then(|v| v.top_p)).unwrap_or(d.top_p);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid("top_p", format!("`top_p` must be in (0, 1], got {top_p}")));
    }
    let temperature = raw.temperature.or(vc.and_then(|v| v.temperature)).unwrap_or(d.temperature);
    if !(temperature > TEMPERATURE_RANGE.0 && temperature <= TEMPERATURE_RANGE.1) {
        return Err(ApiError::invalid(
            "temperature",
            format!("`temperature` must be in ({}, {}], got {temperature}", TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1),
        ));
    }
    let repetition_penalty = raw.repetition_penalty.or(vc.and_then(|v| v.repetition_penalty)).unwrap_or(d.repetition_penalty);
    let (lo, hi) = REPETITION_PENALTY_RANGE;
    if !(repetition_penalty >= lo && repetition_penalty <= hi) {
        return Err(ApiError::invalid(
            "repetition_penalty",
            format!("`repetition_penalty` must be between {lo} and {hi}, got {repetition_penalty}"),
        ));
    }
    let speed = raw.speed.or(vc.and_then(|v| v.speed)).unwrap_or(d.speed);
    if !(speed >= SPEED_RANGE.0 && speed <= SPEED_RANGE.1) {
        return Err(ApiError::invalid(
            "speed",
            format!("`speed` must be between {} and {}, got {speed}", SPEED_RANGE.0, SPEED_RANGE.1),
        ));
    }
    let text_split_method = raw.text_split_method.unwrap_or_else(|| d.text_split_method.clone());
    if !SPLIT_METHODS.contains(&text_split_method.as_str()) {
        return Err(ApiError::invalid(
            "text_split_method",
            format!("`text_split_method` must be one of {}, got `{}`", SPLIT_METHODS.join(", "), shown(&text_split_method)),
        ));
    }
    let batch_size = raw.batch_size.unwrap_or(1);
    if !(1..=64).contains(&batch_size) {
        return Err(ApiError::invalid("batch_size", format!("`batch_size` must be between 1 and 64, got {batch_size}")));
    }
    let fragment_interval = raw.fragment_interval.unwrap_or(d.fragment_interval);
    if !(0.0..=5.0).contains(&fragment_interval) {
        return Err(ApiError::invalid(
            "fragment_interval",
            format!("`fragment_interval` must be between 0 and 5 seconds, got {fragment_interval}"),
        ));
    }
    let seed = match raw.seed {
        Some(s) if s >= 0 => s as u64,
        _ => random_seed(),
    };
    Ok(SynthesisJob {
        model,
        text: text.to_string(),
        language,
        voice,
        sampling: Sampling { top_k: top_k as usize, top_p, temperature, repetition_penalty, seed },
        speed,
        text_split_method,
        batch_size: batch_size as usize,
        fragment_interval,
        chunking: raw.chunking.unwrap_or(Chunking::Sentence),
        token_budget: settings.limits.token_budget(chars),
    })
}

/// Fills the fields a request left out from a stored voice (what `[voices.NAME]` does for a
/// configured one inside [`build_job`]).
pub fn apply_voice_defaults(raw: &mut RawParams, language: &str, d: &crate::library::VoiceDefaults) {
    raw.language = raw.language.take().or_else(|| Some(language.to_string()));
    raw.top_k = raw.top_k.or(d.top_k.map(|k| k as i64));
    raw.top_p = raw.top_p.or(d.top_p);
    raw.temperature = raw.temperature.or(d.temperature);
    raw.repetition_penalty = raw.repetition_penalty.or(d.repetition_penalty);
    raw.speed = raw.speed.or(d.speed);
}

pub fn check_language(param: &str, language: &str) -> Result<(), ApiError> {
    if LANGUAGES.contains(&language) {
        Ok(())
    } else {
        Err(ApiError::invalid(param, format!("`{param}` must be one of {}, got `{}`", LANGUAGES.join(", "), shown(language))))
    }
}

/// Token-chunk streaming with the configured chunk sizes.
pub fn token_chunking(settings: &Settings) -> Chunking {
    let d = &settings.defaults;
    Chunking::Tokens {
        first_tokens: d.stream_first_chunk_tokens.max(1),
        min_tokens: d.stream_chunk_tokens.max(1),
        growth: d.stream_chunk_growth,
        lead: d.stream_lead_seconds,
        overlap: 2,
        fixed_length: false,
    }
}

/// A request-supplied reference clip as an inline voice; the name is a content hash so the
/// backend can cache a clip sent again.
pub fn inline_voice(settings: &Settings, audio: Vec<u8>, transcript: String, language: String) -> Result<VoiceSelect, ApiError> {
    if audio.is_empty() {
        return Err(ApiError::invalid("reference", "the reference clip is empty"));
    }
    check_chars("reference.transcript", &transcript, settings.limits.max_transcript_chars)?;
    let language = language.trim().to_ascii_lowercase();
    check_language("reference.language", &language)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    audio.hash(&mut h);
    transcript.hash(&mut h);
    language.hash(&mut h);
    Ok(VoiceSelect::Inline(VoiceSpec {
        name: format!("inline:{:016x}", h.finish()),
        ref_audio: RefAudio::Bytes(audio),
        transcript,
        language,
        gpt: None,
        sovits: None,
        model: None,
    }))
}

/// A stored (voice library) voice's clip, which `/tts` accepts like a configured voice's clip.
#[derive(Debug, Clone)]
pub struct StoredClip {
    pub name: String,
    pub clip: PathBuf,
    pub transcript: String,
    pub language: String,
}

/// Resolves upstream `/tts` `ref_audio_path` to a voice. Only a configured or stored voice's clip
/// or a file under `[upstream] allowed_ref_dirs` is accepted; any other path (or one that does not
/// exist) is refused with the same message, so the route cannot probe the file system.
pub fn upstream_voice(
    settings: &Settings,
    stored: &[StoredClip],
    ref_audio_path: &str,
    prompt_text: &str,
    prompt_lang: &str,
) -> Result<VoiceSelect, ApiError> {
    check_chars("ref_audio_path", ref_audio_path, MAX_PATH_CHARS)?;
    check_chars("prompt_text", prompt_text, settings.limits.max_transcript_chars)?;
    let refused = || {
        ApiError::invalid(
            "ref_audio_path",
            format!(
                "`ref_audio_path` `{}` is not a configured voice's clip or a file under an allowed directory ([upstream] allowed_ref_dirs)",
                shown(ref_audio_path)
            ),
        )
    };
    let canon = Path::new(ref_audio_path).canonicalize().map_err(|_| refused())?;
    if !canon.is_file() {
        return Err(refused());
    }
    let canonical = |p: &Path| p.canonicalize().ok();
    for (name, v) in &settings.voices {
        if canonical(&v.ref_audio).as_deref() == Some(canon.as_path())
            && v.transcript.trim() == prompt_text.trim()
            && v.language.eq_ignore_ascii_case(prompt_lang)
        {
            return Ok(VoiceSelect::Named(name.clone()));
        }
    }
    for c in stored {
        if canonical(&c.clip).as_deref() == Some(canon.as_path())
            && c.transcript.trim() == prompt_text.trim()
            && c.language.eq_ignore_ascii_case(prompt_lang)
        {
            return Ok(VoiceSelect::Named(c.name.clone()));
        }
    }
    let is_voice_clip = settings.voices.values().any(|v| canonical(&v.ref_audio).as_deref() == Some(canon.as_path()))
        || stored.iter().any(|c| canonical(&c.clip).as_deref() == Some(canon.as_path()));
    let in_allowed_dir = settings
        .upstream
        .allowed_ref_dirs
        .iter()
        .filter_map(|d| canonical(d))
        .any(|d: PathBuf| canon.starts_with(d));
    if !(is_voice_clip || in_allowed_dir) {
        return Err(refused());
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canon.hash(&mut h);
    prompt_text.hash(&mut h);
    prompt_lang.hash(&mut h);
    Ok(VoiceSelect::Inline(VoiceSpec {
        name: format!("path:{:016x}", h.finish()),
        ref_audio: RefAudio::Path(canon),
        transcript: prompt_text.to_string(),
        language: prompt_lang.to_string(),
        gpt: None,
        sovits: None,
        model: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.voices.insert(
            "alice".into(),
            toml::from_str("ref_audio = \"tests/fixtures/audio/ref_32k.wav\"\ntranscript = \"hi\"\nlanguage = \"EN\"\ntop_k = 5").unwrap(),
        );
        s
    }

    fn raw(text: &str) -> RawParams {
        RawParams { text: text.into(), voice: Some(VoiceSelect::Named("alice".into())), ..Default::default() }
    }

    #[test]
    fn route_languages_are_the_frontend_settings() {
        let mut routes: Vec<&str> = LANGUAGES.to_vec();
        let mut frontend: Vec<&str> = gsv_text::LanguageSetting::ALL.iter().map(|l| l.as_str()).collect();
        routes.sort_unstable();
        frontend.sort_unstable();
        assert_eq!(routes, frontend);
    }

    #[test]
    fn defaults_come_from_the_voice_then_the_config() {
        let j = build_job(&settings(), raw(" hello ")).unwrap();
        assert_eq!(j.text, "hello");
        assert_eq!(j.language, "en");
        assert_eq!(j.sampling.top_k, 5);
        assert_eq!(j.sampling.repetition_penalty, 1.35);
        assert_eq!(j.text_split_method, "cut5");
        assert!(j.sampling.seed <= u32::MAX as u64);
    }

    #[test]
    fn each_bad_field_is_named() {
        let s = settings();
        let cases: Vec<(RawParams, &str)> = vec![
            (raw("  "), "text"),
            (RawParams { speed: Some(5.0), ..raw("x") }, "speed"),
            (RawParams { top_k: Some(0), ..raw("x") }, "top_k"),
            (RawParams { top_p: Some(0.0), ..raw("x") }, "top_p"),
            (RawParams { temperature: Some(-1.0), ..raw("x") }, "temperature"),
            (RawParams { language: Some("xx".into()), ..raw("x") }, "language"),
            (RawParams { text_split_method: Some("cut9".into()), ..raw("x") }, "text_split_method"),
            (RawParams { voice: None, ..raw("x") }, "voice"),
            (RawParams { model: Some("nope".into()), ..raw("x") }, "model"),
            (raw(&"a".repeat(4097)), "text"),
            (RawParams { repetition_penalty: Some(1e-38), ..raw("x") }, "repetition_penalty"),
            (RawParams { repetition_penalty: Some(0.99), ..raw("x") }, "repetition_penalty"),
            (RawParams { temperature: Some(2.5), ..raw("x") }, "temperature"),
            (RawParams { voice: Some(VoiceSelect::Named("v".repeat(129))), ..raw("x") }, "voice"),
        ];
        for (r, field) in cases {
            let e = build_job(&s, r).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(field), "{}", e.message);
            assert!(e.message.contains(&format!("`{field}`")) || field == "voice", "{}", e.message);
        }
    }

    #[test]
    fn budgets_follow_text_length_and_free_text_is_bounded() {
        let s = settings();
        let short = build_job(&s, raw("Hello there.")).unwrap();
        assert_eq!(short.token_budget, 75 + 12 * 25);
        let long = build_job(&s, raw(&"word ".repeat(800))).unwrap();
        assert_eq!(long.token_budget, s.limits.max_request_tokens);
        let e = inline_voice(&s, vec![1], "t".repeat(513), "en".into()).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reference.transcript"));
        assert!(inline_voice(&s, vec![1], "t".repeat(512), "en".into()).is_ok());
        let e = check_language("language", &"x".repeat(100_000)).unwrap_err();
        assert!(e.message.len() < 300, "the echo is bounded: {}", e.message.len());
    }

    #[test]
    fn models_resolve_by_name_alias_or_generic_id() {
        let mut s = settings();
        s.models.aliases = vec!["base".into()];
        s.models.named.insert("pro".into(), toml::Value::Table(toml::from_str("gpt = \"b.ckpt\"\nsovits = \"b.pth\"\naliases = [\"tts-1-hd\"]").unwrap()));
        let model = |m: &str| build_job(&s, RawParams { model: Some(m.into()), ..raw("x") }).map(|j| j.model);
        assert_eq!(model("pro").unwrap().as_deref(), Some("pro"));
        assert_eq!(model("base").unwrap().as_deref(), Some("default"));
        // A configured alias wins over the generic meaning of an OpenAI id.
        assert_eq!(model("tts-1-hd").unwrap().as_deref(), Some("pro"));
        assert_eq!(model("tts-1").unwrap(), None);
        assert_eq!(build_job(&s, raw("x")).unwrap().model, None);
        let e = model("gpt-9").unwrap_err();
        assert_eq!((e.param.as_deref(), e.code), (Some("model"), Some("model_not_found")));
        assert!(e.message.contains("default, base, pro, tts-1-hd, tts-1"), "{}", e.message);
    }

    #[test]
    fn upstream_paths_are_confined() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut s = settings();
        s.voices.get_mut("alice").unwrap().ref_audio = Path::new(root).join("tests/fixtures/audio/ref_32k.wav");
        let clip = format!("{root}/tests/fixtures/audio/ref_32k.wav");
        assert_eq!(upstream_voice(&s, &[], &clip, "hi", "en").unwrap(), VoiceSelect::Named("alice".into()));
        assert!(matches!(upstream_voice(&s, &[], &clip, "other words", "en").unwrap(), VoiceSelect::Inline(_)));
        let secret = format!("{root}/Cargo.toml");
        let e = upstream_voice(&s, &[], &secret, "", "en").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("ref_audio_path"));
        let e2 = upstream_voice(&s, &[], "/nonexistent.wav", "", "en").unwrap_err();
        assert_eq!(e.message.replace(&secret, "P"), e2.message.replace("/nonexistent.wav", "P"), "same answer for missing and forbidden");
        let dotdot = format!("{root}/tests/fixtures/audio/../../../Cargo.toml");
        assert!(upstream_voice(&s, &[], &dotdot, "", "en").is_err());
        s.upstream.allowed_ref_dirs = vec![Path::new(root).join("tests/fixtures/audio")];
        assert!(upstream_voice(&s, &[], &dotdot, "", "en").is_err(), "`..` cannot escape an allowed dir");
    }
}
