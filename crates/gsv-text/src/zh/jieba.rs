//! Word segmentation as jieba_fast 0.53 does it for upstream:
//! - [`posseg_cut`] = `jieba_fast.posseg.lcut` (HMM on): the pure-Python DAG/route of
//!   `Tokenizer.get_DAG`/`calc` (ties → longer word), with unknown runs cut *and* tagged by the
//!   posseg HMM;
//! - [`cut_for_search`] = `jieba_fast.cut_for_search`, built on the C `_get_DAG_and_calc`
//!   (at most 12 DAG entries per position, ties → shorter word) and the C finalseg HMM.
//!
//! jieba-rs was considered: its `tag` segments with the finalseg HMM and tags words afterwards,
//! while jieba's posseg segments unknown runs with the joint POS HMM, so results differ.
use std::collections::HashMap;
use std::sync::LazyLock;

use super::hmm::{self, gunzip, FINALSEG, POSSEG};
use crate::Error;

/// jieba's `FREQ` (words and, with frequency 0, all their prefixes) and `word_tag_tab`.
pub(crate) struct Dict {
    /// word or prefix → (frequency, index into `tags`, u16::MAX when no tag).
    entries: HashMap<Box<str>, (u64, u16)>,
    tags: Vec<String>,
    log_total: f64,
}

impl Dict {
    fn parse(text: &str) -> Result<Dict, Error> {
        let mut entries: HashMap<Box<str>, (u64, u16)> = HashMap::with_capacity(700_000);
        let mut tags: Vec<String> = Vec::new();
        let mut tag_ids: HashMap<String, u16> = HashMap::new();
        let mut total: u64 = 0;
        for line in text.lines() {
            let line = super::py::strip(line);
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(' ').collect();
            let (word, freq) = match fields.as_slice() {
                [w, f, ..] => (*w, f.parse::<u64>()),
                _ => continue,
            };
            let freq = freq.map_err(|_| Error::Invalid(format!("zh: invalid jieba dictionary entry `{line}`")))?;
            let tag = match fields.get(2) {
                Some(t) => {
                    let next = tag_ids.len() as u16;
                    let id = *tag_ids.entry(t.to_string()).or_insert(next);
                    if id as usize == tags.len() {
                        tags.push(t.to_string());
                    }
                    id
                }
                None => u16::MAX,
            };
            total += freq;
            let old_tag = entries.get(word).map_or(u16::MAX, |e| e.1);
            entries.insert(word.into(), (freq, if tag == u16::MAX { old_tag } else { tag }));
            for (i, _) in word.char_indices().skip(1) {
                entries.entry(word[..i].into()).or_insert((0, u16::MAX));
            }
        }
        Ok(Dict { entries, tags, log_total: (total as f64).ln() })
    }

    /// `FREQ.get(word)` (None when absent; Some(0) for a bare prefix).
    fn freq(&self, word: &str) -> Option<u64> {
        self.entries.get(word).map(|e| e.0)
    }

    /// `word_tag_tab.get(word, "x")`.
    fn tag(&self, word: &str) -> &str {
        match self.entries.get(word) {
            Some(&(_, t)) if t != u16::MAX => self.tags.get(t as usize).map_or("x", String::as_str),
            _ => "x",
        }
    }

