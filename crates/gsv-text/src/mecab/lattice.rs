//! MeCab's analysis: build the lattice position by position (dictionary prefix matches plus
//! unknown-word candidates by character category, `Tokenizer::lookup`) and keep the best left
//! neighbour of every node (`Viterbi::viterbi` / `connect`), then walk back from EOS.
//!
//! [quirk] Node lists are singly linked and built by prepending, so MeCab visits candidates in
//! reverse creation order and keeps the *first* strictly cheaper left neighbour; ties are broken
//! by that order. The arena below keeps the same links (`bnext`-style vectors reversed,
//! `enext` chains) so equal-cost paths resolve exactly as in MeCab.
use super::chars::CharInfo;
use super::dic::Token;
use super::{Dictionary, Node};

const NONE: u32 = u32::MAX;
/// `Tokenizer::lookup` never looks further than this many bytes ahead.
const MAX_LOOKAHEAD: usize = 65535;

#[derive(Clone, Copy)]
enum Source {
    System,
    Unknown,
    Boundary,
}

#[derive(Clone, Copy)]
struct LNode {
    /// Byte offset of the surface (after skipped leading spaces).
    start: usize,
    length: usize,
    /// `length` plus the skipped leading spaces.
    rlength: usize,
    token: Token,
    source: Source,
    cost: i64,
    prev: u32,
    enext: u32,
}

struct Lattice<'a> {
    dict: &'a Dictionary,
    text: &'a [u8],
    nodes: Vec<LNode>,
    /// Head of the list of nodes ending at each byte position.
    end_head: Vec<u32>,
    matches: Vec<(u32, usize)>,
}

impl Lattice<'_> {
    fn connect_cost(&self, left: &LNode, right: &LNode) -> i64 {
        let dict = self.dict;
        let cell = left.token.right_id as usize + dict.matrix_left * right.token.left_id as usize;
        let trans = dict.matrix.get(cell).copied().unwrap_or(0) as i64;
        // mecab-ko: a node preceded by spaces pays its part-of-speech's left-space penalty.
        let penalty = if right.rlength != right.length {
            dict.space_penalty.iter().find(|(posid, _)| *posid == right.token.posid).map_or(0, |(_, c)| *c as i64)
        } else {
            0
        };
        trans + right.token.word_cost as i64 + penalty
    }

    /// `connect`: give each new node (in list order) its best left neighbour ending at `pos`.
    fn connect(&mut self, pos: usize, new_nodes: impl Iterator<Item = u32>) {
        for r in new_nodes {
            let right = self.nodes[r as usize];
            let (mut best, mut best_cost) = (NONE, i64::MAX);
            let mut l = self.end_head[pos];
            while l != NONE {
                let left = &self.nodes[l as usize];
                let cost = left.cost + self.connect_cost(left, &right);
                if cost < best_cost {
                    best = l;
                    best_cost = cost;
                }
                l = left.enext;
            }
            let end = pos + right.rlength;
            let node = &mut self.nodes[r as usize];
            node.prev = best;
            node.cost = best_cost;
            // A node past the end of the text (a trailing-space unknown word) can never reach EOS.
            if end < self.end_head.len() {
                node.enext = self.end_head[end];
                self.end_head[end] = r;
            }
        }
    }

    fn push(&mut self, pos: usize, start: usize, length: usize, token: Token, source: Source) {
        let rlength = start + length - pos;
        self.nodes.push(LNode { start, length, rlength, token, source, cost: 0, prev: NONE, enext: NONE });
    }

    fn add_unknown(&mut self, pos: usize, start: usize, stop: usize, info: CharInfo) {
        let dict = self.dict;
        if let Some(tokens) = dict.unk_tokens.get(info.default_type()) {
            for &t in tokens {
                self.push(pos, start, stop - start, t, Source::Unknown);
            }
        }
    }

    /// `Tokenizer::lookup`: every candidate starting at `pos` (after leading spaces), appended
    /// to the arena in MeCab's creation order.
    fn lookup(&mut self, pos: usize) {
        let dict = self.dict;
        let text = self.text;
        let end = text.len().min(pos + MAX_LOOKAHEAD);
        let chars = &dict.chars;
        let (begin2, cinfo, mut mblen, _) = chars.seek_to_other_type(text, pos, end, dict.space);
        let first = self.nodes.len();
        let mut matches = std::mem::take(&mut self.matches);
        dict.sys.common_prefix_search(&text[begin2..end], &mut matches);
        for &(value, length) in &matches {
            for t in dict.sys.tokens_of(value) {
                self.push(pos, begin2, length, t, Source::System);
            }
        }
        self.matches = matches;
        let found = |s: &Self| s.nodes.len() > first;
        if found(self) && !cinfo.invoke() {
            return;
        }
        let mut begin3 = begin2 + mblen;
        let mut group_end = None;
        if begin3 > end {
            self.add_unknown(pos, begin2, begin3, cinfo);
            if found(self) {
                return;
            }
        }
        if cinfo.group() {
            let (stop, _, _, clen) = chars.seek_to_other_type(text, begin3, end, cinfo);
            if clen <= dict.max_grouping_size {
                self.add_unknown(pos, begin2, stop, cinfo);
            }
            group_end = Some(stop);
        }
        for _ in 1..=cinfo.length() {
            if begin3 > end {
                break;
            }
            // [quirk] MeCab `continue`s here without advancing, so nothing longer than the
            // grouped run is proposed by length.
            if group_end == Some(begin3) {
                continue;
            }
            self.add_unknown(pos, begin2, begin3, cinfo);
            let (info, len) = chars.info_at(text, begin3, end);
            mblen = len;
            if !cinfo.is_kind_of(info) {
                break;
            }
            begin3 += mblen;
        }
        if !found(self) {
            self.add_unknown(pos, begin2, begin3, cinfo);
        }
    }
}

