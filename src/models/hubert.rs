//! CNHuBERT (`TencentGameMate/chinese-hubert-base`): transformers `HubertModel` → `last_hidden_state`.
//!
//! Upstream (`feature_extractor/cnhubert.py`) loads the HF folder and, on the TTS path, calls the
//! model directly on the 16 kHz waveform (no feature-extractor normalisation, see
//! [`crate::audio::ReferenceAudio::hubert_input`]). Every size comes from `config.json`.
//!
//! Layout: channels-last `[B, T, C]` throughout; [`Hubert::ssl_content`] returns upstream's
//! `[1, C, T]`.
use std::collections::BTreeMap;
use std::path::Path;

use mlx_rs::{ops, Array, Dtype};
use serde::Deserialize;

use super::layers::{fold_weight_norm, Conv1d, LayerNorm, Linear};
use super::weights::Weights;
use super::{Error, Result};

/// The subset of transformers' `HubertConfig` that inference reads; defaults are HF's.
#[derive(Debug, Clone, Deserialize)]
pub struct HubertConfig {
    #[serde(default = "d_conv_dim")]
    pub conv_dim: Vec<i32>,
    #[serde(default = "d_conv_kernel")]
    pub conv_kernel: Vec<i32>,
    #[serde(default = "d_conv_stride")]
    pub conv_stride: Vec<i32>,
    #[serde(default)]
    pub conv_bias: bool,
    /// `"group"`: GroupNorm(C, C) after the first conv only; `"layer"`: LayerNorm after each.
    #[serde(default = "d_group")]
    pub feat_extract_norm: String,
    #[serde(default = "d_gelu")]
    pub feat_extract_activation: String,
    #[serde(default = "d_true")]
    pub feat_proj_layer_norm: bool,
    #[serde(default = "d_768")]
    pub hidden_size: i32,
    #[serde(default = "d_12")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_12")]
    pub num_attention_heads: usize,
    #[serde(default = "d_3072")]
    pub intermediate_size: i32,
    #[serde(default = "d_gelu")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "d_128")]
    pub num_conv_pos_embeddings: i32,
    #[serde(default = "d_16")]
    pub num_conv_pos_embedding_groups: i32,
    /// Pre-LN layers and a final LayerNorm (the "large" HuBERTs); chinese-hubert-base is post-LN.
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    #[serde(default)]
    pub conv_pos_batch_norm: bool,
}

fn d_conv_dim() -> Vec<i32> {
    vec![512; 7]
}
fn d_conv_kernel() -> Vec<i32> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn d_conv_stride() -> Vec<i32> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn d_group() -> String {
    "group".into()
}
fn d_gelu() -> String {
    "gelu".into()
}
fn d_true() -> bool {
    true
}
fn d_768() -> i32 {
    768
}
fn d_12() -> usize {
    12
}
fn d_3072() -> i32 {
    3072
}
fn d_eps() -> f32 {
    1e-5
}
fn d_128() -> i32 {
    128
}
fn d_16() -> i32 {
    16
}

