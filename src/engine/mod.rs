//! The inference engine: one OS thread owns every MLX object.
//!
//! [`Engine`] is a cheap `Clone` handle (TEI's `Backend` shape): a bounded `mpsc::Sender<Command>`
//! to the worker thread, a `watch` of its status, and shared counters. Handlers call
//! [`Engine::submit`], which uses `try_send`: a full queue is `Overloaded` (HTTP 429), never an
//! unbounded buffer. Each job gets its own bounded channel of [`JobUpdate`]s back; dropping the
//! [`JobHandle`] (client gone) cancels the job within one decode step.
pub mod backend;
pub mod command;
pub mod error;
pub mod pipeline_backend;
mod registry;
mod worker;
#[cfg(test)]
pub(crate) mod test_double;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

pub use backend::{
    Backend, BackendConfig, BackendFactory, Chunking, JobEvent, JobId, JobStats, ModelInfo, ModelPaths,
    ModelSpec, RefAudio, Sampling, SynthesisJob, VoiceInfo, VoiceSelect, VoiceSpec, WeightsChange, SAMPLE_RATE,
};
pub use command::{Command, JobReport, JobUpdate};
pub use error::{EngineError, ErrorKind};

/// Metric names the engine records (the server sets their buckets; `gsv_` prefix throughout).
pub mod metric {
    pub const QUEUE_DEPTH: &str = "gsv_queue_depth";
    pub const JOBS_ACTIVE: &str = "gsv_jobs_active";
    /// Label `outcome` = done | failed | cancelled.
    pub const JOBS_TOTAL: &str = "gsv_jobs_total";
    pub const QUEUE_SECONDS: &str = "gsv_queue_seconds";
    pub const FIRST_AUDIO_SECONDS: &str = "gsv_time_to_first_audio_seconds";
    pub const INFERENCE_SECONDS: &str = "gsv_inference_seconds";
    /// Label `stage` (text, bert, hubert, gpt_prefill, gpt_decode, sovits).
    pub const STAGE_SECONDS: &str = "gsv_stage_seconds";
    /// Seconds of audio per job; its `_sum` is the total audio produced.
    pub const AUDIO_SECONDS: &str = "gsv_job_audio_seconds";
    pub const TOKENS_TOTAL: &str = "gsv_semantic_tokens_total";
    pub const JOB_TOKENS_PER_SECOND: &str = "gsv_job_tokens_per_second";
    /// Label `kind` (ErrorKind::as_str).
    pub const ERRORS_TOTAL: &str = "gsv_errors_total";
}

/// Where the engine is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Readiness {
    /// Models or voices are loading; `message` says which.
    Loading { message: String },
    /// Serving.
    Ready,
    /// Model files are missing; the server runs but cannot synthesize until they exist.
    NoModels { missing: Vec<String>, hint: String },
    /// Loading failed; `message` says why.
    Failed { message: String },
}

/// The engine's status as `/health`, `/v1/models` and `/v1/voices` see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStatus {
    pub readiness: Readiness,
    /// The configured models (the default first), with version and residency.
    pub models: Vec<ModelInfo>,
    pub voices: Vec<VoiceInfo>,
    /// Configured voices that failed to load, with the reason.
    pub failed_voices: Vec<(String, String)>,
    /// What the loaded models cannot do ([`Backend::limitations`]).
    pub limitations: Vec<String>,
    /// Why no configured model can speak Chinese, when that is known for all of them
    /// ([`Backend::chinese_refusal`]): Chinese requests are then refused before they are queued.
    #[serde(skip)]
    pub chinese_refused: Option<String>,
}

/// Counters shared by the handle and the worker.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub active: AtomicUsize,
    pub next_id: AtomicU64,
    /// Token budgets of the jobs admitted and not yet ended (the admission cost model).
    pub pending_tokens: AtomicUsize,
}

/// A job's share of [`Shared::pending_tokens`]; travels with the job and gives the share back
/// when dropped, whichever way the job ends (refused, cancelled in the queue, done, failed, gone).
pub struct CostTicket {
    shared: Arc<Shared>,
    tokens: usize,
}

impl Drop for CostTicket {
    fn drop(&mut self) {
        self.shared.pending_tokens.fetch_sub(self.tokens, Ordering::AcqRel);
    }
}

