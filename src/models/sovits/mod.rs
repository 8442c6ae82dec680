//! SoVITS `SynthesizerTrn` (upstream `GPT_SoVITS/module/models.py`), inference path only:
//! `extract_latent` (HuBERT features → 25 Hz codes), the reference style vector `ge`, and
//! `decode` (codes + phones + style → 32 kHz waveform).
//!
//! Layout at the boundary: arrays that mirror upstream tensors are in torch layout — HuBERT
//! features `[1,768,T]`, spectrogram `[1,bins,T]`, noise and traced intermediates `[1,C,T]`,
//! `ge` via [`Style::ge_torch`] `[1,gin,1]`. Inside, everything is channels-last `[1,T,C]`
//! (MLX convolutions; see `layers.rs`). Codes and phone ids are plain integer slices. Decoding
//! runs at batch 1, so every upstream mask is all ones and is left out.
use std::path::Path;

use mlx_rs::{ops, random, Array, Dtype};
use torch_archive::Value;

pub mod attentions;
pub mod compiled;
pub mod config;
pub mod flow;
pub mod generator;
pub mod mask;
pub mod modules;
pub mod mrte;
pub mod quantizer;
pub mod ref_enc;
pub mod stream;
pub mod synthetic;
pub mod text_encoder;
pub mod version;

pub use config::SovitsConfig;
pub use version::{DetectionRule, SovitsVersion};

use config::{field, GE_TEXT_DIM, SV_DIM};
use flow::Flow;
use generator::Generator;
use modules::{linear, take};
use quantizer::Quantizer;
use ref_enc::MelStyleEncoder;
use text_encoder::TextEncoder;

use crate::models::layers::Linear;
use crate::models::weights::Weights;
use crate::models::{Error, Result};

/// What `load` found out about a file.
#[derive(Debug, Clone)]
pub struct SovitsInfo {
    /// Final model generation (after TTS.py's text-table refinement).
    pub version: SovitsVersion,
    /// The rule that gave the file-level guess, and that guess.
    pub detected_by: DetectionRule,
    pub file_level_version: SovitsVersion,
    /// `info` string of the checkpoint (e.g. `"8epoch_96iteration"`).
    pub info: Option<String>,
    pub config: SovitsConfig,
    /// Something the model needs at inference that this port does not provide; `None` when the
    /// model is fully usable (v2Pro/v2ProPlus need a speaker model too: see [`Self::sv_width`]).
    pub missing: Option<String>,
    /// Width of the speaker embedding the model projects (`sv_emb.weight [gin, W]`), for
    /// v2Pro/v2ProPlus; the speaker model loaded with it must produce exactly this width.
    pub sv_width: Option<i32>,
}

/// A reference voice's style: `ge [1,1,gin]` (flow and decoder condition) and the vector MRTE
/// adds, `ge_text [1,1,512]` (= `ge` for v1/v2, `ge_to512(ge)` for v2Pro). Cache it per voice.
#[derive(Debug, Clone)]
pub struct Style {
    pub ge: Array,
    pub ge_text: Array,
}

impl Style {
    /// `ge` in upstream layout `[1,gin,1]`.
    pub fn ge_torch(&self) -> Result<Array> {
        Ok(self.ge.transpose_axes(&[0, 2, 1])?)
    }
}

/// Upstream decode intermediates, torch layout, f32 (for parity checks and debugging).
pub struct DecodeTrace {
    /// `enc_p` output after speed interpolation `[1,H,T']`.
    pub enc_x: Array,
    pub m_p: Array,
    pub logs_p: Array,
    pub z_p: Array,
    pub z: Array,
    /// Waveform `[1,1,T'·640]`.
    pub o: Array,
}

/// v2Pro/v2ProPlus additions: the SV embedding projection, PReLU and the 512-d MRTE projection.
struct ProExtras {
    /// `sv_emb: Linear(W, gin)`; W read from the weight ([quirk] upstream hard-codes 20480, the
    /// released speaker model's width).
    sv_emb: Linear,
    sv_width: i32,
    prelu: Array,
    ge_to512: Linear,
}