impl HubertConfig {
    /// chinese-hubert-base (the sizes every GPT-SoVITS install uses).
    pub fn chinese_hubert_base() -> Self {
        // serde defaults are exactly HF's HubertConfig defaults = chinese-hubert-base.
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("empty config parses"))
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
        let n = self.conv_dim.len();
        if n == 0 || self.conv_kernel.len() != n || self.conv_stride.len() != n {
            return bad(format!(
                "conv_dim/conv_kernel/conv_stride lengths differ or are empty ({}, {}, {})",
                n,
                self.conv_kernel.len(),
                self.conv_stride.len()
            ));
        }
        if !matches!(self.feat_extract_norm.as_str(), "group" | "layer") {
            return bad(format!("feat_extract_norm {:?} is not supported", self.feat_extract_norm));
        }
        if self.conv_pos_batch_norm {
            return bad("conv_pos_batch_norm = true is not supported".into());
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads as i32 != 0 {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_conv_pos_embedding_groups <= 0 || self.hidden_size % self.num_conv_pos_embedding_groups != 0 {
            return bad(format!(
                "hidden_size {} is not divisible by num_conv_pos_embedding_groups {}",
                self.hidden_size, self.num_conv_pos_embedding_groups
            ));
        }
        Activation::parse(&self.hidden_act, source)?;
        Activation::parse(&self.feat_extract_activation, source)?;
        Ok(())
    }

    /// Every parameter the model reads, with its torch shape (used to build random models and
    /// to check shapes at load).
    pub fn param_shapes(&self) -> Vec<(String, Vec<i32>)> {
        let mut v: Vec<(String, Vec<i32>)> = Vec::new();
        let mut cin = 1;
        for (i, (&c, &k)) in self.conv_dim.iter().zip(&self.conv_kernel).enumerate() {
            let p = format!("feature_extractor.conv_layers.{i}");
            v.push((format!("{p}.conv.weight"), vec![c, cin, k]));
            if self.conv_bias {
                v.push((format!("{p}.conv.bias"), vec![c]));
            }
            if self.feat_extract_norm == "layer" || i == 0 {
                v.push((format!("{p}.layer_norm.weight"), vec![c]));
                v.push((format!("{p}.layer_norm.bias"), vec![c]));
            }
            cin = c;
        }
        let h = self.hidden_size;
        if self.feat_proj_layer_norm {
            v.push(("feature_projection.layer_norm.weight".into(), vec![cin]));
            v.push(("feature_projection.layer_norm.bias".into(), vec![cin]));
        }
        v.push(("feature_projection.projection.weight".into(), vec![h, cin]));
        v.push(("feature_projection.projection.bias".into(), vec![h]));
        let k = self.num_conv_pos_embeddings;
        v.push(("encoder.pos_conv_embed.conv.weight_g".into(), vec![1, 1, k]));
        v.push((
            "encoder.pos_conv_embed.conv.weight_v".into(),
            vec![h, h / self.num_conv_pos_embedding_groups, k],
        ));
        v.push(("encoder.pos_conv_embed.conv.bias".into(), vec![h]));
        v.push(("encoder.layer_norm.weight".into(), vec![h]));
        v.push(("encoder.layer_norm.bias".into(), vec![h]));
        let f = self.intermediate_size;
        for i in 0..self.num_hidden_layers {
            let p = format!("encoder.layers.{i}");
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                v.push((format!("{p}.attention.{proj}.weight"), vec![h, h]));
                v.push((format!("{p}.attention.{proj}.bias"), vec![h]));
            }
            for ln in ["layer_norm", "final_layer_norm"] {
                v.push((format!("{p}.{ln}.weight"), vec![h]));
                v.push((format!("{p}.{ln}.bias"), vec![h]));
            }
            v.push((format!("{p}.feed_forward.intermediate_dense.weight"), vec![f, h]));
            v.push((format!("{p}.feed_forward.intermediate_dense.bias"), vec![f]));
            v.push((format!("{p}.feed_forward.output_dense.weight"), vec![h, f]));
            v.push((format!("{p}.feed_forward.output_dense.bias"), vec![h]));
        }
        v
    }
}

/// transformers' `ACT2FN` entries that HuBERT/BERT configs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact (erf) GELU, HF `"gelu"`.
    Gelu,
    /// tanh approximation, HF `"gelu_new"` / `"gelu_pytorch_tanh"`.
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn parse(name: &str, source: &str) -> Result<Self> {
        match name {
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(Error::Config {
                source_name: source.to_string(),
                message: format!("activation {other:?} is not supported"),
            }),
        }
    }

    pub fn forward(self, x: &Array) -> Result<Array> {
        Ok(match self {
            Self::Gelu => mlx_rs::nn::gelu(x)?,
            Self::GeluTanh => mlx_rs::nn::gelu_approximate(x)?,
            Self::Relu => ops::maximum(x, Array::from_f32(0.0))?,
        })
    }
}

/// Multi-head self-attention without mask (one reference clip, no padding).
#[derive(Debug, Clone)]
pub(crate) struct SelfAttention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub out: Linear,
    pub heads: i32,
}

