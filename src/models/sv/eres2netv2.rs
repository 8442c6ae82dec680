//! ERes2NetV2 (upstream `GPT_SoVITS/eres2net/ERes2NetV2.py`), the speaker-verification network of
//! v2Pro/v2ProPlus, `forward3` only: fbank `[B,T,80]` → embedding `[B, 32·m·10]` (no pooling
//! head; `seg_1` is in the checkpoint, loaded and unused).
//!
//! The structure is read from the checkpoint's keys, not from constructor defaults: `m_channels`
//! from `conv1.weight [m,1,3,3]`, the blocks per layer from `layer{1..4}.{i}.*`, the split width
//! and `scale` from `convs.{j}`, `expansion` from `conv3`. Every tensor is then taken with its
//! expected shape, so a checkpoint that does not fit is refused with the full list of problems.
//!
//! Layout: NHWC with H = frequency and W = time (torch: `[B,1,F,T]`); traces are given back in
//! torch layout `[B,C,F,T]`.
use mlx_rs::{ops, ops::indexing::IndexOp, Array};

use crate::models::sovits::modules::take;
use crate::models::weights::Weights;
use crate::models::{Error, Result};

const BN_EPS: f32 = 1e-5;
/// `ERes2NetV2.ReLU` is `Hardtanh(0, 20)`.
const RELU_CLIP: f32 = 20.0;
/// AFF bottleneck ratio (`AFF(channels, r=4)`).
const AFF_R: i32 = 4;

/// Sizes found in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eres2NetV2Config {
    pub m_channels: i32,
    pub num_blocks: [usize; 4],
    /// `floor(planes · baseWidth / 64)` of layer 1 (each layer's own is read from its convs).
    pub width: i32,
    pub scale: usize,
    pub expansion: i32,
    pub feat_dim: i32,
    pub embedding_size: i32,
}

impl Eres2NetV2Config {
    /// `forward3` width: channels of layer 4 (`8·m·expansion`) × frequency rows (`feat_dim/8`).
    pub fn embedding_width(&self) -> i32 {
        8 * self.m_channels * self.expansion * (self.feat_dim / 8)
    }

    fn from_keys(w: &Weights) -> Result<Self> {
        let bad = |m: String| Error::Config {
            source_name: w.source().to_string(),
            message: m,
        };
        let shape = |k: &str| w.shape_of(k).ok_or_else(|| bad(format!("no `{k}`: not an ERes2NetV2 state dict")));
        let m_channels = shape("conv1.weight")?[0];
        let mut num_blocks = [0usize; 4];
        for (l, n) in num_blocks.iter_mut().enumerate() {
            while w.contains(&format!("layer{}.{}.conv1.weight", l + 1, *n)) {
                *n += 1;
            }
            if *n == 0 {
                return Err(bad(format!("no blocks in layer{}", l + 1)));
            }
        }
        let width = shape("layer1.0.convs.0.weight")?[0];
        let mut scale = 0;
        while w.contains(&format!("layer1.0.convs.{scale}.weight")) {
            scale += 1;
        }
        let out1 = shape("layer1.0.conv3.weight")?[0];
        if m_channels < 1 || out1 % m_channels != 0 || scale < 2 {
            return Err(bad(format!(
                "inconsistent sizes: m_channels {m_channels}, layer1 output {out1}, scale {scale}"
            )));
        }
        let seg = shape("seg_1.weight")?;
        let stats = seg.get(1).copied().unwrap_or(0);
        let expansion = out1 / m_channels;
        // seg_1 reads mean+std statistics of layer 4 over the frequency rows: 2 · 8m·e · F/8.
        let feat_dim = 8 * stats / (2 * 8 * m_channels * expansion);
        if feat_dim < 8 || stats != 2 * 8 * m_channels * expansion * (feat_dim / 8) {
            return Err(bad(format!("seg_1.weight {seg:?} does not fit m_channels {m_channels}")));
        }
        Ok(Self {
            m_channels,
            num_blocks,
            width,
            scale,
            expansion,
            feat_dim,
            embedding_size: seg[0],
        })
    }
}

