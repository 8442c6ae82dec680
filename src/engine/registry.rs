//! The configured models (GPT + SoVITS pairs) and which of them are loaded.
//!
//! Lives on the worker thread inside the pipeline backend. A model loads on first use, at most
//! `max_resident` stay loaded, and the least recently used one that no job is running on is
//! unloaded to make room. Each loaded pair is a [`Slot`] with its own [`Pipeline`] (so a batched
//! GPT step only ever holds rows of one GPT) and its own prepared voices (a voice's prompt tokens
//! and style vector come from that model's SoVITS). HuBERT and BERT are loaded once and shared.
//!
//! `/set_*_weights` replaces the default model's slot; the old slot is *retired*: it keeps
//! stepping the jobs that started on it and is dropped when the last one ends.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use mlx_rs::Dtype;
use tracing::{info, warn};

use super::backend::{ModelInfo, ModelPaths, ModelSpec, WeightsChange};
use super::error::EngineError;
use crate::models::sovits::{version, SovitsVersion};
use crate::tts::{Models, Pipeline, SharedNets, TtsError, Voice};

pub type SlotId = u64;

/// Request-supplied voices kept prepared per model (HuBERT + BERT of a clip are worth caching,
/// but uploads must not grow memory without bound).
const INLINE_CACHE: usize = 16;

/// One loaded model pair.
pub struct Slot {
    pub name: String,
    pub pipeline: Pipeline,
    /// Configured voices prepared for this model, by name.
    pub voices: HashMap<String, Arc<Voice>>,
    /// Request-supplied voices, oldest first.
    inline: VecDeque<(String, Arc<Voice>)>,
    last_used: u64,
    /// Replaced by new weights: serves only the jobs that started on it.
    retired: bool,
}

impl Slot {
    pub fn inline_voice(&self, name: &str) -> Option<Arc<Voice>> {
        self.inline.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    pub fn remember_inline(&mut self, name: String, voice: Arc<Voice>) {
        if self.inline.len() >= INLINE_CACHE {
            self.inline.pop_front();
        }
        self.inline.push_back((name, voice));
    }

    fn idle(&self) -> bool {
        self.pipeline.active_jobs() == 0
    }
}

struct Entry {
    spec: ModelSpec,
    slot: Option<SlotId>,
    /// Known from the file header, or from the last load.
    version: Option<String>,
    error: Option<String>,
    /// The last load's warm-up: seconds, or why it failed.
    warm_up: Option<Result<f64, String>>,
}

pub struct Registry {
    shared: SharedNets,
    dtype: Dtype,
    /// Configured models, the default first.
    entries: Vec<Entry>,
    /// Loaded pairs (resident and retired), in load order so steps run in a stable order.
    pub slots: BTreeMap<SlotId, Slot>,
    next_slot: SlotId,
    clock: u64,
    max_resident: usize,
    /// Whether each model runs [`crate::tts::warmup::warm_up`] when it loads, and with how many
    /// rows decoded together.
    warm_up: Option<usize>,
}

impl Registry {
    /// Loads the shared networks and the default model (warming each model up as it loads, with
    /// `warm_up` rows decoded together); the others load when first used.
    pub fn new(paths: &ModelPaths, dtype: Dtype, warm_up: Option<usize>) -> Result<Self, EngineError> {
        let shared = SharedNets::load(&paths.hubert, &paths.bert, &paths.sv, dtype)?;
        let entries = paths
            .specs()
            .into_iter()
            .map(|spec| {
                let (version, error) = match header_version(&spec.sovits) {
                    Ok(v) => (v, None),
                    Err(e) => (None, Some(e)),
                };
                Entry { spec, slot: None, version, error, warm_up: None }
            })
            .collect();
        let mut registry = Registry {
            shared,
            dtype,
            entries,
            slots: BTreeMap::new(),
            next_slot: 1,
            clock: 0,
            max_resident: paths.max_resident.max(1),
            warm_up,
        };
        let default = registry.default_name().to_string();
        registry.ensure(&default)?;
        Ok(registry)
    }

    pub fn default_name(&self) -> &str {
        &self.entries[0].spec.name
    }