impl SelfAttention {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let d = c / self.heads;
        let split = |a: Array| -> Result<Array> {
            Ok(a.reshape(&[b, t, self.heads, d])?.transpose_axes(&[0, 2, 1, 3])?)
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scale = 1.0 / (d as f32).sqrt();
        let o = mlx_rs::fast::scaled_dot_product_attention(&q, &k, &v, scale, None, None)?;
        self.out.forward(&o.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, t, c])?)
    }
}

struct FeatureConv {
    conv: Conv1d,
    /// The same weight as `[k·C_in, C_out]`, for the unfold + matmul form of the conv.
    unfolded_weight: Array,
    kernel: i32,
    stride: i32,
    /// GroupNorm (one group per channel: normalise over time) or LayerNorm (over channels).
    norm: Option<(Array, Array, bool)>,
}

impl FeatureConv {
    /// Strided, ungrouped conv as unfold (a strided view of the windows) + one matmul: on the CPU
    /// this runs through BLAS and is several times faster than MLX's direct conv at these sizes.
    fn forward(&self, x: &Array) -> Result<Array> {
        let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (k, s) = (self.kernel, self.stride);
        if t < k {
            return Err(Error::Invalid(format!("{t} frames are fewer than the conv kernel {k}")));
        }
        let frames = (t - k) / s + 1;
        let (t64, c64, s64) = (t as i64, c as i64, s as i64);
        let windows = x
            .as_strided(&[b, frames, k, c][..], &[t64 * c64, s64 * c64, c64, 1][..], None)?
            .reshape(&[b, frames, k * c])?;
        let y = ops::matmul(&windows, &self.unfolded_weight)?;
        Ok(match &self.conv.bias {
            Some(bias) => y.add(bias)?,
            None => y,
        })
    }
}

struct EncoderLayer {
    attn: SelfAttention,
    layer_norm: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
    final_layer_norm: LayerNorm,
}

/// Intermediates of one forward pass (what the `hubert/` fixture stores).
pub struct HubertOutputs {
    /// Feature-encoder output `[B, T, C]`.
    pub conv_features: Array,
    /// `[0]` = encoder input after positional conv (+ LayerNorm when post-LN), `[i]` = after layer
    /// i; the last entry is `last_hidden_state`. Each `[B, T, H]`.
    pub hidden_states: Vec<Array>,
}

pub struct Hubert {
    pub config: HubertConfig,
    dtype: Dtype,
    convs: Vec<FeatureConv>,
    conv_act: Activation,
    proj_norm: Option<LayerNorm>,
    proj: Linear,
    pos_conv: Conv1d,
    pos_kernel: i32,
    enc_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    act: Activation,
}

impl Hubert {
    /// Loads an HF folder: `config.json` plus `model.safetensors` or `pytorch_model.bin`.
    pub fn load(dir: &Path, dtype: Dtype) -> Result<Self> {
        let config = HubertConfig::from_file(&dir.join("config.json"))?;
        Self::from_weights(config, Weights::from_hf_folder(dir, dtype)?, dtype)
    }

