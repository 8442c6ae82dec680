//! Upstream `models.Generator` (HiFi-GAN): 50 Hz latent → waveform.
use mlx_rs::{ops, ops::indexing::IndexOp, Array};

use super::config::SovitsConfig;
use super::mask::FrameMask;
use super::modules::{conv1d, conv_weight, leaky_relu, pointwise, take, ResBlock1, LRELU_SLOPE};
use crate::models::layers::{Conv1d, Linear};
use crate::models::weights::Weights;
use crate::models::Result;

#[derive(Clone)]
pub struct Generator {
    conv_pre: Conv1d,
    cond: Option<Linear>,
    ups: Vec<UpConv>,
    /// `num_kernels` blocks per upsampling stage, stage-major.
    resblocks: Vec<ResBlock1>,
    num_kernels: usize,
    conv_post: Conv1d,
}

impl Generator {
    pub fn load(w: &mut Weights, prefix: &str, cfg: &SovitsConfig) -> Result<Self> {
        let uic = cfg.upsample_initial_channel;
        let conv_pre = conv1d(w, &format!("{prefix}.conv_pre"), cfg.inter_channels, uic, 7, true, 1, 3, 1)?;
        let cond = if cfg.gin_channels > 0 {
            Some(pointwise(w, &format!("{prefix}.cond"), cfg.gin_channels, uic)?)
        } else {
            None
        };
        let mut ups = Vec::new();
        let mut resblocks = Vec::new();
        let mut ch = uic;
        for (i, (&u, &k)) in cfg.upsample_rates.iter().zip(&cfg.upsample_kernel_sizes).enumerate() {
            let (cin, cout) = (ch, ch / 2);
            let p = format!("{prefix}.ups.{i}");
            // ConvTranspose1d weight [in, out, k]; weight norm over every dim but 0 (= in).
            let weight = conv_weight(w, &p, &[cin, cout, k])?;
            let bias = take(w, &format!("{p}.bias"), &[cout])?;
            ups.push(UpConv::new(&weight, bias, u, (k - u) / 2)?);
            ch = cout;
            for (j, (&rk, dil)) in cfg
                .resblock_kernel_sizes
                .iter()
                .zip(&cfg.resblock_dilation_sizes)
                .enumerate()
            {
                let idx = i * cfg.resblock_kernel_sizes.len() + j;
                resblocks.push(ResBlock1::load(w, &format!("{prefix}.resblocks.{idx}"), ch, rk, dil)?);
            }
        }
        let conv_post = conv1d(w, &format!("{prefix}.conv_post"), ch, 1, 7, false, 1, 3, 1)?;
        Ok(Self {
            conv_pre,
            cond,
            ups,
            resblocks,
            num_kernels: cfg.resblock_kernel_sizes.len(),
            conv_post,
        })
    }

    /// `z [1,T,inter]`, `g [1,1,gin]` → waveform `[1, T·∏rates, 1]` in [−1, 1]. `mask`: the
    /// real frames of a padded `z`; every convolution's input is then zeroed past the real
    /// samples at its rate (upstream's Generator has no masks: at its unpadded end a convolution
    /// reads zeros, which this reproduces).
    pub fn forward(&self, z: &Array, g: Option<&Array>, mask: Option<&FrameMask>) -> Result<Array> {
        let mut mask = mask.cloned();
        let mut x = self.conv_pre.forward(&FrameMask::apply(mask.as_ref(), z)?)?;
        if let (Some(cond), Some(g)) = (&self.cond, g) {
            x = x.add(&cond.forward(g)?)?;
        }
        let n = Array::from_f32(self.num_kernels as f32);
        for (i, up) in self.ups.iter().enumerate() {
            x = up.forward(&FrameMask::apply(mask.as_ref(), &leaky_relu(&x, LRELU_SLOPE)?)?)?;
            mask = mask.map(|m| m.upsampled(up.stride, up.padding, up.k)).transpose()?;
            let blocks = &self.resblocks[i * self.num_kernels..(i + 1) * self.num_kernels];
            let mut xs: Option<Array> = None;
            for b in blocks {
                let y = b.forward(&x, mask.as_ref())?;
                xs = Some(match xs {
                    Some(s) => s.add(&y)?,
                    None => y,
                });
            }
            if let Some(xs) = xs {
                x = xs.divide(&n)?;
            }
        }
        // [quirk] the last activation uses torch's default slope 0.01, not LRELU_SLOPE.
        let x = FrameMask::apply(mask.as_ref(), &leaky_relu(&x, 0.01)?)?;
        Ok(ops::tanh(&self.conv_post.forward(&x)?)?)
    }

    /// Waveform samples for a latent of `frames` frames (the transposed convolutions set the
    /// length; the others keep it).
    pub fn out_len(&self, frames: i32) -> i32 {
        self.ups.iter().fold(frames, |t, up| up.out_len(t))
    }
}

/// `ConvTranspose1d(stride u, padding p)` as one matrix product plus an overlap-add of
/// `⌈k/u⌉` shifted blocks (polyphase form). MLX's CPU transposed convolution is a direct loop
/// (3 s for the first 512→256 k16 ×10 stage of 10 s of audio); this runs at GEMM speed.
#[derive(Clone)]
struct UpConv {
    /// `[in, Q·u·out]`: taps zero-padded to `Q·u`, tap-major then output channel.
    weight: Array,
    bias: Array,
    stride: i32,
    padding: i32,
    k: i32,
    blocks: i32,
    cout: i32,
}

impl UpConv {
    /// `torch_weight [in, out, k]` (weight norm already folded).
    fn new(torch_weight: &Array, bias: Array, stride: i32, padding: i32) -> Result<Self> {
        let s = torch_weight.shape().to_vec();
        let (cin, cout, k) = (s[0], s[1], s[2]);
        let blocks = (k + stride - 1) / stride;
        let w = torch_weight.transpose_axes(&[0, 2, 1])?; // [in, k, out]
        let w = ops::pad(&w, &[(0, 0), (0, blocks * stride - k), (0, 0)], None, None)?;
        Ok(Self {
            weight: w.reshape(&[cin, blocks * stride * cout])?,
            bias,
            stride,
            padding,
            k,
            blocks,
            cout,
        })
    }

    /// `x [1,T,in]` → `[1,(T−1)u − 2p + k, out]`.
    fn forward(&self, x: &Array) -> Result<Array> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let (u, q, c) = (self.stride, self.blocks, self.cout);
        // y_full[m·u + j] += x[m]·W[j]: block q holds taps q·u..(q+1)·u, shifted by q·u samples.
        let p = ops::matmul(x, &self.weight)?.reshape(&[b, t, q, u * c])?;
        let mut full: Option<Array> = None;
        for i in 0..q {
            let block = p.index((.., .., i, ..)).reshape(&[b, t * u, c])?;
            let block = ops::pad(&block, &[(0, 0), (i * u, (q - 1 - i) * u), (0, 0)], None, None)?;
            full = Some(match full {
                Some(f) => f.add(&block)?,
                None => block,
            });
        }
        let full = full.ok_or_else(|| crate::models::Error::Invalid("transposed conv without taps".into()))?;
        let len = self.out_len(t);
        Ok(full.index((.., self.padding..self.padding + len, ..)).add(&self.bias)?)
    }

    /// torch's output length for `t` input frames.
    fn out_len(&self, t: i32) -> i32 {
        (t - 1) * self.stride - 2 * self.padding + self.k
    }
}
