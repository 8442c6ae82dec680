//! Settings: `config/*.toml`, then `GSV_*` environment variables, then CLI flags (clap reads both
//! the flag and its variable; a flag wins over the variable, either wins over the file).
//!
//! Relative paths in the file are taken from the current directory (the repository root when run
//! through `scripts/serve.sh`).
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::device::{DeviceChoice, Switch};
use crate::engine::{BackendConfig, EngineOptions, ModelPaths, ModelSpec, RefAudio, VoiceSpec};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// `gsv-server serve` flags. Each also reads a `GSV_*` variable; unset ones keep the file's value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML settings file. Default: config/default.toml when it exists, else built-in defaults.
    #[arg(long, env = "GSV_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:9880 (inside a container).
    #[arg(long, env = "GSV_BIND")]
    pub bind: Option<String>,
    /// auto | cpu | gpu.
    #[arg(long, env = "GSV_DEVICE")]
    pub device: Option<DeviceChoice>,
    /// Compile the GPT decode step into one MLX graph: auto (on for a GPU) | on | off.
    #[arg(long, env = "GSV_COMPILE")]
    pub compile: Option<Switch>,
    /// The compiled step with custom CUDA kernels and the sampler kernel: auto | on | off
    /// (docs/cuda.md says what auto means today).
    #[arg(long, env = "GSV_FUSED")]
    pub fused: Option<Switch>,
    /// The fused step's layers as one grid-synchronised CUDA kernel each (instead of five):
    /// auto (= on) | on | off (docs/cuda.md, "One kernel per layer").
    #[arg(long, env = "GSV_LAYER_KERNEL")]
    pub layer_kernel: Option<Switch>,
    /// SoVITS decodes as compiled MLX graphs over length buckets: auto (= on with CUDA) | on |
    /// off (docs/cuda.md).
    #[arg(long, env = "GSV_COMPILE_SOVITS")]
    pub compile_sovits: Option<Switch>,
    /// A short synthesis as each model loads, so the GPU's first-use kernel builds happen before
    /// any request: auto (= on a GPU) | on | off.
    #[arg(long, env = "GSV_WARMUP")]
    pub warmup: Option<Switch>,
    /// Require `Authorization: Bearer <key>` on every route except /health, /metrics and docs.
    #[arg(long, env = "GSV_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Jobs that may wait for the engine; more are refused with 429 (refusing beats unbounded waits).
    #[arg(long, env = "GSV_QUEUE_SIZE")]
    pub queue_size: Option<usize>,
    /// Most jobs decoded together in one batched GPT step.
    #[arg(long, env = "GSV_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// GPT (s1) checkpoint, `.ckpt`.
    #[arg(long, env = "GSV_GPT_MODEL")]
    pub gpt_model: Option<PathBuf>,
    /// SoVITS (s2) checkpoint, `.pth`.
    #[arg(long, env = "GSV_SOVITS_MODEL")]
    pub sovits_model: Option<PathBuf>,
    /// chinese-hubert-base folder.
    #[arg(long, env = "GSV_HUBERT_MODEL")]
    pub hubert_model: Option<PathBuf>,
    /// chinese-roberta-wwm-ext-large folder.
    #[arg(long, env = "GSV_BERT_MODEL")]
    pub bert_model: Option<PathBuf>,
    /// Comma-separated allowed CORS origins (`*` = any).
    /// fastText language identifier for `auto`/`auto_yue` (lid.176.ftz, or the full lid.176.bin).
    #[arg(long, env = "GSV_LID_MODEL")]
    pub lid_model: Option<PathBuf>,
    #[arg(long, env = "GSV_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Log as JSON lines (for log shippers) instead of text.
    #[arg(long, env = "GSV_LOG_JSON")]
    pub log_json: Option<bool>,
    /// mecab-ko-dic directory for Korean (`text.mecab_ko_dic`).
    #[arg(long, env = "GSV_MECAB_KO_DIC")]
    pub mecab_ko_dic: Option<PathBuf>,
    /// Folder of the voice library (voices uploaded with `POST /v1/voices`).
    #[arg(long, env = "GSV_VOICES_DIR")]
    pub voices_dir: Option<PathBuf>,
    /// OpenJTalk naist-jdic directory for Japanese (`text.ja_dictionary`).
    #[arg(long, env = "GSV_JA_DICTIONARY")]
    pub ja_dictionary: Option<PathBuf>,
}

