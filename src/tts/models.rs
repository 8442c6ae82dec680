//! The networks of one model (GPT + SoVITS, and for v2Pro/v2ProPlus the speaker-verification
//! model) and the text → (phones, BERT) step that joins the text frontend to them. HuBERT and BERT
//! do not depend on the voice model, so several [`Models`] share one [`SharedNets`].
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use gsv_text::{Segment, Version};
use mlx_rs::{ops, Array, Dtype};

use super::TtsError;
use crate::models::bert::{self, BertFeatures};
use crate::models::gpt::{GptConfig, Text2SemanticDecoder};
use crate::models::hubert::Hubert;
use crate::models::sovits::{SovitsInfo, SovitsVersion, SynthesizerTrn};
use crate::models::sv::SpeakerEncoder;

/// Where the model files are.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// GPT (Text2SemanticDecoder) `.ckpt`.
    pub gpt: PathBuf,
    /// SoVITS (SynthesizerTrn) `.pth`.
    pub sovits: PathBuf,
    /// `chinese-hubert-base` folder.
    pub hubert: PathBuf,
    /// `chinese-roberta-wwm-ext-large` folder.
    pub bert: PathBuf,
    /// Speaker-verification model (`sv/pretrained_eres2netv2w24s4ep4.ckpt`); read only when the
    /// SoVITS is v2Pro/v2ProPlus.
    pub sv: PathBuf,
}

impl ModelFiles {
    /// Where upstream keeps the speaker model, under a `models/` folder.
    pub fn default_sv_path() -> PathBuf {
        PathBuf::from("models/sv").join(crate::models::sv::DEFAULT_FILE_NAME)
    }

    /// Every path that does not exist, with what it is.
    pub fn missing(&self) -> Vec<String> {
        [
            ("GPT checkpoint", &self.gpt),
            ("SoVITS checkpoint", &self.sovits),
            ("chinese-hubert-base folder", &self.hubert),
            ("chinese-roberta-wwm-ext-large folder", &self.bert),
        ]
        .into_iter()
        .filter(|(_, p)| !p.exists())
        .map(|(what, p)| format!("{what} {}", p.display()))
        .collect()
    }
}

/// The networks every model pair shares, loaded once.
#[derive(Clone)]
pub struct SharedNets {
    pub hubert: Rc<Hubert>,
    pub bert: Rc<BertFeatures>,
    /// The speaker model's file, read by each v2Pro/v2ProPlus pair when it loads (its width is
    /// checked against that SoVITS's `sv_emb`).
    pub sv_path: PathBuf,
}

impl SharedNets {
    pub fn load(hubert: &Path, bert: &Path, sv_path: &Path, dtype: Dtype) -> Result<Self, TtsError> {
        tracing::info!(path = %hubert.display(), "loading CNHuBERT");
        let hubert = Rc::new(Hubert::load(hubert, dtype)?);
        tracing::info!(path = %bert.display(), "loading BERT");
        let bert = Rc::new(BertFeatures::load(bert, dtype)?);
        Ok(Self { hubert, bert, sv_path: sv_path.to_path_buf() })
    }
}

pub struct Models {
    pub gpt: Arc<Text2SemanticDecoder>,
    pub gpt_config: GptConfig,
    pub sovits: SynthesizerTrn,
    pub sovits_info: SovitsInfo,
    pub hubert: Rc<Hubert>,
    /// The speaker-verification model, for v2Pro/v2ProPlus SoVITS only.
    pub sv: Option<SpeakerEncoder>,
    /// The BERT, or why Chinese text can't get features (e.g. a BERT whose width is not the
    /// GPT's `bert_proj` input).
    pub bert: Result<Rc<BertFeatures>, String>,
    /// Symbol table / frontend generation (v1 for v1 SoVITS models, else v2).
    pub text_version: Version,
    pub dtype: Dtype,
}

impl Models {
    pub fn load(files: &ModelFiles, dtype: Dtype) -> Result<Self, TtsError> {
        let missing = files.missing();
        if !missing.is_empty() {
            return Err(TtsError::Unavailable(format!("missing model files: {}", missing.join("; "))));
        }
        let shared = SharedNets::load(&files.hubert, &files.bert, &files.sv, dtype)?;
        Self::load_pair(&files.gpt, &files.sovits, &shared, dtype)
    }