/// Settings for [`Engine::start`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub backend: BackendConfig,
    /// Configured voices, prepared once at start.
    pub voices: Vec<VoiceSpec>,
    /// Jobs that may wait in the channel before `submit` answers `Overloaded`.
    pub queue_size: usize,
    /// Capacity of each job's update channel (chunks buffered toward a slow client).
    pub updates_capacity: usize,
    /// Samples a job may hold back for a client that does not read before it is failed.
    pub max_pending_samples: usize,
    /// Most token budget (worst-case work) admitted at once, queued and running together.
    pub max_pending_tokens: usize,
}

/// Handle to the worker thread. Clones share the worker; the last one dropped stops it.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<EngineStatus>,
    shared: Arc<Shared>,
    updates_capacity: usize,
    max_pending_tokens: usize,
    _thread: Arc<WorkerThread>,
}

/// A submitted job: its id and its updates, in order. Dropping it cancels the job.
pub struct JobHandle {
    pub id: JobId,
    pub updates: mpsc::Receiver<JobUpdate>,
}

struct WorkerThread {
    handle: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        // The sender is gone by now (every Engine clone dropped), so the worker's recv ends.
        if let Ok(mut h) = self.handle.lock() {
            if let Some(h) = h.take() {
                let _ = h.join();
            }
        }
    }
}

impl Engine {
    /// Spawns the worker thread. It checks the model files, builds the backend with `factory`, and
    /// prepares the configured voices, publishing progress through [`Engine::status`]. Returns at
    /// once; the server is up (and `/health` says why it is not ready) while loading goes on.
    pub fn start(options: EngineOptions, factory: BackendFactory) -> Result<Engine, EngineError> {
        let (tx, rx) = mpsc::channel(options.queue_size.max(1));
        let (status_tx, status_rx) = watch::channel(EngineStatus {
            readiness: Readiness::Loading { message: "starting the engine".into() },
            models: Vec::new(),
            voices: Vec::new(),
            failed_voices: Vec::new(),
            limitations: Vec::new(),
            chinese_refused: None,
        });
        let shared = Arc::new(Shared::default());
        let updates_capacity = options.updates_capacity.max(1);
        let max_pending_tokens = options.max_pending_tokens.max(1);
        let worker_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("gsv-engine".into())
            .spawn(move || worker::run(rx, options, factory, status_tx, worker_shared))
            .map_err(|e| EngineError::Internal(format!("cannot spawn the engine thread: {e}")))?;
        Ok(Engine {
            tx,
            status: status_rx,
            shared,
            updates_capacity,
            max_pending_tokens,
            _thread: Arc::new(WorkerThread { handle: std::sync::Mutex::new(Some(handle)) }),
        })
    }

    /// Why the engine cannot take work now, if it cannot.
    fn check_ready(&self) -> Result<(), EngineError> {
        let readiness = self.status.borrow().readiness.clone();
        match readiness {
            Readiness::Ready => Ok(()),
            Readiness::Loading { message } => Err(EngineError::Unavailable(format!("the engine is loading: {message}"))),
            Readiness::NoModels { missing, hint } => {
                Err(EngineError::Unavailable(format!("no models: missing {}; {hint}", missing.join(", "))))
            }
            Readiness::Failed { message } => Err(EngineError::Unavailable(format!("the engine failed to load: {message}"))),
        }
    }

    /// Whether [`Engine::submit`] would take `job` as far as can be told without queueing it: the
    /// engine is ready and the job's named voice is served. (Callers that hold a place for a job,
    /// like the WebSocket's in-flight bound, check first so that a bad job takes none.)
    pub fn check_job(&self, job: &SynthesisJob) -> Result<(), EngineError> {
        self.check_ready()?;
        let status = self.status.borrow();
        if let VoiceSelect::Named(name) = &job.voice {
            if !status.voices.iter().any(|v| &v.name == name) {
                return Err(EngineError::UnknownVoice(name.clone()));
            }
        }
        // Chinese characters in text marked Chinese, on models that cannot speak it: the engine
        // would refuse it at its first step; refusing here keeps it from taking a queue or
        // connection place. (Anything less certain — digits read as Chinese numerals, `auto` —
        // is left to the engine.)
        if let (Some(why), "zh" | "all_zh") = (&status.chinese_refused, job.language.as_str()) {
            if job.text.chars().any(is_han) {
                return Err(EngineError::invalid("language", format!("this model set cannot speak Chinese: {why}")));
            }
        }
        Ok(())
    }