    /// Byte offsets of each character boundary of `s` (len = chars + 1).
    fn bounds(s: &str) -> Vec<usize> {
        s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len())).collect()
    }

    /// `get_DAG`: for each start, the end indices (inclusive) of dictionary words.
    /// `limit` = Some(12) reproduces the C version's cap.
    fn dag(&self, s: &str, b: &[usize], limit: Option<usize>) -> Vec<Vec<usize>> {
        let n = b.len() - 1;
        (0..n)
            .map(|k| {
                let mut ends = Vec::new();
                let mut i = k;
                while i < n && limit.is_none_or(|l| ends.len() < l) {
                    match self.freq(&s[b[k]..b[i + 1]]) {
                        Some(f) => {
                            if f > 0 {
                                ends.push(i);
                            }
                        }
                        None => break,
                    }
                    i += 1;
                }
                if ends.is_empty() {
                    ends.push(k);
                }
                ends
            })
            .collect()
    }

    /// `calc`: best route end per start. `python_ties`: Python `max((p, x))` (ties → larger
    /// x) versus the C loop (strict `>` from INT_MIN, ties → smaller x).
    fn route(&self, s: &str, b: &[usize], dag: &[Vec<usize>], python_ties: bool) -> Vec<usize> {
        let n = b.len() - 1;
        let mut score = vec![0f64; n + 1];
        let mut end = vec![0usize; n + 1];
        for idx in (0..n).rev() {
            let mut best: Option<(f64, usize)> =
                if python_ties { None } else { Some((f64::from(i32::MIN), 0)) };
            for &x in &dag[idx] {
                let freq = self.freq(&s[b[idx]..b[x + 1]]).filter(|&f| f > 0).unwrap_or(1);
                let p = (freq as f64).ln() - self.log_total + score[x + 1];
                let better = match best {
                    None => true,
                    Some((bp, bx)) => p > bp || (python_ties && p == bp && x > bx),
                };
                if better {
                    best = Some((p, x));
                }
            }
            let (p, x) = best.unwrap_or((0.0, idx));
            score[idx] = p;
            // The C loop keeps end 0 when no candidate beats INT_MIN (a sentence of ~10^8
            // characters); that would stall the walk, so the word then ends where it starts.
            end[idx] = x.max(idx);
        }
        end
    }
}

static DICT: LazyLock<Result<Dict, Error>> = LazyLock::new(|| {
    let text = gunzip(include_bytes!("../../data/zh/jieba_dict.txt.gz"), "jieba_dict.txt.gz")?;
    Dict::parse(&text)
});

fn dict() -> Result<&'static Dict, Error> {
    DICT.as_ref().map_err(Clone::clone)
}

/// A word and its POS tag.
pub(crate) type Tagged = (String, String);

fn is_han_internal(c: char) -> bool {
    ('\u{4e00}'..='\u{9fd5}').contains(&c) || c.is_ascii_alphanumeric() || "+#&._".contains(c)
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fd5}').contains(&c)
}

fn is_num_char(c: char) -> bool {
    c == '.' || c.is_ascii_digit()
}

/// Maximal runs of characters with / without `pred`, in order: (matches, text).
fn runs(s: &str, pred: impl Fn(char) -> bool) -> Vec<(bool, &str)> {
    let mut out: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut cur: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let m = pred(c);
        if cur.is_some_and(|k| k != m) {
            out.push((cur.unwrap_or(false), &s[start..i]));
            start = i;
        }
        cur = Some(m);
    }
    if let Some(k) = cur {
        out.push((k, &s[start..]));
    }
    out
}

/// Pieces of `re.split("(\r\n|\s)", s)`, as (is_whitespace_token, text), empties dropped.
fn split_whitespace_tokens(s: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if super::py::is_space(c) {
            if start < i {
                out.push((false, &s[start..i]));
            }
            let end = if c == '\r' && iter.peek().is_some_and(|&(_, n)| n == '\n') {
                iter.next();
                i + 2
            } else {
                i + c.len_utf8()
            };
            out.push((true, &s[i..end]));
            start = end;
        }
    }
    if start < s.len() {
        out.push((false, &s[start..]));
    }
    out
}

/// posseg `__cut`: decode the posseg HMM path into tagged words.
fn hmm_posseg(text: &str, out: &mut Vec<Tagged>) -> Result<(), Error> {
    let model = hmm::model(&POSSEG)?;
    let chars: Vec<char> = text.chars().collect();
    let route = model.viterbi_posseg(&chars)?;
    let b = Dict::bounds(text);
    let state = |i: usize| route.get(i).and_then(|&s| model.states.get(s as usize));
    let (mut begin, mut next) = (0usize, 0usize);
    for i in 0..chars.len() {
        let Some((pos, tag)) = state(i) else { continue };
        match pos {
            'B' => begin = i,
            'E' => {
                out.push((text[b[begin]..b[i + 1]].to_string(), tag.clone()));
                next = i + 1;
            }
            'S' => {
                out.push((chars[i].to_string(), tag.clone()));
                next = i + 1;
            }
            _ => {}
        }
    }
    if next < chars.len() {
        let tag = state(next).map_or_else(|| "x".to_string(), |s| s.1.clone());
        out.push((text[b[next]..].to_string(), tag));
    }
    Ok(())
}