    /// Builds the model from a strict weight map (HubertModel names, optionally `hubert.`-prefixed
    /// as in task-head checkpoints).
    pub fn from_weights(config: HubertConfig, mut w: Weights, dtype: Dtype) -> Result<Self> {
        config.validate(w.source())?;
        let p = if w.contains("hubert.feature_extractor.conv_layers.0.conv.weight") {
            "hubert."
        } else {
            ""
        };
        let shapes: BTreeMap<String, Vec<i32>> = config.param_shapes().into_iter().collect();
        let mut take = |w: &mut Weights, name: &str| -> Array {
            match shapes.get(name) {
                Some(s) => w.take_shaped(&format!("{p}{name}"), s),
                None => w.take(&format!("{p}{name}")),
            }
        };
        let mut convs = Vec::new();
        for (i, &s) in config.conv_stride.iter().enumerate() {
            let lp = format!("feature_extractor.conv_layers.{i}");
            let weight = take(&mut w, &format!("{lp}.conv.weight"));
            let bias = config.conv_bias.then(|| take(&mut w, &format!("{lp}.conv.bias")));
            let group = config.feat_extract_norm == "group";
            let norm = (!group || i == 0).then(|| {
                (
                    take(&mut w, &format!("{lp}.layer_norm.weight")),
                    take(&mut w, &format!("{lp}.layer_norm.bias")),
                    group,
                )
            });
            let conv = Conv1d::from_torch(&weight, bias, s, 0, 1, 1)?;
            let (cout, k) = (weight.shape()[0], config.conv_kernel[i]);
            let unfolded_weight = if weight.ndim() == 3 {
                conv.weight.reshape(&[cout, -1])?.t()
            } else {
                // Missing key: reported by `finish` below.
                weight.clone()
            };
            convs.push(FeatureConv {
                conv,
                unfolded_weight,
                kernel: k,
                stride: s,
                norm,
            });
        }
        let eps = config.layer_norm_eps;
        let ln = |w: &mut Weights, take: &mut dyn FnMut(&mut Weights, &str) -> Array, name: &str| LayerNorm {
            weight: take(w, &format!("{name}.weight")),
            bias: take(w, &format!("{name}.bias")),
            eps,
        };
        let proj_norm = config
            .feat_proj_layer_norm
            .then(|| ln(&mut w, &mut take, "feature_projection.layer_norm"));
        let proj = Linear::new(take(&mut w, "feature_projection.projection.weight"), Some(take(&mut w, "feature_projection.projection.bias")));
        let pos_weight = pos_conv_weight(&mut w, p, &mut take)?;
        let k = config.num_conv_pos_embeddings;
        let pos_conv = Conv1d::from_torch(
            &pos_weight,
            Some(take(&mut w, "encoder.pos_conv_embed.conv.bias")),
            1,
            k / 2,
            1,
            config.num_conv_pos_embedding_groups,
        )?;
        let enc_norm = ln(&mut w, &mut take, "encoder.layer_norm");
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let lp = format!("encoder.layers.{i}");
            let lin = |w: &mut Weights, take: &mut dyn FnMut(&mut Weights, &str) -> Array, n: &str| Linear::new(take(w, &format!("{lp}.{n}.weight")), Some(take(w, &format!("{lp}.{n}.bias"))));
            layers.push(EncoderLayer {
                attn: SelfAttention {
                    q: lin(&mut w, &mut take, "attention.q_proj"),
                    k: lin(&mut w, &mut take, "attention.k_proj"),
                    v: lin(&mut w, &mut take, "attention.v_proj"),
                    out: lin(&mut w, &mut take, "attention.out_proj"),
                    heads: config.num_attention_heads as i32,
                },
                layer_norm: ln(&mut w, &mut take, &format!("{lp}.layer_norm")),
                ff_in: lin(&mut w, &mut take, "feed_forward.intermediate_dense"),
                ff_out: lin(&mut w, &mut take, "feed_forward.output_dense"),
                final_layer_norm: ln(&mut w, &mut take, &format!("{lp}.final_layer_norm")),
            });
        }
        // Pretraining-only parameter (mask embedding for SpecAugment-style masking).
        w.ignore_prefix(&format!("{p}masked_spec_embed"));
        w.finish()?;
        let source = "config.json";
        Ok(Self {
            conv_act: Activation::parse(&config.feat_extract_activation, source)?,
            act: Activation::parse(&config.hidden_act, source)?,
            pos_kernel: k,
            config,
            dtype,
            convs,
            proj_norm,
            proj,
            pos_conv,
            enc_norm,
            layers,
        })
    }

    /// Number of output frames for `n` input samples (each conv: `(len − k) / s + 1`).
    pub fn frames(&self, n: usize) -> usize {
        let mut len = n as i64;
        for (&k, &s) in self.config.conv_kernel.iter().zip(&self.config.conv_stride) {
            if len < k as i64 {
                return 0;
            }
            len = (len - k as i64) / s as i64 + 1;
        }
        len as usize
    }

    /// The TTS path: `last_hidden_state` of a raw 16 kHz waveform, transposed to upstream's
    /// `ssl_content` layout `[1, H, T]`.
    pub fn ssl_content(&self, wav16k: &[f32]) -> Result<Array> {
        if self.frames(wav16k.len()) == 0 {
            return Err(Error::Invalid(format!(
                "HuBERT input of {} samples is shorter than the receptive field",
                wav16k.len()
            )));
        }
        let x = Array::from_slice(wav16k, &[1, wav16k.len() as i32]);
        // Row-major, so callers may read it with `as_slice`.
        Ok(self.forward(&x)?.transpose_axes(&[0, 2, 1])?.contiguous()?)
    }

    /// `last_hidden_state` `[B, T, H]` of a waveform batch `[B, N]`.
    pub fn forward(&self, wav: &Array) -> Result<Array> {
        let mut out = self.run(wav, false)?;
        out.hidden_states
            .pop()
            .ok_or_else(|| Error::Invalid("HuBERT produced no hidden state".into()))
    }

    /// Forward pass keeping the feature-encoder output and every hidden state.
    pub fn forward_with_hidden_states(&self, wav: &Array) -> Result<HubertOutputs> {
        self.run(wav, true)
    }

    fn run(&self, wav: &Array, keep_all: bool) -> Result<HubertOutputs> {
        if wav.ndim() != 2 {
            return Err(Error::Invalid(format!("HuBERT input must be [B, N], got {:?}", wav.shape())));
        }
        let mut x = wav.as_dtype(self.dtype)?.expand_dims(-1)?;
        for c in &self.convs {
            x = c.forward(&x)?;
            if let Some((g, b, group)) = &c.norm {
                x = if *group {
                    // GroupNorm with one group per channel normalises each channel over time.
                    let mean = x.mean_axes(&[1], true)?;
                    let var = x.var_axes(&[1], true, 0)?;
                    x.subtract(&mean)?
                        .multiply(&ops::rsqrt(&var.add(Array::from_f32(1e-5))?)?)?
                        .multiply(g)?
                        .add(b)?
                } else {
                    mlx_rs::fast::layer_norm(&x, g, b, 1e-5)?
                };
            }
            x = self.conv_act.forward(&x)?;
        }
        let conv_features = x.clone();
        let mut h = match &self.proj_norm {
            Some(n) => n.forward(&x)?,
            None => x,
        };
        h = self.proj.forward(&h)?;
        let mut pos = self.pos_conv.forward(&h)?;
        if self.pos_kernel % 2 == 0 {
            // HubertSamePadLayer: an even kernel with padding k/2 yields one extra frame.
            let t = pos.shape()[1];
            pos = pos.index((.., ..t - 1, ..));
        }
        h = h.add(&self.conv_act.forward(&pos)?)?;
        let stable = self.config.do_stable_layer_norm;
        if !stable {
            h = self.enc_norm.forward(&h)?;
        }
        let mut hidden_states = Vec::new();
        for layer in &self.layers {
            if keep_all {
                hidden_states.push(h.clone());
            }
            h = if stable {
                let a = layer.attn.forward(&layer.layer_norm.forward(&h)?)?;
                let h1 = h.add(&a)?;
                let f = layer.final_layer_norm.forward(&h1)?;
                h1.add(&layer.ff_out.forward(&self.act.forward(&layer.ff_in.forward(&f)?)?)?)?
            } else {
                let h1 = layer.layer_norm.forward(&h.add(&layer.attn.forward(&h)?)?)?;
                let f = layer.ff_out.forward(&self.act.forward(&layer.ff_in.forward(&h1)?)?)?;
                layer.final_layer_norm.forward(&h1.add(&f)?)?
            };
        }
        if stable {
            h = self.enc_norm.forward(&h)?;
        }
        hidden_states.push(h);
        Ok(HubertOutputs {
            conv_features,
            hidden_states,
        })
    }
}