/// Everything the server needs, after file + env + flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub engine: EngineSettings,
    pub models: ModelSettings,
    pub limits: Limits,
    pub defaults: Defaults,
    pub upstream: UpstreamSettings,
    pub text: TextSettings,
    /// Named voices, prepared at start: `[voices.NAME]`.
    pub voices: BTreeMap<String, VoiceConfig>,
    /// Voices uploaded over the API (`POST /v1/voices`). Its own table because `[voices.*]` names
    /// voices (a `voices.dir` key would be a voice called `dir`).
    pub voice_library: VoiceLibrarySettings,
}

/// `[voice_library]`: where uploaded voices are kept and how much they may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceLibrarySettings {
    /// Folder of the stored voices (one sub-folder each); empty = uploads are refused.
    pub dir: PathBuf,
    /// Most stored voices.
    pub max_voices: usize,
    /// Most bytes of stored clips, all voices together.
    pub max_bytes: u64,
    /// Largest clip one upload may send (the whole upload is also bounded by
    /// `limits.max_body_bytes`).
    pub max_clip_bytes: usize,
}

impl Default for VoiceLibrarySettings {
    fn default() -> Self {
        VoiceLibrarySettings { dir: PathBuf::new(), max_voices: 100, max_bytes: 200 << 20, max_clip_bytes: 10 << 20 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Empty = no authentication.
    pub api_key: String,
    /// Allowed CORS origins; empty = no CORS headers, `["*"]` = any origin.
    pub cors_origins: Vec<String>,
    /// Upper bound on one HTTP request, so shutdown never waits forever.
    pub request_timeout_s: u64,
    /// A connection must send a complete request head within this many seconds (also bounds how
    /// long an idle keep-alive connection stays open): half-sent requests cannot hold sockets.
    pub header_read_timeout_s: u64,
    pub log_json: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    pub device: DeviceChoice,
    /// Compile the GPT decode step (`auto` = on for a GPU, where per-op overhead dominates).
    pub compile: Switch,
    /// The compiled step's custom CUDA kernels (`models::gpt::step::fused_enabled`).
    pub fused: Switch,
    /// The fused step's one-kernel layers (`models::gpt::fused::layer_kernel_enabled`).
    pub layer_kernel: Switch,
    /// SoVITS decodes compiled over length buckets (`models::sovits::compiled`).
    pub compile_sovits: Switch,
    /// A short synthesis as each model loads (`tts::warmup`).
    pub warmup: Switch,
    pub queue_size: usize,
    pub max_batch: usize,
    /// Chunks buffered per job toward its client before the worker keeps a backlog.
    pub updates_capacity: usize,
    /// Seconds of audio a job may hold back for a client that does not read before it fails.
    pub max_pending_seconds: f32,
    /// Admission cost bound: the token budgets of all queued and running jobs together (each
    /// job's worst case); a job that would exceed it is refused with 429.
    pub max_pending_tokens: usize,
}

/// `[models]`: the shared networks, the default GPT + SoVITS pair, and further named pairs as
/// `[models.NAME]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// The default model's GPT (s1) `.ckpt`.
    pub gpt: PathBuf,
    /// The default model's SoVITS (s2) `.pth`.
    pub sovits: PathBuf,
    /// Shared by every model (loaded once).
    pub hubert: PathBuf,
    pub bert: PathBuf,
    /// Speaker-verification model, needed by v2Pro/v2ProPlus SoVITS only.
    pub sv: PathBuf,
    /// Name of the default model (the `gpt`/`sovits` pair above).
    pub name: String,
    /// Other names the default model answers to (e.g. an OpenAI model id).
    pub aliases: Vec<String>,
    /// Most model pairs kept loaded; the least recently used idle one is unloaded beyond it.
    pub max_resident: usize,
    /// `[models.NAME]` tables, checked by [`Settings::validate`] (serde cannot deny unknown keys
    /// beside a flattened map, so a misspelt key lands here and is reported by name).
    #[serde(flatten)]
    pub named: BTreeMap<String, toml::Value>,
}

/// `[models.NAME]`: a further GPT + SoVITS pair, sharing HuBERT and BERT with the default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedModelConfig {
    pub gpt: PathBuf,
    pub sovits: PathBuf,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// OpenAI model ids that name no particular model: a request with one of them speaks with the
/// voice's model (or the default). A configured name or alias equal to one of these wins.
pub const GENERIC_MODEL_IDS: &[&str] = &["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-sovits", "gpt-sovits-v2"];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_text_chars: usize,
    /// Reference clips must last between these (upstream refuses outside 3–10 s).
    pub min_ref_seconds: f32,
    pub max_ref_seconds: f32,
    /// Requests in flight on one WebSocket connection.
    pub max_ws_in_flight: usize,
    /// Characters of a reference transcript (`reference.transcript`, `/tts` `prompt_text`); its
    /// cost grows faster than its length (it is prepended to every sentence).
    pub max_transcript_chars: usize,
    /// Semantic tokens (25 per second of audio) one request may generate at most …
    pub max_request_tokens: usize,
    /// … and at most this many per character of text (plus [`BUDGET_BASE_TOKENS`]), so a short
    /// text cannot buy minutes of engine time (sampling settings that never say stop).
    pub tokens_per_char: usize,
}