pub struct SynthesizerTrn {
    cfg: SovitsConfig,
    version: SovitsVersion,
    dtype: Dtype,
    quantizer: Quantizer,
    enc_p: TextEncoder,
    ref_enc: MelStyleEncoder,
    flow: Flow,
    dec: Generator,
    pro: Option<ProExtras>,
    /// The decode compiled over length buckets ([`compiled::compile_enabled`] when loaded), else
    /// eager.
    compiled: Option<compiled::CompiledDecoder>,
}

fn file_err(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.into(),
        message: message.into(),
    }
}

impl SynthesizerTrn {
    /// Reads a SoVITS `.pth` (torch zip, possibly with a 2-byte version tag instead of `PK`),
    /// detects its version as upstream does and loads it strictly, weight norm folded.
    pub fn load(path: &Path, dtype: Dtype) -> Result<(Self, SovitsInfo)> {
        let mut bytes = std::fs::read(path).map_err(|e| file_err(path, e.to_string()))?;
        if bytes.len() < 4 {
            return Err(file_err(path, format!("{} bytes: not a SoVITS .pth file", bytes.len())));
        }
        let fast = version::detect_fast(&bytes[..bytes.len().min(8192)], bytes.len() as u64).map_err(|tag| {
            file_err(
                path,
                format!(
                    "starts with bytes {:02x} {:02x}, neither a torch zip (`PK`) nor a SoVITS version tag (`00`…`06`): not a SoVITS .pth file",
                    tag[0], tag[1]
                ),
            )
        })?;
        if matches!(fast.model_version, SovitsVersion::V3 | SovitsVersion::V4) {
            return Err(file_err(
                path,
                format!(
                    "SoVITS {}{} model (detected by {:?}): not supported yet; this port runs v1, v2, v2Pro and v2ProPlus",
                    fast.model_version,
                    if fast.lora { " LoRA" } else { "" },
                    fast.rule
                ),
            ));
        }
        if &bytes[..2] != b"PK" {
            // `process_ckpt.load_sovits_new`: the tag replaced the zip magic; put it back.
            bytes[0] = b'P';
            bytes[1] = b'K';
        }
        let value = torch_archive::load(&bytes).map_err(|source| Error::Archive {
            path: path.into(),
            source,
        })?;
        Self::from_checkpoint(&value, fast, dtype, &path.display().to_string())
    }

