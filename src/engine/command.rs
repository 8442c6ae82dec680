//! What crosses the channel between the async side and the worker thread.
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::backend::{JobId, JobStats, ModelInfo, SynthesisJob, VoiceInfo, VoiceSpec, WeightsChange};
use super::error::EngineError;

/// A unit of work for the worker. Each carries its own bounded channel back.
pub enum Command {
    Synthesize {
        id: JobId,
        job: SynthesisJob,
        /// Bounded: the worker never blocks on it (see `worker::Active::deliver`).
        updates: mpsc::Sender<JobUpdate>,
        /// The request's span, entered on the worker so one trace crosses the thread boundary.
        span: tracing::Span,
        enqueued: Instant,
        /// The job's share of the admission budget; released when the job is dropped.
        cost: super::CostTicket,
    },
    /// Prepares a voice (HuBERT prompt, spectrogram/style, transcript features) and serves it
    /// under `spec.name` from now on: the voice library's uploads, prepared where the models live.
    AddVoice { spec: VoiceSpec, reply: oneshot::Sender<Result<VoiceInfo, EngineError>> },
    /// Stops serving a voice (jobs already running keep their prepared copy). Replies whether it
    /// was served.
    RemoveVoice { name: String, reply: oneshot::Sender<bool> },
    /// New weights for the default model, loaded on the worker between decode steps.
    SetWeights { change: WeightsChange, reply: oneshot::Sender<Result<ModelInfo, EngineError>> },
}

/// What a handler receives for its job, in order: `Started`, then `Audio`*, then `Done` or
/// `Failed` (or `Failed` alone when the job could not start).
#[derive(Debug)]
pub enum JobUpdate {
    /// The backend accepted the job; `queue` is the time it waited in the channel.
    Started { queue: Duration },
    /// Mono int16 PCM at [`super::SAMPLE_RATE`].
    Audio(Vec<i16>),
    Done(JobReport),
    Failed(EngineError),
}

/// A finished job's numbers: the backend's [`JobStats`] plus what the worker measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobReport {
    #[serde(flatten)]
    pub stats: JobStats,
    /// Time waiting in the queue before the backend started the job.
    pub queue_seconds: f64,
    /// From start to the first audio sample leaving the worker.
    pub first_audio_seconds: Option<f64>,
    /// From start to the end of the job.
    pub inference_seconds: f64,
    /// Seconds of audio produced.
    pub audio_seconds: f64,
    /// Semantic tokens per second of inference time.
    pub tokens_per_second: f64,
}
