//! GPT stage: `Text2SemanticDecoder` (upstream `GPT_SoVITS/AR/models/t2s_model.py`, spec §5),
//! phones + BERT features + prompt semantic tokens → logits over the next semantic token.
//!
//! This file holds the network and its loading; the decode loop (sampling, stop rules, batching,
//! pipelining) is in `decode.rs`, the sampler in `sampling.rs`, the cache in `cache.rs`.
//!
//! Layout: activations are `[B, T, D]`; per-layer K/V are cached as `[B, H, T, head_dim]`.
use std::collections::BTreeMap;
use std::path::Path;

use mlx_rs::fast::ScaledDotProductAttentionMask;
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Dtype};

use super::cache::KvCache;
use super::config::{dict_get, GptConfig};
use crate::models::layers::{Embedding, LayerNorm, Linear};
use crate::models::weights::{read_torch_file, Weights};
use crate::models::{Error, Result};

/// Rows of the precomputed sine table (upstream builds 4000 and extends on demand; so do we).
const PE_ROWS: i32 = 4000;

/// One post-norm encoder layer (`TransformerEncoderLayer`, norm_first=False, ReLU FFN).
#[derive(Debug, Clone)]
pub struct Block {
    /// `self_attn.in_proj_{weight,bias}`: q, k, v stacked in that order, `[3D, D]`.
    pub in_proj: Linear,
    pub out_proj: Linear,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
}

impl Block {
    fn load(w: &mut Weights, i: i32, d: i32) -> Self {
        let p = format!("h.layers.{i}");
        let lin = |w: &mut Weights, name: &str, out: i32, inp: i32| {
            let weight = w.take_shaped(&format!("{p}.{name}.weight"), &[out, inp]);
            Linear::new(weight, Some(w.take_shaped(&format!("{p}.{name}.bias"), &[out])))
        };
        let ln = |w: &mut Weights, name: &str| LayerNorm {
            weight: w.take_shaped(&format!("{p}.{name}.weight"), &[d]),
            bias: w.take_shaped(&format!("{p}.{name}.bias"), &[d]),
            eps: 1e-5,
        };
        Self {
            in_proj: Linear::new(
                w.take_shaped(&format!("{p}.self_attn.in_proj_weight"), &[3 * d, d]),
                Some(w.take_shaped(&format!("{p}.self_attn.in_proj_bias"), &[3 * d])),
            ),
            out_proj: lin(w, "self_attn.out_proj", d, d),
            linear1: lin(w, "linear1", 4 * d, d),
            linear2: lin(w, "linear2", d, 4 * d),
            norm1: ln(w, "norm1"),
            norm2: ln(w, "norm2"),
        }
    }

    /// `x [B, L, D]`; `mask` (bool, true = may attend) broadcastable to `[B, H, L, kv]`.
    fn forward(&self, x: &Array, mask: Option<&Array>, cache: &mut KvCache, n_head: i32) -> Result<Array> {
        let (q, k_new, v_new) = self.qkv(x, n_head)?;
        let (k, v) = cache.update_and_fetch(&k_new, &v_new)?;
        self.finish(x, &q, &k, &v, mask)
    }

    /// A one-position step against whole cache buffers `[B, H, capacity, hd]` (the compiled
    /// decode step): the new key/value are written at `offset` (an int32 `[1]` array, so the
    /// write position is data, not part of the graph) and `mask` hides the unwritten columns.
    fn forward_into_buffers(
        &self,
        x: &Array,
        mask: &Array,
        offset: &Array,
        k_buf: &Array,
        v_buf: &Array,
        n_head: i32,
    ) -> Result<(Array, Array, Array)> {
        let (q, k_new, v_new) = self.qkv(x, n_head)?;
        let (k, v) = super::cache::write_at(k_buf, v_buf, &k_new, &v_new, offset)?;
        let y = self.finish(x, &q, &k, &v, Some(mask))?;
        Ok((y, k, v))
    }

