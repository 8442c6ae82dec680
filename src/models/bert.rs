//! chinese-roberta-wwm-ext-large (a BERT) → phone-level text features, as upstream's
//! `TextPreprocessor.get_bert_feature`: `hidden_states[-3]` without `[CLS]`/`[SEP]`, each
//! character's row repeated `word2ph[i]` times, transposed to `[H, phones]`.
//!
//! Only the layers that `hidden_states[-3]` depends on are loaded and run (22 of 24 for the real
//! model); the MaskedLM head (`cls.*`) and any pooler are ignored. Sizes come from `config.json`.
use std::collections::BTreeMap;
use std::path::Path;

use mlx_rs::{Array, Dtype};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::hubert::{random_tensors, Activation, SelfAttention};
use super::layers::{LayerNorm, Linear};
use super::weights::Weights;
use super::{Error, Result};

/// The subset of transformers' `BertConfig` that inference reads; defaults are HF's.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: i32,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: i32,
    #[serde(default = "d_gelu")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "d_512")]
    pub max_position_embeddings: i32,
    #[serde(default = "d_2")]
    pub type_vocab_size: i32,
    pub vocab_size: i32,
    #[serde(default = "d_absolute")]
    pub position_embedding_type: String,
}

fn d_gelu() -> String {
    "gelu".into()
}
fn d_eps() -> f32 {
    1e-12
}
fn d_512() -> i32 {
    512
}
fn d_2() -> i32 {
    2
}
fn d_absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    /// hfl/chinese-roberta-wwm-ext-large.
    pub fn chinese_roberta_wwm_ext_large() -> Self {
        Self {
            hidden_size: 1024,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            intermediate_size: 4096,
            hidden_act: d_gelu(),
            layer_norm_eps: 1e-12,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            vocab_size: 21128,
            position_embedding_type: d_absolute(),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let cfg: Self = crate::models::weights::read_json_config(path)?;
        cfg.validate(&path.display().to_string())?;
        Ok(cfg)
    }

    fn validate(&self, source: &str) -> Result<()> {
        let bad = |message: String| {
            Err(Error::Config {
                source_name: source.to_string(),
                message,
            })
        };
        if self.num_hidden_layers < 2 {
            return bad(format!(
                "num_hidden_layers {} < 2: hidden_states[-3] needs at least two layers",
                self.num_hidden_layers
            ));
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads as i32 != 0 {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type {:?} is not supported",
                self.position_embedding_type
            ));
        }
        Activation::parse(&self.hidden_act, source)?;
        Ok(())
    }

    /// Layers that `hidden_states[-3]` depends on: all but the last two.
    pub fn feature_layers(&self) -> usize {
        self.num_hidden_layers.saturating_sub(2)
    }

    /// Torch shapes of the embeddings and of the first `layers` encoder layers (no prefix).
    pub fn param_shapes(&self, layers: usize) -> Vec<(String, Vec<i32>)> {
        let (h, f) = (self.hidden_size, self.intermediate_size);
        let mut v: Vec<(String, Vec<i32>)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![self.vocab_size, h]),
            ("embeddings.position_embeddings.weight".into(), vec![self.max_position_embeddings, h]),
            ("embeddings.token_type_embeddings.weight".into(), vec![self.type_vocab_size, h]),
            ("embeddings.LayerNorm.weight".into(), vec![h]),
            ("embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for i in 0..layers {
            let p = format!("encoder.layer.{i}");
            for (n, shape) in [
                ("attention.self.query", vec![h, h]),
                ("attention.self.key", vec![h, h]),
                ("attention.self.value", vec![h, h]),
                ("attention.output.dense", vec![h, h]),
                ("intermediate.dense", vec![f, h]),
                ("output.dense", vec![h, f]),
            ] {
                v.push((format!("{p}.{n}.bias"), vec![shape[0]]));
                v.push((format!("{p}.{n}.weight"), shape));
            }
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                v.push((format!("{p}.{n}.weight"), vec![h]));
                v.push((format!("{p}.{n}.bias"), vec![h]));
            }
        }
        v
    }
}

/// Which encoder layers to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BertLayers {
    /// Only those `hidden_states[-3]` needs (inference).
    Features,
    /// Every layer (to compare every hidden state with a reference).
    All,
}

