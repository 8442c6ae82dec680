//! `ssl_proj` + the single-codebook `ResidualVectorQuantizer` (upstream `quantize.py`,
//! `core_vq.py`): HuBERT features ↔ 25 Hz semantic codes.
use mlx_rs::{ops, ops::indexing::argmax_axis, Array};

use super::config::SSL_DIM;
use super::modules::{conv1d, take};
use crate::models::layers::Conv1d;
use crate::models::weights::Weights;
use crate::models::Result;

#[derive(Clone)]
pub struct Quantizer {
    /// Conv1d 768→768, kernel 2, stride 2 (50 Hz → 25 Hz).
    ssl_proj: Conv1d,
    /// `quantizer.vq.layers.0._codebook.embed` `[bins, 768]`.
    embed: Array,
    /// `|e|²` per codebook row, precomputed.
    embed_sq: Array,
}

impl Quantizer {
    pub fn load(w: &mut Weights, bins: i32) -> Result<Self> {
        let ssl_proj = conv1d(w, "ssl_proj", SSL_DIM, SSL_DIM, 2, true, 2, 0, 1)?;
        let embed = take(w, "quantizer.vq.layers.0._codebook.embed", &[bins, SSL_DIM])?;
        // Training state of the EMA codebook (inited, cluster_size, embed_avg) is unused here.
        w.ignore_prefix("quantizer.vq.layers.0._codebook.");
        let embed_sq = embed.square()?.sum_axis(-1, false)?;
        Ok(Self {
            ssl_proj,
            embed,
            embed_sq,
        })
    }

    pub fn bins(&self) -> i32 {
        self.embed.shape()[0]
    }

    /// `ssl [1,T,768]` channels-last → codes `[1,T/2]` int32: the row maximising
    /// `−(|x|² − 2x·e + |e|²)`, the same expression (and so the same near-ties) as upstream.
    pub fn encode(&self, ssl: &Array) -> Result<Array> {
        let x = self.ssl_proj.forward(ssl)?;
        Ok(argmax_axis(&self.neg_dist(&x)?, -1, false)?)
    }

    /// Scores `−dist` `[1,T,bins]` of projected frames `x [1,T,768]`.
    pub fn neg_dist(&self, x: &Array) -> Result<Array> {
        let x2 = x.square()?.sum_axis(-1, true)?;
        let xe = ops::matmul(x, &self.embed.t())?;
        let d = x2.subtract(&xe.multiply(Array::from_f32(2.0))?)?.add(&self.embed_sq)?;
        Ok(d.negative()?)
    }

    /// Projected frames `[1,T/2,768]` (exposed for margin diagnostics).
    pub fn project(&self, ssl: &Array) -> Result<Array> {
        self.ssl_proj.forward(ssl)
    }

    /// Codebook rows for `codes [n]` int32, each repeated twice (25 → 50 Hz, nearest):
    /// `[1, 2n, 768]`.
    pub fn decode_50hz(&self, codes: &Array) -> Result<Array> {
        let n = codes.shape()[0];
        let q = self.embed.take_axis(codes, 0)?; // [n, 768]
        let q = ops::broadcast_to(q.reshape(&[n, 1, SSL_DIM])?, &[n, 2, SSL_DIM])?;
        Ok(q.reshape(&[1, 2 * n, SSL_DIM])?)
    }

    /// Codebook rows `[1, n, 768]` (upstream `quantizer.decode`, channels-last).
    pub fn decode(&self, codes: &Array) -> Result<Array> {
        let n = codes.shape()[0];
        Ok(self.embed.take_axis(codes, 0)?.reshape(&[1, n, SSL_DIM])?)
    }
}
