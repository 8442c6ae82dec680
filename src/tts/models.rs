//! The four networks of a v2 install and the text → (phones, BERT) step that joins the text
//! frontend to them. HuBERT and BERT do not depend on the voice model, so several [`Models`]
//! (GPT + SoVITS pairs) share one [`SharedNets`].
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
}

impl ModelFiles {
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
}

impl SharedNets {
    pub fn load(hubert: &Path, bert: &Path, dtype: Dtype) -> Result<Self, TtsError> {
        tracing::info!(path = %hubert.display(), "loading CNHuBERT");
        let hubert = Rc::new(Hubert::load(hubert, dtype)?);
        tracing::info!(path = %bert.display(), "loading BERT");
        let bert = Rc::new(BertFeatures::load(bert, dtype)?);
        Ok(Self { hubert, bert })
    }
}

pub struct Models {
    pub gpt: Arc<Text2SemanticDecoder>,
    pub gpt_config: GptConfig,
    pub sovits: SynthesizerTrn,
    pub sovits_info: SovitsInfo,
    pub hubert: Rc<Hubert>,
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
        let shared = SharedNets::load(&files.hubert, &files.bert, dtype)?;
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
            bert,
            text_version,
            dtype,
        })
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
                    let bert = self.bert.as_ref().map_err(|why| TtsError::Unavailable(why.clone()))?;
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
