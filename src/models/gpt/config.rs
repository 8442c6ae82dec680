//! The GPT's dimensions as its checkpoint states them (`config['model']`, `config['data']`).
use torch_archive::Value;

use crate::models::{Error, Result};

/// Model dimensions, read from the checkpoint's `config` dict (`config['model']`, `config['data']`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptConfig {
    /// `model.embedding_dim`: width of embeddings and positions (= `hidden_dim` in every release).
    pub embedding_dim: i32,
    /// `model.hidden_dim`: transformer width; the FFN is always 4× this (upstream ignores
    /// `linear_units`).
    pub hidden_dim: i32,
    /// `model.head`.
    pub n_head: i32,
    /// `model.n_layer`.
    pub n_layer: i32,
    /// `model.vocab_size`: semantic codes + EOS (1025).
    pub vocab_size: i32,
    /// `model.phoneme_vocab_size` (732 for v2, 512 for v1).
    pub phoneme_vocab_size: i32,
    /// `model.EOS` (= vocab_size − 1, asserted upstream).
    pub eos: i32,
    /// `data.max_sec`: TTS stops early after `50 * max_sec` tokens.
    pub max_sec: i32,
    /// Input width of `bert_proj` (1024, hard-coded upstream; read from the weight here).
    pub bert_dim: i32,
}

impl GptConfig {
    /// The shipped v2 GPT (`s1longer-v2.yaml`; v2Pro/v2ProPlus's `s1v3.ckpt` has the same dims).
    pub fn v2() -> Self {
        GptConfig {
            embedding_dim: 512,
            hidden_dim: 512,
            n_head: 16,
            n_layer: 24,
            vocab_size: 1025,
            phoneme_vocab_size: 732,
            eos: 1024,
            max_sec: 54,
            bert_dim: 1024,
        }
    }

    pub fn head_dim(&self) -> i32 {
        self.hidden_dim / self.n_head
    }

    /// Upstream's `early_stop_num = hz * max_sec` with hz = 50 (`TTS.run`).
    pub fn early_stop_num(&self) -> usize {
        50 * self.max_sec.max(0) as usize
    }

    /// Reads `config['model']` / `config['data']` of a GPT checkpoint; `bert_dim` is filled in
    /// from the weights by the loader.
    pub fn from_value(config: &Value, source: &str) -> Result<Self> {
        let err = |message: String| Error::Config {
            source_name: source.to_string(),
            message,
        };
        if let Value::Object { class, .. } = config {
            return Err(err(format!(
                "not a GPT (Text2SemanticDecoder) checkpoint: its config is a `{class}` \
                 (a SoVITS .pth file?)"
            )));
        }
        let model = dict_get(config, "model").ok_or_else(|| {
            err("not a GPT (Text2SemanticDecoder) checkpoint: no `config['model']` dict".into())
        })?;
        let int = |section: &Value, sect: &str, key: &str| -> Result<i32> {
            match dict_get(section, key) {
                Some(Value::Int(v)) => i32::try_from(*v).map_err(|_| err(format!("{sect}.{key} = {v} is out of range"))),
                Some(Value::Float(v)) if v.fract() == 0.0 => Ok(*v as i32),
                Some(Value::Bool(b)) => Ok(*b as i32),
                Some(other) => Err(err(format!("{sect}.{key} is not an integer: {other:?}"))),
                None => Err(err(format!(
                    "not a GPT (Text2SemanticDecoder) checkpoint: config has no {sect}.{key}"
                ))),
            }
        };
        let data = dict_get(config, "data");
        let max_sec = match data {
            Some(d) => int(d, "data", "max_sec")?,
            None => return Err(err("config has no `data` section (data.max_sec)".into())),
        };
        let cfg = Self {
            embedding_dim: int(model, "model", "embedding_dim")?,
            hidden_dim: int(model, "model", "hidden_dim")?,
            n_head: int(model, "model", "head")?,
            n_layer: int(model, "model", "n_layer")?,
            vocab_size: int(model, "model", "vocab_size")?,
            phoneme_vocab_size: int(model, "model", "phoneme_vocab_size")?,
            eos: int(model, "model", "EOS")?,
            max_sec,
            bert_dim: 1024,
        };
        cfg.validate(source)?;
        Ok(cfg)
    }

    pub(super) fn validate(&self, source: &str) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Config {
                source_name: source.to_string(),
                message: m,
            })
        };
        if self.embedding_dim != self.hidden_dim {
            return bad(format!(
                "embedding_dim {} != hidden_dim {}: upstream has no projection between them",
                self.embedding_dim, self.hidden_dim
            ));
        }
        if self.n_head <= 0 || self.hidden_dim <= 0 || self.hidden_dim % self.n_head != 0 {
            return bad(format!("hidden_dim {} is not divisible by head {}", self.hidden_dim, self.n_head));
        }
        if self.hidden_dim % 2 != 0 {
            return bad(format!("hidden_dim {} must be even (sine positions)", self.hidden_dim));
        }
        if self.n_layer <= 0 || self.vocab_size <= 1 || self.phoneme_vocab_size <= 0 {
            return bad(format!("implausible sizes {self:?}"));
        }
        if self.eos != self.vocab_size - 1 {
            return bad(format!("EOS {} != vocab_size - 1 = {}", self.eos, self.vocab_size - 1));
        }
        Ok(())
    }
}

pub(super) fn dict_get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Dict(items) => items.iter().find_map(|(k, v)| match k {
            Value::Str(s) if s == key => Some(v),
            _ => None,
        }),
        Value::Object { state, .. } => dict_get(state, key),
        _ => None,
    }
}