    /// Projections: `x [B, L, D]` → q, k, v `[B, H, L, hd]`.
    fn qkv(&self, x: &Array, n_head: i32) -> Result<(Array, Array, Array)> {
        let (b, l, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let qkv = self
            .in_proj
            .forward(x)?
            .reshape(&[b, l, 3, n_head, d / n_head])?
            .transpose_axes(&[2, 0, 3, 1, 4])?; // [3, B, H, L, hd]
        Ok((qkv.index(0), qkv.index(1), qkv.index(2)))
    }

    /// Attention over `k`/`v`, then the post-norm residual and FFN halves of the layer.
    fn finish(&self, x: &Array, q: &Array, k: &Array, v: &Array, mask: Option<&Array>) -> Result<Array> {
        let (b, l, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let scale = 1.0 / (q.shape()[3] as f32).sqrt();
        let attn = match mask {
            Some(m) => mlx_rs::fast::scaled_dot_product_attention(
                q,
                k,
                v,
                scale,
                ScaledDotProductAttentionMask::Array(m),
                None,
            )?,
            None => mlx_rs::fast::scaled_dot_product_attention(q, k, v, scale, None, None)?,
        };
        let attn = attn.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, l, d])?;
        let x = self.norm1.forward(&x.add(&self.out_proj.forward(&attn)?)?)?;
        let ff = self.linear2.forward(&ops::maximum(self.linear1.forward(&x)?, Array::from_f32(0.0))?)?;
        self.norm2.forward(&x.add(&ff)?)
    }

    fn weights(&self) -> Vec<&Array> {
        let mut all = Vec::with_capacity(16);
        for l in [&self.in_proj, &self.out_proj, &self.linear1, &self.linear2] {
            all.extend(l.arrays());
        }
        all.extend([
            &self.norm1.weight,
            &self.norm1.bias,
            &self.norm2.weight,
            &self.norm2.bias,
        ]);
        all
    }
}

/// Intermediates of the prompt (first) pass, for parity checks (`gpt/prompt_pass`).
pub struct PromptPassTrace {
    pub x_text_emb: Array,
    pub x_plus_bert: Array,
    pub x_pos: Array,
    pub y_pos: Option<Array>,
    pub xy_pos: Array,
    /// Upstream convention: true = masked, `[S, S]` row-major.
    pub attn_mask: Vec<bool>,
    pub xy_dec: Array,
    pub logits: Array,
}

/// The GPT (T2S) network with weights. Immutable after loading; decode state lives in
/// [`KvCache`]s and the decoders of `decode.rs`, so one model serves any number of them.
pub struct Text2SemanticDecoder {
    pub config: GptConfig,
    dtype: Dtype,
    bert_proj: Linear,
    text_embedding: Embedding,
    text_alpha: Array,
    audio_embedding: Embedding,
    audio_alpha: Array,
    layers: Vec<Block>,
    predict: Linear,
    /// Sine table `[PE_ROWS, D]` in the compute dtype.
    pe: Array,
}

impl Text2SemanticDecoder {
    /// Loads a GPT `.ckpt` (`torch.save` of `{'weight': {'model.*': fp16}, 'config': {...}}`).
    /// Weights are cast to `dtype` (f32 on CPU; f16/bf16 on a GPU).
    pub fn load(path: &Path, dtype: Dtype) -> Result<(Self, GptConfig)> {
        let source = path.display().to_string();
        let value = read_torch_file(path)?;
        let not_gpt = |why: &str| Error::File {
            path: path.into(),
            message: format!("not a GPT (Text2SemanticDecoder) checkpoint: {why}"),
        };
        let config = dict_get(&value, "config").ok_or_else(|| not_gpt("no `config` entry"))?;
        let weight = dict_get(&value, "weight").ok_or_else(|| not_gpt("no `weight` entry"))?;
        let cfg = GptConfig::from_value(config, &source)?;
        let weights = Weights::from_state_dict(weight, "model.", dtype, &source)?;
        if !weights.contains("ar_predict_layer.weight") {
            return Err(not_gpt("no `model.ar_predict_layer.weight` in `weight` (a SoVITS file?)"));
        }
        let model = Self::from_weights(weights, cfg, dtype)?;
        let cfg = model.config.clone();
        Ok((model, cfg))
    }

