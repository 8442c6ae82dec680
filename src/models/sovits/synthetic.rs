//! A SoVITS built from a config with random weights (no model file needed): the benchmarks
//! (`crate::bench::sovits`) and shape tests use it.
use std::collections::BTreeMap;

use mlx_rs::{random, Array, Dtype};

use super::config::*;
use super::{SovitsVersion, SynthesizerTrn};
use crate::models::weights::Weights;
use crate::models::Result;

/// How a tensor is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
    /// `N(0, 1/fan_in)`: keeps activations of order one.
    Fan,
    /// Small bias-like values.
    Small,
    Ones,
    Zeros,
}

struct Shapes(Vec<(String, Vec<i32>, Init)>);

impl Shapes {
    fn push(&mut self, name: String, shape: &[i32], init: Init) {
        self.0.push((name, shape.to_vec(), init));
    }

    /// `Conv1d`/`ConvTranspose1d` weight `shape` (dim 0 carries the weight norm), plus bias `[bias]`.
    fn conv(&mut self, p: &str, shape: [i32; 3], weight_norm: bool, bias: Option<i32>) {
        if weight_norm {
            self.push(format!("{p}.weight_g"), &[shape[0], 1, 1], Init::Ones);
            self.push(format!("{p}.weight_v"), &shape, Init::Fan);
        } else {
            self.push(format!("{p}.weight"), &shape, Init::Fan);
        }
        if let Some(b) = bias {
            self.push(format!("{p}.bias"), &[b], Init::Small);
        }
    }

    fn linear(&mut self, p: &str, cin: i32, cout: i32) {
        self.push(format!("{p}.weight"), &[cout, cin], Init::Fan);
        self.push(format!("{p}.bias"), &[cout], Init::Small);
    }

    fn encoder(&mut self, p: &str, cfg: &SovitsConfig, layers: usize) {
        let (h, f, k) = (cfg.hidden_channels, cfg.filter_channels, cfg.kernel_size);
        for i in 0..layers {
            for c in ["q", "k", "v", "o"] {
                self.conv(&format!("{p}.attn_layers.{i}.conv_{c}"), [h, h, 1], false, Some(h));
            }
            for e in ["k", "v"] {
                self.push(format!("{p}.attn_layers.{i}.emb_rel_{e}"), &[1, 2 * REL_WINDOW + 1, h / cfg.n_heads], Init::Fan);
            }
            for n in [1, 2] {
                self.push(format!("{p}.norm_layers_{n}.{i}.gamma"), &[h], Init::Ones);
                self.push(format!("{p}.norm_layers_{n}.{i}.beta"), &[h], Init::Zeros);
            }
            self.conv(&format!("{p}.ffn_layers.{i}.conv_1"), [f, h, k], false, Some(f));
            self.conv(&format!("{p}.ffn_layers.{i}.conv_2"), [h, f, k], false, Some(h));
        }
    }
}

/// Every inference tensor of a `SynthesizerTrn` state dict for `cfg`, with upstream names and
/// torch shapes (weight-normed convs as `weight_g`/`weight_v`, as upstream saves them).
pub fn state_dict_shapes(cfg: &SovitsConfig, version: SovitsVersion) -> Vec<(String, Vec<i32>)> {
    shapes(cfg, version).0.into_iter().map(|(n, s, _)| (n, s)).collect()
}