/// posseg `__cut_detail`: Han runs through the HMM, the rest by `[.0-9]+|[a-zA-Z0-9]+`.
fn cut_detail(buf: &str, out: &mut Vec<Tagged>) -> Result<(), Error> {
    for (han, blk) in runs(buf, is_han) {
        if han {
            hmm_posseg(blk, out)?;
            continue;
        }
        let mut rest = blk;
        let mut other = String::new();
        while let Some(c) = rest.chars().next() {
            let token_len = if is_num_char(c) {
                rest.find(|x: char| !is_num_char(x)).unwrap_or(rest.len())
            } else if c.is_ascii_alphanumeric() {
                rest.find(|x: char| !x.is_ascii_alphanumeric()).unwrap_or(rest.len())
            } else {
                other.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            if !other.is_empty() {
                out.push((std::mem::take(&mut other), "x".to_string()));
            }
            let token = &rest[..token_len];
            let tag = if is_num_char(c) { "m" } else { "eng" };
            out.push((token.to_string(), tag.to_string()));
            rest = &rest[token_len..];
        }
        if !other.is_empty() {
            out.push((other, "x".to_string()));
        }
    }
    Ok(())
}

/// posseg `__cut_DAG` (HMM on) for one block.
fn posseg_block(d: &Dict, blk: &str, out: &mut Vec<Tagged>) -> Result<(), Error> {
    let b = Dict::bounds(blk);
    let dag = d.dag(blk, &b, None);
    let route = d.route(blk, &b, &dag, true);
    let n = b.len() - 1;
    let mut buf_start: Option<usize> = None;
    let flush = |from: usize, to: usize, out: &mut Vec<Tagged>| -> Result<(), Error> {
        let buf = &blk[b[from]..b[to]];
        if to - from == 1 {
            out.push((buf.to_string(), d.tag(buf).to_string()));
        } else if d.freq(buf).unwrap_or(0) == 0 {
            cut_detail(buf, out)?;
        } else {
            for c in buf.chars() {
                let s = c.to_string();
                let tag = d.tag(&s).to_string();
                out.push((s, tag));
            }
        }
        Ok(())
    };
    let mut x = 0;
    while x < n {
        let y = route[x] + 1;
        if y - x == 1 {
            buf_start.get_or_insert(x);
        } else {
            if let Some(from) = buf_start.take() {
                flush(from, x, out)?;
            }
            let word = &blk[b[x]..b[y]];
            out.push((word.to_string(), d.tag(word).to_string()));
        }
        x = y;
    }
    if let Some(from) = buf_start {
        flush(from, n, out)?;
    }
    Ok(())
}

/// `jieba_fast.posseg.lcut(sentence)` (HMM on).
pub(crate) fn posseg_cut(sentence: &str) -> Result<Vec<Tagged>, Error> {
    let d = dict()?;
    let mut out = Vec::new();
    for (han, blk) in runs(sentence, is_han_internal) {
        if han {
            posseg_block(d, blk, &mut out)?;
            continue;
        }
        for (ws, x) in split_whitespace_tokens(blk) {
            if ws {
                out.push((x.to_string(), "x".to_string()));
                continue;
            }
            // [quirk] the `eng` test looks at the whole run, the `m` test at the character.
            let run_is_eng = x.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
            for c in x.chars() {
                let tag = if is_num_char(c) {
                    "m"
                } else if run_is_eng {
                    "eng"
                } else {
                    "x"
                };
                out.push((c.to_string(), tag.to_string()));
            }
        }
    }
    Ok(out)
}

/// finalseg `cut` of an unknown run (Han runs through the BMES HMM).
fn finalseg_cut(buf: &str, out: &mut Vec<String>) -> Result<(), Error> {
    let model = hmm::model(&FINALSEG)?;
    for (han, blk) in runs(buf, is_han) {
        if !han {
            // re_skip `([a-zA-Z0-9]+(?:\.\d+)?%?)` only splits the run; pieces are kept in order.
            out.extend(split_skip(blk));
            continue;
        }
        let chars: Vec<char> = blk.chars().collect();
        let pos = model.viterbi_bmes(&chars);
        let b = Dict::bounds(blk);
        let (mut begin, mut next) = (0usize, 0usize);
        for (i, p) in pos.iter().enumerate() {
            match p {
                'B' => begin = i,
                'E' => {
                    out.push(blk[b[begin]..b[i + 1]].to_string());
                    next = i + 1;
                }
                'S' => {
                    out.push(chars[i].to_string());
                    next = i + 1;
                }
                _ => {}
            }
        }
        if next < chars.len() {
            out.push(blk[b[next]..].to_string());
        }
    }
    Ok(())
}

/// Non-empty pieces of `re.split(r"([a-zA-Z0-9]+(?:\.\d+)?%?)", s)`.
fn split_skip(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut other = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if !c.is_ascii_alphanumeric() {
            other.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let mut len = rest.find(|x: char| !x.is_ascii_alphanumeric()).unwrap_or(rest.len());
        let after = &rest[len..];
        if let Some(frac) = after.strip_prefix('.') {
            let digits = frac.find(|x: char| !x.is_ascii_digit()).unwrap_or(frac.len());
            if digits > 0 {
                len += 1 + digits;
            }
        }
        if rest[len..].starts_with('%') {
            len += 1;
        }
        if !other.is_empty() {
            out.push(std::mem::take(&mut other));
        }
        out.push(rest[..len].to_string());
        rest = &rest[len..];
    }
    if !other.is_empty() {
        out.push(other);
    }
    out
}

fn is_han_default(c: char) -> bool {
    is_han_internal(c) || c == '%' || c == '-'
}

/// `jieba_fast.cut(sentence)` (accurate mode, HMM on).
fn cut(sentence: &str) -> Result<Vec<String>, Error> {
    let d = dict()?;
    let mut out = Vec::new();
    for (han, blk) in runs(sentence, is_han_default) {
        if !han {
            for (ws, x) in split_whitespace_tokens(blk) {
                if ws {
                    out.push(x.to_string());
                } else {
                    out.extend(x.chars().map(|c| c.to_string()));
                }
            }
            continue;
        }
        let b = Dict::bounds(blk);
        let dag = d.dag(blk, &b, Some(12));
        let route = d.route(blk, &b, &dag, false);
        let n = b.len() - 1;
        let mut buf_start: Option<usize> = None;
        let flush = |from: usize, to: usize, out: &mut Vec<String>| -> Result<(), Error> {
            let buf = &blk[b[from]..b[to]];
            if to - from == 1 {
                out.push(buf.to_string());
            } else if d.freq(buf).unwrap_or(0) == 0 {
                finalseg_cut(buf, out)?;
            } else {
                out.extend(buf.chars().map(|c| c.to_string()));
            }
            Ok(())
        };
        let mut x = 0;
        while x < n {
            let y = route[x] + 1;
            if y - x == 1 {
                buf_start.get_or_insert(x);
            } else {
                if let Some(from) = buf_start.take() {
                    flush(from, x, &mut out)?;
                }
                out.push(blk[b[x]..b[y]].to_string());
            }
            x = y;
        }
        if let Some(from) = buf_start {
            flush(from, n, &mut out)?;
        }
    }
    Ok(out)
}

/// `jieba_fast.cut_for_search(sentence)`: each word preceded by its known 2- and 3-grams.
pub(crate) fn cut_for_search(sentence: &str) -> Result<Vec<String>, Error> {
    let d = dict()?;
    let mut out = Vec::new();
    for w in cut(sentence)? {
        let chars: Vec<char> = w.chars().collect();
        for n in [2usize, 3] {
            if chars.len() > n {
                for i in 0..=chars.len() - n {
                    let gram: String = chars[i..i + n].iter().collect();
                    if d.freq(&gram).unwrap_or(0) > 0 {
                        out.push(gram);
                    }
                }
            }
        }
        out.push(w);
    }
    Ok(out)
}