/// Inference BatchNorm folded to `x·scale + shift`.
struct BatchNorm {
    scale: Array,
    shift: Array,
}

impl BatchNorm {
    fn load(w: &mut Weights, p: &str, c: i32) -> Result<Self> {
        let gamma = take(w, &format!("{p}.weight"), &[c])?;
        let beta = take(w, &format!("{p}.bias"), &[c])?;
        let mean = take(w, &format!("{p}.running_mean"), &[c])?;
        let var = take(w, &format!("{p}.running_var"), &[c])?;
        // Training counter: part of the state dict, meaningless at inference.
        w.take(&format!("{p}.num_batches_tracked"));
        let scale = gamma.multiply(ops::rsqrt(&var.add(Array::from_f32(BN_EPS))?)?)?;
        let shift = beta.subtract(&mean.multiply(&scale)?)?;
        Ok(Self { scale, shift })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        Ok(x.multiply(&self.scale)?.add(&self.shift)?)
    }
}

/// `nn.Conv2d` (square kernel) on NHWC input.
struct Conv2d {
    /// MLX layout `[out, kh, kw, in]`.
    weight: Array,
    bias: Option<Array>,
    stride: i32,
    padding: i32,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    fn load(w: &mut Weights, p: &str, cin: i32, cout: i32, k: i32, stride: i32, bias: bool) -> Result<Self> {
        let weight = take(w, &format!("{p}.weight"), &[cout, cin, k, k])?.transpose_axes(&[0, 2, 3, 1])?;
        let bias = if bias { Some(take(w, &format!("{p}.bias"), &[cout])?) } else { None };
        Ok(Self {
            weight,
            bias,
            stride,
            padding: (k - 1) / 2,
        })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        let y = ops::conv2d(
            x,
            &self.weight,
            (self.stride, self.stride),
            (self.padding, self.padding),
            None,
            None,
        )?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

fn relu20(x: &Array) -> Result<Array> {
    Ok(ops::clip(x, (0.0f32, RELU_CLIP))?)
}

/// `fusion.AFF`: attention-weighted blend of two equally shaped maps.
struct Aff {
    conv_a: Conv2d,
    bn_a: BatchNorm,
    conv_b: Conv2d,
    bn_b: BatchNorm,
}

impl Aff {
    fn load(w: &mut Weights, p: &str, c: i32) -> Result<Self> {
        let inter = c / AFF_R;
        Ok(Self {
            conv_a: Conv2d::load(w, &format!("{p}.local_att.0"), 2 * c, inter, 1, 1, true)?,
            bn_a: BatchNorm::load(w, &format!("{p}.local_att.1"), inter)?,
            conv_b: Conv2d::load(w, &format!("{p}.local_att.3"), inter, c, 1, 1, true)?,
            bn_b: BatchNorm::load(w, &format!("{p}.local_att.4"), c)?,
        })
    }

    fn forward(&self, x: &Array, ds: &Array) -> Result<Array> {
        let xa = ops::concatenate(&[x, ds], -1)?;
        let h = self.bn_a.forward(&self.conv_a.forward(&xa)?)?;
        let h = h.multiply(ops::sigmoid(&h)?)?; // SiLU
        let att = self.bn_b.forward(&self.conv_b.forward(&h)?)?;
        let a = ops::tanh(&att)?.add(Array::from_f32(1.0))?;
        let two_minus = Array::from_f32(2.0).subtract(&a)?;
        Ok(x.multiply(&a)?.add(&ds.multiply(&two_minus)?)?)
    }
}

/// `BasicBlockERes2NetV2` (layers 1–2: hierarchical sum) or `…AFF` (layers 3–4: AFF fusion).
struct Block {
    conv1: Conv2d,
    bn1: BatchNorm,
    convs: Vec<Conv2d>,
    bns: Vec<BatchNorm>,
    /// Empty for the additive blocks.
    fuse: Vec<Aff>,
    conv3: Conv2d,
    bn3: BatchNorm,
    shortcut: Option<(Conv2d, BatchNorm)>,
    width: i32,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn load(w: &mut Weights, p: &str, cin: i32, width: i32, scale: usize, cout: i32, stride: i32, aff: bool) -> Result<Self> {
        let ws = width * scale as i32;
        let mut convs = Vec::with_capacity(scale);
        let mut bns = Vec::with_capacity(scale);
        for j in 0..scale {
            convs.push(Conv2d::load(w, &format!("{p}.convs.{j}"), width, width, 3, 1, false)?);
            bns.push(BatchNorm::load(w, &format!("{p}.bns.{j}"), width)?);
        }
        let fuse = if aff {
            (0..scale - 1)
                .map(|j| Aff::load(w, &format!("{p}.fuse_models.{j}"), width))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let shortcut = if stride != 1 || cin != cout {
            Some((
                Conv2d::load(w, &format!("{p}.shortcut.0"), cin, cout, 1, stride, false)?,
                BatchNorm::load(w, &format!("{p}.shortcut.1"), cout)?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::load(w, &format!("{p}.conv1"), cin, ws, 1, stride, false)?,
            bn1: BatchNorm::load(w, &format!("{p}.bn1"), ws)?,
            convs,
            bns,
            fuse,
            conv3: Conv2d::load(w, &format!("{p}.conv3"), ws, cout, 1, 1, false)?,
            bn3: BatchNorm::load(w, &format!("{p}.bn3"), cout)?,
            shortcut,
            width,
        })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        let out = relu20(&self.bn1.forward(&self.conv1.forward(x)?)?)?;
        let mut collected = Vec::with_capacity(self.convs.len());
        let mut sp: Option<Array> = None;
        for (i, (conv, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            let chunk = out.index((.., .., .., (i as i32 * self.width)..((i as i32 + 1) * self.width)));
            let input = match sp {
                None => chunk,
                Some(prev) if self.fuse.is_empty() => prev.add(&chunk)?,
                Some(prev) => self.fuse[i - 1].forward(&prev, &chunk)?,
            };
            let y = relu20(&bn.forward(&conv.forward(&input)?)?)?;
            collected.push(y.clone());
            sp = Some(y);
        }
        let cat = ops::concatenate(&collected, -1)?;
        let y = self.bn3.forward(&self.conv3.forward(&cat)?)?;
        let residual = match &self.shortcut {
            Some((conv, bn)) => bn.forward(&conv.forward(x)?)?,
            None => x.clone(),
        };
        relu20(&y.add(&residual)?)
    }
}

pub struct Eres2NetV2 {
    cfg: Eres2NetV2Config,
    conv1: Conv2d,
    bn1: BatchNorm,
    /// `layers[l][i]`: block `i` of `layer{l+1}`.
    layers: Vec<Vec<Block>>,
    layer3_ds: Conv2d,
    fuse34: Aff,
}

impl Eres2NetV2 {
    /// Builds from a state dict (upstream names, no prefix) and fails on any missing,
    /// mis-shaped or unexpected key.
    pub fn from_weights(mut w: Weights) -> Result<Self> {
        let cfg = Eres2NetV2Config::from_keys(&w)?;
        let m = cfg.m_channels;
        let conv1 = Conv2d::load(&mut w, "conv1", 1, m, 3, 1, false)?;
        let bn1 = BatchNorm::load(&mut w, "bn1", m)?;
        let mut layers = Vec::with_capacity(4);
        let mut cin = m;
        for (l, &n) in cfg.num_blocks.iter().enumerate() {
            let planes_mult = 1 << l;
            let cout = m * planes_mult * cfg.expansion;
            // floor(planes · baseWidth / 64) does not double exactly (planes 6 → 2, 24 → 9).
            let width = w
                .shape_of(&format!("layer{}.0.convs.0.weight", l + 1))
                .and_then(|s| s.first().copied())
                .unwrap_or(cfg.width * planes_mult);
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let stride = if i == 0 && l > 0 { 2 } else { 1 };
                let p = format!("layer{}.{i}", l + 1);
                blocks.push(Block::load(&mut w, &p, cin, width, cfg.scale, cout, stride, l >= 2)?);
                cin = cout;
            }
            layers.push(blocks);
        }
        let c3 = 4 * m * cfg.expansion;
        let c4 = 8 * m * cfg.expansion;
        let layer3_ds = Conv2d::load(&mut w, "layer3_ds", c3, c4, 3, 2, false)?;
        let fuse34 = Aff::load(&mut w, "fuse34", c4)?;
        // The pooling head (forward, not forward3): present in the file, unused here.
        take(&mut w, "seg_1.weight", &[cfg.embedding_size, 2 * c4 * (cfg.feat_dim / 8)])?;
        take(&mut w, "seg_1.bias", &[cfg.embedding_size])?;
        w.finish()?;
        Ok(Self {
            cfg,
            conv1,
            bn1,
            layers,
            layer3_ds,
            fuse34,
        })
    }

    pub fn config(&self) -> &Eres2NetV2Config {
        &self.cfg
    }

    /// `forward3`: fbank `[B,T,feat_dim]` → `[B, W]`.
    pub fn forward3(&self, fbank: &Array) -> Result<Array> {
        self.run(fbank, &mut |_, _| Ok(()))
    }

    /// `forward3` reporting each stage's output in torch layout `[B,C,F,T]` under the names of
    /// the fixtures (`stem`, `layer1.0`, …, `layer3_ds`, `fuse34`, `embedding`).
    pub fn forward3_trace(&self, fbank: &Array) -> Result<Vec<(String, Array)>> {
        let mut out = Vec::new();
        let emb = self.run(fbank, &mut |name, x| {
            out.push((name, x.transpose_axes(&[0, 3, 1, 2])?));
            Ok(())
        })?;
        out.push(("embedding".to_string(), emb));
        Ok(out)
    }

    fn run(&self, fbank: &Array, tap: &mut dyn FnMut(String, &Array) -> Result<()>) -> Result<Array> {
        let s = fbank.shape();
        if s.len() != 3 || s[2] != self.cfg.feat_dim || s[1] < 1 {
            return Err(Error::Invalid(format!(
                "speaker model input must be fbank [B,T≥1,{}], got {s:?}",
                self.cfg.feat_dim
            )));
        }
        let dtype = self.conv1.weight.dtype();
        // [B,T,F] → [B,F,T,1]: frequency is the height, time the width.
        let x = fbank.as_dtype(dtype)?.transpose_axes(&[0, 2, 1])?.expand_dims(-1)?;
        let mut x = ops::maximum(&self.bn1.forward(&self.conv1.forward(&x)?)?, Array::from_f32(0.0))?;
        tap("stem".into(), &x)?;
        let mut out3 = None;
        for (l, blocks) in self.layers.iter().enumerate() {
            for (i, b) in blocks.iter().enumerate() {
                x = b.forward(&x)?;
                tap(format!("layer{}.{i}", l + 1), &x)?;
            }
            if l == 2 {
                out3 = Some(x.clone());
            }
        }
        let out3 = out3.ok_or_else(|| Error::Invalid("ERes2NetV2 without layer3".into()))?;
        let ds = self.layer3_ds.forward(&out3)?;
        tap("layer3_ds".into(), &ds)?;
        let f = self.fuse34.forward(&x, &ds)?;
        tap("fuse34".into(), &f)?;
        // flatten(1, 2) of [B,C,F,T] is channel-major: C·F rows, then the mean over time.
        let b = f.shape()[0];
        let pooled = f.mean_axis(2, false)?.transpose_axes(&[0, 2, 1])?;
        Ok(pooled.reshape(&[b, -1])?.as_dtype(mlx_rs::Dtype::Float32)?)
    }
}