/// Best path through the lattice of `text`, BOS and EOS excluded.
pub(super) fn analyse(dict: &Dictionary, text: &str) -> Vec<Node> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let boundary = Token { left_id: 0, right_id: 0, posid: 0, word_cost: 0, feature: 0 };
    let mut lat = Lattice { dict, text: bytes, nodes: Vec::new(), end_head: vec![NONE; len + 1], matches: Vec::new() };
    lat.push(0, 0, 0, boundary, Source::Boundary);
    lat.end_head[0] = 0;
    for pos in 0..len {
        if lat.end_head[pos] == NONE {
            continue;
        }
        let first = lat.nodes.len() as u32;
        lat.lookup(pos);
        let last = lat.nodes.len() as u32;
        lat.connect(pos, (first..last).rev());
    }
    let eos = lat.nodes.len() as u32;
    lat.push(len, len, 0, boundary, Source::Boundary);
    if let Some(pos) = (0..=len).rev().find(|&p| lat.end_head[p] != NONE) {
        lat.connect(pos, std::iter::once(eos));
    }
    let mut path = Vec::new();
    let mut at = lat.nodes[eos as usize].prev;
    while at != NONE && at != 0 {
        let n = &lat.nodes[at as usize];
        path.push(n);
        at = n.prev;
    }
    path.reverse();
    path.into_iter()
        .map(|n| {
            let surface = String::from_utf8_lossy(&bytes[n.start..(n.start + n.length).min(len)]).into_owned();
            let (feature, unknown) = match n.source {
                Source::System => (dict.sys.feature(n.token.feature).into_owned(), false),
                _ => (dict.unk_feature.clone().unwrap_or_else(|| dict.unk.feature(n.token.feature).into_owned()), true),
            };
            Node {
                surface,
                feature,
                start: n.start,
                posid: n.token.posid,
                left_id: n.token.left_id,
                right_id: n.token.right_id,
                word_cost: n.token.word_cost,
                cost: n.cost,
                unknown,
            }
        })
        .collect()
}
