//! The inference thread: owns the backend (and so every MLX object), admits jobs from the bounded
//! channel, advances all active jobs together one step at a time, and routes each job's audio to
//! its own channel. It never blocks on a client: a job whose client does not read gets a small
//! bounded backlog here, then fails. Panics inside backend calls are caught and fail the job(s)
//! involved; the thread keeps serving.
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::backend::{Backend, BackendFactory, JobEvent, JobId, ModelInfo, WeightsChange, SAMPLE_RATE};
use super::command::{Command, JobReport, JobUpdate};
use super::error::{EngineError, ErrorKind};
use super::{metric, EngineOptions, EngineStatus, Readiness, Shared};

const NO_MODELS_HINT: &str = "run scripts/download-models.sh (fetches the pretrained v2 models into \
models/) or point [models] in config/default.toml / GSV_* variables at existing files";

/// Entry point of the `gsv-engine` thread.
pub(super) fn run(
    mut rx: mpsc::Receiver<Command>,
    options: EngineOptions,
    factory: BackendFactory,
    status: watch::Sender<EngineStatus>,
    shared: Arc<Shared>,
) {
    let set_readiness = |r: Readiness| status.send_modify(|s| s.readiness = r);
    let missing = options.backend.models.missing();
    if !missing.is_empty() {
        for m in &missing {
            warn!("missing {m}");
        }
        warn!("the server runs but cannot synthesize: {NO_MODELS_HINT}");
        set_readiness(Readiness::NoModels { missing, hint: NO_MODELS_HINT.into() });
        return refuse_all(rx, "no models are loaded");
    }

    set_readiness(Readiness::Loading { message: "loading models".into() });
    info!(models = ?options.backend.models, device = ?options.backend.device, "loading models");
    let started = Instant::now();
    let backend = match catch_unwind(AssertUnwindSafe(|| factory(&options.backend))) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return fail_start(rx, &status, e.to_string()),
        Err(p) => return fail_start(rx, &status, format!("panic while loading: {}", panic_text(&p))),
    };
    info!(seconds = started.elapsed().as_secs_f64(), "models loaded");

    let limitations = backend.limitations();
    for l in &limitations {
        warn!("{l}");
    }
    status.send_modify(|s| s.limitations = limitations);
    let mut worker = Worker::new(backend, &options, shared, status);
    worker.publish_models();
    let n = options.voices.len();
    for (i, spec) in options.voices.iter().enumerate() {
        let message = format!("preparing voice {}/{n} `{}`", i + 1, spec.name);
        info!("{message}");
        worker.status.send_modify(|s| s.readiness = Readiness::Loading { message });
        if let Err(why) = worker.add_voice(spec) {
            worker.status.send_modify(|s| s.failed_voices.push((spec.name.clone(), why.to_string())));
        }
        worker.publish_models();
    }
    worker.status.send_modify(|s| s.readiness = Readiness::Ready);
    info!(voices = worker.status.borrow().voices.len(), "engine ready");
    worker.serve(&mut rx);
}

fn fail_start(rx: mpsc::Receiver<Command>, status: &watch::Sender<EngineStatus>, message: String) {
    error!("the engine failed to load: {message}");
    status.send_modify(|s| s.readiness = Readiness::Failed { message: message.clone() });
    refuse_all(rx, &message)
}

/// Without a backend the worker still drains the channel, so a submit racing the status change
/// gets an answer instead of hanging.
fn refuse_all(mut rx: mpsc::Receiver<Command>, why: &str) {
    while let Some(cmd) = rx.blocking_recv() {
        let refused = EngineError::Unavailable(why.to_string());
        match cmd {
            Command::Synthesize { updates, .. } => {
                let _ = updates.try_send(JobUpdate::Failed(refused));
            }
            Command::AddVoice { reply, .. } => {
                let _ = reply.send(Err(refused));
            }
            Command::RemoveVoice { reply, .. } => {
                let _ = reply.send(false);
            }
            Command::SetWeights { reply, .. } => {
                let _ = reply.send(Err(refused));
            }
        }
    }
}

/// A job the backend is working on (or whose last updates still wait for the client).
struct Active {
    updates: mpsc::Sender<JobUpdate>,
    /// Updates the client's channel had no room for; flushed before anything newer.
    backlog: VecDeque<JobUpdate>,
    backlog_samples: usize,
    span: tracing::Span,
    queue: Duration,
    started: Instant,
    first_audio: Option<Duration>,
    /// The backend has finished with it (Done/Failed seen); only the backlog remains.
    finished: bool,
    /// Released when the job is forgotten.
    _cost: super::CostTicket,
}