    /// Loads one GPT + SoVITS pair on top of already loaded shared networks. Either file being
    /// unusable (missing, truncated, a version this port does not run) is an error naming it;
    /// nothing is kept half-loaded.
    pub fn load_pair(gpt_path: &Path, sovits_path: &Path, shared: &SharedNets, dtype: Dtype) -> Result<Self, TtsError> {
        for (what, p) in [("GPT checkpoint", gpt_path), ("SoVITS checkpoint", sovits_path)] {
            if !p.is_file() {
                return Err(TtsError::Unavailable(format!("missing model file: {what} {}", p.display())));
            }
        }
        tracing::info!(path = %sovits_path.display(), "loading SoVITS");
        let (sovits, sovits_info) = SynthesizerTrn::load(sovits_path, dtype)?;
        if let Some(missing) = &sovits_info.missing {
            return Err(TtsError::Unavailable(format!(
                "{}: {:?} model needs {missing}, which this server does not provide yet",
                sovits_path.display(),
                sovits_info.version
            )));
        }
        let sv = match sovits_info.sv_width {
            Some(width) => Some(load_speaker_model(&shared.sv_path, width, &sovits_info, dtype)?),
            None => None,
        };
        tracing::info!(path = %gpt_path.display(), "loading GPT");
        let (gpt, gpt_config) = Text2SemanticDecoder::load(gpt_path, dtype)?;
        let bert = if shared.bert.hidden_size() == gpt_config.bert_dim {
            Ok(shared.bert.clone())
        } else {
            let why = format!(
                "the BERT is {} wide but the GPT {}'s bert_proj takes {}; Chinese text needs a matching BERT",
                shared.bert.hidden_size(),
                gpt_path.display(),
                gpt_config.bert_dim
            );
            tracing::warn!("{why}");
            Err(why)
        };
        let text_version = match sovits_info.version {
            SovitsVersion::V1 => Version::V1,
            _ => Version::V2,
        };
        Ok(Self {
            gpt: Arc::new(gpt),
            gpt_config,
            sovits,
            sovits_info,
            hubert: shared.hubert.clone(),
            sv,
            bert,
            text_version,
            dtype,
        })
    }

    /// The speaker embedding of a reference at 32 kHz (v2Pro/v2ProPlus), `None` for v1/v2.
    pub fn speaker_embedding(&self, wav32k: &[f32]) -> Result<Option<Array>, TtsError> {
        match &self.sv {
            Some(sv) => Ok(Some(sv.embed_32k(wav32k)?)),
            None => Ok(None),
        }
    }

    /// Phone ids and phone-level BERT features `[bert_dim, phones]` of one frontend segment:
    /// BERT for Chinese parts, zeros for the rest (upstream `get_phones_and_bert`).
    pub fn text_features(&self, seg: &Segment) -> Result<(Vec<i32>, Array), TtsError> {
        let dim = self.gpt_config.bert_dim;
        let mut feats = Vec::with_capacity(seg.parts.len());
        for part in &seg.parts {
            let n = part.phone_ids.len();
            if n == 0 {
                continue;
            }
            let f = match (part.lang.as_str(), &part.word2ph) {
                ("zh", Some(word2ph)) => {
                    // Known since load (and shown in /health): no retry can cure it, so it is the
                    // request's problem (4xx), not a passing unavailability.
                    let bert = self
                        .bert
                        .as_ref()
                        .map_err(|why| TtsError::InvalidInput(format!("this model set cannot speak Chinese: {why}")))?;
                    bert.phone_level_features(&part.norm_text, word2ph)?
                }
                _ => bert::zeros(dim, n),
            };
            feats.push(f);
        }
        let phones: Vec<i32> = seg.phone_ids.iter().map(|&p| p as i32).collect();
        let bert = match feats.len() {
            0 => bert::zeros(dim, 0),
            1 => feats.pop().unwrap_or_else(|| bert::zeros(dim, 0)),
            _ => ops::concatenate(&feats, 1)?,
        };
        Ok((phones, bert.as_dtype(self.dtype)?))
    }
}

/// The speaker model a v2Pro/v2ProPlus SoVITS needs, checked against the width its `sv_emb` takes.
fn load_speaker_model(path: &std::path::Path, width: i32, info: &SovitsInfo, dtype: Dtype) -> Result<SpeakerEncoder, TtsError> {
    if !path.exists() {
        return Err(TtsError::Unavailable(format!(
            "SoVITS {} needs the speaker-verification model {} (upstream GPT_SoVITS/pretrained_models/sv/{}), which does not exist",
            info.version,
            path.display(),
            crate::models::sv::DEFAULT_FILE_NAME
        )));
    }
    tracing::info!(path = %path.display(), "loading speaker-verification model");
    let sv = SpeakerEncoder::load(path, dtype)?;
    if sv.embedding_width() != width {
        return Err(TtsError::Unavailable(format!(
            "{}: the speaker model's embedding is {} wide but the SoVITS {} `sv_emb` takes {width}",
            path.display(),
            sv.embedding_width(),
            info.version
        )));
    }
    Ok(sv)
}
