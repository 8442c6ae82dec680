//! The seam between the engine's worker thread and the TTS pipeline.
//!
//! A [`Backend`] lives on the worker thread and owns every MLX object (models, voice prompt caches,
//! KV caches). The worker calls it from that one thread only, so it needs no locks and is not
//! `Send`-shared: it is *built* on the worker by a [`BackendFactory`]. Jobs advance by
//! [`Backend::step`]: one call moves every active job one decode step (the GPT stage's batched
//! decode), so several requests decode together and each streams its own chunks.
use std::path::PathBuf;

use serde::Serialize;

use super::error::EngineError;
use crate::device::DeviceChoice;

/// Identifies one job for its whole life; unique within a process.
pub type JobId = u64;

/// Output sample rate of the v2 pipeline (SoVITS `data.sampling_rate`).
pub const SAMPLE_RATE: u32 = 32_000;

/// Where a voice's reference clip comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum RefAudio {
    /// A file the server is allowed to read (a configured voice's clip or a clip under an allowed
    /// directory; the server checks this before a path reaches the backend).
    Path(PathBuf),
    /// An uploaded clip, still in its container (WAV, FLAC, MP3, ... as sent).
    Bytes(Vec<u8>),
}

/// Everything needed to prepare a voice: reference clip + transcript + language, and optionally a
/// voice-specific (fine-tuned) GPT / SoVITS checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceSpec {
    /// Name under which the prepared prompt is cached (`inline:<hash>` for request-supplied refs).
    pub name: String,
    pub ref_audio: RefAudio,
    /// Transcript of the reference clip; empty means reference-free mode (spec §1.2).
    pub transcript: String,
    /// Language of the transcript (`zh`, `en`, `ja`, `ko`, `yue`, `auto`, ...).
    pub language: String,
    /// Voice-specific GPT weights; `None` = the default model.
    pub gpt: Option<PathBuf>,
    /// Voice-specific SoVITS weights; `None` = the default model.
    pub sovits: Option<PathBuf>,
    /// The configured model (canonical name) the voice speaks with; `None` = the default model.
    pub model: Option<String>,
}

/// What the backend reports after preparing a voice (served by `GET /v1/voices`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VoiceInfo {
    pub name: String,
    pub language: String,
    /// Length of the reference clip in seconds.
    pub ref_seconds: f32,
    /// Number of prompt semantic tokens cached for this voice.
    pub prompt_tokens: usize,
    /// The model it was prepared for (`GET /v1/models`).
    pub model: String,
    /// That model's SoVITS version (`v2`, `v2ProPlus`, ...).
    pub version: String,
}

/// A configured model: a GPT + SoVITS pair under a name (HuBERT and BERT are shared).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelSpec {
    pub name: String,
    /// Other ids a request may use for it.
    pub aliases: Vec<String>,
    #[schema(value_type = String)]
    pub gpt: PathBuf,
    #[schema(value_type = String)]
    pub sovits: PathBuf,
}

/// A configured model as the engine sees it now (`GET /v1/models`, `/health`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    #[serde(flatten)]
    pub spec: ModelSpec,
    /// SoVITS version detected from the file (`v1`, `v2`, `v2Pro`, `v2ProPlus`; `v3`/`v4` are
    /// refused); `null` until the file has been read when its header alone cannot tell.
    pub version: Option<String>,
    /// Loaded and ready without a load delay.
    pub resident: bool,
    /// The default model (used when neither the request nor the voice names one).
    pub default: bool,
    /// Why the last load failed, if it did (a later request tries again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds the warm-up took when the model last loaded (`[engine] warmup`); absent when off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_up_seconds: Option<f64>,
    /// Why that warm-up failed: the model serves anyway, its first requests build the kernels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_up_error: Option<String>,
}

/// New weights for the default model (upstream api_v2 `/set_gpt_weights`, `/set_sovits_weights`).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsChange {
    pub gpt: Option<PathBuf>,
    pub sovits: Option<PathBuf>,
}

/// Which voice a job speaks with.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceSelect {
    /// A voice prepared at start (from config).
    Named(String),
    /// A reference supplied with the request; the backend prepares it (and may cache it by name).
    Inline(VoiceSpec),
}

/// GPT sampling parameters (spec §5.5), already validated by the server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    pub top_k: usize,
    pub top_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
    /// Always concrete: the server picks one when the client sends none, and echoes it back.
    pub seed: u64,
}

/// How the job's audio is cut into chunks as it is produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunking {
    /// One chunk per sentence (segment) batch: best quality (upstream streaming_mode 0/1).
    Sentence,
    /// Token-chunk streaming (upstream streaming_mode 2/3): a chunk every `min_tokens` new semantic
    /// tokens or more, the first one after `first_tokens`; `fixed_length` = mode 3 (fixed size),
    /// else silence-aligned (mode 2); each later chunk waits for `growth` times the tokens of
    /// the one before (1 = upstream's fixed cadence), and while the listener holds more than
    /// `lead` seconds of unplayed audio, longer still (0 = upstream's cadence; see `ChunkPlan::lead`).
    Tokens { first_tokens: usize, min_tokens: usize, growth: f32, lead: f32, overlap: usize, fixed_length: bool },
}

/// A validated synthesis request, as the backend receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthesisJob {
    /// Canonical name of the model to speak with; `None` = the voice's model, else the default.
    pub model: Option<String>,
    pub text: String,
    /// Language of `text` (`auto`, `zh`, `en`, `all_zh`, ...), lower-case.
    pub language: String,
    pub voice: VoiceSelect,
    pub sampling: Sampling,
    /// SoVITS time-stretch (speed_factor); 1.0 = natural speed.
    pub speed: f32,
    /// Sentence splitting method `cut0`..`cut5` (spec §2.1).
    pub text_split_method: String,
    /// Sentences per GPT batch within this job (upstream batch_size).
    pub batch_size: usize,
    /// Seconds of silence appended after each sentence (upstream fragment_interval).
    pub fragment_interval: f32,
    pub chunking: Chunking,
    /// Most semantic tokens this job may generate (its worst-case cost, counted at admission);
    /// a job that reaches it fails with `InvalidInput`.
    pub token_budget: usize,
}