    /// Builds from an already parsed checkpoint (`{weight, config, info}`).
    pub fn from_checkpoint(
        value: &Value,
        fast: version::FastDetection,
        dtype: Dtype,
        source: &str,
    ) -> Result<(Self, SovitsInfo)> {
        let invalid = |m: String| Error::Invalid(format!("{source}: {m}"));
        let weight = field(value, "weight").ok_or_else(|| invalid("no `weight` entry: not a SoVITS .pth file".into()))?;
        if let Value::Dict(items) = weight {
            let looks_gpt = !items.is_empty()
                && items
                    .iter()
                    .all(|(k, _)| matches!(k, Value::Str(s) if s.starts_with("model.")));
            if looks_gpt {
                return Err(invalid(
                    "weights are named `model.*` like a GPT (s1, .ckpt) checkpoint: this is not a SoVITS .pth file".into(),
                ));
            }
            // [quirk] a v3/v4 file saved without its version tag falls to upstream's size rule;
            // its flow-matching decoder (`cfm.*`, SynthesizerTrnV3) gives it away. Refuse it
            // before anything is built rather than report hundreds of unexpected keys.
            let v3_shapes = items.iter().any(|(k, _)| matches!(k, Value::Str(s) if s.starts_with("cfm.")));
            if v3_shapes {
                return Err(invalid(
                    "weights have the v3/v4 flow-matching decoder (`cfm.*`): a SoVITS v3/v4 model, not supported yet; this port runs v1, v2, v2Pro and v2ProPlus".into(),
                ));
            }
        }
        let hps = field(value, "config").ok_or_else(|| invalid("no `config` entry: not a SoVITS .pth file".into()))?;
        let info = match field(value, "info") {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let w = Weights::from_state_dict(weight, "", dtype, source)?;
        let rows = w.shape_of("enc_p.text_embedding.weight").and_then(|s| s.first().copied());
        let version = version::refine(fast.model_version, rows);
        // Without a text table upstream uses the v2 symbols (732); the strict load then reports it missing.
        let cfg = SovitsConfig::from_hparams(hps, rows.unwrap_or(732), source)?;
        let model = Self::from_weights(w, cfg.clone(), version, dtype)?;
        let sv_width = model.sv_width();
        Ok((
            model,
            SovitsInfo {
                version,
                detected_by: fast.rule,
                file_level_version: fast.model_version,
                info,
                config: cfg,
                missing: None,
                sv_width,
            },
        ))
    }

    /// Builds the model from a weight map (upstream state-dict names) and fails with every
    /// missing, mis-shaped or unexpected key. `enc_q.*` (training-only posterior encoder, kept in
    /// the official pretrained files) and the codebook's EMA buffers are ignored.
    pub fn from_weights(mut w: Weights, cfg: SovitsConfig, version: SovitsVersion, dtype: Dtype) -> Result<Self> {
        if matches!(version, SovitsVersion::V3 | SovitsVersion::V4) {
            return Err(Error::Invalid(format!("SoVITS {version} is not supported yet")));
        }
        cfg.validate().map_err(|message| Error::Config {
            source_name: w.source().to_string(),
            message,
        })?;
        w.ignore_prefix("enc_q.");
        let quantizer = Quantizer::load(&mut w, cfg.codebook_size)?;
        let enc_p = TextEncoder::load(&mut w, "enc_p", &cfg)?;
        let ref_enc = MelStyleEncoder::load(&mut w, "ref_enc", cfg.ref_bins(version), cfg.gin_channels)?;
        let flow = Flow::load(&mut w, "flow", &cfg)?;
        let dec = Generator::load(&mut w, "dec", &cfg)?;
        let pro = if version.is_pro() {
            let gin = cfg.gin_channels;
            let sv_width = match w.shape_of("sv_emb.weight").as_deref() {
                Some([_, width]) if *width > 0 => *width,
                _ => SV_DIM,
            };
            Some(ProExtras {
                sv_emb: linear(&mut w, "sv_emb", sv_width, gin)?,
                sv_width,
                prelu: take(&mut w, "prelu.weight", &[gin])?,
                ge_to512: linear(&mut w, "ge_to512", gin, GE_TEXT_DIM)?,
            })
        } else {
            None
        };
        w.finish()?;
        Ok(Self {
            cfg,
            version,
            dtype,
            quantizer,
            enc_p,
            ref_enc,
            flow,
            dec,
            pro,
            compiled: compiled::compile_enabled().then(compiled::CompiledDecoder::default),
        })
    }

    pub fn config(&self) -> &SovitsConfig {
        &self.cfg
    }

    /// This model decoding through a [`compiled::CompiledDecoder`] (`true`) or op by op,
    /// whatever [`compiled::compile_enabled`] said when it was loaded.
    pub fn with_compiled_decode(mut self, on: bool) -> Self {
        self.set_compiled_decode(on);
        self
    }

    /// [`Self::with_compiled_decode`] in place (a fresh decoder: no traces yet).
    pub fn set_compiled_decode(&mut self, on: bool) {
        self.compiled = on.then(compiled::CompiledDecoder::default);
    }

    /// The compiled decoder, where this model decodes through one.
    pub fn compiled_decoder(&self) -> Option<&compiled::CompiledDecoder> {
        self.compiled.as_ref()
    }

    pub fn version(&self) -> SovitsVersion {
        self.version
    }

    /// v2Pro/v2ProPlus: the speaker-embedding width `sv_emb` takes; `None` for v1/v2.
    pub fn sv_width(&self) -> Option<i32> {
        self.pro.as_ref().map(|p| p.sv_width)
    }

    /// Output samples per semantic token (2 latent frames × ∏ upsample rates = 1280 at 32 kHz).
    pub fn samples_per_token(&self) -> usize {
        2 * self.cfg.samples_per_frame() as usize
    }

    /// HuBERT `last_hidden_state` transposed, `[1,768,T]` → codes `[1,1,T/2]` int32
    /// (`SynthesizerTrn.extract_latent`).
    pub fn extract_latent(&self, ssl_content: &Array) -> Result<Array> {
        let x = self.ssl_channels_last(ssl_content)?;
        let codes = self.quantizer.encode(&x)?;
        let n = codes.shape()[1];
        Ok(codes.as_dtype(Dtype::Int32)?.reshape(&[1, 1, n])?)
    }

    /// Best-minus-second-best score per frame of `extract_latent` (a code whose margin is tiny
    /// may flip between implementations): `[T/2]` f32.
    pub fn latent_margins(&self, ssl_content: &Array) -> Result<Array> {
        let x = self.quantizer.project(&self.ssl_channels_last(ssl_content)?)?;
        let s = self.quantizer.neg_dist(&x)?.as_dtype(Dtype::Float32)?;
        let k = s.shape()[2];
        let top2 = ops::sort_axis(&s, -1)?;
        let best = top2.take_axis(Array::from_int(k - 1), -1)?;
        let second = top2.take_axis(Array::from_int(k - 2), -1)?;
        Ok(best.subtract(&second)?.reshape(&[-1])?)
    }

    /// `quantizer.decode`: codebook rows of `codes [n]` int32 in torch layout `[1,768,n]`.
    pub fn codebook_rows(&self, codes: &Array) -> Result<Array> {
        Ok(self.quantizer.decode(codes)?.transpose_axes(&[0, 2, 1])?)
    }

    fn ssl_channels_last(&self, ssl: &Array) -> Result<Array> {
        let s = ssl.shape();
        if s.len() != 3 || s[0] != 1 || s[1] != config::SSL_DIM || s[2] < 2 {
            return Err(Error::Invalid(format!(
                "extract_latent: SSL features must be [1,{},T≥2] (torch layout), got {s:?}",
                config::SSL_DIM
            )));
        }
        Ok(ssl.as_dtype(self.dtype)?.transpose_axes(&[0, 2, 1])?)
    }

    /// MelStyleEncoder on a reference linear spectrogram `[1,bins,T]` (torch layout, bins ≥ 704
    /// for v2; v1 reads all 1025) → raw `ge [1,1,gin]`. Average several references here.
    pub fn ref_ge(&self, spec: &Array) -> Result<Array> {
        let s = spec.shape();
        let need = self.ref_enc.in_dim();
        if s.len() != 3 || s[0] != 1 || s[1] < need || s[2] < 1 {
            return Err(Error::Invalid(format!(
                "reference spectrogram must be [1,≥{need},T≥1] (torch layout), got {s:?}"
            )));
        }
        let x = spec.as_dtype(self.dtype)?.transpose_axes(&[0, 2, 1])?;
        self.ref_enc.forward(&x)
    }

    /// The style of one reference: `ge` from the spectrogram, plus for v2Pro/v2ProPlus the
    /// speaker-verification embedding `sv [1,W]` (`ge = PReLU(ref_enc + sv_emb(sv))`).
    pub fn style(&self, spec: &Array, sv: Option<&Array>) -> Result<Style> {
        self.style_from_ge(self.conditioned_ge(spec, sv)?)
    }

    /// Several references (upstream `decode` with a list of `refer`): each one's `ge` — after the
    /// PReLU for v2Pro — averaged, then completed into one [`Style`].
    pub fn style_multi(&self, refs: &[(&Array, Option<&Array>)]) -> Result<Style> {
        let ges = refs
            .iter()
            .map(|(spec, sv)| self.conditioned_ge(spec, *sv))
            .collect::<Result<Vec<_>>>()?;
        if ges.is_empty() {
            return Err(Error::Invalid("style: no reference given".into()));
        }
        let mean = ops::stack(&ges, 0)?.mean_axis(0, false)?;
        self.style_from_ge(mean)
    }

    /// `get_ge` of upstream's `decode`: `[1,1,gin]`.
    fn conditioned_ge(&self, spec: &Array, sv: Option<&Array>) -> Result<Array> {
        let ge = self.ref_ge(spec)?;
        Ok(match (&self.pro, sv) {
            (None, _) => ge,
            (Some(pro), Some(sv)) => {
                if sv.shape() != [1, pro.sv_width] {
                    return Err(Error::Invalid(format!(
                        "speaker-verification embedding must be [1,{}], got {:?}",
                        pro.sv_width,
                        sv.shape()
                    )));
                }
                let x = ge.add(&self.sv_projection(sv)?.reshape(&[1, 1, self.cfg.gin_channels])?)?;
                // PReLU per channel: max(0,x) + a·min(0,x).
                let zero = Array::from_f32(0.0);
                ops::maximum(&x, &zero)?.add(&ops::minimum(&x, &zero)?.multiply(&pro.prelu)?)?
            }
            (Some(pro), None) => {
                return Err(Error::Invalid(format!(
                    "SoVITS {} needs the reference's {}-d speaker-verification embedding (ERes2NetV2)",
                    self.version, pro.sv_width
                )))
            }
        })
    }

    /// `sv_emb(sv)`: `[1,W]` → `[1,gin]` (v2Pro/v2ProPlus only).
    pub fn sv_projection(&self, sv: &Array) -> Result<Array> {
        let pro = self
            .pro
            .as_ref()
            .ok_or_else(|| Error::Invalid(format!("SoVITS {} has no speaker projection", self.version)))?;
        pro.sv_emb.forward(&sv.as_dtype(self.dtype)?)
    }

    /// Completes a (possibly averaged) `ge [1,1,gin]` into a [`Style`].
    pub fn style_from_ge(&self, ge: Array) -> Result<Style> {
        let ge_text = match &self.pro {
            Some(pro) => pro.ge_to512.forward(&ge)?,
            None => ge.clone(),
        };
        Ok(Style { ge, ge_text })
    }

    /// Seeded standard-normal noise in torch layout `[1,inter,frames]` for [`Self::decode`].
    pub fn noise(&self, frames: i32, seed: u64) -> Result<Array> {
        let key = random::key(seed)?;
        Ok(random::normal::<f32>(&[1, self.cfg.inter_channels, frames], None, None, &key)?)
    }

    /// `SynthesizerTrn.decode`: 25 Hz `codes`, target phone ids `text` and a voice [`Style`] →
    /// waveform `[samples]` f32 in [−1, 1] (32 kHz, `2·640·len(codes)` samples at speed 1).
    /// `noise` is the standard-normal draw `[1,inter,T']` (torch layout, see [`Self::noise`]);
    /// `None` draws it from MLX's global generator (seed it with `mlx_rs::random::seed`).
    pub fn decode(
        &self,
        codes: &[i64],
        text: &[i64],
        style: &Style,
        noise_scale: f32,
        speed: f32,
        noise: Option<&Array>,
    ) -> Result<Array> {
        let latent = self.prior(codes, text, style, speed)?;
        let (_, _, o) = self.synthesize(&latent.m, &latent.logs, style, noise_scale, noise)?;
        Ok(o.reshape(&[-1])?.as_dtype(Dtype::Float32)?)
    }

    /// [`Self::decode`] returning every upstream intermediate in torch layout.
    pub fn decode_trace(
        &self,
        codes: &[i64],
        text: &[i64],
        style: &Style,
        noise_scale: f32,
        speed: f32,
        noise: Option<&Array>,
    ) -> Result<DecodeTrace> {
        let latent = self.prior(codes, text, style, speed)?;
        let (z_p, z, o) = self.synthesize(&latent.m, &latent.logs, style, noise_scale, noise)?;
        let t = |a: &Array| -> Result<Array> { Ok(a.transpose_axes(&[0, 2, 1])?.as_dtype(Dtype::Float32)?) };
        Ok(DecodeTrace {
            enc_x: t(&latent.x)?,
            m_p: t(&latent.m)?,
            logs_p: t(&latent.logs)?,
            z_p: t(&z_p)?,
            z: t(&z)?,
            o: t(&o)?,
        })
    }

    /// Codes and phones → `enc_p` outputs (before the flow), channels-last.
    pub(crate) fn prior(&self, codes: &[i64], text: &[i64], style: &Style, speed: f32) -> Result<text_encoder::EncoderOutput> {
        let y = self.encode_content(codes, text, style)?;
        if !(speed.is_finite() && speed > 0.0) {
            return Err(Error::Invalid(format!("speed must be a positive number, got {speed}")));
        }
        self.enc_p.project(&y, speed)
    }

    /// `enc_p` up to `encoder2` (before speed interpolation): `[1, 2·len(codes), H]`.
    pub(crate) fn encode_content(&self, codes: &[i64], text: &[i64], style: &Style) -> Result<Array> {
        let codes = checked_ids("code", codes, self.quantizer.bins())?;
        let text = checked_ids("phone id", text, self.cfg.n_symbols)?;
        if let Some(c) = &self.compiled {
            return c.content(&self.quantizer, &self.enc_p, &codes, &text, &style.ge_text);
        }
        let (codes, text) = (Array::from_slice(&codes, &[codes.len() as i32]), Array::from_slice(&text, &[1, text.len() as i32]));
        content_graph(&self.quantizer, &self.enc_p, &codes, &text, &style.ge_text, None)
    }

    /// `z_p = m + ε·exp(logs)·noise_scale`, reverse flow, Generator: returns `(z_p, z, o)`,
    /// channels-last (`o [1,samples,1]`).
    pub(crate) fn synthesize(
        &self,
        m: &Array,
        logs: &Array,
        style: &Style,
        noise_scale: f32,
        noise: Option<&Array>,
    ) -> Result<(Array, Array, Array)> {
        if !(noise_scale.is_finite() && noise_scale >= 0.0) {
            return Err(Error::Invalid(format!("noise_scale must be ≥ 0, got {noise_scale}")));
        }
        let (t, c) = (m.shape()[1], m.shape()[2]);
        let eps = match noise {
            Some(n) => {
                if n.shape() != [1, c, t] {
                    return Err(Error::Invalid(format!(
                        "noise must be [1,{c},{t}] (torch layout), got {:?}",
                        n.shape()
                    )));
                }
                n.as_dtype(self.dtype)?.transpose_axes(&[0, 2, 1])?
            }
            None => random::normal::<f32>(&[1, t, c], None, None, None)?.as_dtype(self.dtype)?,
        };
        if let Some(c) = &self.compiled {
            return c.synthesis(&self.flow, &self.dec, m, logs, &eps, noise_scale, &style.ge);
        }
        synthesis_graph(&self.flow, &self.dec, m, logs, &eps, &Array::from_f32(noise_scale), &style.ge, None)
    }
}

/// `enc_p` up to `encoder2` from code ids `[n]` (25 Hz) and phone ids `[1, p]`, as the eager and
/// the compiled decode build it; `masks`: the real frames and phones of padded ids.
pub(crate) fn content_graph(
    quantizer: &quantizer::Quantizer,
    enc_p: &text_encoder::TextEncoder,
    codes: &Array,
    text: &Array,
    ge_text: &Array,
    masks: Option<(&mask::FrameMask, &mask::FrameMask)>,
) -> Result<Array> {
    let ssl = quantizer.decode_50hz(codes)?;
    enc_p.encode(&ssl, text, ge_text, masks)
}

/// The prior sample `z_p = m + ε·exp(logs)·noise_scale`, the reverse flow and the Generator:
/// `(z_p, z, o)`, as the eager and the compiled decode build them; `mask`: the real frames of a
/// padded latent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn synthesis_graph(
    flow: &flow::Flow,
    dec: &generator::Generator,
    m: &Array,
    logs: &Array,
    eps: &Array,
    noise_scale: &Array,
    g: &Array,
    mask: Option<&mask::FrameMask>,
) -> Result<(Array, Array, Array)> {
    let z_p = m.add(&eps.multiply(&ops::exp(logs)?)?.multiply(noise_scale)?)?;
    let z = flow.reverse(&z_p, g, mask)?;
    let o = dec.forward(&z, Some(g), mask)?;
    Ok((z_p, z, o))
}