    fn index(&self, name: &str) -> Result<usize, EngineError> {
        self.entries.iter().position(|e| e.spec.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.spec.name.as_str()).collect();
            EngineError::invalid("model", format!("`model` `{name}` is not configured (known: {})", known.join(", ")))
        })
    }

    /// The slot of model `name`, loading it (and unloading the least recently used idle model
    /// beyond `max_resident`) when it is not resident. A load failure is reported, remembered
    /// for `/v1/models`, and retried by the next request.
    pub fn ensure(&mut self, name: &str) -> Result<SlotId, EngineError> {
        let idx = self.index(name)?;
        self.clock += 1;
        if let Some(id) = self.entries[idx].slot {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.last_used = self.clock;
                return Ok(id);
            }
        }
        let spec = self.entries[idx].spec.clone();
        // A file that cannot load must not cost a resident model its place: check what can be
        // checked without loading (both files there, a servable SoVITS header, a complete zip)
        // before unloading anything.
        if let Err(e) = precheck(&spec) {
            warn!(model = %name, "model cannot load: {e}");
            self.entries[idx].error = Some(e.clone());
            return Err(EngineError::Unavailable(format!("model `{name}` failed to load: {e}")));
        }
        self.evict_idle(self.max_resident - 1);
        match self.load(&spec) {
            Ok(id) => {
                self.entries[idx].slot = Some(id);
                Ok(id)
            }
            Err(e) => {
                warn!(model = %name, "model failed to load: {e}");
                self.entries[idx].error = Some(e.to_string());
                Err(EngineError::Unavailable(format!("model `{name}` failed to load: {e}")))
            }
        }
    }

    /// Loads `spec` into a new slot and records its detected version.
    fn load(&mut self, spec: &ModelSpec) -> Result<SlotId, TtsError> {
        info!(model = %spec.name, gpt = %spec.gpt.display(), sovits = %spec.sovits.display(), "loading model");
        let models = Models::load_pair(&spec.gpt, &spec.sovits, &self.shared, self.dtype)?;
        let version = models.sovits_info.version.to_string();
        let mut pipeline = Pipeline::new(models);
        let warm_up = self.warm_up.map(|batch| match crate::tts::warmup::warm_up(&mut pipeline, batch) {
            Ok(w) => {
                info!(model = %spec.name, seconds = format!("{:.2}", w.seconds), "warmed up (kernels built, compiled graphs traced)");
                Ok(w.seconds)
            }
            // A failed warm-up costs the first requests their wait, not the model: serve anyway.
            Err(e) => {
                warn!(model = %spec.name, "warm-up failed, serving anyway: {e}");
                Err(e.to_string())
            }
        });
        if let Some(e) = self.entries.iter_mut().find(|e| e.spec.name == spec.name) {
            e.version = Some(version);
            e.error = None;
            e.warm_up = warm_up;
        }
        let id = self.next_slot;
        self.next_slot += 1;
        self.clock += 1;
        let slot = Slot {
            name: spec.name.clone(),
            pipeline,
            voices: HashMap::new(),
            inline: VecDeque::new(),
            last_used: self.clock,
            retired: false,
        };
        self.slots.insert(id, slot);
        Ok(id)
    }

    pub fn slot_mut(&mut self, id: SlotId) -> Option<&mut Slot> {
        self.slots.get_mut(&id)
    }

    fn resident(&self) -> usize {
        self.slots.values().filter(|s| !s.retired).count()
    }

    /// Unloads least recently used idle models until at most `keep` are resident (or every
    /// remaining one has a job running: those stay, over the bound, until `trim` after they end).
    fn evict_idle(&mut self, keep: usize) {
        while self.resident() > keep {
            let lru = self.slots.iter().filter(|(_, s)| !s.retired && s.idle()).min_by_key(|(_, s)| s.last_used).map(|(id, _)| *id);
            let Some(id) = lru else { return };
            if let Some(slot) = self.slots.remove(&id) {
                info!(model = %slot.name, "unloading model (least recently used)");
            }
            for e in self.entries.iter_mut().filter(|e| e.slot == Some(id)) {
                e.slot = None;
            }
        }
    }

    /// After jobs end: drops retired slots nobody uses any more and enforces the bound.
    pub fn trim(&mut self) {
        self.slots.retain(|_, s| !(s.retired && s.idle()));
        self.evict_idle(self.max_resident);
    }

    /// Loads new weights for the default model. On success the old pair is retired (its running
    /// jobs finish on it); on failure nothing changes and the error names the file's problem.
    pub fn replace_default(&mut self, change: &WeightsChange) -> Result<ModelInfo, EngineError> {
        let mut spec = self.entries[0].spec.clone();
        if let Some(g) = &change.gpt {
            spec.gpt = g.clone();
        }
        if let Some(s) = &change.sovits {
            spec.sovits = s.clone();
        }
        if let Err(e) = precheck(&spec) {
            return Err(EngineError::invalid("weights_path", e));
        }
        let id = self.load(&spec).map_err(|e| EngineError::invalid("weights_path", format!("cannot load the new weights: {e}")))?;
        if let Some(old) = self.entries[0].slot.replace(id) {
            if let Some(slot) = self.slots.get_mut(&old) {
                slot.retired = true;
            }
        }
        self.entries[0].spec = spec;
        self.trim();
        Ok(self.info(0))
    }

    fn info(&self, idx: usize) -> ModelInfo {
        let e = &self.entries[idx];
        ModelInfo {
            spec: e.spec.clone(),
            version: e.version.clone(),
            resident: e.slot.is_some(),
            default: idx == 0,
            error: e.error.clone(),
            warm_up_seconds: e.warm_up.as_ref().and_then(|w| w.as_ref().ok().copied()),
            warm_up_error: e.warm_up.as_ref().and_then(|w| w.as_ref().err().cloned()),
        }
    }

    /// Why no configured model can speak Chinese, when that is known for all of them (every
    /// one resident, each with a BERT its GPT cannot take); `None` when one can or is not loaded.
    pub fn chinese_refusal(&self) -> Option<String> {
        let mut why = None;
        for e in &self.entries {
            let slot = self.slots.get(&e.slot?)?;
            match &slot.pipeline.models.bert {
                Ok(_) => return None,
                Err(w) => {
                    why.get_or_insert_with(|| w.to_string());
                }
            }
        }
        why
    }

    pub fn infos(&self) -> Vec<ModelInfo> {
        (0..self.entries.len()).map(|i| self.info(i)).collect()
    }
}

