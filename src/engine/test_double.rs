//! TEST DOUBLE backend for unit tests of the worker loop and the router (never built outside
//! `cfg(test)`; the real backend is the TTS pipeline in `crate::tts`).
//!
//! `SineDouble` is not a TTS model. Each job emits `chunks` chunks of a computed sine (frequency
//! from the job's seed), one per step, then `Done`. Text commands inject faults: `panic-step`,
//! `panic-start`, `reject`; `hold` sends its audio only with the last step (as a sentence-mode
//! job does). It records how many jobs were active at each step, so batching is
//! observable.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

#[derive(Default)]
pub struct Probe {
    /// Active job count at each step.
    pub batch_sizes: Vec<usize>,
    pub cancelled: Vec<JobId>,
}

pub struct SineDouble {
    pub jobs: BTreeMap<JobId, (SynthesisJob, usize)>,
    pub chunks: usize,
    pub step_delay: Duration,
    probe: Arc<Mutex<Probe>>,
}

pub const CHUNK: usize = 320;

pub fn sine(seed: u64, chunk: usize) -> Vec<i16> {
    let freq = 100.0 + seed as f32;
    (0..CHUNK)
        .map(|i| {
            let t = (chunk * CHUNK + i) as f32 / SAMPLE_RATE as f32;
            ((2.0 * std::f32::consts::PI * freq * t).sin() * 8000.0) as i16
        })
        .collect()
}

impl Backend for SineDouble {
    fn load_voice(&mut self, spec: &VoiceSpec) -> Result<VoiceInfo, EngineError> {
        if spec.name == "broken" {
            return Err(EngineError::invalid("ref_audio", "clip `broken` is unreadable"));
        }
        Ok(VoiceInfo {
            name: spec.name.clone(),
            language: spec.language.clone(),
            ref_seconds: 4.0,
            prompt_tokens: 100,
            model: spec.model.clone().unwrap_or_else(|| "default".into()),
            version: "v2".into(),
        })
    }
    fn remove_voice(&mut self, _name: &str) -> bool {
        true
    }
    fn start(&mut self, id: JobId, job: SynthesisJob) -> Result<(), EngineError> {
        match job.text.as_str() {
            "panic-start" => panic!("injected start panic"),
            "reject" => Err(EngineError::invalid("text", "rejected by the double")),
            _ => {
                self.jobs.insert(id, (job, 0));
                Ok(())
            }
        }
    }
    fn step(&mut self) -> Vec<(JobId, JobEvent)> {
        std::thread::sleep(self.step_delay);
        self.probe.lock().unwrap().batch_sizes.push(self.jobs.len());
        if self.jobs.values().any(|(j, _)| j.text == "panic-step") {
            panic!("injected step panic");
        }
        let mut out = Vec::new();
        let mut done = Vec::new();
        for (id, (job, n)) in self.jobs.iter_mut() {
            if job.text != "hold" || *n + 1 == self.chunks {
                out.push((*id, JobEvent::Audio(sine(job.sampling.seed, *n))));
            }
            *n += 1;
            if *n == self.chunks {
                done.push(*id);
                out.push((*id, JobEvent::Done(JobStats { tokens: *n * 4, samples: *n * CHUNK, stages: Default::default() })));
            }
        }
        for id in done {
            self.jobs.remove(&id);
        }
        out
    }
    fn cancel(&mut self, id: JobId) {
        self.jobs.remove(&id);
        self.probe.lock().unwrap().cancelled.push(id);
    }
    fn active_jobs(&self) -> usize {
        self.jobs.len()
    }
}

/// A factory building a [`SineDouble`] on the worker thread.
pub fn factory(chunks: usize, step_delay_ms: u64) -> (BackendFactory, Arc<Mutex<Probe>>) {
    let probe = Arc::new(Mutex::new(Probe::default()));
    let p = probe.clone();
    let f: BackendFactory = Box::new(move |_| {
        Ok(Box::new(SineDouble { jobs: BTreeMap::new(), chunks, step_delay: Duration::from_millis(step_delay_ms), probe: p }) as Box<dyn Backend>)
    });
    (f, probe)
}