/// Checks ids against a table size: int32 ids.
fn checked_ids(what: &str, ids: &[i64], size: i32) -> Result<Vec<i32>> {
    if ids.is_empty() {
        return Err(Error::Invalid(format!("decode: no {what}s given")));
    }
    if let Some((i, bad)) = ids.iter().enumerate().find(|(_, &v)| v < 0 || v >= size as i64) {
        return Err(Error::Invalid(format!(
            "decode: {what} {bad} at position {i} is outside 0..{size}"
        )));
    }
    Ok(ids.iter().map(|&x| x as i32).collect())
}

/// TTS.run's int16 output for one fragment: peak-normalise only when `max|w| > 1`, append
/// `silence` zero samples (`fragment_interval`), `× 32768`, truncate toward zero.
/// [quirk] upstream's `astype(np.int16)` wraps a full-scale sample (+1.0 → 32768) to −32768;
/// we clip to `[−32768, 32767]` instead.
pub fn to_int16(wave: &[f32], silence: usize) -> Vec<i16> {
    let peak = wave.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let gain = if peak > 1.0 { peak } else { 1.0 };
    wave.iter()
        .map(|&x| {
            let x = if gain > 1.0 { x / gain } else { x };
            (x * 32768.0).trunc().clamp(-32768.0, 32767.0) as i16
        })
        .chain(std::iter::repeat(0).take(silence))
        .collect()
}