/// Tokens every request's budget gets on top of `tokens_per_char` × characters (3 s of audio).
pub const BUDGET_BASE_TOKENS: usize = 75;

impl Limits {
    /// A job's token budget: its worst-case engine work (text length × per-character cap, bounded
    /// by `max_request_tokens`).
    pub fn token_budget(&self, chars: usize) -> usize {
        chars.saturating_mul(self.tokens_per_char).saturating_add(BUDGET_BASE_TOKENS).min(self.max_request_tokens)
    }
}

/// Used when a request leaves a field out (a voice's own sampling settings come first).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    pub top_k: usize,
    pub top_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
    pub speed: f32,
    pub text_split_method: String,
    pub fragment_interval: f32,
    /// Tokens per chunk when streaming (upstream min_chunk_length).
    pub stream_chunk_tokens: usize,
    /// Tokens before the first streamed chunk: fewer than `stream_chunk_tokens` gives the first
    /// audio sooner (each GPT step is a few ms); the later chunks keep the larger size.
    pub stream_first_chunk_tokens: usize,
    /// Factor by which each later streamed chunk's token count grows over the one before (1 to
    /// 4; 1 = every chunk `stream_chunk_tokens`), up to 256 tokens: fewer decodes finish a
    /// sentence sooner while the audio already sent plays.
    pub stream_chunk_growth: f32,
    /// Pacing (0 = off): while the listener holds more than this many seconds of unplayed audio,
    /// a due chunk waits for more tokens (up to 256) — fewer, longer decodes where generation
    /// outruns playback, the next chunk still sent before the listener runs dry.
    pub stream_lead_seconds: f32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Directories whose audio files `/tts?ref_audio_path=` may read, besides configured clips.
    pub allowed_ref_dirs: Vec<PathBuf>,
    /// Directories whose `.ckpt`/`.pth` files `/set_gpt_weights` and `/set_sovits_weights` may
    /// load, besides the configured models' files.
    pub allowed_weight_dirs: Vec<PathBuf>,
}

/// `[text]`: data the text frontend reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextSettings {
    /// Compiled mecab-ko-dic (sys.dic, matrix.bin, char.bin, unk.dic, dicrc) for Korean;
    /// scripts/setup.sh installs it at the default. Loaded on the first Korean text.
    pub mecab_ko_dic: PathBuf,
    /// OpenJTalk's naist-jdic (open_jtalk_dic_utf_8-1.11: sys.dic, matrix.bin, char.bin, unk.dic)
    /// for Japanese; scripts/setup.sh installs Debian's copy at the default. Loaded on the first
    /// Japanese text.
    pub ja_dictionary: PathBuf,
    /// The fastText language identifier `auto`/`auto_yue` need (scripts/setup.sh installs the
    /// lite model upstream's fixtures use; the full `lid.176.bin` works too).
    pub lid_model: PathBuf,
}

