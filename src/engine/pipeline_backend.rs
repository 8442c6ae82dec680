//! The real [`Backend`]: the TTS pipeline (`crate::tts`) behind the engine's seam.
//!
//! Translates the engine's validated [`SynthesisJob`] into a `tts::Request` on the model it names
//! (see [`Registry`]), keeps the prepared voices per model (configured ones re-prepared when their
//! model is loaded again, request-supplied ones in a small bounded cache keyed by content hash),
//! and maps pipeline events and errors to the engine's.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gsv_text::{LanguageSetting, SplitMethod};

use super::backend::{
    Backend, BackendConfig, BackendFactory, Chunking, JobEvent, JobId, JobStats, ModelInfo, RefAudio, SynthesisJob,
    VoiceInfo, VoiceSelect, VoiceSpec, WeightsChange,
};
use super::error::EngineError;
use super::registry::{Registry, SlotId};
use crate::models::gpt::sampling::SamplingParams;
use crate::tts::{ChunkPlan, Clip, Delivery, Event, Models, Request, TtsError, Voice, VoiceSource};

/// SoVITS noise scale (upstream's fixed 0.5; api_v2 does not expose it).
const NOISE_SCALE: f32 = 0.5;

impl From<TtsError> for EngineError {
    fn from(e: TtsError) -> Self {
        match e {
            TtsError::InvalidInput(message) => EngineError::InvalidInput { message, param: None },
            TtsError::Unavailable(m) => EngineError::Unavailable(m),
            TtsError::Internal(m) => EngineError::Internal(m),
        }
    }
}

/// The models, the configured voices, and which model each running job is on.
pub struct TtsBackend {
    registry: Registry,
    /// Configured voices that prepared at start, kept to prepare them again for another model
    /// or after their model was unloaded.
    specs: HashMap<String, VoiceSpec>,
    jobs: HashMap<JobId, SlotId>,
    min_ref_seconds: f32,
    max_ref_seconds: f32,
}

/// Builds [`TtsBackend`] on the worker thread: selects the device, loads the shared networks and
/// the default model.
pub fn factory() -> BackendFactory {
    Box::new(|cfg: &BackendConfig| {
        let backend = crate::device::select(cfg.device).map_err(EngineError::Unavailable)?;
        crate::models::gpt::step::set_compile(cfg.compile.forced());
        crate::models::gpt::step::set_fused(cfg.fused.forced());
        crate::models::gpt::fused::set_layer_kernel(cfg.layer_kernel.forced());
        crate::models::sovits::compiled::set_compile(cfg.compile_sovits.forced());
        let warmup = cfg.warmup.forced().unwrap_or_else(crate::models::default_device_is_gpu);
        tracing::info!(
            %backend,
            compile = crate::models::gpt::step::compile_enabled(),
            fused = crate::models::gpt::step::fused_on_this_device(),
            layer_kernel = crate::models::gpt::fused::layer_kernel_enabled(),
            sovits_convolutions = if crate::models::sovits::modules::tap_convs_enabled() { "taps" } else { "mlx" },
            conv_buckets = crate::models::layers::conv_buckets_enabled(),
            sovits_compiled = crate::models::sovits::compiled::compile_enabled(),
            warmup,
            "MLX device selected"
        );
        Ok(Box::new(TtsBackend {
            registry: Registry::new(&cfg.models, mlx_rs::Dtype::Float32, warmup.then(|| crate::tts::warmup::warm_up_batch(cfg.max_batch)))?,
            specs: HashMap::new(),
            jobs: HashMap::new(),
            min_ref_seconds: cfg.min_ref_seconds,
            max_ref_seconds: cfg.max_ref_seconds,
        }) as Box<dyn Backend>)
    })
}

fn language(param: &str, s: &str) -> Result<LanguageSetting, EngineError> {
    s.parse::<LanguageSetting>().map_err(|e| EngineError::invalid(param, format!("`{param}`: {e}")))
}

/// Prepares `spec` with `models` and checks the clip's length.
fn prepare(models: &Models, spec: &VoiceSpec, min_seconds: f32, max_seconds: f32) -> Result<Voice, EngineError> {
    if spec.gpt.is_some() || spec.sovits.is_some() {
        return Err(EngineError::invalid(
            "voice",
            format!("voice `{}` names its own GPT/SoVITS files; configure them as a model ([models.NAME]) and set the voice's `model`", spec.name),
        ));
    }
    let source = VoiceSource {
        name: spec.name.clone(),
        clip: match &spec.ref_audio {
            RefAudio::Path(p) => Clip::Path(p.clone()),
            RefAudio::Bytes(b) => Clip::Bytes(b.clone()),
        },
        transcript: spec.transcript.clone(),
        language: language("language", &spec.language)?,
    };
    let voice = Voice::prepare(models, &source)?;
    if voice.ref_seconds < min_seconds || voice.ref_seconds > max_seconds {
        return Err(EngineError::invalid(
            "reference",
            format!(
                "the reference clip of `{}` lasts {:.2} s; it must last between {} and {} s",
                spec.name, voice.ref_seconds, min_seconds, max_seconds
            ),
        ));
    }
    Ok(voice)
}

impl TtsBackend {
    /// The model a job speaks with: the request's, else its configured voice's, else the default.
    fn model_of(&self, job: &SynthesisJob) -> String {
        let voice_model = match &job.voice {
            VoiceSelect::Named(name) => self.specs.get(name).and_then(|s| s.model.clone()),
            VoiceSelect::Inline(spec) => spec.model.clone(),
        };
        job.model.clone().or(voice_model).unwrap_or_else(|| self.registry.default_name().to_string())
    }