use mlx_rs::ops::indexing::IndexOp;

/// The positional conv weight, folded from its weight norm (dim 2: one norm per kernel tap, over
/// output and input channels). Accepts the legacy `weight_g`/`weight_v` names and the
/// `parametrizations.weight.original0/1` names of newer torch.
fn pos_conv_weight(
    w: &mut Weights,
    p: &str,
    take: &mut dyn FnMut(&mut Weights, &str) -> Array,
) -> Result<Array> {
    let (g, v) = if w.contains(&format!("{p}encoder.pos_conv_embed.conv.parametrizations.weight.original0")) {
        (
            w.take(&format!("{p}encoder.pos_conv_embed.conv.parametrizations.weight.original0")),
            w.take(&format!("{p}encoder.pos_conv_embed.conv.parametrizations.weight.original1")),
        )
    } else {
        (
            take(w, "encoder.pos_conv_embed.conv.weight_g"),
            take(w, "encoder.pos_conv_embed.conv.weight_v"),
        )
    };
    if v.ndim() != 3 {
        // Missing keys are reported by `finish`; keep shapes valid until then.
        return Ok(v);
    }
    fold_weight_norm(&g, &v, 2)
}

/// Wav2Vec2FeatureExtractor's `do_normalize`: `(x − mean) / sqrt(var + 1e-7)` over the clip.
/// Used by upstream's dataset preparation (`CNHubert.forward`), not by the TTS path.
pub fn normalize_input(x: &[f32]) -> Vec<f32> {
    if x.is_empty() {
        return Vec::new();
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + 1e-7).sqrt();
    x.iter().map(|&v| ((v as f64 - mean) * inv) as f32).collect()
}