impl Default for TextSettings {
    fn default() -> Self {
        TextSettings {
            mecab_ko_dic: gsv_text::ko::DEFAULT_DICTIONARY_DIR.into(),
            ja_dictionary: gsv_text::ja::DEFAULT_DICTIONARY_DIR.into(),
            lid_model: gsv_text::lid::DEFAULT_MODEL_PATH.into(),
        }
    }
}

/// `[voices.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceConfig {
    pub ref_audio: PathBuf,
    /// Transcript of the clip; empty = reference-free mode.
    #[serde(default)]
    pub transcript: String,
    pub language: String,
    pub gpt: Option<PathBuf>,
    pub sovits: Option<PathBuf>,
    /// The model (name or alias of `[models]`) this voice speaks with; default model otherwise.
    #[serde(default)]
    pub model: Option<String>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub temperature: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub speed: Option<f32>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: "127.0.0.1:9880".into(),
            api_key: String::new(),
            cors_origins: Vec::new(),
            request_timeout_s: 600,
            header_read_timeout_s: 10,
            log_json: false,
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { device: DeviceChoice::Auto, compile: Switch::Auto, fused: Switch::Auto, layer_kernel: Switch::Auto, compile_sovits: Switch::Auto, warmup: Switch::Auto, queue_size: 32, max_batch: 8, updates_capacity: 64, max_pending_seconds: 120.0, max_pending_tokens: 200_000 }
    }
}

impl Default for ModelSettings {
    fn default() -> Self {
        let v2 = Path::new("models/gsv-v2final-pretrained");
        ModelSettings {
            gpt: v2.join("s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"),
            sovits: v2.join("s2G2333k.pth"),
            hubert: "models/chinese-hubert-base".into(),
            bert: "models/chinese-roberta-wwm-ext-large".into(),
            sv: crate::tts::ModelFiles::default_sv_path(),
            name: "default".into(),
            aliases: Vec::new(),
            max_resident: 2,
            named: BTreeMap::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 20 << 20,
            max_text_chars: 4096,
            min_ref_seconds: 3.0,
            max_ref_seconds: 10.0,
            max_ws_in_flight: 4,
            max_transcript_chars: 512,
            max_request_tokens: 15_000,
            tokens_per_char: 25,
        }
    }
}

impl Default for Defaults {
    fn default() -> Self {
        // Upstream api_v2 defaults (spec §8.1).
        Defaults {
            top_k: 15,
            top_p: 1.0,
            temperature: 1.0,
            repetition_penalty: 1.35,
            speed: 1.0,
            text_split_method: "cut5".into(),
            fragment_interval: 0.3,
            stream_chunk_tokens: 16,
            stream_first_chunk_tokens: 8,
            stream_chunk_growth: 2.0,
            stream_lead_seconds: 0.5,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            engine: EngineSettings::default(),
            models: ModelSettings::default(),
            limits: Limits::default(),
            defaults: Defaults::default(),
            upstream: UpstreamSettings::default(),
            text: TextSettings::default(),
            voices: BTreeMap::new(),
            voice_library: VoiceLibrarySettings::default(),
        }
    }
}

const DEFAULT_CONFIG: &str = "config/default.toml";