    /// Builds from a weight map with upstream names without the `model.` prefix; `bert_dim` is
    /// taken from `bert_proj.weight`. Fails listing every missing / mis-shaped / unused key.
    pub fn from_weights(mut w: Weights, mut cfg: GptConfig, dtype: Dtype) -> Result<Self> {
        if let Some(s) = w.shape_of("bert_proj.weight") {
            if s.len() == 2 {
                cfg.bert_dim = s[1];
            }
        }
        cfg.validate(w.source())?;
        let d = cfg.hidden_dim;
        let bert_proj = Linear::new(w.take_shaped("bert_proj.weight", &[d, cfg.bert_dim]), Some(w.take_shaped("bert_proj.bias", &[d])));
        let text_embedding = Embedding {
            weight: w.take_shaped("ar_text_embedding.word_embeddings.weight", &[cfg.phoneme_vocab_size, d]),
        };
        let text_alpha = w.take_shaped("ar_text_position.alpha", &[1]);
        let audio_embedding = Embedding {
            weight: w.take_shaped("ar_audio_embedding.word_embeddings.weight", &[cfg.vocab_size, d]),
        };
        let audio_alpha = w.take_shaped("ar_audio_position.alpha", &[1]);
        let layers = (0..cfg.n_layer).map(|i| Block::load(&mut w, i, d)).collect();
        let predict = Linear::new(w.take_shaped("ar_predict_layer.weight", &[cfg.vocab_size, d]), None);
        w.finish()?;
        let pe = Array::from_slice(&sine_rows(0, PE_ROWS, d), &[PE_ROWS, d]).as_dtype(dtype)?;
        Ok(Self {
            config: cfg,
            dtype,
            bert_proj,
            text_embedding,
            text_alpha,
            audio_embedding,
            audio_alpha,
            layers,
            predict,
            pe,
        })
    }

    /// Random weights of the given dimensions (benchmarks, tests): N(0, 0.02²) matrices,
    /// LayerNorm γ = 1, β = 0, alphas 1. Deterministic for a seed.
    pub fn random(cfg: GptConfig, dtype: Dtype, seed: u64) -> Result<Self> {
        let key = mlx_rs::random::key(seed)?;
        let mut keys = KeySplitter(key);
        let d = cfg.hidden_dim;
        let mut m = BTreeMap::new();
        let mut normal = |name: String, shape: &[i32], keys: &mut KeySplitter| -> Result<()> {
            let a = mlx_rs::random::normal::<f32>(shape, 0.0, 0.02, &keys.next()?)?;
            m.insert(name, a.as_dtype(dtype)?);
            Ok(())
        };
        normal("bert_proj.weight".into(), &[d, cfg.bert_dim], &mut keys)?;
        normal("bert_proj.bias".into(), &[d], &mut keys)?;
        normal("ar_text_embedding.word_embeddings.weight".into(), &[cfg.phoneme_vocab_size, d], &mut keys)?;
        normal("ar_audio_embedding.word_embeddings.weight".into(), &[cfg.vocab_size, d], &mut keys)?;
        normal("ar_predict_layer.weight".into(), &[cfg.vocab_size, d], &mut keys)?;
        for i in 0..cfg.n_layer {
            let p = format!("h.layers.{i}");
            normal(format!("{p}.self_attn.in_proj_weight"), &[3 * d, d], &mut keys)?;
            normal(format!("{p}.self_attn.in_proj_bias"), &[3 * d], &mut keys)?;
            normal(format!("{p}.self_attn.out_proj.weight"), &[d, d], &mut keys)?;
            normal(format!("{p}.self_attn.out_proj.bias"), &[d], &mut keys)?;
            normal(format!("{p}.linear1.weight"), &[4 * d, d], &mut keys)?;
            normal(format!("{p}.linear1.bias"), &[4 * d], &mut keys)?;
            normal(format!("{p}.linear2.weight"), &[d, 4 * d], &mut keys)?;
            normal(format!("{p}.linear2.bias"), &[d], &mut keys)?;
        }
        for i in 0..cfg.n_layer {
            for n in ["norm1", "norm2"] {
                let p = format!("h.layers.{i}.{n}");
                m.insert(format!("{p}.weight"), ops::ones_dtype(&[d], dtype)?);
                m.insert(format!("{p}.bias"), ops::zeros_dtype(&[d], dtype)?);
            }
        }
        m.insert("ar_text_position.alpha".into(), ops::ones_dtype(&[1], dtype)?);
        m.insert("ar_audio_position.alpha".into(), ops::ones_dtype(&[1], dtype)?);
        Self::from_weights(Weights::from_map(m, "random GPT"), cfg, dtype)
    }

    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Sine positions `[n, D]` for positions `start..start+n` (table rows, or computed past it).
    pub fn positions(&self, start: i32, n: i32) -> Result<Array> {
        if start >= 0 && start + n <= PE_ROWS {
            Ok(self.pe.index(start..start + n))
        } else {
            let d = self.config.hidden_dim;
            Ok(Array::from_slice(&sine_rows(start, n, d), &[n, d]).as_dtype(self.dtype)?)
        }
    }

