//! SoVITS hyperparameters: `hps.model` / `hps.data` of the `.pth` (upstream `configs/s2*.json`,
//! stored in the checkpoint as a pickled `utils.HParams` or, in pretrained files, a plain dict).
use torch_archive::Value;

use super::version::SovitsVersion;
use crate::models::{Error, Result};

/// SSL feature width: upstream hard-codes 768 (chinese-hubert-base) in `SynthesizerTrn`.
pub const SSL_DIM: i32 = 768;
/// MRTE inner width and heads, hard-coded in upstream `mrte_model.MRTE()` defaults.
pub const MRTE_HIDDEN: i32 = 512;
pub const MRTE_HEADS: i32 = 4;
/// Spectrogram bins the v2-family reference encoder reads (`refer[:, :704]`).
pub const REF_BINS_V2: i32 = 704;
/// MelStyleEncoder inner width / heads / kernel (upstream constructor defaults).
pub const STYLE_HIDDEN: i32 = 128;
pub const STYLE_HEADS: i32 = 2;
pub const STYLE_KERNEL: i32 = 5;
/// Flow: 4 coupling layers, each a WN with kernel 5, dilation rate 1, 4 layers (`ResidualCouplingBlock(inter, hidden, 5, 1, 4)`).
pub const FLOW_COUPLINGS: usize = 4;
pub const FLOW_WN_KERNEL: i32 = 5;
pub const FLOW_WN_LAYERS: usize = 4;
/// Relative-attention window of `attentions.Encoder` (upstream default `window_size=4`).
pub const REL_WINDOW: i32 = 4;
/// v2Pro speaker-verification embedding width (ERes2NetV2 `forward3` output, flattened).
pub const SV_DIM: i32 = 20480;
/// ge width that MRTE consumes in v2Pro (`ge_to512`).
pub const GE_TEXT_DIM: i32 = 512;

/// Model dimensions (upstream names in comments where they differ).
#[derive(Debug, Clone, PartialEq)]
pub struct SovitsConfig {
    pub inter_channels: i32,
    pub hidden_channels: i32,
    pub filter_channels: i32,
    pub n_heads: i32,
    /// `encoder_text` depth; `encoder_ssl` and `encoder2` have `n_layers / 2`.
    pub n_layers: usize,
    pub kernel_size: i32,
    pub resblock_kernel_sizes: Vec<i32>,
    pub resblock_dilation_sizes: Vec<Vec<i32>>,
    pub upsample_rates: Vec<i32>,
    pub upsample_initial_channel: i32,
    pub upsample_kernel_sizes: Vec<i32>,
    pub gin_channels: i32,
    /// Rows of `enc_p.text_embedding` (322 v1, 732 v2+): read from the weights like upstream.
    pub n_symbols: i32,
    /// `filter_length / 2 + 1` (1025): the v1 reference encoder reads every bin.
    pub spec_channels: i32,
    pub sampling_rate: i32,
    pub hop_length: i32,
    /// Codebook rows (`ResidualVectorQuantizer(bins=1024)`).
    pub codebook_size: i32,
}

impl SovitsConfig {
    /// Public v2 dimensions (`configs/s2.json`), used for random-weight benchmarks.
    pub fn v2() -> Self {
        Self {
            inter_channels: 192,
            hidden_channels: 192,
            filter_channels: 768,
            n_heads: 2,
            n_layers: 6,
            kernel_size: 3,
            resblock_kernel_sizes: vec![3, 7, 11],
            resblock_dilation_sizes: vec![vec![1, 3, 5]; 3],
            upsample_rates: vec![10, 8, 2, 2, 2],
            upsample_initial_channel: 512,
            upsample_kernel_sizes: vec![16, 16, 8, 2, 2],
            gin_channels: 512,
            n_symbols: 732,
            spec_channels: 1025,
            sampling_rate: 32000,
            hop_length: 640,
            codebook_size: 1024,
        }
    }

    /// Public dimensions of a generation (`configs/s2.json`, `s2v2Pro.json`, `s2v2ProPlus.json`;
    /// v1 = v2 with the 322-symbol table), for random-weight benchmarks.
    pub fn for_version(version: SovitsVersion) -> Self {
        let v2 = Self::v2();
        match version {
            SovitsVersion::V1 => Self { n_symbols: 322, ..v2 },
            SovitsVersion::V2Pro => Self { gin_channels: 1024, ..v2 },
            // [quirk] the only Generator change of v2ProPlus: 768 channels and a first kernel of 20.
            SovitsVersion::V2ProPlus => Self {
                gin_channels: 1024,
                upsample_initial_channel: 768,
                upsample_kernel_sizes: vec![20, 16, 8, 2, 2],
                ..v2
            },
            SovitsVersion::V2 | SovitsVersion::V3 | SovitsVersion::V4 => v2,
        }
    }

    /// Output samples per 50 Hz latent frame (product of the upsample rates, = hop 640).
    pub fn samples_per_frame(&self) -> i32 {
        self.upsample_rates.iter().product()
    }

    /// Spectrogram bins the reference encoder reads for this version.
    pub fn ref_bins(&self, version: SovitsVersion) -> i32 {
        if version == SovitsVersion::V1 {
            self.spec_channels
        } else {
            REF_BINS_V2.min(self.spec_channels)
        }
    }