struct BertLayer {
    attn: SelfAttention,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

/// BERT encoder (`BertModel` without pooler), possibly truncated to the feature layers.
pub struct BertModel {
    pub config: BertConfig,
    word: Array,
    position: Array,
    token_type: Array,
    emb_norm: LayerNorm,
    layers: Vec<BertLayer>,
    act: Activation,
}

impl BertModel {
    /// Loads `config.json` plus `model.safetensors` or `pytorch_model.bin` from an HF folder.
    pub fn load(dir: &Path, layers: BertLayers, dtype: Dtype) -> Result<Self> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        Self::from_weights(config, Weights::from_hf_folder(dir, dtype)?, layers)
    }

    /// Builds from `BertForMaskedLM` (`bert.`-prefixed) or `BertModel` (unprefixed) names.
    pub fn from_weights(config: BertConfig, mut w: Weights, layers: BertLayers) -> Result<Self> {
        config.validate(w.source())?;
        let p = if w.contains("bert.embeddings.word_embeddings.weight") { "bert." } else { "" };
        let n_load = match layers {
            BertLayers::Features => config.feature_layers(),
            BertLayers::All => config.num_hidden_layers,
        };
        let shapes: BTreeMap<String, Vec<i32>> = config.param_shapes(n_load).into_iter().collect();
        let take = |w: &mut Weights, name: &str| -> Array {
            match shapes.get(name) {
                Some(s) => w.take_shaped(&format!("{p}{name}"), s),
                None => w.take(&format!("{p}{name}")),
            }
        };
        let lin = |w: &mut Weights, n: &str| Linear::new(take(w, &format!("{n}.weight")), Some(take(w, &format!("{n}.bias"))));
        let ln = |w: &mut Weights, n: &str| LayerNorm {
            weight: take(w, &format!("{n}.weight")),
            bias: take(w, &format!("{n}.bias")),
            eps: config.layer_norm_eps,
        };
        let word = take(&mut w, "embeddings.word_embeddings.weight");
        let position = take(&mut w, "embeddings.position_embeddings.weight");
        let token_type = take(&mut w, "embeddings.token_type_embeddings.weight");
        let emb_norm = ln(&mut w, "embeddings.LayerNorm");
        let mut blocks = Vec::new();
        for i in 0..n_load {
            let lp = format!("encoder.layer.{i}");
            blocks.push(BertLayer {
                attn: SelfAttention {
                    q: lin(&mut w, &format!("{lp}.attention.self.query")),
                    k: lin(&mut w, &format!("{lp}.attention.self.key")),
                    v: lin(&mut w, &format!("{lp}.attention.self.value")),
                    out: lin(&mut w, &format!("{lp}.attention.output.dense")),
                    heads: config.num_attention_heads as i32,
                },
                attn_norm: ln(&mut w, &format!("{lp}.attention.output.LayerNorm")),
                inter: lin(&mut w, &format!("{lp}.intermediate.dense")),
                out: lin(&mut w, &format!("{lp}.output.dense")),
                out_norm: ln(&mut w, &format!("{lp}.output.LayerNorm")),
            });
        }
        for i in n_load..config.num_hidden_layers {
            w.ignore_prefix(&format!("{p}encoder.layer.{i}."));
        }
        // MaskedLM head, pooler and the position_ids buffer of older checkpoints are not used.
        w.ignore_prefix("cls.");
        w.ignore_prefix(&format!("{p}pooler."));
        w.ignore_prefix(&format!("{p}embeddings.position_ids"));
        w.finish()?;
        Ok(Self {
            act: Activation::parse(&config.hidden_act, "config.json")?,
            config,
            word,
            position,
            token_type,
            emb_norm,
            layers: blocks,
        })
    }

    pub fn loaded_layers(&self) -> usize {
        self.layers.len()
    }

    /// Hidden states `[L, H]` of one sequence: entry 0 the embeddings, entry i the output of
    /// layer i, for every loaded layer.
    pub fn hidden_states(&self, ids: &[u32]) -> Result<Vec<Array>> {
        self.run(ids, self.layers.len(), true)
    }

    /// `hidden_states[-3]` of the full model, `[L, H]` (the output of layer n−2).
    pub fn feature_states(&self, ids: &[u32]) -> Result<Array> {
        let need = self.config.feature_layers();
        self.run(ids, need, false)?
            .pop()
            .ok_or_else(|| Error::Invalid("BERT produced no hidden state".into()))
    }

