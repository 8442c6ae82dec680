//! g2p_en 2.1.0's out-of-vocabulary predictor (`G2p.predict`): a one-layer GRU encoder over
//! the word's letters and a GRU decoder with greedy argmax decoding, at most 20 phones.
//!
//! The weights (`checkpoint20.npz` of the g2p_en PyPI package, Apache-2.0) ship as
//! `data/en/g2p_en_checkpoint20.f32`: the twelve arrays as raw little-endian f32, in the
//! order of [`LAYOUT`]. Dot products accumulate in f64 and round once to f32, so results
//! sit within an ulp of numpy's BLAS sums; only near-ties of the argmax could differ.
//! The input-side gate projections are tabulated per symbol at load time.
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::Error;

const WEIGHTS: &[u8] = include_bytes!("../../data/en/g2p_en_checkpoint20.f32");
const HIDDEN: usize = 256;
const EMBED: usize = 256;
const GRAPHEMES: usize = 29;
const MAX_PHONES: usize = 20;
/// Predictions are deterministic, so they are cached; the cache is emptied when it holds
/// this many words.
const CACHE_LIMIT: usize = 20_000;

static CACHE: LazyLock<Mutex<HashMap<String, Vec<&'static str>>>> = LazyLock::new(Mutex::default);

/// g2p_en's `phonemes`: decoder output index → symbol.
const PHONEMES: [&str; 74] = [
    "<pad>", "<unk>", "<s>", "</s>", "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2",
    "AO0", "AO1", "AO2", "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0",
    "EH1", "EH2", "ER0", "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2",
    "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2",
    "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V", "W", "Y",
    "Z", "ZH",
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
            .map(|(row, b)| dot(row, x) + b)
            .collect()
    }
}

/// A dot product accumulated in f64 (eight lanes, so it vectorises) and rounded once.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += f64::from(ca[k]) * f64::from(cb[k]);
        }
    }
    (lanes.iter().sum::<f64>() + tail) as f32
}

struct Gru {
    /// `emb @ w_ih.T + b_ih` for every input symbol, computed once at load: the inputs are
    /// embeddings of a small vocabulary.
    input_gates: Matrix,
    w_hh: Matrix,
    b_hh: Matrix,
}

impl Gru {
    fn new(emb: &Matrix, w_ih: &Matrix, b_ih: &Matrix, w_hh: Matrix, b_hh: Matrix) -> Self {
        let rows = emb.data.len() / emb.cols;
        let data = (0..rows)
            .flat_map(|r| w_ih.affine(emb.row(r), b_ih))
            .collect();
        Self {
            input_gates: Matrix {
                data,
                cols: 3 * HIDDEN,
            },
            w_hh,
            b_hh,
        }
    }

    /// g2p_en's `grucell` (PyTorch GRU gate order r, z, n) for input symbol `symbol`.
    fn step(&self, symbol: usize, h: &[f32]) -> Vec<f32> {
        let gi = self.input_gates.row(symbol);
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
    encoder: Gru,
    decoder: Gru,
    fc_w: Matrix,
    fc_b: Matrix,
}

static MODEL: LazyLock<Result<Model, String>> = LazyLock::new(|| load(WEIGHTS));

fn load(bytes: &[u8]) -> Result<Model, String> {
    let expected: usize = LAYOUT.iter().map(|(_, r, c)| r * c * 4).sum();
    if bytes.len() != expected {
        return Err(format!(
            "g2p_en weights: {} bytes, expected {expected}",
            bytes.len()
        ));
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
    let mut next = || {
        it.next()
            .ok_or_else(|| "g2p_en weights: missing array".to_string())
    };
    let (enc_emb, enc_w_ih, enc_w_hh, enc_b_ih, enc_b_hh) =
        (next()?, next()?, next()?, next()?, next()?);
    let encoder = Gru::new(&enc_emb, &enc_w_ih, &enc_b_ih, enc_w_hh, enc_b_hh);
    let (dec_emb, dec_w_ih, dec_w_hh, dec_b_ih, dec_b_hh) =
        (next()?, next()?, next()?, next()?, next()?);
    let decoder = Gru::new(&dec_emb, &dec_w_ih, &dec_b_ih, dec_w_hh, dec_b_hh);
    Ok(Model {
        encoder,
        decoder,
        fc_w: next()?,
        fc_b: next()?,
    })
}

/// Forces the lazy load (server start-up warm-up).
pub(crate) fn warm_up() -> Result<(), Error> {
    MODEL
        .as_ref()
        .map(|_| ())
        .map_err(|e| Error::Invalid(e.clone()))
}

/// `G2p.predict(word)`: phone symbols for `word` (which upstream passes lower-cased). Letters
/// a–z are graphemes 3–28, anything else is `<unk>`; the output may contain `<pad>`, `<unk>`,
/// `<s>` and the unstressed `UW`, which the caller filters like upstream.
pub(crate) fn predict(word: &str) -> Result<Vec<&'static str>, Error> {
    // A poisoned cache only means another thread panicked mid-insert; the map is still valid.
    if let Some(hit) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(word) {
        return Ok(hit.clone());
    }
    let phones = run(word)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(word.to_string(), phones.clone());
    Ok(phones)
}

/// The GRU encoder-decoder itself.
fn run(word: &str) -> Result<Vec<&'static str>, Error> {
    let model = MODEL.as_ref().map_err(|e| Error::Invalid(e.clone()))?;
    let grapheme = |c: char| {
        if c.is_ascii_lowercase() {
            usize::from(c as u8 - b'a') + 3
        } else {
            1
        }
    };
    let mut h = vec![0.0f32; HIDDEN];
    for index in word.chars().map(grapheme).chain([2]) {
        h = model.encoder.step(index, &h);
    }
    let mut input = START;
    let mut phones = Vec::new();
    for _ in 0..MAX_PHONES {
        h = model.decoder.step(input, &h);
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

    /// Outputs of g2p_en 2.1.0's `G2p().predict(word)` (numpy 2.4, x86-64).
    #[test]
    fn predicts_like_g2p_en() -> Result<(), Error> {
        let cases: [(&str, &[&str]); 8] = [
            (
                "helloworld",
                &["HH", "EH1", "L", "OW0", "W", "ER2", "L", "D"],
            ),
            ("tastic", &["T", "AE1", "S", "T", "IH0", "K"]),
            (
                "zindleworp",
                &["Z", "IH1", "N", "D", "L", "AH0", "W", "ER2", "F"],
            ),
            ("blorpfish", &["B", "L", "AO1", "R", "P", "F", "IH2", "SH"]),
            ("quexily", &["K", "W", "EH1", "K", "S", "AH0", "L", "IY0"]),
            (
                "activationist",
                &[
                    "AE2", "K", "T", "IH0", "V", "EY1", "SH", "AH0", "N", "IH0", "S", "T",
                ],
            ),
            (
                "doomscrollable",
                &[
                    "D", "UW1", "M", "S", "K", "R", "OW2", "M", "AH0", "L", "B", "AH0", "L",
                ],
            ),
            // Non-letters are `<unk>` graphemes.
            ("x'y-z", &["EH1", "K", "S", "W", "IY0", "Z"]),
        ];
        for (word, want) in cases {
            assert_eq!(predict(word)?, want, "{word}");
        }
        Ok(())
    }

    #[test]
    fn weights_have_the_expected_layout() {
        assert!(load(WEIGHTS).is_ok());
        assert!(load(&WEIGHTS[4..]).is_err());
    }
}