    /// Reads `hps` (HParams object or dict). `n_symbols` comes from the weights, as in upstream.
    pub fn from_hparams(hps: &Value, n_symbols: i32, source: &str) -> Result<Self> {
        let bad = |message: String| Error::Config {
            source_name: source.to_string(),
            message,
        };
        let model = field(hps, "model").ok_or_else(|| bad("no `model` section in config".into()))?;
        let data = field(hps, "data").ok_or_else(|| bad("no `data` section in config".into()))?;
        let int = |sec: &Value, secname: &str, key: &str| -> Result<i32> {
            match field(sec, key) {
                Some(Value::Int(v)) => i32::try_from(*v)
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| bad(format!("{secname}.{key} = {v} is out of range"))),
                Some(Value::Float(v)) if v.fract() == 0.0 && *v > 0.0 && *v < 1e9 => Ok(*v as i32),
                Some(other) => Err(bad(format!("{secname}.{key} is not an integer: {other:?}"))),
                None => Err(bad(format!("{secname}.{key} is missing"))),
            }
        };
        let ints = |key: &str| -> Result<Vec<i32>> {
            let list = field(model, key).ok_or_else(|| bad(format!("model.{key} is missing")))?;
            int_list(list).ok_or_else(|| bad(format!("model.{key} is not a list of positive integers")))
        };
        let resblock = match field(model, "resblock") {
            Some(Value::Str(s)) => s.clone(),
            Some(Value::Int(i)) => i.to_string(),
            _ => return Err(bad("model.resblock is missing".into())),
        };
        if resblock != "1" {
            return Err(bad(format!(
                "model.resblock = {resblock:?}: only ResBlock1 (\"1\", every released SoVITS) is supported"
            )));
        }
        let dil = field(model, "resblock_dilation_sizes")
            .ok_or_else(|| bad("model.resblock_dilation_sizes is missing".into()))?;
        let resblock_dilation_sizes = match dil {
            Value::List(rows) | Value::Tuple(rows) => rows
                .iter()
                .map(int_list)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("model.resblock_dilation_sizes is not a list of integer lists".into()))?,
            _ => return Err(bad("model.resblock_dilation_sizes is not a list".into())),
        };
        if let Some(Value::Str(rate)) = field(model, "semantic_frame_rate") {
            // TTS.py forces "25hz" whatever the file says; we follow it but refuse nonsense.
            if rate != "25hz" && rate != "50hz" {
                return Err(bad(format!("model.semantic_frame_rate = {rate:?}")));
            }
        }
        let cfg = Self {
            inter_channels: int(model, "model", "inter_channels")?,
            hidden_channels: int(model, "model", "hidden_channels")?,
            filter_channels: int(model, "model", "filter_channels")?,
            n_heads: int(model, "model", "n_heads")?,
            n_layers: int(model, "model", "n_layers")? as usize,
            kernel_size: int(model, "model", "kernel_size")?,
            resblock_kernel_sizes: ints("resblock_kernel_sizes")?,
            resblock_dilation_sizes,
            upsample_rates: ints("upsample_rates")?,
            upsample_initial_channel: int(model, "model", "upsample_initial_channel")?,
            upsample_kernel_sizes: ints("upsample_kernel_sizes")?,
            gin_channels: int(model, "model", "gin_channels")?,
            n_symbols,
            spec_channels: int(data, "data", "filter_length")? / 2 + 1,
            sampling_rate: int(data, "data", "sampling_rate")?,
            hop_length: int(data, "data", "hop_length")?,
            codebook_size: 1024,
        };
        cfg.validate().map_err(bad)?;
        Ok(cfg)
    }

    /// Consistency rules the upstream constructor asserts or silently relies on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.hidden_channels % self.n_heads != 0 {
            return Err(format!(
                "hidden_channels {} is not divisible by n_heads {}",
                self.hidden_channels, self.n_heads
            ));
        }
        if self.inter_channels % 2 != 0 {
            return Err(format!("inter_channels {} is odd (flow splits it in halves)", self.inter_channels));
        }
        if self.resblock_kernel_sizes.len() != self.resblock_dilation_sizes.len() {
            return Err("resblock_kernel_sizes and resblock_dilation_sizes differ in length".into());
        }
        if self.upsample_rates.len() != self.upsample_kernel_sizes.len() || self.upsample_rates.is_empty() {
            return Err("upsample_rates and upsample_kernel_sizes differ in length".into());
        }
        for (u, k) in self.upsample_rates.iter().zip(&self.upsample_kernel_sizes) {
            if k < u || (k - u) % 2 != 0 {
                return Err(format!("upsample kernel {k} with rate {u} does not upsample exactly ×{u}"));
            }
        }
        let last = self.upsample_initial_channel >> self.upsample_rates.len();
        if last < 1 {
            return Err(format!(
                "upsample_initial_channel {} is too small for {} upsampling stages",
                self.upsample_initial_channel,
                self.upsample_rates.len()
            ));
        }
        Ok(())
    }
}

/// `obj.key` on a dict or on a pickled object whose state is a dict (`utils.HParams`).
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Dict(items) => items.iter().find_map(|(k, v)| match k {
            Value::Str(s) if s == key => Some(v),
            _ => None,
        }),
        Value::Object { state, .. } => field(state, key),
        _ => None,
    }
}

fn int_list(v: &Value) -> Option<Vec<i32>> {
    match v {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(x) => i32::try_from(*x).ok().filter(|x| *x > 0),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
