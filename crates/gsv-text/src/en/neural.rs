//! g2p_en 2.1.0's out-of-vocabulary predictor (`G2p.predict`): a one-layer GRU encoder over
//! the word's letters and a GRU decoder with greedy argmax decoding, at most 20 phones.
//!
//! The weights (`checkpoint20.npz` of the g2p_en PyPI package, Apache-2.0) ship as
//! `data/en/g2p_en_checkpoint20.f32`: the twelve arrays as raw little-endian f32, in the
//! order of [`LAYOUT`]. Dot products accumulate in f64 and round once to f32, so results
//! sit within an ulp of numpy's BLAS sums; only near-ties of the argmax could differ.
use std::sync::LazyLock;

use crate::Error;

const WEIGHTS: &[u8] = include_bytes!("../../data/en/g2p_en_checkpoint20.f32");
const HIDDEN: usize = 256;
const EMBED: usize = 256;
const GRAPHEMES: usize = 29;
const MAX_PHONES: usize = 20;

/// g2p_en's `phonemes`: decoder output index → symbol.
const PHONEMES: [&str; 74] = [
    "<pad>", "<unk>", "<s>", "</s>", "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0",
    "AO1", "AO2", "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER0",
    "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "JH", "K",
    "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2", "P", "R", "S", "SH", "T", "TH", "UH0",
    "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V", "W", "Y", "Z", "ZH",
];
const START: usize = 2;
const END: usize = 3;

/// (name, rows, columns) of each array in the weight file, in file order.
const LAYOUT: [(&str, usize, usize); 12] = [
    ("enc_emb", GRAPHEMES, EMBED),
    ("enc_w_ih", 3 * HIDDEN, EMBED),
    ("enc_w_hh", 3 * HIDDEN, HIDDEN),
    ("enc_b_ih", 1, 3 * HIDDEN),
    ("enc_b_hh", 1, 3 * HIDDEN),
    ("dec_emb", PHONEMES.len(), EMBED),
    ("dec_w_ih", 3 * HIDDEN, EMBED),
    ("dec_w_hh", 3 * HIDDEN, HIDDEN),
    ("dec_b_ih", 1, 3 * HIDDEN),
    ("dec_b_hh", 1, 3 * HIDDEN),
    ("fc_w", PHONEMES.len(), HIDDEN),
    ("fc_b", 1, PHONEMES.len()),
];

/// A row-major matrix.
struct Matrix {
    data: Vec<f32>,
    cols: usize,
}

impl Matrix {
    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// `w @ x + b` (numpy: `x @ w.T + b`).
    fn affine(&self, x: &[f32], bias: &Matrix) -> Vec<f32> {
        self.data
            .chunks_exact(self.cols)
            .zip(&bias.data)
            .map(|(row, b)| {
                let dot: f64 = row.iter().zip(x).map(|(&w, &v)| f64::from(w) * f64::from(v)).sum();
                dot as f32 + b
            })
            .collect()
    }
}

struct Gru {
    w_ih: Matrix,
    w_hh: Matrix,
    b_ih: Matrix,
    b_hh: Matrix,
}

impl Gru {
    /// g2p_en's `grucell` (PyTorch GRU gate order r, z, n).
    fn step(&self, x: &[f32], h: &[f32]) -> Vec<f32> {
        let gi = self.w_ih.affine(x, &self.b_ih);
        let gh = self.w_hh.affine(h, &self.b_hh);
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        (0..HIDDEN)
            .map(|k| {
                let r = sigmoid(gi[k] + gh[k]);
                let z = sigmoid(gi[HIDDEN + k] + gh[HIDDEN + k]);
                let n = (gi[2 * HIDDEN + k] + r * gh[2 * HIDDEN + k]).tanh();
                (1.0 - z) * n + z * h[k]
            })
            .collect()
    }
}

struct Model {
    enc_emb: Matrix,
    encoder: Gru,
    dec_emb: Matrix,
    decoder: Gru,
    fc_w: Matrix,
    fc_b: Matrix,
}

static MODEL: LazyLock<Result<Model, String>> = LazyLock::new(|| load(WEIGHTS));

fn load(bytes: &[u8]) -> Result<Model, String> {
    let expected: usize = LAYOUT.iter().map(|(_, r, c)| r * c * 4).sum();
    if bytes.len() != expected {
        return Err(format!("g2p_en weights: {} bytes, expected {expected}", bytes.len()));
    }
    let mut arrays = Vec::with_capacity(LAYOUT.len());
    let mut offset = 0;
    for (_, rows, cols) in LAYOUT {
        let len = rows * cols * 4;
        let data = bytes[offset..offset + len]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        arrays.push(Matrix { data, cols });
        offset += len;
    }
    let mut it = arrays.into_iter();
    let mut next = || it.next().ok_or_else(|| "g2p_en weights: missing array".to_string());
    Ok(Model {
        enc_emb: next()?,
        encoder: Gru { w_ih: next()?, w_hh: next()?, b_ih: next()?, b_hh: next()? },
        dec_emb: next()?,
        decoder: Gru { w_ih: next()?, w_hh: next()?, b_ih: next()?, b_hh: next()? },
        fc_w: next()?,
        fc_b: next()?,
    })
}

/// Forces the lazy load (server start-up warm-up).
pub(crate) fn warm_up() -> Result<(), Error> {
    MODEL.as_ref().map(|_| ()).map_err(|e| Error::Invalid(e.clone()))
}

/// `G2p.predict(word)`: phone symbols for `word` (which upstream passes lower-cased). Letters
/// a–z are graphemes 3–28, anything else is `<unk>`; the output may contain `<pad>`, `<unk>`,
/// `<s>` and the unstressed `UW`, which the caller filters like upstream.
pub(crate) fn predict(word: &str) -> Result<Vec<&'static str>, Error> {
    let model = MODEL.as_ref().map_err(|e| Error::Invalid(e.clone()))?;
    let grapheme = |c: char| if c.is_ascii_lowercase() { usize::from(c as u8 - b'a') + 3 } else { 1 };
    let mut h = vec![0.0f32; HIDDEN];
    for index in word.chars().map(grapheme).chain([2]) {
        h = model.encoder.step(model.enc_emb.row(index), &h);
    }
    let mut input = START;
    let mut phones = Vec::new();
    for _ in 0..MAX_PHONES {
        h = model.decoder.step(model.dec_emb.row(input), &h);
        let logits = model.fc_w.affine(&h, &model.fc_b);
        // numpy's argmax: the first index of the maximum.
        let mut pred = 0;
        for (k, &v) in logits.iter().enumerate() {
            if v > logits[pred] {
                pred = k;
            }
        }
        if pred == END {
            break;
        }
        phones.push(PHONEMES[pred]);
        input = pred;
    }
    Ok(phones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_have_the_expected_layout() {
        assert!(load(WEIGHTS).is_ok());
        assert!(load(&WEIGHTS[4..]).is_err());
    }
}