impl Settings {
    /// Reads a TOML settings file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })
    }

    /// File (explicit, else config/default.toml if present, else defaults), then env/flags.
    pub fn load(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let mut s = match &args.config {
            Some(p) => Settings::from_file(p)?,
            None if Path::new(DEFAULT_CONFIG).exists() => Settings::from_file(Path::new(DEFAULT_CONFIG))?,
            None => Settings::default(),
        };
        s.apply(args);
        s.validate()?;
        Ok(s)
    }

    fn apply(&mut self, a: &ServeArgs) {
        if let Some(v) = &a.bind {
            self.server.bind = v.clone();
        }
        if let Some(v) = a.device {
            self.engine.device = v;
        }
        if let Some(v) = a.compile {
            self.engine.compile = v;
        }
        if let Some(v) = a.fused {
            self.engine.fused = v;
        }
        if let Some(v) = a.layer_kernel {
            self.engine.layer_kernel = v;
        }
        if let Some(v) = a.compile_sovits {
            self.engine.compile_sovits = v;
        }
        if let Some(v) = a.warmup {
            self.engine.warmup = v;
        }
        if let Some(v) = &a.api_key {
            self.server.api_key = v.clone();
        }
        if let Some(v) = a.queue_size {
            self.engine.queue_size = v;
        }
        if let Some(v) = a.max_batch {
            self.engine.max_batch = v;
        }
        if let Some(v) = &a.gpt_model {
            self.models.gpt = v.clone();
        }
        if let Some(v) = &a.sovits_model {
            self.models.sovits = v.clone();
        }
        if let Some(v) = &a.hubert_model {
            self.models.hubert = v.clone();
        }
        if let Some(v) = &a.bert_model {
            self.models.bert = v.clone();
        }
        if let Some(v) = &a.lid_model {
            self.text.lid_model = v.clone();
        }
        if let Some(v) = &a.cors_origins {
            self.server.cors_origins = v.iter().map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        }
        if let Some(v) = a.log_json {
            self.server.log_json = v;
        }
        if let Some(v) = &a.mecab_ko_dic {
            self.text.mecab_ko_dic = v.clone();
        }
        if let Some(v) = &a.voices_dir {
            self.voice_library.dir = v.clone();
        }
        if let Some(v) = &a.ja_dictionary {
            self.text.ja_dictionary = v.clone();
        }
    }

    /// Refuses settings that would only fail later, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| Err(ConfigError::Invalid { key: key.into(), message });
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad("server.bind", format!("`{}` is not an address like 127.0.0.1:9880", self.server.bind));
        }
        if self.engine.queue_size == 0 {
            return bad("engine.queue_size", "must be at least 1".into());
        }
        if self.engine.max_batch == 0 {
            return bad("engine.max_batch", "must be at least 1".into());
        }
        if self.limits.max_text_chars == 0 {
            return bad("limits.max_text_chars", "must be at least 1".into());
        }
        if !(self.limits.min_ref_seconds <= self.limits.max_ref_seconds) {
            return bad("limits.min_ref_seconds", "must not exceed limits.max_ref_seconds".into());
        }
        if self.limits.max_request_tokens == 0 || self.limits.tokens_per_char == 0 {
            return bad("limits.max_request_tokens", "token budgets must be at least 1".into());
        }
        if self.engine.max_pending_tokens < self.limits.max_request_tokens {
            return bad("engine.max_pending_tokens", "must be at least limits.max_request_tokens (or no long request could run)".into());
        }
        if !(1.0..=4.0).contains(&self.defaults.stream_chunk_growth) {
            return bad("defaults.stream_chunk_growth", format!("must be between 1 and 4, got {}", self.defaults.stream_chunk_growth));
        }
        if !(0.0..=30.0).contains(&self.defaults.stream_lead_seconds) {
            return bad("defaults.stream_lead_seconds", format!("must be between 0 and 30, got {}", self.defaults.stream_lead_seconds));
        }
        if self.server.header_read_timeout_s == 0 {
            return bad("server.header_read_timeout_s", "must be at least 1".into());
        }
        for name in self.voices.keys() {
            if !is_name(name) {
                return bad(&format!("voices.{name}"), "voice names use letters, digits, '-', '_' and '.' only".into());
            }
        }
        if self.models.max_resident == 0 {
            return bad("models.max_resident", "must be at least 1".into());
        }
        let models = self.model_specs()?;
        let mut seen = std::collections::BTreeSet::new();
        for m in &models {
            for id in std::iter::once(&m.name).chain(&m.aliases) {
                if !is_name(id) {
                    return bad(&format!("models.{}", m.name), format!("model name or alias `{id}`: use letters, digits, '-', '_' and '.' only"));
                }
                if !seen.insert(id.as_str()) {
                    return bad(&format!("models.{}", m.name), format!("`{id}` names two models"));
                }
            }
        }
        for (name, v) in &self.voices {
            if let Some(m) = &v.model {
                if self.resolve_model(m).is_none() {
                    return bad(&format!("voices.{name}.model"), format!("`{m}` is not a configured model (known: {})", self.model_ids().join(", ")));
                }
            }
        }
        Ok(())
    }

    /// Every configured model, the default first. `[models.NAME]` tables are parsed here so a bad
    /// one is reported with its key.
    pub fn model_specs(&self) -> Result<Vec<ModelSpec>, ConfigError> {
        let m = &self.models;
        let mut specs = vec![ModelSpec { name: m.name.clone(), aliases: m.aliases.clone(), gpt: m.gpt.clone(), sovits: m.sovits.clone() }];
        for (name, value) in &m.named {
            let invalid = |message: String| ConfigError::Invalid { key: format!("models.{name}"), message };
            if !value.is_table() {
                return Err(invalid(format!(
                    "not a setting of [models] (gpt, sovits, hubert, bert, name, aliases, max_resident); a named model is a table `[models.{name}]` with gpt and sovits"
                )));
            }
            let c: NamedModelConfig = value.clone().try_into().map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
            specs.push(ModelSpec { name: name.clone(), aliases: c.aliases, gpt: c.gpt, sovits: c.sovits });
        }
        Ok(specs)
    }

    /// The canonical name of the model `id` names (a name or an alias), if configured.
    pub fn resolve_model(&self, id: &str) -> Option<String> {
        let specs = self.model_specs().ok()?;
        specs.into_iter().find(|m| m.name == id || m.aliases.iter().any(|a| a == id)).map(|m| m.name)
    }

    /// Names and aliases of every configured model, for error messages.
    pub fn model_ids(&self) -> Vec<String> {
        self.model_specs().unwrap_or_default().into_iter().flat_map(|m| std::iter::once(m.name).chain(m.aliases)).collect()
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| ConfigError::Invalid {
            key: "server.bind".into(),
            message: format!("`{}` is not an address like 127.0.0.1:9880", self.server.bind),
        })
    }

    /// What the engine needs from these settings.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            backend: BackendConfig {
                device: self.engine.device,
                compile: self.engine.compile,
                fused: self.engine.fused,
                layer_kernel: self.engine.layer_kernel,
                compile_sovits: self.engine.compile_sovits,
                warmup: self.engine.warmup,
                models: ModelPaths {
                    gpt: self.models.gpt.clone(),
                    sovits: self.models.sovits.clone(),
                    hubert: self.models.hubert.clone(),
                    bert: self.models.bert.clone(),
                    sv: self.models.sv.clone(),
                    default_name: self.models.name.clone(),
                    default_aliases: self.models.aliases.clone(),
                    // Validated at load; an invalid table never reaches here.
                    named: self.model_specs().map(|mut v| v.split_off(1)).unwrap_or_default(),
                    max_resident: self.models.max_resident.max(1),
                },
                max_batch: self.engine.max_batch,
                min_ref_seconds: self.limits.min_ref_seconds,
                max_ref_seconds: self.limits.max_ref_seconds,
            },
            voices: self
                .voices
                .iter()
                .map(|(name, v)| VoiceSpec {
                    name: name.clone(),
                    ref_audio: RefAudio::Path(v.ref_audio.clone()),
                    transcript: v.transcript.clone(),
                    language: v.language.to_ascii_lowercase(),
                    gpt: v.gpt.clone(),
                    sovits: v.sovits.clone(),
                    model: v.model.as_deref().and_then(|m| self.resolve_model(m)),
                })
                .collect(),
            queue_size: self.engine.queue_size,
            updates_capacity: self.engine.updates_capacity,
            max_pending_samples: (self.engine.max_pending_seconds.max(1.0) * crate::engine::SAMPLE_RATE as f32) as usize,
            max_pending_tokens: self.engine.max_pending_tokens,
        }
    }
}