fn shapes(cfg: &SovitsConfig, version: SovitsVersion) -> Shapes {
    let mut s = Shapes(Vec::new());
    let (h, inter, gin) = (cfg.hidden_channels, cfg.inter_channels, cfg.gin_channels);
    s.conv("ssl_proj", [SSL_DIM, SSL_DIM, 2], false, Some(SSL_DIM));
    s.push("quantizer.vq.layers.0._codebook.embed".into(), &[cfg.codebook_size, SSL_DIM], Init::Fan);
    s.conv("enc_p.ssl_proj", [h, SSL_DIM, 1], false, Some(h));
    s.encoder("enc_p.encoder_ssl", cfg, cfg.n_layers / 2);
    s.encoder("enc_p.encoder_text", cfg, cfg.n_layers);
    s.encoder("enc_p.encoder2", cfg, cfg.n_layers / 2);
    s.push("enc_p.text_embedding.weight".into(), &[cfg.n_symbols, h], Init::Fan);
    for c in ["q", "k", "v", "o"] {
        s.conv(&format!("enc_p.mrte.cross_attention.conv_{c}"), [MRTE_HIDDEN, MRTE_HIDDEN, 1], false, Some(MRTE_HIDDEN));
    }
    s.conv("enc_p.mrte.c_pre", [MRTE_HIDDEN, h, 1], false, Some(MRTE_HIDDEN));
    s.conv("enc_p.mrte.text_pre", [MRTE_HIDDEN, h, 1], false, Some(MRTE_HIDDEN));
    s.conv("enc_p.mrte.c_post", [h, MRTE_HIDDEN, 1], false, Some(h));
    s.conv("enc_p.proj", [2 * inter, h, 1], false, Some(2 * inter));
    s.linear("ref_enc.spectral.0.fc", cfg.ref_bins(version), STYLE_HIDDEN);
    s.linear("ref_enc.spectral.3.fc", STYLE_HIDDEN, STYLE_HIDDEN);
    for i in 0..2 {
        s.conv(&format!("ref_enc.temporal.{i}.conv1.conv"), [2 * STYLE_HIDDEN, STYLE_HIDDEN, STYLE_KERNEL], false, Some(2 * STYLE_HIDDEN));
    }
    for n in ["w_qs", "w_ks", "w_vs", "fc"] {
        s.linear(&format!("ref_enc.slf_attn.{n}"), STYLE_HIDDEN, STYLE_HIDDEN);
    }
    s.linear("ref_enc.fc.fc", STYLE_HIDDEN, gin);
    for f in 0..FLOW_COUPLINGS {
        let p = format!("flow.flows.{}", 2 * f);
        s.conv(&format!("{p}.pre"), [h, inter / 2, 1], false, Some(h));
        for l in 0..FLOW_WN_LAYERS {
            s.conv(&format!("{p}.enc.in_layers.{l}"), [2 * h, h, FLOW_WN_KERNEL], true, Some(2 * h));
            let rs = if l + 1 < FLOW_WN_LAYERS { 2 * h } else { h };
            s.conv(&format!("{p}.enc.res_skip_layers.{l}"), [rs, h, 1], true, Some(rs));
        }
        let cond = 2 * h * FLOW_WN_LAYERS as i32;
        s.conv(&format!("{p}.enc.cond_layer"), [cond, gin, 1], true, Some(cond));
        s.conv(&format!("{p}.post"), [inter / 2, h, 1], false, Some(inter / 2));
    }
    let uic = cfg.upsample_initial_channel;
    s.conv("dec.conv_pre", [uic, inter, 7], false, Some(uic));
    s.conv("dec.cond", [uic, gin, 1], false, Some(uic));
    let mut ch = uic;
    for (i, &k) in cfg.upsample_kernel_sizes.iter().enumerate() {
        s.conv(&format!("dec.ups.{i}"), [ch, ch / 2, k], true, Some(ch / 2));
        ch /= 2;
        for (j, (&rk, dil)) in cfg.resblock_kernel_sizes.iter().zip(&cfg.resblock_dilation_sizes).enumerate() {
            let b = i * cfg.resblock_kernel_sizes.len() + j;
            for c in 1..=2 {
                for d in 0..dil.len() {
                    s.conv(&format!("dec.resblocks.{b}.convs{c}.{d}"), [ch, ch, rk], true, Some(ch));
                }
            }
        }
    }
    s.conv("dec.conv_post", [1, ch, 7], false, None);
    if version.is_pro() {
        s.linear("sv_emb", SV_DIM, gin);
        s.push("prelu.weight".into(), &[gin], Init::Small);
        s.linear("ge_to512", gin, GE_TEXT_DIM);
    }
    s
}

/// Random weights for `cfg` (seeded), in `dtype`.
pub fn random_weights(cfg: &SovitsConfig, version: SovitsVersion, seed: u64, dtype: Dtype) -> Result<Weights> {
    let mut key = random::key(seed)?;
    let mut map = BTreeMap::new();
    for (name, shape, init) in shapes(cfg, version).0 {
        let (k, next) = split_key(&key)?;
        key = next;
        let a = match init {
            Init::Ones => Array::ones::<f32>(&shape)?,
            Init::Zeros => Array::zeros::<f32>(&shape)?,
            Init::Small => random::normal::<f32>(&shape[..], 0.0, 0.02, &k)?,
            Init::Fan => {
                let fan_in: i32 = shape.iter().skip(1).product::<i32>().max(1);
                random::normal::<f32>(&shape[..], 0.0, 1.0 / (fan_in as f32).sqrt(), &k)?
            }
        };
        map.insert(name, a.as_dtype(dtype)?);
    }
    Ok(Weights::from_map(map, "random SoVITS weights"))
}

fn split_key(key: &Array) -> Result<(Array, Array)> {
    let (a, b) = random::split(key, 2)?;
    Ok((a, b))
}

/// A randomly initialised model (every code path of a real one, no file).
pub fn random_model(cfg: &SovitsConfig, seed: u64, dtype: Dtype) -> Result<SynthesizerTrn> {
    let w = random_weights(cfg, SovitsVersion::V2, seed, dtype)?;
    SynthesizerTrn::from_weights(w, cfg.clone(), SovitsVersion::V2, dtype)
}