    fn run(&self, ids: &[u32], n_layers: usize, keep_all: bool) -> Result<Vec<Array>> {
        let len = ids.len();
        if len == 0 {
            return Err(Error::Invalid("BERT input has no tokens".into()));
        }
        if len > self.config.max_position_embeddings as usize {
            return Err(Error::Invalid(format!(
                "BERT input has {len} tokens, more than max_position_embeddings {}",
                self.config.max_position_embeddings
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as i64 >= self.config.vocab_size as i64) {
            return Err(Error::Invalid(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let ids_arr = Array::from_slice(&ids.iter().map(|&i| i as i32).collect::<Vec<_>>(), &[len as i32]);
        let positions = Array::from_slice(&(0..len as i32).collect::<Vec<_>>(), &[len as i32]);
        // token_type_ids are all 0 (single sentence).
        let x = self
            .word
            .take_axis(&ids_arr, 0)?
            .add(&self.position.take_axis(&positions, 0)?)?
            .add(&self.token_type.take_axis(&Array::from_slice(&[0i32], &[1]), 0)?)?;
        let mut h = self.emb_norm.forward(&x)?.expand_dims(0)?;
        let mut states = Vec::new();
        if keep_all {
            states.push(h.squeeze_axes(&[0])?);
        }
        for layer in self.layers.iter().take(n_layers) {
            let a = layer.attn_norm.forward(&layer.attn.forward(&h)?.add(&h)?)?;
            let f = layer.out.forward(&self.act.forward(&layer.inter.forward(&a)?)?)?;
            h = layer.out_norm.forward(&f.add(&a)?)?;
            if keep_all {
                states.push(h.squeeze_axes(&[0])?);
            }
        }
        if !keep_all {
            states.push(h.squeeze_axes(&[0])?);
        }
        Ok(states)
    }
}

/// Tokenizer + truncated BERT: the `get_bert_feature` of upstream's text preprocessor.
pub struct BertFeatures {
    pub tokenizer: Tokenizer,
    pub model: BertModel,
}

impl BertFeatures {
    /// Loads the tokenizer (`tokenizer.json`, else `vocab.txt`) and the feature layers.
    pub fn load(dir: &Path, dtype: Dtype) -> Result<Self> {
        Ok(Self {
            tokenizer: load_tokenizer(dir)?,
            model: BertModel::load(dir, BertLayers::Features, dtype)?,
        })
    }

    pub fn hidden_size(&self) -> i32 {
        self.model.config.hidden_size
    }

    /// Random feature layers with a vocabulary of the special tokens only (benchmarks): every
    /// Chinese character is one `[UNK]` token, so the compute per character is a real BERT's.
    pub fn bench_random(config: BertConfig, seed: u64) -> Result<Self> {
        let vocab = [("[PAD]", 0), ("[UNK]", 1), ("[CLS]", 2), ("[SEP]", 3), ("[MASK]", 4)].map(|(t, i)| (t.to_string(), i));
        let model = tokenizers::models::wordpiece::WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Self {
            tokenizer: wordpiece_tokenizer(model, true)?,
            model: bench_random(config, seed)?,
        })
    }

    /// `[CLS] … [SEP]` ids of `text`.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Invalid(format!("tokenizing {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// `[H, sum(word2ph)]` features of normalised Chinese text; `word2ph[i]` is the phone count
    /// of the i-th character, and each character must be exactly one token (as upstream asserts).
    pub fn phone_level_features(&self, text: &str, word2ph: &[usize]) -> Result<Array> {
        let ids = self.tokenize(text)?;
        let states = self.model.feature_states(&ids)?;
        expand_to_phones(&states, word2ph, text)
    }

    /// Features of a non-Chinese segment: zeros `[H, n_phones]` (upstream's rule).
    pub fn zeros(&self, n_phones: usize) -> Array {
        zeros(self.hidden_size(), n_phones)
    }
}

/// `[hidden, n_phones]` zeros.
pub fn zeros(hidden: i32, n_phones: usize) -> Array {
    Array::from_slice(&vec![0.0f32; hidden as usize * n_phones], &[hidden, n_phones as i32])
}

/// Drops `[CLS]`/`[SEP]` from `[L+2, H]` states, repeats row i `word2ph[i]` times and transposes.
pub fn expand_to_phones(states: &Array, word2ph: &[usize], text: &str) -> Result<Array> {
    let rows = states.shape()[0] as usize;
    if rows < 2 || rows - 2 != word2ph.len() {
        return Err(Error::Invalid(format!(
            "{text:?}: {} tokens between [CLS] and [SEP] but word2ph has {} entries",
            rows.saturating_sub(2),
            word2ph.len()
        )));
    }
    let idx: Vec<i32> = word2ph
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| std::iter::repeat_n(i as i32 + 1, n))
        .collect();
    if idx.is_empty() {
        return Ok(zeros(states.shape()[1], 0));
    }
    let idx = Array::from_slice(&idx, &[idx.len() as i32]);
    // Row-major, so callers may read it with `as_slice`.
    Ok(states.take_axis(&idx, 0)?.t().contiguous()?)
}

/// `tokenizer.json` when present, otherwise a BERT WordPiece tokenizer from `vocab.txt`
/// (lower-casing per `tokenizer_config.json`'s `do_lower_case`, default true).
pub fn load_tokenizer(dir: &Path) -> Result<Tokenizer> {
    let tj = dir.join("tokenizer.json");
    if tj.exists() {
        return Tokenizer::from_file(&tj).map_err(|e| Error::File {
            path: tj,
            message: format!("not a tokenizers file: {e}"),
        });
    }
    let vocab = dir.join("vocab.txt");
    let file_err = |message: String| Error::File {
        path: vocab.clone(),
        message,
    };
    let vocab_str = vocab.to_str().ok_or_else(|| file_err("path is not UTF-8".into()))?;
    let lowercase = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["do_lower_case"].as_bool())
        .unwrap_or(true);
    let model = tokenizers::models::wordpiece::WordPiece::from_file(vocab_str)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| file_err(e.to_string()))?;
    wordpiece_tokenizer(model, lowercase).map_err(|e| file_err(e.to_string()))
}

/// BERT's text pipeline around a WordPiece vocabulary: BERT normalisation (every CJK character
/// its own word), BERT pre-tokenisation and `[CLS] … [SEP]`.
fn wordpiece_tokenizer(model: tokenizers::models::wordpiece::WordPiece, lowercase: bool) -> Result<Tokenizer> {
    let mut tok = Tokenizer::new(model);
    let id = |t: &str| tok.token_to_id(t).ok_or_else(|| Error::Invalid(format!("vocabulary has no {t}")));
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tok.with_normalizer(Some(tokenizers::normalizers::BertNormalizer::new(true, true, None, lowercase)))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    tok.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::bert::BertPreTokenizer));
    tok.with_post_processor(Some(tokenizers::processors::bert::BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    Ok(tok)
}

/// A truncated BERT (feature layers only) with random weights, built through the strict loader.
pub fn bench_random(config: BertConfig, seed: u64) -> Result<BertModel> {
    let tensors = random_tensors(&config.param_shapes(config.feature_layers()), seed)?;
    BertModel::from_weights(config, Weights::from_map(tensors, "random"), BertLayers::Features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/chinese-roberta-wwm-ext-large-tiny")
    }

    #[test]
    fn vocab_txt_fallback_tokenizes_like_tokenizer_json() {
        let tmp = std::env::temp_dir().join(format!("gsv-bert-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        for f in ["vocab.txt", "tokenizer_config.json"] {
            std::fs::copy(fixture_dir().join(f), tmp.join(f)).unwrap();
        }
        let fast = load_tokenizer(&fixture_dir()).unwrap();
        let fallback = load_tokenizer(&tmp).unwrap();
        for text in ["春天来了,小鸟在树上唱歌.", "今天天气很好。", "Abc 我们!"] {
            let a = fast.encode(text, true).unwrap();
            let b = fallback.encode(text, true).unwrap();
            assert_eq!(a.get_ids(), b.get_ids(), "{text}");
        }
        std::fs::remove_dir_all(&tmp).ok();
    }

    #[test]
    fn truncated_model_gives_hidden_states_minus_three() {
        let all = BertModel::load(&fixture_dir(), BertLayers::All, Dtype::Float32).unwrap();
        let part = BertModel::load(&fixture_dir(), BertLayers::Features, Dtype::Float32).unwrap();
        assert_eq!(part.loaded_layers(), all.config.num_hidden_layers - 2);
        let ids = [2u32, 30, 31, 3];
        let states = all.hidden_states(&ids).unwrap();
        let want = &states[states.len() - 3];
        let got = part.feature_states(&ids).unwrap();
        let d = got.subtract(want).unwrap().abs().unwrap().max(None).unwrap().item_cast::<f32>();
        assert_eq!(d, 0.0);
        assert!(part.feature_states(&[9999]).is_err());
    }

    #[test]
    fn word2ph_expansion_and_length_check() {
        let states = Array::from_slice(&[0.0f32, 0.0, 1.0, 10.0, 2.0, 20.0, 0.0, 0.0], &[4, 2]);
        let f = expand_to_phones(&states, &[2, 1], "ab").unwrap();
        assert_eq!(f.shape(), &[2, 3]);
        assert_eq!(f.as_slice::<f32>(), &[1.0, 1.0, 2.0, 10.0, 10.0, 20.0]);
        assert!(expand_to_phones(&states, &[1, 1, 1], "abc").is_err());
        assert_eq!(zeros(4, 3).shape(), &[4, 3]);
    }
}