impl Active {
    /// Hands an update to the client without ever blocking the worker.
    fn deliver(&mut self, update: JobUpdate) {
        if let JobUpdate::Audio(a) = &update {
            self.backlog_samples += a.len();
        }
        self.backlog.push_back(update);
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(u) = self.backlog.pop_front() {
            match self.updates.try_send(u) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(u)) => {
                    self.backlog.push_front(u);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
        self.backlog_samples = 0;
    }

    fn gone(&self) -> bool {
        self.updates.is_closed()
    }
}

struct Worker {
    backend: Box<dyn Backend>,
    /// Published readiness and the list of served voices.
    status: watch::Sender<EngineStatus>,
    jobs: BTreeMap<JobId, Active>,
    shared: Arc<Shared>,
    max_batch: usize,
    max_pending_samples: usize,
}

impl Worker {
    fn new(backend: Box<dyn Backend>, options: &EngineOptions, shared: Arc<Shared>, status: watch::Sender<EngineStatus>) -> Self {
        Worker {
            backend,
            status,
            jobs: BTreeMap::new(),
            shared,
            max_batch: options.backend.max_batch.max(1),
            max_pending_samples: options.max_pending_samples,
        }
    }

    /// Jobs the backend is still computing.
    fn computing(&self) -> usize {
        self.jobs.values().filter(|j| !j.finished).count()
    }

    fn serve(&mut self, rx: &mut mpsc::Receiver<Command>) {
        let mut open = true;
        loop {
            if rx.is_closed() {
                // Every Engine handle is gone, so the server is gone: nobody can submit, and the
                // streams still holding an update receiver may never be polled again (their
                // runtime may be the very thread waiting to join this one). Stop now rather than
                // wait for them to read or leave.
                self.stop_all();
                return;
            }
            // Admit new jobs: wait when idle, otherwise take only what is already queued.
            if self.jobs.is_empty() {
                if !open {
                    return;
                }
                match rx.blocking_recv() {
                    Some(cmd) => self.admit(cmd),
                    None => return,
                }
            }
            while open && self.computing() < self.max_batch {
                match rx.try_recv() {
                    Ok(cmd) => self.admit(cmd),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }
            metrics::gauge!(metric::QUEUE_DEPTH).set(rx.len() as f64);
            self.drop_gone_clients();
            if self.computing() > 0 {
                self.step();
            } else if !self.jobs.is_empty() {
                // Only backlogs toward slow clients remain: give them time to read.
                std::thread::sleep(Duration::from_millis(2));
            }
            self.flush_and_retire();
            self.publish_models();
        }
    }

    /// Prepares a voice and publishes it as served (replacing one of the same name).
    fn add_voice(&mut self, spec: &crate::engine::VoiceSpec) -> Result<crate::engine::VoiceInfo, EngineError> {
        let result = match catch_unwind(AssertUnwindSafe(|| self.backend.load_voice(spec))) {
            Ok(r) => r,
            Err(p) => Err(EngineError::Internal(format!("panic while preparing voice `{}`: {}", spec.name, panic_text(&p)))),
        };
        match &result {
            Ok(v) => {
                info!(voice = %v.name, ref_seconds = v.ref_seconds, prompt_tokens = v.prompt_tokens, "voice ready");
                let v = v.clone();
                self.status.send_modify(|s| {
                    s.voices.retain(|old| old.name != v.name);
                    s.failed_voices.retain(|(name, _)| name != &v.name);
                    s.voices.push(v);
                });
            }
            Err(e) => error!(voice = %spec.name, "voice failed to load: {e}"),
        }
        result
    }

    fn remove_voice(&mut self, name: &str) -> bool {
        let known = catch_unwind(AssertUnwindSafe(|| self.backend.remove_voice(name))).unwrap_or(false);
        self.status.send_modify(|s| {
            s.voices.retain(|v| v.name != name);
            s.failed_voices.retain(|(n, _)| n != name);
        });
        info!(voice = name, known, "voice removed");
        known
    }

    /// Publishes the models' residency when it changed (loads and unloads happen in `start`,
    /// `step` and `set_weights`).
    fn publish_models(&self) {
        let (models, chinese) = match catch_unwind(AssertUnwindSafe(|| (self.backend.models(), self.backend.chinese_refusal()))) {
            Ok(m) => m,
            Err(_) => return,
        };
        self.status.send_if_modified(|s| {
            let changed = s.models != models || s.chinese_refused != chinese;
            if changed {
                s.models = models;
                s.chinese_refused = chinese;
            }
            changed
        });
    }

    fn set_weights(&mut self, change: WeightsChange, reply: oneshot::Sender<Result<ModelInfo, EngineError>>) {
        info!(gpt = ?change.gpt, sovits = ?change.sovits, "new weights for the default model");
        let result = match catch_unwind(AssertUnwindSafe(|| self.backend.set_weights(&change))) {
            Ok(r) => r,
            Err(p) => Err(EngineError::Internal(format!("panic while loading weights: {}", panic_text(&p)))),
        };
        if let Err(e) = &result {
            warn!("weights not changed: {e}");
        }
        let _ = reply.send(result);
        self.publish_models();
    }

    fn admit(&mut self, cmd: Command) {
        let (id, job, updates, span, enqueued, cost) = match cmd {
            Command::Synthesize { id, job, updates, span, enqueued, cost } => (id, job, updates, span, enqueued, cost),
            Command::AddVoice { spec, reply } => {
                let _ = reply.send(self.add_voice(&spec));
                return;
            }
            Command::RemoveVoice { name, reply } => {
                let _ = reply.send(self.remove_voice(&name));
                return;
            }
            Command::SetWeights { change, reply } => return self.set_weights(change, reply),
        };
        let queue = enqueued.elapsed();
        if updates.is_closed() {
            // The client left while the job waited in the queue: never start it.
            metrics::counter!(metric::JOBS_TOTAL, "outcome" => "cancelled").increment(1);
            return;
        }
        let _enter = span.enter();
        metrics::histogram!(metric::QUEUE_SECONDS).record(queue.as_secs_f64());
        let result = catch_unwind(AssertUnwindSafe(|| self.backend.start(id, job)));
        let err = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(p) => {
                let text = panic_text(&p);
                error!(job = id, "panic while starting a job: {text}");
                let _ = catch_unwind(AssertUnwindSafe(|| self.backend.cancel(id)));
                Some(EngineError::Internal(format!("panic while starting the job: {text}")))
            }
        };
        if let Some(e) = err {
            count_failure(&e);
            let _ = updates.try_send(JobUpdate::Failed(e));
            return;
        }
        drop(_enter);
        let mut active = Active {
            updates,
            backlog: VecDeque::new(),
            backlog_samples: 0,
            span,
            queue,
            started: Instant::now(),
            first_audio: None,
            finished: false,
            _cost: cost,
        };
        active.deliver(JobUpdate::Started { queue });
        self.jobs.insert(id, active);
        self.publish_active();
    }

