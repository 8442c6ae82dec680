//! MeCab's compiled dictionary file (`sys.dic`, `unk.dic`): a fixed header, a Darts
//! double-array trie over the surface bytes, a token table and the feature strings.
//!
//! Layout (all little-endian): `magic ^ 0xef718f77 == file size`, `version == 102`, `type`
//! (0 system, 1 user, 2 unknown-word), `lexsize`, `lsize`, `rsize`, `dsize` (trie bytes),
//! `tsize` (token bytes), `fsize` (feature bytes), one unused word, a 32-byte NUL-padded charset
//! name, then the three areas back to back. A trie value packs `first token << 8 | token count`.
use super::Error;

const MAGIC: u32 = 0xef71_8f77;
const VERSION: u32 = 102;
const HEADER: usize = 10 * 4 + 32;
const UNIT: usize = 8;
const TOKEN: usize = 16;
/// MeCab keeps at most this many prefix matches per position (`Allocator::kResultsSize`).
pub(super) const MAX_RESULTS: usize = 512;

/// One dictionary entry (`struct Token` of dictionary.h).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub left_id: u16,
    pub right_id: u16,
    pub posid: u16,
    pub word_cost: i16,
    pub feature: u32,
}

pub(super) struct DicFile {
    bytes: Vec<u8>,
    trie: std::ops::Range<usize>,
    tokens: std::ops::Range<usize>,
    features: std::ops::Range<usize>,
    pub kind: u32,
    pub left_size: u32,
    pub right_size: u32,
    pub charset: String,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

impl DicFile {
    pub fn parse(bytes: Vec<u8>, name: &str) -> Result<Self, Error> {
        let broken = |why: &str| Error::Format(format!("{name}: {why}"));
        if bytes.len() < HEADER {
            return Err(broken("file too short"));
        }
        let word = |i: usize| u32_at(&bytes, 4 * i);
        if (word(0) ^ MAGIC) as usize != bytes.len() {
            return Err(broken("bad magic (file truncated or not a MeCab dictionary)"));
        }
        if word(1) != VERSION {
            return Err(broken(&format!("dictionary version {} (expected {VERSION})", word(1))));
        }
        let (dsize, tsize, fsize) = (word(6) as usize, word(7) as usize, word(8) as usize);
        if HEADER + dsize + tsize + fsize != bytes.len() || dsize % UNIT != 0 || tsize % TOKEN != 0 {
            return Err(broken("section sizes do not add up to the file size"));
        }
        let charset = bytes[40..72].split(|&b| b == 0).next().unwrap_or_default();
        let charset = String::from_utf8_lossy(charset).into_owned();
        let trie = HEADER..HEADER + dsize;
        let tokens = trie.end..trie.end + tsize;
        let features = tokens.end..tokens.end + fsize;
        Ok(Self { kind: word(2), left_size: word(4), right_size: word(5), charset, trie, tokens, features, bytes })
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len() / TOKEN
    }

    /// Double-array unit `i`: (base, check); `None` outside the array (never for a well-formed trie).
    fn unit(&self, i: u32) -> Option<(i32, u32)> {
        let off = self.trie.start + (i as usize).checked_mul(UNIT)?;
        if off + UNIT > self.trie.end {
            return None;
        }
        Some((u32_at(&self.bytes, off) as i32, u32_at(&self.bytes, off + 4)))
    }

    /// The value stored at node `b` when `b` ends a key (darts: `base < 0` at unit `b` with check `b`).
    fn value_at(&self, b: i32) -> Option<u32> {
        match self.unit(b as u32) {
            Some((n, check)) if check == b as u32 && n < 0 => Some((-(n as i64) - 1) as u32),
            _ => None,
        }
    }

    fn next(&self, b: i32, byte: u8) -> Option<i32> {
        let p = (b as u32).wrapping_add(byte as u32).wrapping_add(1);
        match self.unit(p) {
            Some((base, check)) if check == b as u32 => Some(base),
            _ => None,
        }
    }

    /// Every key that is a prefix of `key`, shortest first, as (value, key length); at most
    /// [`MAX_RESULTS`] (darts `commonPrefixSearch`).
    pub fn common_prefix_search(&self, key: &[u8], out: &mut Vec<(u32, usize)>) {
        out.clear();
        let Some((mut b, _)) = self.unit(0) else { return };
        for (i, &byte) in key.iter().enumerate() {
            if let Some(v) = self.value_at(b) {
                if out.len() < MAX_RESULTS {
                    out.push((v, i));
                }
            }
            match self.next(b, byte) {
                Some(nb) => b = nb,
                None => return,
            }
        }
        if let Some(v) = self.value_at(b) {
            if out.len() < MAX_RESULTS {
                out.push((v, key.len()));
            }
        }
    }

    /// The value of exactly `key` (darts `exactMatchSearch`).
    pub fn exact_match(&self, key: &[u8]) -> Option<u32> {
        let (mut b, _) = self.unit(0)?;
        for &byte in key {
            b = self.next(b, byte)?;
        }
        self.value_at(b)
    }

    /// Tokens of a trie value (`value >> 8` first token, `value & 0xff` of them), clipped to the table.
    pub fn tokens_of(&self, value: u32) -> impl Iterator<Item = Token> + '_ {
        let first = (value >> 8) as usize;
        let end = (first + (value & 0xff) as usize).min(self.token_count());
        (first.min(end)..end).map(move |i| self.token(i))
    }

    fn token(&self, i: usize) -> Token {
        let off = self.tokens.start + i * TOKEN;
        let b = &self.bytes;
        Token {
            left_id: u16_at(b, off),
            right_id: u16_at(b, off + 2),
            posid: u16_at(b, off + 4),
            word_cost: u16_at(b, off + 6) as i16,
            feature: u32_at(b, off + 8),
        }
    }

    /// The NUL-terminated feature string at `offset` of the feature area.
    pub fn feature(&self, offset: u32) -> std::borrow::Cow<'_, str> {
        let area = &self.bytes[self.features.clone()];
        let rest = area.get(offset as usize..).unwrap_or_default();
        let s = rest.split(|&b| b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(s)
    }
}