/// What can be known about a model pair without loading it: both files exist and end in a zip
/// directory (a file cut short does not), and the SoVITS header names a version this server runs.
fn precheck(spec: &ModelSpec) -> Result<(), String> {
    header_version(&spec.sovits)?;
    for (what, path) in [("GPT", &spec.gpt), ("SoVITS", &spec.sovits)] {
        if !ends_with_zip_directory(path).map_err(|e| format!("{what} file {}: {e}", path.display()))? {
            return Err(format!("{what} file {}: not a complete torch.save archive (no zip directory at its end; truncated?)", path.display()));
        }
    }
    Ok(())
}

/// Whether the zip end-of-central-directory record (`PK\x05\x06`) is within the file's last
/// 64 KiB + 22 bytes (its greatest distance from the end, with the longest comment).
fn ends_with_zip_directory(path: &Path) -> std::io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let tail_len = len.min(65_535 + 22);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    f.take(tail_len).read_to_end(&mut tail)?;
    Ok(tail.windows(4).any(|w| w == b"PK\x05\x06"))
}

/// The SoVITS version a file's first bytes tell without loading it (`None` when only the
/// weights can tell, e.g. v1 vs v2 of a plain torch zip), or why the file cannot be served.
fn header_version(path: &Path) -> Result<Option<String>, String> {
    let mut head = Vec::with_capacity(8192);
    let len = std::fs::metadata(path).map_err(|e| format!("SoVITS file {}: {e}", path.display()))?.len();
    std::fs::File::open(path)
        .and_then(|f| f.take(8192).read_to_end(&mut head))
        .map_err(|e| format!("SoVITS file {}: {e}", path.display()))?;
    let fast = version::detect_fast(&head, len)
        .map_err(|tag| format!("{}: starts with bytes {:02x} {:02x}: not a SoVITS .pth file", path.display(), tag[0], tag[1]))?;
    match fast.model_version {
        SovitsVersion::V3 | SovitsVersion::V4 => Err(format!(
            "{}: SoVITS {}{} model: not supported yet (this server runs v1, v2, v2Pro and v2ProPlus)",
            path.display(),
            fast.model_version,
            if fast.lora { " LoRA" } else { "" }
        )),
        v if fast.rule != version::DetectionRule::FileSize => Ok(Some(v.to_string())),
        _ => Ok(None),
    }
}
