//! jieba's two hidden Markov models and their Viterbi decoders, as jieba_fast 0.53 runs them:
//! - posseg (joint word position × POS tag, 256 states): jieba_fast's pure-Python
//!   `posseg/viterbi.py`, with its state pruning and `max((prob, state))` tie-breaking;
//! - finalseg (B/M/E/S): jieba_fast's C `_viterbi`, with its strict-`>` tie-breaking and its
//!   fallback state when every path scores `MIN_FLOAT`.
//!
//! Data: `data/zh/jieba_posseg.txt.gz`, `data/zh/jieba_finalseg.txt.gz` (see convert.py there).
use std::collections::HashMap;
use std::io::Read;
use std::sync::LazyLock;

use crate::Error;

pub(crate) const MIN_FLOAT: f64 = -3.14e100;

/// One HMM: states sorted in Python tuple order (position char, then tag), so that "larger
/// state" in upstream's `max((prob, state))` is simply the larger index.
pub(crate) struct Model {
    /// (position, tag); tag is "" for the finalseg model.
    pub(crate) states: Vec<(char, String)>,
    start: Vec<f64>,
    /// Dense `trans[from][to]`; `None` where upstream's dict has no entry.
    trans: Vec<Vec<Option<f64>>>,
    /// `trans_p[from].keys()`.
    successors: Vec<Vec<u16>>,
    /// Per character: (state, emission log-prob) for the states that have an entry.
    emit: HashMap<char, Vec<(u16, f64)>>,
    /// posseg `char_state_tab`: the states a character may take (absent: all states).
    char_states: HashMap<char, Vec<u16>>,
}

pub(crate) fn gunzip(bytes: &[u8], name: &str) -> Result<String, Error> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| Error::Invalid(format!("zh: cannot decompress embedded {name}: {e}")))?;
    Ok(text)
}

fn parse_state(s: &str) -> (char, String) {
    let mut it = s.splitn(2, '-');
    let pos = it.next().and_then(|p| p.chars().next()).unwrap_or('?');
    (pos, it.next().unwrap_or("").to_string())
}

impl Model {
    fn parse(text: &str, name: &str) -> Result<Model, Error> {
        let bad = |line: &str| Error::Invalid(format!("zh: malformed line in {name}: `{}`", super::py::preview(line)));
        let mut names: Vec<(char, String)> = Vec::new();
        for line in text.lines().filter(|l| l.starts_with("start\t")) {
            names.push(parse_state(line.split('\t').nth(1).ok_or_else(|| bad(line))?));
        }
        names.sort();
        let index: HashMap<(char, String), u16> =
            names.iter().enumerate().map(|(i, s)| (s.clone(), i as u16)).collect();
        let idx = |s: &str, line: &str| index.get(&parse_state(s)).copied().ok_or_else(|| bad(line));
        let n = names.len();
        let mut model = Model {
            states: names.clone(),
            start: vec![MIN_FLOAT; n],
            trans: vec![vec![None; n]; n],
            successors: vec![Vec::new(); n],
            emit: HashMap::new(),
            char_states: HashMap::new(),
        };
        let prob = |s: &str, line: &str| s.parse::<f64>().map_err(|_| bad(line));
        for line in text.lines() {
            let mut fields = line.split('\t');
            let kind = fields.next().unwrap_or("");
            let key = fields.next().ok_or_else(|| bad(line))?;
            match kind {
                "start" => {
                    let value = fields.next().ok_or_else(|| bad(line))?;
                    model.start[idx(key, line)? as usize] = prob(value, line)?;
                }
                "trans" => {
                    let from = idx(key, line)? as usize;
                    for f in fields {
                        let (to, p) = f.rsplit_once('=').ok_or_else(|| bad(line))?;
                        let to = idx(to, line)?;
                        model.trans[from][to as usize] = Some(prob(p, line)?);
                        model.successors[from].push(to);
                    }
                }
                "emit" => {
                    let state = idx(key, line)?;
                    for f in fields {
                        let (c, p) = f.rsplit_once('=').ok_or_else(|| bad(line))?;
                        let c = c.chars().next().ok_or_else(|| bad(line))?;
                        model.emit.entry(c).or_default().push((state, prob(p, line)?));
                    }
                }
                "chars" => {
                    let c = key.chars().next().ok_or_else(|| bad(line))?;
                    let states = fields.map(|s| idx(s, line)).collect::<Result<Vec<_>, _>>()?;
                    model.char_states.insert(c, states);
                }
                _ => return Err(bad(line)),
            }
        }
        Ok(model)
    }

    /// `emit_p[state].get(c, MIN_FLOAT)`.
    fn emission(&self, state: u16, c: char) -> f64 {
        self.emit
            .get(&c)
            .and_then(|row| row.iter().find(|(s, _)| *s == state))
            .map_or(MIN_FLOAT, |&(_, p)| p)
    }