    /// Sine positions `[len, D]` for arbitrary positions (one per batch row in a decode step).
    pub fn positions_at(&self, pos: &[i32]) -> Result<Array> {
        if self.positions_in_table(pos) {
            let idx = Array::from_slice(pos, &[pos.len() as i32]);
            Ok(self.pe.take_axis(&idx, 0)?)
        } else {
            let d = self.config.hidden_dim;
            let mut rows = Vec::with_capacity(pos.len() * d as usize);
            for &p in pos {
                rows.extend(sine_rows(p, 1, d));
            }
            Ok(Array::from_slice(&rows, &[pos.len() as i32, d]).as_dtype(self.dtype)?)
        }
    }

    /// Text side of the prompt: `PE_text(emb_text(phones) + bert_proj(bertᵀ))`.
    /// `phones [T]` ids, `bert [bert_dim, T]` (upstream's phone-level feature layout) → `[T, D]`.
    /// Returns (embedding, embedding + bert, with positions).
    pub fn embed_text_parts(&self, phones: &[i32], bert: &Array) -> Result<(Array, Array, Array)> {
        let t = phones.len() as i32;
        if t == 0 {
            return Err(Error::Invalid("GPT input has no phones".into()));
        }
        if let Some(bad) = phones.iter().find(|&&p| p < 0 || p >= self.config.phoneme_vocab_size) {
            return Err(Error::Invalid(format!(
                "phone id {bad} outside the GPT's phoneme table of {} symbols",
                self.config.phoneme_vocab_size
            )));
        }
        if bert.shape() != [self.config.bert_dim, t] {
            return Err(Error::Invalid(format!(
                "BERT features have shape {:?}, expected [{}, {t}] (one column per phone)",
                bert.shape(),
                self.config.bert_dim
            )));
        }
        let ids = Array::from_slice(phones, &[t]);
        let emb = self.text_embedding.forward(&ids)?;
        let bert = bert.as_dtype(self.dtype)?.t();
        let x = emb.add(&self.bert_proj.forward(&bert)?)?;
        let pos = x.add(&self.text_alpha.multiply(&self.positions(0, t)?)?)?;
        Ok((emb, x, pos))
    }

    pub fn embed_text(&self, phones: &[i32], bert: &Array) -> Result<Array> {
        Ok(self.embed_text_parts(phones, bert)?.2)
    }

