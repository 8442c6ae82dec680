//! MeCab's character categories (`char.bin`, compiled from `char.def`): `u32` category count,
//! that many 32-byte category names, then one packed `CharInfo` word per UCS-2 code point
//! (0..0xFFFF).
use super::Error;

const MAP_LEN: usize = 0xffff;

/// `struct CharInfo` (char_property.h): bit field `type:18, default_type:8, length:4, group:1,
/// invoke:1`, lowest bits first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CharInfo(u32);

impl CharInfo {
    /// Bit set of every category the character belongs to.
    fn kinds(self) -> u32 {
        self.0 & 0x3ffff
    }
    /// The category whose unknown-word entries are used for the character.
    pub fn default_type(self) -> usize {
        ((self.0 >> 18) & 0xff) as usize
    }
    /// Unknown words of 1..=length characters are proposed.
    pub fn length(self) -> usize {
        ((self.0 >> 26) & 0xf) as usize
    }
    /// A run of same-category characters is proposed as one unknown word.
    pub fn group(self) -> bool {
        (self.0 >> 30) & 1 == 1
    }
    /// Unknown words are proposed even where the dictionary matched.
    pub fn invoke(self) -> bool {
        self.0 >> 31 == 1
    }
    pub fn is_kind_of(self, other: CharInfo) -> bool {
        self.kinds() & other.kinds() != 0
    }
}

pub(super) struct CharProperty {
    pub names: Vec<String>,
    map: Vec<u32>,
}

impl CharProperty {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Format("char.bin: size does not match its category count".into());
        let count = bytes.get(..4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).ok_or_else(bad)? as usize;
        if bytes.len() != 4 + 32 * count + 4 * MAP_LEN {
            return Err(bad());
        }
        let names = (0..count)
            .map(|i| {
                let raw = &bytes[4 + 32 * i..4 + 32 * (i + 1)];
                String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
            })
            .collect();
        let map = bytes[4 + 32 * count..]
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        Ok(Self { names, map })
    }

    pub fn info_of(&self, code: u16) -> CharInfo {
        // [quirk] MeCab indexes its 0xFFFF-entry table with U+FFFF too (reading past it); we
        // answer "no category" there.
        CharInfo(self.map.get(code as usize).copied().unwrap_or(0))
    }

    /// `getCharInfo` on UTF-8: the category of the character at `text[pos..end]` and its byte
    /// length, decoded exactly as MeCab's `utf8_to_ucs2` (characters beyond the BMP, and bytes
    /// that do not start a complete sequence before `end`, read as code point 0).
    pub fn info_at(&self, text: &[u8], pos: usize, end: usize) -> (CharInfo, usize) {
        let len = end.saturating_sub(pos);
        let at = |i: usize| text.get(pos + i).copied().unwrap_or(0) as u16;
        let b0 = at(0);
        let (code, mblen) = if b0 < 0x80 {
            (b0, 1)
        } else if len >= 2 && b0 & 0xe0 == 0xc0 {
            (((b0 & 0x1f) << 6) | (at(1) & 0x3f), 2)
        } else if len >= 3 && b0 & 0xf0 == 0xe0 {
            (((b0 & 0x0f) << 12) | ((at(1) & 0x3f) << 6) | (at(2) & 0x3f), 3)
        } else if len >= 4 && b0 & 0xf8 == 0xf0 {
            (0, 4)
        } else if len >= 5 && b0 & 0xfc == 0xf8 {
            (0, 5)
        } else if len >= 6 && b0 & 0xfe == 0xfc {
            (0, 6)
        } else {
            (0, 1)
        };
        (self.info_of(code), mblen)
    }

    /// `seekToOtherType`: from `pos`, skip characters while each shares a category with the one
    /// before it (the first compared with `kind`). Returns the stop position, the `CharInfo`
    /// and byte length last decoded (the first character not skipped, or the last skipped one
    /// when the run reaches `end`) and the number of characters skipped.
    pub fn seek_to_other_type(
        &self,
        text: &[u8],
        pos: usize,
        end: usize,
        kind: CharInfo,
    ) -> (usize, CharInfo, usize, usize) {
        let (mut p, mut c, mut fail, mut mblen, mut clen) = (pos, kind, CharInfo::default(), 0, 0);
        while p < end {
            let (info, len) = self.info_at(text, p, end);
            fail = info;
            mblen = len;
            if !c.is_kind_of(info) {
                break;
            }
            p += len;
            clen += 1;
            c = info;
        }
        (p, fail, mblen, clen)
    }
}