/// Per-job numbers the backend reports when the job ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobStats {
    /// Semantic tokens generated by the GPT stage.
    pub tokens: usize,
    /// Output samples at [`SAMPLE_RATE`].
    pub samples: usize,
    /// Seconds spent per pipeline stage (`text`, `bert`, `hubert`, `gpt_prefill`, `gpt_decode`,
    /// `sovits`); the backend fills what it measures.
    pub stages: std::collections::BTreeMap<String, f64>,
}

/// What one step produced for one job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// Mono int16 audio at [`SAMPLE_RATE`], in order.
    Audio(Vec<i16>),
    /// The job finished; no more events follow.
    Done(JobStats),
    /// The job failed; no more events follow.
    Failed(EngineError),
}

/// The model files: the default pair (loaded at start), the shared networks, and further named
/// pairs (loaded on first use).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPaths {
    /// The default model's GPT (Text2SemanticDecoder) `.ckpt`.
    pub gpt: PathBuf,
    /// The default model's SoVITS (SynthesizerTrn) `.pth`.
    pub sovits: PathBuf,
    /// chinese-hubert-base folder (shared).
    pub hubert: PathBuf,
    /// chinese-roberta-wwm-ext-large folder (shared).
    pub bert: PathBuf,
    /// Speaker-verification model (read for v2Pro/v2ProPlus SoVITS only).
    pub sv: PathBuf,
    pub default_name: String,
    pub default_aliases: Vec<String>,
    /// Further models; their files are checked when first used, not at start.
    pub named: Vec<ModelSpec>,
    /// Most model pairs resident at once (least recently used idle ones are unloaded).
    pub max_resident: usize,
}

impl ModelPaths {
    /// Every configured model, the default first.
    pub fn specs(&self) -> Vec<ModelSpec> {
        let default = ModelSpec {
            name: self.default_name.clone(),
            aliases: self.default_aliases.clone(),
            gpt: self.gpt.clone(),
            sovits: self.sovits.clone(),
        };
        std::iter::once(default).chain(self.named.iter().cloned()).collect()
    }
}

/// What a [`BackendFactory`] is given on the worker thread.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub device: DeviceChoice,
    pub compile: crate::device::Switch,
    pub fused: crate::device::Switch,
    pub layer_kernel: crate::device::Switch,
    pub compile_sovits: crate::device::Switch,
    /// A short synthesis when a model loads ([`crate::tts::warmup`]; `auto` = on a GPU).
    pub warmup: crate::device::Switch,
    pub models: ModelPaths,
    /// Most jobs decoded together; the worker never starts more than this many at once.
    pub max_batch: usize,
    /// Reference clips must last between these many seconds (upstream refuses outside 3–10 s);
    /// the backend checks after decoding a clip and fails with `InvalidInput` naming `ref_audio`.
    pub min_ref_seconds: f32,
    pub max_ref_seconds: f32,
}

/// The pipeline, driven step by step from the worker thread.
pub trait Backend {
    /// Prepares a voice once (reference clip → prompt semantic tokens, spectrogram/style vector,
    /// prompt phones + BERT) and caches it under `spec.name`.
    fn load_voice(&mut self, spec: &VoiceSpec) -> Result<VoiceInfo, EngineError>;
    /// Forgets a voice prepared by [`Backend::load_voice`]; returns whether it existed. Jobs
    /// already started keep speaking with it.
    fn remove_voice(&mut self, name: &str) -> bool;
    /// Admits a validated job; it starts producing events on the next [`Backend::step`]. Errors here
    /// (bad language, unknown voice, undecodable inline clip) fail only this job.
    fn start(&mut self, id: JobId, job: SynthesisJob) -> Result<(), EngineError>;
    /// Advances every active job by one decode step (batched) and returns what each produced. A
    /// job reporting `Done` or `Failed` is finished and must no longer be active afterwards.
    fn step(&mut self) -> Vec<(JobId, JobEvent)>;
    /// Drops a job (client gone); frees its caches. Unknown ids are ignored.
    fn cancel(&mut self, id: JobId);
    /// Jobs started and not yet finished or cancelled.
    fn active_jobs(&self) -> usize;
    /// What the loaded models cannot do (found at load time; `/health` lists it), e.g. a BERT
    /// too narrow for the GPT, so Chinese text is refused.
    fn limitations(&self) -> Vec<String> {
        Vec::new()
    }
    /// Why no configured model can speak Chinese, when that is known for every one of them;
    /// `None` when one can, or when one is not loaded (so nobody knows yet).
    fn chinese_refusal(&self) -> Option<String> {
        None
    }
    /// The configured models, their versions and residency.
    fn models(&self) -> Vec<ModelInfo> {
        Vec::new()
    }
    /// Loads new weights for the default model. Jobs already running keep the weights they
    /// started with; on error the default model is unchanged.
    fn set_weights(&mut self, change: &WeightsChange) -> Result<ModelInfo, EngineError> {
        let _ = change;
        Err(EngineError::Unavailable("this backend cannot change weights".into()))
    }
}

/// Builds the backend on the worker thread (MLX objects must be created on the thread that uses
/// them). Called only when every file in [`ModelPaths`] exists.
pub type BackendFactory =
    Box<dyn FnOnce(&BackendConfig) -> Result<Box<dyn Backend>, EngineError> + Send + 'static>;
