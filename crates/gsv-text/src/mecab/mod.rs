//! A pure-Rust MeCab: reads MeCab's compiled dictionary directory and analyses text with
//! MeCab's own lattice/Viterbi algorithm, so the result is MeCab's node for node.
//!
//! ```no_run
//! let dict = gsv_text::mecab::Dictionary::open("/path/to/mecab-ko-dic")?;
//! for node in dict.analyse("오늘 날씨가 좋네요") {
//!     println!("{}\t{}", node.surface, node.feature);
//! }
//! # Ok::<(), gsv_text::mecab::Error>(())
//! ```
//!
//! A dictionary directory holds `sys.dic` (system dictionary), `unk.dic` (unknown-word entries
//! per character category), `char.bin` (character categories), `matrix.bin` (connection costs)
//! and, optionally, `dicrc` (settings; read keys: `bos-feature`, `unk-feature`,
//! `max-grouping-size` and mecab-ko's `left-space-penalty-factor`). Verified against
//! mecab-ko (python-mecab-ko 1.3.7) with mecab-ko-dic 2.1.1 and against MeCab 0.996 with
//! OpenJTalk's naist-jdic (tests/mecab_oracle.rs). User dictionaries and the n-best / partial
//! (constraint) modes are not implemented.
//!
//! Cost: the lattice is built in one pass over the bytes; every position holds at most 512
//! dictionary prefixes (MeCab's limit) plus a bounded number of unknown-word candidates, so
//! time and memory grow linearly with the text for a fixed dictionary.
mod chars;
mod dic;
mod lattice;

use std::path::{Path, PathBuf};

use chars::{CharInfo, CharProperty};
use dic::{DicFile, Token};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read MeCab dictionary file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid MeCab dictionary: {0}")]
    Format(String),
}

/// One morpheme of the best analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub surface: String,
    /// The dictionary's feature CSV (e.g. `NNG,*,T,오늘,*,*,*,*` in mecab-ko-dic).
    pub feature: String,
    /// Byte offset of `surface` in the analysed text (leading spaces are not part of a node).
    pub start: usize,
    pub posid: u16,
    pub left_id: u16,
    pub right_id: u16,
    pub word_cost: i16,
    /// Cumulative path cost from the start of the text up to and including this node
    /// (MeCab's `node->cost`).
    pub cost: i64,
    /// Proposed from the character categories (not found in `sys.dic`).
    pub unknown: bool,
}

/// A loaded dictionary directory; immutable, so one instance can serve every thread.
pub struct Dictionary {
    sys: DicFile,
    unk: DicFile,
    chars: CharProperty,
    /// Unknown-word tokens per character category (index = category id).
    unk_tokens: Vec<Vec<Token>>,
    space: CharInfo,
    matrix: Vec<i16>,
    matrix_left: usize,
    space_penalty: Vec<(u16, i32)>,
    max_grouping_size: usize,
    unk_feature: Option<String>,
    bos_feature: String,
}

/// MeCab's `DEFAULT_MAX_GROUPING_SIZE`.
const DEFAULT_MAX_GROUPING_SIZE: usize = 24;

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, Error> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| Error::Io { path, source })
}

/// `dicrc`: `key = value` lines; `;`/`#` start comments (MeCab's `Param::load`).
fn parse_dicrc(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';') && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim_end().to_string(), v.trim_start().trim_end_matches('\r').to_string()))
        .collect()
}

impl Dictionary {
    /// Load a compiled dictionary directory (see the module docs for the files).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let sys = DicFile::parse(read(dir, "sys.dic")?, "sys.dic")?;
        let unk = DicFile::parse(read(dir, "unk.dic")?, "unk.dic")?;
        if sys.kind != 0 || unk.kind != 2 {
            return Err(Error::Format("sys.dic / unk.dic have the wrong dictionary type".into()));
        }
        let charset = sys.charset.to_ascii_lowercase().replace('-', "");
        if charset != "utf8" {
            return Err(Error::Format(format!("only UTF-8 dictionaries are supported (sys.dic is {})", sys.charset)));
        }
        let chars = CharProperty::parse(&read(dir, "char.bin")?)?;
        let (matrix_left, matrix_right, matrix) = parse_matrix(&read(dir, "matrix.bin")?)?;
        if sys.left_size as usize != matrix_left || sys.right_size as usize != matrix_right {
            return Err(Error::Format("matrix.bin and sys.dic disagree on the context-id counts".into()));
        }
        let unk_tokens = chars
            .names
            .iter()
            .map(|name| {
                let value = unk
                    .exact_match(name.as_bytes())
                    .ok_or_else(|| Error::Format(format!("unk.dic has no entry for category {name}")))?;
                Ok(unk.tokens_of(value).collect())
            })
            .collect::<Result<Vec<Vec<Token>>, Error>>()?;
        let rc = match std::fs::read_to_string(dir.join("dicrc")) {
            Ok(text) => parse_dicrc(&text),
            Err(_) => Vec::new(),
        };
        let get = |key: &str| rc.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let space_penalty = get("left-space-penalty-factor").map(parse_penalties).unwrap_or_default();
        let max_grouping_size = get("max-grouping-size")
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n != 0)
            .unwrap_or(DEFAULT_MAX_GROUPING_SIZE);
        let unk_feature = get("unk-feature").filter(|v| !v.is_empty()).map(str::to_string);
        let bos_feature = get("bos-feature").unwrap_or("BOS/EOS,*,*,*,*,*,*,*,*").to_string();
        let space = chars.info_of(0x20);
        Ok(Self {
            sys,
            unk,
            chars,
            unk_tokens,
            space,
            matrix,
            matrix_left,
            space_penalty,
            max_grouping_size,
            unk_feature,
            bos_feature,
        })
    }

    /// The best analysis of `text` (MeCab's `parse`), without the BOS/EOS nodes.
    pub fn analyse(&self, text: &str) -> Vec<Node> {
        lattice::analyse(self, text)
    }

    /// The feature string MeCab gives the BOS/EOS nodes (`bos-feature` of `dicrc`).
    pub fn bos_feature(&self) -> &str {
        &self.bos_feature
    }

    /// Number of entries in `sys.dic`.
    pub fn len(&self) -> usize {
        self.sys.token_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `matrix.bin`: `u16` left and right context counts, then `i16` costs indexed
/// `left.right_id + left_count * right.left_id`.
fn parse_matrix(bytes: &[u8]) -> Result<(usize, usize, Vec<i16>), Error> {
    let bad = || Error::Format("matrix.bin: size does not match its dimensions".into());
    if bytes.len() < 4 {
        return Err(bad());
    }
    let left = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
    let right = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    if bytes.len() != 4 + 2 * left * right {
        return Err(bad());
    }
    Ok((left, right, bytes[4..].chunks_exact(2).map(|w| i16::from_le_bytes([w[0], w[1]])).collect()))
}

/// mecab-ko `left-space-penalty-factor`: `posid,cost,posid,cost,...` (C `strtoul`/`strtol`:
/// unparsable fields read as 0).
fn parse_penalties(value: &str) -> Vec<(u16, i32)> {
    let fields: Vec<&str> = value.split(',').map(str::trim).collect();
    fields
        .chunks(2)
        .map(|c| (c[0].parse().unwrap_or(0), c.get(1).and_then(|v| v.parse().ok()).unwrap_or(0)))
        .collect()
}
