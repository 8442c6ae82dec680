//! The engine's real backend: [`crate::tts::Pipeline`] behind the [`Backend`] seam. Translates the
//! server's validated jobs into pipeline requests and pipeline events into job events; owns the
//! voice cache. Runs on the worker thread only.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gsv_text::{LanguageSetting, SplitMethod};

use super::backend::{
    Backend, BackendConfig, BackendFactory, Chunking, JobEvent, JobId, JobStats, RefAudio, SynthesisJob, VoiceInfo,
    VoiceSelect, VoiceSpec,
};
use super::error::EngineError;
use crate::models::sampling::SamplingParams;
use crate::tts::{ChunkPlan, Clip, Delivery, Event, ModelFiles, Models, Pipeline, Request, TtsError, Voice, VoiceSource};

/// SoVITS noise scale: upstream's default, which api_v2 does not expose either.
const NOISE_SCALE: f32 = 0.5;

impl From<TtsError> for EngineError {
    fn from(e: TtsError) -> Self {
        match e {
            TtsError::InvalidInput(m) => EngineError::InvalidInput { message: m, param: None },
            TtsError::Unavailable(m) => EngineError::Unavailable(m),
            TtsError::Internal(m) => EngineError::Internal(m),
        }
    }
}

pub struct PipelineBackend {
    pipeline: Pipeline,
    voices: HashMap<String, Arc<Voice>>,
}

/// The backend `gsv-server serve` runs: selects the device, loads the four models, keeps them.
pub fn factory() -> BackendFactory {
    Box::new(|cfg: &BackendConfig| {
        crate::device::select(cfg.device).map_err(EngineError::Unavailable)?;
        let files = ModelFiles {
            gpt: cfg.models.gpt.clone(),
            sovits: cfg.models.sovits.clone(),
            hubert: cfg.models.hubert.clone(),
            bert: cfg.models.bert.clone(),
        };
        // f32 everywhere: on the CPU MLX has no fast half-precision matmul, and on an H200 the
        // batch-1 decode measured faster in f32 than in f16/bf16 (launch-bound; docs/benchmarks.md).
        let models = Models::load(&files, mlx_rs::Dtype::Float32)?;
        Ok(Box::new(PipelineBackend {
            pipeline: Pipeline::new(models),
            voices: HashMap::new(),
        }) as Box<dyn Backend>)
    })
}

fn language(s: &str, param: &str) -> Result<LanguageSetting, EngineError> {
    s.parse::<LanguageSetting>().map_err(|e| EngineError::invalid(param, format!("{param}: {e}")))
}

impl PipelineBackend {
    fn prepare(&self, spec: &VoiceSpec) -> Result<Voice, EngineError> {
        if spec.gpt.is_some() || spec.sovits.is_some() {
            return Err(EngineError::invalid(
                "voice",
                format!(
                    "voice {}: per-voice GPT/SoVITS checkpoints are not supported yet; configure them as the server's models",
                    spec.name
                ),
            ));
        }
        let source = VoiceSource {
            name: spec.name.clone(),
            clip: match &spec.ref_audio {
                RefAudio::Path(p) => Clip::Path(p.clone()),
                RefAudio::Bytes(b) => Clip::Bytes(b.clone()),
            },
            transcript: spec.transcript.clone(),
            language: language(&spec.language, "prompt_lang")?,
        };
        Voice::prepare(&self.pipeline.models, &source).map_err(|e| match e {
            TtsError::InvalidInput(m) => EngineError::invalid("ref_audio", m),
            other => other.into(),
        })
    }
}

impl Backend for PipelineBackend {
    fn load_voice(&mut self, spec: &VoiceSpec) -> Result<VoiceInfo, EngineError> {
        let voice = self.prepare(spec)?;
        let info = VoiceInfo {
            name: spec.name.clone(),
            language: spec.language.clone(),
            ref_seconds: voice.ref_seconds,
            prompt_tokens: voice.prompt_tokens(),
        };
        self.voices.insert(spec.name.clone(), Arc::new(voice));
        Ok(info)
    }

    fn start(&mut self, id: JobId, job: SynthesisJob) -> Result<(), EngineError> {
        let voice = match &job.voice {
            VoiceSelect::Named(name) => self.voices.get(name).cloned().ok_or_else(|| EngineError::UnknownVoice(name.clone()))?,
            VoiceSelect::Inline(spec) => match self.voices.get(&spec.name) {
                // Inline references are named by a hash of their content: prepared once.
                Some(v) => v.clone(),
                None => {
                    let v = Arc::new(self.prepare(spec)?);
                    self.voices.insert(spec.name.clone(), v.clone());
                    v
                }
            },
        };
        let split: SplitMethod = job
            .text_split_method
            .parse()
            .map_err(|e| EngineError::invalid("text_split_method", format!("text_split_method: {e}")))?;
        let delivery = match job.chunking {
            Chunking::Sentence => Delivery::Sentence,
            // Token chunks need speed 1 (the streamed windows are aligned to tokens); another speed
            // falls back to one chunk per sentence rather than failing the request.
            Chunking::Tokens { .. } if (job.speed - 1.0).abs() > 1e-6 => Delivery::Sentence,
            Chunking::Tokens { min_tokens, overlap, .. } => Delivery::Tokens(ChunkPlan {
                first: min_tokens.max(3),
                every: min_tokens.max(1),
                holdback: overlap.max(1),
                ..ChunkPlan::default()
            }),
        };
        let req = Request {
            text: job.text,
            language: language(&job.language, "language")?,
            voice,
            sampling: SamplingParams {
                top_k: job.sampling.top_k,
                top_p: job.sampling.top_p,
                temperature: job.sampling.temperature,
                repetition_penalty: job.sampling.repetition_penalty,
            },
            seed: job.sampling.seed,
            speed: job.speed,
            split,
            fragment_interval: job.fragment_interval,
            noise_scale: NOISE_SCALE,
            delivery,
        };
        self.pipeline.start(id, req).map_err(|e| match e {
            TtsError::InvalidInput(m) => EngineError::invalid("text", m),
            other => other.into(),
        })
    }

    fn step(&mut self) -> Vec<(JobId, JobEvent)> {
        self.pipeline
            .step()
            .into_iter()
            .map(|(id, ev)| {
                let ev = match ev {
                    Event::Audio(pcm) => JobEvent::Audio(pcm),
                    Event::Done(s) => JobEvent::Done(JobStats {
                        tokens: s.tokens,
                        samples: s.samples,
                        stages: s.stages.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
                    }),
                    Event::Failed(e) => JobEvent::Failed(e.into()),
                };
                (id, ev)
            })
            .collect()
    }

    fn cancel(&mut self, id: JobId) {
        self.pipeline.cancel(id);
    }

    fn active_jobs(&self) -> usize {
        self.pipeline.active_jobs()
    }
}