    /// posseg Viterbi (jieba_fast `posseg/viterbi.py`): the best state per character.
    pub(crate) fn viterbi_posseg(&self, obs: &[char]) -> Result<Vec<u16>, Error> {
        let n_states = self.states.len();
        let all: Vec<u16> = (0..n_states as u16).collect();
        let Some(&first) = obs.first() else { return Ok(Vec::new()) };
        // V[t] and mem_path[t] as dense arrays; `live` lists the keys of mem_path[t].
        let mut v = vec![f64::NEG_INFINITY; n_states];
        let mut live: Vec<u16> = self.char_states.get(&first).cloned().unwrap_or_else(|| all.clone());
        for &y in &live {
            v[y as usize] = self.start[y as usize] + self.emission(y, first);
        }
        let mut back: Vec<Vec<u16>> = vec![vec![u16::MAX; n_states]];
        let mut in_set = vec![false; n_states];
        for &c in &obs[1..] {
            let prev: Vec<u16> = live.iter().copied().filter(|&x| !self.successors[x as usize].is_empty()).collect();
            in_set.iter_mut().for_each(|b| *b = false);
            for &x in &prev {
                for &y in &self.successors[x as usize] {
                    in_set[y as usize] = true;
                }
            }
            let candidates = self.char_states.get(&c).unwrap_or(&all);
            let mut obs_states: Vec<u16> = candidates.iter().copied().filter(|&y| in_set[y as usize]).collect();
            if obs_states.is_empty() {
                obs_states = (0..n_states as u16).filter(|&y| in_set[y as usize]).collect();
                if obs_states.is_empty() {
                    obs_states = all.clone();
                }
            }
            obs_states.sort_unstable();
            obs_states.dedup();
            if prev.is_empty() {
                return Err(Error::Invalid(format!(
                    "zh: ValueError: posseg viterbi has no state to continue from at {c:?}"
                )));
            }
            let mut next_v = vec![f64::NEG_INFINITY; n_states];
            let mut row = vec![u16::MAX; n_states];
            for &y in &obs_states {
                let em = self.emission(y, c);
                let mut best: Option<(f64, u16)> = None;
                for &y0 in &prev {
                    let tp = self.trans[y0 as usize][y as usize].unwrap_or(f64::NEG_INFINITY);
                    let p = v[y0 as usize] + tp + em;
                    // max over (prob, state) tuples: ties go to the larger state.
                    if best.is_none_or(|(bp, bs)| p > bp || (p == bp && y0 > bs)) {
                        best = Some((p, y0));
                    }
                }
                if let Some((p, s)) = best {
                    next_v[y as usize] = p;
                    row[y as usize] = s;
                }
            }
            v = next_v;
            back.push(row);
            live = obs_states;
        }
        let mut best: Option<(f64, u16)> = None;
        for &y in &live {
            let p = v[y as usize];
            if best.is_none_or(|(bp, bs)| p > bp || (p == bp && y > bs)) {
                best = Some((p, y));
            }
        }
        let Some((_, mut state)) = best else { return Ok(Vec::new()) };
        let mut route = vec![0u16; obs.len()];
        for t in (0..obs.len()).rev() {
            route[t] = state;
            state = back[t][state as usize];
        }
        Ok(route)
    }

    /// finalseg Viterbi (jieba_fast C `_viterbi` over "BMES"); returns position chars.
    pub(crate) fn viterbi_bmes(&self, obs: &[char]) -> Vec<char> {
        // State indices in sorted order: B=0, E=1, M=2, S=3.
        const ORDER: [char; 4] = ['B', 'M', 'E', 'S'];
        let id = |c: char| match c {
            'B' => 0usize,
            'E' => 1,
            'M' => 2,
            _ => 3,
        };
        let prev_status = |c: char| match c {
            'B' => ['E', 'S'],
            'M' => ['M', 'B'],
            'S' => ['S', 'E'],
            _ => ['B', 'M'],
        };
        let Some(&first) = obs.first() else { return Vec::new() };
        let mut v = [0f64; 4];
        for y in ORDER {
            v[id(y)] = self.emission(id(y) as u16, first) + self.start[id(y)];
        }
        let mut path: Vec<[char; 4]> = vec![['B', 'E', 'M', 'S']];
        for &c in &obs[1..] {
            let mut next = [0f64; 4];
            let mut row = ['\0'; 4];
            for y in ORDER {
                let em = self.emission(id(y) as u16, c);
                let mut max_prob = MIN_FLOAT;
                let mut best = '\0';
                for y0 in prev_status(y) {
                    let mut prob = em;
                    prob += v[id(y0)];
                    prob += self.trans[id(y0)][id(y)].unwrap_or(MIN_FLOAT);
                    if prob > max_prob {
                        max_prob = prob;
                        best = y0;
                    }
                }
                if best == '\0' {
                    // [quirk] no path beat MIN_FLOAT: the C code takes the larger state letter.
                    best = prev_status(y).into_iter().max().unwrap_or('S');
                }
                next[id(y)] = max_prob;
                row[id(y)] = best;
            }
            v = next;
            path.push(row);
        }
        let mut state = if v[id('S')] > v[id('E')] { 'S' } else { 'E' };
        let mut out = vec!['E'; obs.len()];
        for t in (0..obs.len()).rev() {
            out[t] = state;
            state = path[t][id(state)];
        }
        out
    }
}

pub(crate) static POSSEG: LazyLock<Result<Model, Error>> = LazyLock::new(|| {
    let text = gunzip(include_bytes!("../../data/zh/jieba_posseg.txt.gz"), "jieba_posseg.txt.gz")?;
    Model::parse(&text, "jieba_posseg.txt.gz")
});

pub(crate) static FINALSEG: LazyLock<Result<Model, Error>> = LazyLock::new(|| {
    let text = gunzip(include_bytes!("../../data/zh/jieba_finalseg.txt.gz"), "jieba_finalseg.txt.gz")?;
    Model::parse(&text, "jieba_finalseg.txt.gz")
});

pub(crate) fn model(m: &'static LazyLock<Result<Model, Error>>) -> Result<&'static Model, Error> {
    m.as_ref().map_err(Clone::clone)
}