    /// Queues a job. Never waits: a full queue is [`EngineError::Overloaded`], an engine that is not
    /// ready is [`EngineError::Unavailable`] with the reason.
    pub fn submit(&self, job: SynthesisJob, span: tracing::Span) -> Result<JobHandle, EngineError> {
        self.check_job(&job)?;
        let cost = self.reserve(job.token_budget)?;
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (updates_tx, updates_rx) = mpsc::channel(self.updates_capacity);
        let cmd = Command::Synthesize { id, job, updates: updates_tx, span, enqueued: Instant::now(), cost };
        match self.send(cmd) {
            Ok(()) => {
                metrics::gauge!(metric::QUEUE_DEPTH).set(self.queued() as f64);
                Ok(JobHandle { id, updates: updates_rx })
            }
            Err(e) => {
                if matches!(e, EngineError::Overloaded { .. }) {
                    metrics::counter!(metric::ERRORS_TOTAL, "kind" => ErrorKind::Overloaded.as_str()).increment(1);
                }
                Err(e)
            }
        }
    }

    /// Prepares a voice on the inference thread and serves it under `spec.name` once ready (the
    /// voice library's uploads). Queued like a job: a full queue is `Overloaded`.
    pub async fn add_voice(&self, spec: VoiceSpec) -> Result<VoiceInfo, EngineError> {
        self.check_ready()?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::AddVoice { spec, reply })?;
        answer.await.map_err(|_| EngineError::Unavailable("the engine thread has stopped".into()))?
    }

    /// Stops serving a voice; returns whether it was served.
    pub async fn remove_voice(&self, name: &str) -> Result<bool, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::RemoveVoice { name: name.to_string(), reply })?;
        answer.await.map_err(|_| EngineError::Unavailable("the engine thread has stopped".into()))
    }

    fn send(&self, cmd: Command) -> Result<(), EngineError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::Overloaded { capacity: self.tx.max_capacity() },
            mpsc::error::TrySendError::Closed(_) => EngineError::Unavailable("the engine thread has stopped".into()),
        })
    }

    /// Admission by cost: takes `tokens` of the engine's token allowance, or refuses the job
    /// (`OverBudget`, HTTP 429) when the jobs already admitted hold too much of it.
    fn reserve(&self, tokens: usize) -> Result<CostTicket, EngineError> {
        let limit = self.max_pending_tokens;
        let tokens = tokens.min(limit);
        let admitted = self.shared.pending_tokens.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            (held + tokens <= limit).then_some(held + tokens)
        });
        match admitted {
            Ok(_) => Ok(CostTicket { shared: self.shared.clone(), tokens }),
            Err(held) => {
                metrics::counter!(metric::ERRORS_TOTAL, "kind" => ErrorKind::Overloaded.as_str()).increment(1);
                Err(EngineError::OverBudget { held, limit })
            }
        }
    }

    /// Token budget held by admitted jobs (the cost model's running total).
    pub fn pending_tokens(&self) -> usize {
        self.shared.pending_tokens.load(Ordering::Acquire)
    }

    /// Loads new weights for the default model (api_v2 `/set_gpt_weights`, `/set_sovits_weights`)
    /// on the worker, between decode steps; jobs already running keep their weights.
    pub async fn set_weights(&self, change: WeightsChange) -> Result<ModelInfo, EngineError> {
        if self.status.borrow().readiness != Readiness::Ready {
            return Err(EngineError::Unavailable("the engine is not ready; see /health".into()));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::SetWeights { change, reply })?;
        answer.await.unwrap_or_else(|_| Err(EngineError::Unavailable("the engine dropped the request".into())))
    }

    /// The latest status (readiness, voices).
    pub fn status(&self) -> EngineStatus {
        self.status.borrow().clone()
    }

    /// A receiver that wakes on every status change (tests wait on it for readiness).
    pub fn watch_status(&self) -> watch::Receiver<EngineStatus> {
        self.status.clone()
    }

    /// Jobs waiting in the channel (not yet picked up by the worker).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Jobs the backend is working on (the "job counter" a disconnect test watches).
    pub fn active_jobs(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Most jobs that may wait in the queue.
    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }
}

impl ModelPaths {
    /// Files or folders that do not exist, as `role: path` lines.
    pub fn missing(&self) -> Vec<String> {
        [("gpt", &self.gpt), ("sovits", &self.sovits), ("hubert", &self.hubert), ("bert", &self.bert)]
            .into_iter()
            .filter(|(_, p)| !p.exists())
            .map(|(role, p)| format!("{role} model {}", p.display()))
            .collect()
    }
}

/// The backend this binary serves with: the TTS pipeline ([`pipeline_backend::TtsBackend`]),
/// built on the worker thread.
pub fn default_backend() -> BackendFactory {
    pipeline_backend::factory()
}

/// A CJK ideograph (the Unified Ideographs blocks and their extensions, compatibility ideographs).
fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}