    /// `select` prepared for the model in `slot` (prepared now if this model has not seen it).
    fn voice(&mut self, slot: SlotId, select: &VoiceSelect) -> Result<Arc<Voice>, EngineError> {
        let (min, max) = (self.min_ref_seconds, self.max_ref_seconds);
        let spec = match select {
            VoiceSelect::Named(name) => self.specs.get(name).ok_or_else(|| EngineError::UnknownVoice(name.clone()))?,
            VoiceSelect::Inline(spec) => spec,
        };
        let s = self.registry.slot_mut(slot).ok_or_else(|| EngineError::Internal("model slot vanished".into()))?;
        let cached = match select {
            VoiceSelect::Named(name) => s.voices.get(name).cloned(),
            VoiceSelect::Inline(spec) => s.inline_voice(&spec.name),
        };
        if let Some(v) = cached {
            return Ok(v);
        }
        let voice = Arc::new(prepare(&s.pipeline.models, spec, min, max)?);
        match select {
            VoiceSelect::Named(name) => {
                s.voices.insert(name.clone(), voice.clone());
            }
            VoiceSelect::Inline(spec) => s.remember_inline(spec.name.clone(), voice.clone()),
        }
        Ok(voice)
    }
}

impl Backend for TtsBackend {
    fn load_voice(&mut self, spec: &VoiceSpec) -> Result<VoiceInfo, EngineError> {
        let model = spec.model.clone().unwrap_or_else(|| self.registry.default_name().to_string());
        let slot_id = self.registry.ensure(&model)?;
        let slot = self.registry.slot_mut(slot_id).ok_or_else(|| EngineError::Internal("model slot vanished".into()))?;
        let voice = Arc::new(prepare(&slot.pipeline.models, spec, self.min_ref_seconds, self.max_ref_seconds)?);
        let info = VoiceInfo {
            name: spec.name.clone(),
            language: voice.language.as_str().to_string(),
            ref_seconds: voice.ref_seconds,
            prompt_tokens: voice.prompt_tokens(),
            model,
            version: slot.pipeline.models.sovits_info.version.to_string(),
        };
        slot.voices.insert(spec.name.clone(), voice);
        self.specs.insert(spec.name.clone(), spec.clone());
        Ok(info)
    }

    fn remove_voice(&mut self, name: &str) -> bool {
        let mut known = self.specs.remove(name).is_some();
        for slot in self.registry.slots.values_mut() {
            known |= slot.voices.remove(name).is_some();
        }
        known
    }

    fn start(&mut self, id: JobId, job: SynthesisJob) -> Result<(), EngineError> {
        let slot_id = self.registry.ensure(&self.model_of(&job))?;
        let voice = self.voice(slot_id, &job.voice)?;
        let split = job
            .text_split_method
            .parse::<SplitMethod>()
            .map_err(|e| EngineError::invalid("text_split_method", e.to_string()))?;
        // Token streaming re-decodes windows at natural speed; with another speed each sentence
        // is decoded whole instead (still streamed sentence by sentence).
        let speed_is_one = (job.speed - 1.0).abs() < 1e-6;
        let delivery = match job.chunking {
            Chunking::Tokens { first_tokens, min_tokens, growth, lead, overlap, .. } if speed_is_one => {
                let d = ChunkPlan::default();
                Delivery::Tokens(ChunkPlan { first: first_tokens.max(1), every: min_tokens.max(1), growth, lead, holdback: overlap.max(1), ..d })
            }
            _ => Delivery::Sentence,
        };
        let budget = job.token_budget;
        let req = Request {
            text: job.text,
            language: language("language", &job.language)?,
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
            fixed_tokens: None,
            delivery,
        };
        let slot = self.registry.slot_mut(slot_id).ok_or_else(|| EngineError::Internal("model slot vanished".into()))?;
        slot.pipeline.start_with_budget(id, req, budget)?;
        self.jobs.insert(id, slot_id);
        Ok(())
    }

    /// One step per model with running jobs: a batched GPT step never mixes two GPTs.
    fn step(&mut self) -> Vec<(JobId, JobEvent)> {
        let mut events = Vec::new();
        for slot in self.registry.slots.values_mut().filter(|s| s.pipeline.active_jobs() > 0) {
            events.extend(slot.pipeline.step());
        }
        let events: Vec<(JobId, JobEvent)> = events
            .into_iter()
            .map(|(id, ev)| {
                let ev = match ev {
                    Event::Audio(a) => JobEvent::Audio(a),
                    Event::Done(s) => JobEvent::Done(JobStats {
                        tokens: s.tokens,
                        samples: s.samples,
                        stages: s.stages.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
                    }),
                    Event::Failed(e) => JobEvent::Failed(e.into()),
                };
                (id, ev)
            })
            .collect();
        for (id, ev) in &events {
            if !matches!(ev, JobEvent::Audio(_)) {
                self.jobs.remove(id);
            }
        }
        self.registry.trim();
        events
    }

    fn cancel(&mut self, id: JobId) {
        if let Some(slot) = self.jobs.remove(&id) {
            if let Some(s) = self.registry.slot_mut(slot) {
                s.pipeline.cancel(id);
            }
            self.registry.trim();
        }
    }

    fn active_jobs(&self) -> usize {
        self.registry.slots.values().map(|s| s.pipeline.active_jobs()).sum()
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.registry.infos()
    }

    fn set_weights(&mut self, change: &WeightsChange) -> Result<ModelInfo, EngineError> {
        self.registry.replace_default(change)
    }

    fn chinese_refusal(&self) -> Option<String> {
        self.registry.chinese_refusal()
    }

    fn limitations(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for slot in self.registry.slots.values() {
            if let Err(why) = &slot.pipeline.models.bert {
                let l = format!("Chinese text is refused: {why}");
                if !out.contains(&l) {
                    out.push(l);
                }
            }
        }
        out
    }
}
