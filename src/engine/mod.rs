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
use tokio::sync::{mpsc, watch};

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
}

/// Counters shared by the handle and the worker.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub active: AtomicUsize,
    pub next_id: AtomicU64,
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
}

/// Handle to the worker thread. Clones share the worker; the last one dropped stops it.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<EngineStatus>,
    shared: Arc<Shared>,
    updates_capacity: usize,
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
        });
        let shared = Arc::new(Shared::default());
        let updates_capacity = options.updates_capacity.max(1);
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
            _thread: Arc::new(WorkerThread { handle: std::sync::Mutex::new(Some(handle)) }),
        })
    }

    /// Queues a job. Never waits: a full queue is [`EngineError::Overloaded`], an engine that is not
    /// ready is [`EngineError::Unavailable`] with the reason.
    pub fn submit(&self, job: SynthesisJob, span: tracing::Span) -> Result<JobHandle, EngineError> {
        let readiness = self.status.borrow().readiness.clone();
        match readiness {
            Readiness::Ready => {}
            Readiness::Loading { message } => {
                return Err(EngineError::Unavailable(format!("the engine is loading: {message}")))
            }
            Readiness::NoModels { missing, hint } => {
                return Err(EngineError::Unavailable(format!(
                    "no models: missing {}; {hint}",
                    missing.join(", ")
                )))
            }
            Readiness::Failed { message } => {
                return Err(EngineError::Unavailable(format!("the engine failed to load: {message}")))
            }
        }
        if let VoiceSelect::Named(name) = &job.voice {
            if !self.status.borrow().voices.iter().any(|v| &v.name == name) {
                return Err(EngineError::UnknownVoice(name.clone()));
            }
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (updates_tx, updates_rx) = mpsc::channel(self.updates_capacity);
        let cmd = Command::Synthesize { id, job, updates: updates_tx, span, enqueued: Instant::now() };
        match self.tx.try_send(cmd) {
            Ok(()) => {
                metrics::gauge!(metric::QUEUE_DEPTH).set(self.queued() as f64);
                Ok(JobHandle { id, updates: updates_rx })
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(metric::ERRORS_TOTAL, "kind" => ErrorKind::Overloaded.as_str())
                    .increment(1);
                Err(EngineError::Overloaded { capacity: self.tx.max_capacity() })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(EngineError::Unavailable("the engine thread has stopped".into()))
            }
        }
    }

    /// Loads new weights for the default model (api_v2 `/set_gpt_weights`, `/set_sovits_weights`)
    /// on the worker, between decode steps; jobs already running keep their weights.
    pub async fn set_weights(&self, change: WeightsChange) -> Result<ModelInfo, EngineError> {
        if self.status.borrow().readiness != Readiness::Ready {
            return Err(EngineError::Unavailable("the engine is not ready; see /health".into()));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.tx.try_send(Command::SetWeights { change, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(EngineError::Overloaded { capacity: self.tx.max_capacity() }),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(EngineError::Unavailable("the engine thread has stopped".into()))
            }
        }
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