/// Voice and model names: letters, digits, `-`, `_`, `.`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_default_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG);
        let s = Settings::from_file(&path).expect("config/default.toml parses");
        s.validate().expect("config/default.toml validates");
        assert_eq!(s.server.bind, "127.0.0.1:9880");
        // The first streamed chunk comes sooner than the later ones (time to first audio).
        assert_eq!((s.defaults.stream_first_chunk_tokens, s.defaults.stream_chunk_tokens), (8, 16));
        assert_eq!(s.defaults.stream_chunk_growth, 2.0);
        assert_eq!(s.defaults.stream_lead_seconds, 0.5);
        let fixture = Settings::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixture.toml")).expect("config/fixture.toml parses");
        fixture.validate().expect("config/fixture.toml validates");
        assert_eq!(fixture.voices["fixture"].top_k, Some(1));
    }

    #[test]
    fn flags_and_env_win_over_the_file() {
        let mut s: Settings = toml::from_str("[server]\nbind = \"127.0.0.1:1\"\n[engine]\nqueue_size = 3").unwrap();
        assert_eq!(s.engine.fused, Switch::Auto);
        let args = ServeArgs { bind: Some("0.0.0.0:9".into()), queue_size: Some(5), cors_origins: Some(vec![" * ".into()]), fused: Some(Switch::On), ..Default::default() };
        s.apply(&args);
        assert_eq!(s.server.bind, "0.0.0.0:9");
        assert_eq!(s.engine.queue_size, 5);
        assert_eq!(s.engine_options().backend.fused, Switch::On);
        assert_eq!(s.server.cors_origins, vec!["*"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = toml::from_str::<Settings>("[server]\nbindd = \"x\"").unwrap_err().to_string();
        assert!(err.contains("bindd"), "{err}");
        let s: Settings = toml::from_str("[engine]\nqueue_size = 0").unwrap();
        assert!(s.validate().unwrap_err().to_string().contains("engine.queue_size"));
        for growth in ["0.5", "4.5", "nan"] {
            let s: Settings = toml::from_str(&format!("[defaults]\nstream_chunk_growth = {growth}")).unwrap();
            assert!(s.validate().unwrap_err().to_string().contains("defaults.stream_chunk_growth"), "{growth}");
        }
        for lead in ["-0.1", "31", "nan"] {
            let s: Settings = toml::from_str(&format!("[defaults]\nstream_lead_seconds = {lead}")).unwrap();
            assert!(s.validate().unwrap_err().to_string().contains("defaults.stream_lead_seconds"), "{lead}");
        }
        let s: Settings = toml::from_str("[engine]\nfused = \"off\"").unwrap();
        assert_eq!(s.engine.fused, Switch::Off);
        assert!(toml::from_str::<Settings>("[engine]\nfused = \"sometimes\"").is_err());
        let s: Settings = toml::from_str("[engine]\ncompile_sovits = \"on\"\nwarmup = \"off\"\nlayer_kernel = \"off\"").unwrap();
        assert_eq!(s.engine_options().backend.compile_sovits, Switch::On);
        assert_eq!(s.engine_options().backend.layer_kernel, Switch::Off);
        assert_eq!(s.engine_options().backend.warmup, Switch::Off);
    }

    #[test]
    fn named_models_aliases_and_voice_models() {
        let text = "[models]\ngpt = \"a.ckpt\"\nsovits = \"a.pth\"\naliases = [\"tts-1\"]\nmax_resident = 1\n\
                    [models.pro]\ngpt = \"b.ckpt\"\nsovits = \"b.pth\"\naliases = [\"v2pp\"]\n\
                    [voices.x]\nref_audio = \"x.wav\"\nlanguage = \"en\"\nmodel = \"v2pp\"";
        let s: Settings = toml::from_str(text).unwrap();
        s.validate().unwrap();
        let specs = s.model_specs().unwrap();
        assert_eq!(specs.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["default", "pro"]);
        assert_eq!(specs[1].gpt, PathBuf::from("b.ckpt"));
        assert_eq!(s.resolve_model("v2pp").as_deref(), Some("pro"));
        assert_eq!(s.resolve_model("tts-1").as_deref(), Some("default"));
        assert_eq!(s.resolve_model("nope"), None);
        let o = s.engine_options();
        assert_eq!((o.backend.models.named.len(), o.backend.models.max_resident), (1, 1));
        assert_eq!(o.voices[0].model.as_deref(), Some("pro"));

        // A misspelt [models] key, a bad table, a clash, an unknown voice model: each named.
        for (bad, key) in [
            ("[models]\nmax_resdent = 2", "models.max_resdent"),
            ("[models.p]\ngpt = \"b\"\nsovitz = \"c\"", "models.p"),
            ("[models]\naliases = [\"p\"]\n[models.p]\ngpt = \"b\"\nsovits = \"c\"", "models.p"),
            ("[models]\nmax_resident = 0", "models.max_resident"),
            ("[voices.v]\nref_audio = \"x\"\nlanguage = \"en\"\nmodel = \"zz\"", "voices.v.model"),
        ] {
            let s: Settings = toml::from_str(bad).unwrap();
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