    /// Audio side of the prompt: `emb_audio(tokens) + alpha·pe[0..Ty]` → `[Ty, D]`.
    pub fn embed_prompt(&self, tokens: &[u32]) -> Result<Array> {
        let n = tokens.len() as i32;
        if let Some(bad) = tokens.iter().find(|&&t| t as i64 >= self.config.vocab_size as i64) {
            return Err(Error::Invalid(format!(
                "prompt semantic token {bad} outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let ids = Array::from_slice(tokens, &[n]);
        let emb = self.audio_embedding.forward(&ids)?;
        Ok(emb.add(&self.audio_alpha.multiply(&self.positions(0, n)?)?)?)
    }

    /// Input of a decode step: `emb_audio(tokens[b])·1 + alpha·pe[positions[b]]` → `[B, 1, D]`.
    /// `tokens` may still be lazy (the previous step's sample): nothing is read on the host.
    pub fn embed_step(&self, tokens: &Array, positions: &[i32]) -> Result<Array> {
        self.embed_step_rows(tokens, &self.positions_at(positions)?)
    }

    /// [`Self::embed_step`] with the positions as an int32 `[B]` array (the compiled step, where
    /// they must be data); every position must lie inside the sine table
    /// ([`Self::positions_in_table`]).
    pub fn embed_step_at(&self, tokens: &Array, positions: &Array) -> Result<Array> {
        self.embed_step_rows(tokens, &self.pe.take_axis(positions, 0)?)
    }

    /// `emb_audio(tokens) + alpha·pe_rows` with one sine row `[B, D]` per token → `[B, 1, D]`.
    fn embed_step_rows(&self, tokens: &Array, pe_rows: &Array) -> Result<Array> {
        let b = pe_rows.shape()[0];
        let emb = self.audio_embedding.forward(&tokens.reshape(&[b])?)?;
        let x = emb.add(&self.audio_alpha.multiply(pe_rows)?)?;
        Ok(x.reshape(&[b, 1, self.config.hidden_dim])?)
    }

    pub fn positions_in_table(&self, positions: &[i32]) -> bool {
        positions.iter().all(|&p| (0..PE_ROWS).contains(&p))
    }

    /// All layers for one decode position against whole cache buffers (see
    /// `Block::forward_into_buffers`); `buffers` = `[k_0, v_0, k_1, v_1, …]`. Returns the
    /// hidden state and the written buffers in the same order.
    pub fn forward_step_buffers(&self, x: &Array, mask: &Array, offset: &Array, buffers: &[Array]) -> Result<(Array, Vec<Array>)> {
        if buffers.len() != 2 * self.layers.len() {
            return Err(Error::Invalid(format!(
                "{} cache buffers given for {} layers",
                buffers.len(),
                self.layers.len()
            )));
        }
        let mut h = x.clone();
        let mut out = Vec::with_capacity(buffers.len());
        for (layer, kv) in self.layers.iter().zip(buffers.chunks(2)) {
            let (y, k, v) = layer.forward_into_buffers(&h, mask, offset, &kv[0], &kv[1], self.config.n_head)?;
            h = y;
            out.push(k);
            out.push(v);
        }
        Ok((h, out))
    }

    /// The transformer layers, first to last.
    pub fn layers(&self) -> &[Block] {
        &self.layers
    }

    /// Evaluates every weight (loading casts lazily), so that nothing captured by a compiled
    /// step is recomputed per call.
    pub fn eval_weights(&self) -> Result<()> {
        let mut all: Vec<&Array> = vec![&self.text_embedding.weight, &self.text_alpha, &self.audio_embedding.weight, &self.audio_alpha, &self.pe];
        all.extend(self.bert_proj.arrays().chain(self.predict.arrays()));
        for l in &self.layers {
            all.extend(l.weights());
        }
        mlx_rs::transforms::eval(all)?;
        Ok(())
    }

    /// All layers: `x [B, L, D]` → `[B, L, D]`, appending this input's K/V to `caches` (one
    /// per layer). `mask`: bool, true = may attend, broadcastable to `[B, H, L, offset + L]`;
    /// `None` = attend to everything (a decode step without padding).
    pub fn forward(&self, x: &Array, mask: Option<&Array>, caches: &mut [KvCache]) -> Result<Array> {
        if caches.len() != self.layers.len() {
            return Err(Error::Invalid(format!(
                "{} kv caches given for {} layers",
                caches.len(),
                self.layers.len()
            )));
        }
        let mut h = x.clone();
        for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
            h = layer.forward(&h, mask, cache, self.config.n_head)?;
        }
        Ok(h)
    }

    /// One eager decode step: `tokens [B]` embedded at `positions`, every layer over `caches`
    /// (appending this position), then the head → f32 logits `[B, vocab]` (lazy).
    pub fn step_logits(&self, tokens: &Array, positions: &[i32], mask: Option<&Array>, caches: &mut [KvCache]) -> Result<Array> {
        let x = self.embed_step(tokens, positions)?;
        let h = self.forward(&x, mask, caches)?;
        self.predict(&h.reshape(&[positions.len() as i32, self.config.hidden_dim])?)
    }

    /// `ar_predict_layer` on `[.., D]` → f32 logits `[.., vocab]`.
    /// What the decode-step embedding reads: the audio token table `[vocab, D]`, the sine table
    /// `[PE_ROWS, D]` and `alpha [1]` (`x = emb[token] + alpha·pe[position]`).
    pub fn step_embedding_tables(&self) -> (&Array, &Array, &Array) {
        (&self.audio_embedding.weight, &self.pe, &self.audio_alpha)
    }

    /// The output head (`ar_predict_layer`).
    pub fn predict_layer(&self) -> &Linear {
        &self.predict
    }

    pub fn predict(&self, h: &Array) -> Result<Array> {
        Ok(self.predict.forward(h)?.as_dtype(Dtype::Float32)?)
    }

    /// Fresh caches, one per layer.
    pub fn new_caches(&self) -> Vec<KvCache> {
        (0..self.layers.len()).map(|_| KvCache::new()).collect()
    }

    /// The prompt pass of `infer_panel_naive` for one sequence with every intermediate.
    /// `prompt` None = reference-free (text only).
    pub fn prompt_pass_trace(&self, phones: &[i32], bert: &Array, prompt: Option<&[u32]>) -> Result<(PromptPassTrace, Vec<KvCache>)> {
        let (x_text_emb, x_plus_bert, x_pos) = self.embed_text_parts(phones, bert)?;
        let tx = phones.len() as i32;
        let y_pos = prompt.map(|p| self.embed_prompt(p)).transpose()?;
        let ty = prompt.map_or(0, |p| p.len() as i32);
        let xy_pos = match &y_pos {
            Some(y) => ops::concatenate(&[&x_pos, y], 0)?,
            None => x_pos.clone(),
        };
        let keep = prefix_lm_keep(tx, ty);
        let s = tx + ty;
        let mask = Array::from_slice(&keep, &[1, 1, s, s]);
        let mut caches = self.new_caches();
        let xy_dec = self.forward(&xy_pos.expand_dims(0)?, Some(&mask), &mut caches)?.index(0);
        let logits = self.predict(&xy_dec.index(s - 1))?;
        let trace = PromptPassTrace {
            x_text_emb,
            x_plus_bert,
            x_pos,
            y_pos,
            xy_pos,
            attn_mask: keep.iter().map(|k| !k).collect(),
            xy_dec,
            logits,
        };
        Ok((trace, caches))
    }
}

/// Prefix-LM attention of the prompt pass, `[S, S]` row-major, true = may attend
/// (upstream's mask negated): text rows see all text and no audio; audio rows see all text and
/// audio causally.
pub fn prefix_lm_keep(tx: i32, ty: i32) -> Vec<bool> {
    let s = (tx + ty) as usize;
    let tx = tx as usize;
    let mut keep = vec![false; s * s];
    for r in 0..s {
        for c in 0..s {
            keep[r * s + c] = if r < tx { c < tx } else { c <= r };
        }
    }
    keep
}

/// Upstream's sine table rows (`SinePositionalEmbedding.extend_pe`), computed the way torch does
/// in f32: `div = exp(2i · −ln(10000)/D)`, `pe[p, 2i] = sin(p·div)`, `pe[p, 2i+1] = cos(p·div)`.
pub fn sine_rows(start: i32, n: i32, d: i32) -> Vec<f32> {
    let half = (d / 2) as usize;
    let c = -(10000f64.ln() / d as f64) as f32;
    let div: Vec<f32> = (0..half).map(|i| ((2 * i) as f32 * c).exp()).collect();
    let mut out = Vec::with_capacity((n * d) as usize);
    for p in start..start + n {
        for &dv in &div {
            let arg = p as f32 * dv;
            out.push((arg as f64).sin() as f32);
            out.push((arg as f64).cos() as f32);
        }
    }
    out
}

/// Hands out fresh PRNG keys from a root key.
struct KeySplitter(Array);

impl KeySplitter {
    fn next(&mut self) -> Result<Array> {
        let (a, b) = mlx_rs::random::split(&self.0, 2)?;
        self.0 = a;
        Ok(b)
    }
}