    /// Cancels jobs whose client went away (HTTP body dropped, WebSocket closed).
    fn drop_gone_clients(&mut self) {
        let gone: Vec<JobId> = self.jobs.iter().filter(|(_, j)| j.gone()).map(|(id, _)| *id).collect();
        for id in gone {
            if let Some(job) = self.jobs.remove(&id) {
                if !job.finished {
                    let _e = job.span.enter();
                    info!(job = id, "client gone: cancelling");
                    self.cancel_in_backend(id);
                }
            }
        }
        self.publish_active();
    }

    fn step(&mut self) {
        let events = match catch_unwind(AssertUnwindSafe(|| self.backend.step())) {
            Ok(events) => events,
            Err(p) => {
                // A batched step cannot say which job panicked: fail every job in it, drop their
                // state, and keep serving the next ones.
                let text = panic_text(&p);
                error!("panic during a decode step, failing {} job(s): {text}", self.computing());
                let ids: Vec<JobId> =
                    self.jobs.iter().filter(|(_, j)| !j.finished).map(|(id, _)| *id).collect();
                for id in ids {
                    let _ = catch_unwind(AssertUnwindSafe(|| self.backend.cancel(id)));
                    self.route(id, JobEvent::Failed(EngineError::Internal(format!("panic during synthesis: {text}"))));
                }
                return;
            }
        };
        for (id, event) in events {
            self.route(id, event);
        }
    }