/// A model with random weights of the given sizes, built in memory through the strict loading
/// path (benchmarks; weights ~N(0, 0.02²), norm gains ~1).
pub fn bench_random(config: HubertConfig, seed: u64) -> Result<Hubert> {
    let tensors = random_tensors(&config.param_shapes(), seed)?;
    Hubert::from_weights(config, Weights::from_map(tensors, "random"), Dtype::Float32)
}

/// Random tensors for the given names and shapes: N(0, 0.02²), except norm gains (`…norm.weight`,
/// `…LayerNorm.weight`) and weight-norm magnitudes (`weight_g`) which are drawn around 1.
pub(crate) fn random_tensors(shapes: &[(String, Vec<i32>)], seed: u64) -> Result<BTreeMap<String, Array>> {
    let mut key = mlx_rs::random::key(seed)?;
    let mut out = BTreeMap::new();
    for (name, shape) in shapes {
        let (k, next) = mlx_rs::random::split(&key, 2)?;
        key = next;
        let around_one = name.ends_with("norm.weight") || name.ends_with("LayerNorm.weight") || name.ends_with("weight_g");
        let (loc, scale) = if around_one { (1.0, 0.05) } else { (0.0, 0.02) };
        let a = mlx_rs::random::normal::<f32>(shape.as_slice(), loc, scale, &k)?;
        a.eval()?;
        out.insert(name.clone(), a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> HubertConfig {
        serde_json::from_value(serde_json::json!({
            "conv_dim": [8, 8, 8], "conv_kernel": [10, 3, 2], "conv_stride": [5, 2, 2],
            "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 8, "num_conv_pos_embeddings": 4, "num_conv_pos_embedding_groups": 4
        }))
        .unwrap()
    }

    #[test]
    fn random_build_passes_strict_loading_and_frames_match() {
        let m = bench_random(tiny(), 0).unwrap();
        for n in [400, 1000, 1601] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
            let y = m.ssl_content(&x).unwrap();
            assert_eq!(y.shape(), &[1, 16, m.frames(n) as i32], "n = {n}");
            y.eval().unwrap();
            assert_eq!(y.try_as_slice::<f32>().map(|s| s.len()).ok(), Some(16 * m.frames(n)));
        }
        assert!(m.ssl_content(&[0.0; 5]).is_err());
    }

    #[test]
    fn missing_and_unexpected_keys_are_reported() {
        let cfg = tiny();
        let mut t = random_tensors(&cfg.param_shapes(), 1).unwrap();
        t.remove("encoder.layers.1.final_layer_norm.bias");
        t.insert("encoder.extra".into(), Array::from_f32(1.0));
        let e = Hubert::from_weights(cfg, Weights::from_map(t, "t"), Dtype::Float32)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("encoder.layers.1.final_layer_norm.bias") && e.contains("encoder.extra"), "{e}");
    }

    #[test]
    fn normalisation_has_zero_mean_unit_variance() {
        let y = normalize_input(&[1.0, 2.0, 3.0, 4.0]);
        let mean: f32 = y.iter().sum::<f32>() / 4.0;
        let var: f32 = y.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{mean} {var}");
    }
}