    fn route(&mut self, id: JobId, event: JobEvent) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return; // cancelled in the meantime
        };
        if job.finished {
            return;
        }
        match event {
            JobEvent::Audio(samples) => {
                if samples.is_empty() {
                    return;
                }
                if job.first_audio.is_none() {
                    let t = job.started.elapsed();
                    job.first_audio = Some(t);
                    metrics::histogram!(metric::FIRST_AUDIO_SECONDS).record(t.as_secs_f64());
                }
                job.deliver(JobUpdate::Audio(samples));
                if job.backlog_samples > self.max_pending_samples {
                    let e = EngineError::Internal(format!(
                        "the client did not read {} s of audio in time",
                        job.backlog_samples / SAMPLE_RATE as usize
                    ));
                    warn!(job = id, "{e}");
                    let _ = catch_unwind(AssertUnwindSafe(|| self.backend.cancel(id)));
                    job.backlog.clear();
                    job.backlog_samples = 0;
                    job.finished = true;
                    count_failure(&e);
                    job.deliver(JobUpdate::Failed(e));
                }
            }
            JobEvent::Done(stats) => {
                let inference = job.started.elapsed().as_secs_f64();
                let audio_seconds = stats.samples as f64 / SAMPLE_RATE as f64;
                let report = JobReport {
                    queue_seconds: job.queue.as_secs_f64(),
                    first_audio_seconds: job.first_audio.map(|d| d.as_secs_f64()),
                    inference_seconds: inference,
                    audio_seconds,
                    tokens_per_second: if inference > 0.0 { stats.tokens as f64 / inference } else { 0.0 },
                    stats,
                };
                record_done(&report);
                let _e = job.span.enter();
                info!(job = id, tokens = report.stats.tokens, audio_seconds, inference, "job done");
                drop(_e);
                job.finished = true;
                job.deliver(JobUpdate::Done(report));
            }
            JobEvent::Failed(e) => {
                let _e = job.span.enter();
                if e.kind() == ErrorKind::Internal {
                    error!(job = id, "job failed: {e}");
                } else {
                    info!(job = id, "job failed: {e}");
                }
                drop(_e);
                count_failure(&e);
                job.finished = true;
                job.deliver(JobUpdate::Failed(e));
            }
        }
    }

    /// Stops a running job in the backend and counts it as cancelled.
    fn cancel_in_backend(&mut self, id: JobId) {
        if catch_unwind(AssertUnwindSafe(|| self.backend.cancel(id))).is_err() {
            error!(job = id, "panic while cancelling a job");
        }
        metrics::counter!(metric::JOBS_TOTAL, "outcome" => "cancelled").increment(1);
        metrics::counter!(metric::ERRORS_TOTAL, "kind" => ErrorKind::Cancelled.as_str()).increment(1);
    }

    /// Cancels every job still running (engine shutdown).
    fn stop_all(&mut self) {
        let running: Vec<JobId> = self.jobs.iter().filter(|(_, j)| !j.finished).map(|(&id, _)| id).collect();
        for id in running {
            self.cancel_in_backend(id);
        }
        self.jobs.clear();
        self.publish_active();
    }

    /// Retries backlogs and forgets jobs that are finished and fully delivered.
    fn flush_and_retire(&mut self) {
        for job in self.jobs.values_mut() {
            job.flush();
        }
        self.jobs.retain(|_, j| !(j.finished && (j.backlog.is_empty() || j.gone())));
        self.publish_active();
    }

    fn publish_active(&self) {
        let n = self.computing();
        self.shared.active.store(n, Ordering::Relaxed);
        metrics::gauge!(metric::JOBS_ACTIVE).set(n as f64);
    }
}

fn record_done(r: &JobReport) {
    metrics::counter!(metric::JOBS_TOTAL, "outcome" => "done").increment(1);
    metrics::histogram!(metric::INFERENCE_SECONDS).record(r.inference_seconds);
    metrics::counter!(metric::TOKENS_TOTAL).increment(r.stats.tokens as u64);
    metrics::histogram!(metric::AUDIO_SECONDS).record(r.audio_seconds);
    metrics::histogram!(metric::JOB_TOKENS_PER_SECOND).record(r.tokens_per_second);
    for (stage, secs) in &r.stats.stages {
        metrics::histogram!(metric::STAGE_SECONDS, "stage" => stage.clone()).record(*secs);
    }
}

fn count_failure(e: &EngineError) {
    metrics::counter!(metric::JOBS_TOTAL, "outcome" => "failed").increment(1);
    metrics::counter!(metric::ERRORS_TOTAL, "kind" => e.kind().as_str()).increment(1);
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
