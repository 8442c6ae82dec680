//! `wordsegment` 1.3.1 (`segment`): Norvig's unigram/bigram word segmentation, which upstream
//! uses to split out-of-dictionary compounds.
//!
//! The counts ship as `data/en/wordsegment.tsv.gz` (see data/en/README.md): unigrams, a blank
//! line, then the bigrams wordsegment can ever consult. They are decompressed and parsed on
//! first use. Scores use the same f64 operations in the same order as the Python code, so
//! ties and near-ties resolve the same way.
use std::collections::HashMap;
use std::io::Read;
use std::sync::{LazyLock, Mutex};

use flate2::read::GzDecoder;

use crate::Error;

const DATA_GZ: &[u8] = include_bytes!("../../data/en/wordsegment.tsv.gz");
/// wordsegment's `TOTAL`: words in the source corpus.
const TOTAL: f64 = 1_024_908_267_229.0;
/// wordsegment's `LIMIT`: the longest word it proposes.
const LIMIT: usize = 24;
/// wordsegment's chunk size for long input.
const CHUNK: usize = 250;
/// Segmentations are deterministic, so they are cached; the cache is emptied when it holds
/// this many entries.
const CACHE_LIMIT: usize = 20_000;

static CACHE: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Mutex::default);

struct Model {
    unigrams: HashMap<&'static str, f64>,
    bigrams: HashMap<&'static str, f64>,
}

static MODEL: LazyLock<Result<Model, String>> = LazyLock::new(load);

fn load() -> Result<Model, String> {
    let mut text = String::new();
    GzDecoder::new(DATA_GZ)
        .read_to_string(&mut text)
        .map_err(|e| format!("wordsegment data: {e}"))?;
    // Loaded once for the life of the process: borrowing from a leaked buffer avoids 600k
    // key allocations.
    let text: &'static str = Box::leak(text.into_boxed_str());
    let (uni_text, bi_text) = text
        .split_once("\n\n")
        .ok_or("wordsegment data: no bigram section")?;
    let parse = |section: &'static str| -> Result<HashMap<&'static str, f64>, String> {
        section
            .lines()
            .map(|line| {
                let (key, count) = line
                    .split_once('\t')
                    .ok_or_else(|| format!("wordsegment data: bad line {line}"))?;
                let count: f64 = count
                    .parse()
                    .map_err(|_| format!("wordsegment data: bad count in {line}"))?;
                Ok((key, count))
            })
            .collect()
    };
    Ok(Model {
        unigrams: parse(uni_text)?,
        bigrams: parse(bi_text)?,
    })
}

fn model() -> Result<&'static Model, Error> {
    MODEL.as_ref().map_err(|e| Error::Invalid(e.clone()))
}

/// Forces the lazy load (server start-up warm-up).
pub(crate) fn warm_up() -> Result<(), Error> {
    model().map(|_| ())
}

/// `10 ** n` as Python converts it to float (correctly rounded).
fn pow10(n: usize) -> f64 {
    format!("1e{n}").parse().unwrap_or(f64::INFINITY)
}

impl Model {
    fn unigram_score(&self, word: &str) -> f64 {
        match self.unigrams.get(word) {
            Some(count) => count / TOTAL,
            // Penalise unknown words by their length.
            None => 10.0 / (TOTAL * pow10(word.len())),
        }
    }

    fn score(&self, word: &str, previous: Option<&str>, key: &mut String) -> f64 {
        let Some(previous) = previous else {
            return self.unigram_score(word);
        };
        key.clear();
        key.push_str(previous);
        key.push(' ');
        key.push_str(word);
        match (
            self.bigrams.get(key.as_str()),
            self.unigrams.contains_key(previous),
        ) {
            // "Stupid backoff": conditional probability of the word given the previous one.
            (Some(count), true) => count / TOTAL / self.unigram_score(previous),
            _ => self.unigram_score(word),
        }
    }

    /// wordsegment's memoised `search(text, '<s>')`, as a table over (position, start of
    /// the previous word). Candidates are compared like Python's tuples `(score, words)`:
    /// on equal scores the longer first word wins (it sorts after its own prefix).
    fn search<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let n = text.len();
        // best[i][d]: best (score, end of first word) for text[i..] after the word text[i-d..i]
        // (d == 0: after "<s>").
        let mut best: Vec<Vec<(f64, usize)>> = vec![vec![(0.0, n); LIMIT + 1]; n + 1];
        let mut key = String::new();
        for i in (0..n).rev() {
            for d in 0..=LIMIT.min(i) {
                if i == 0 && d != 0 || i != 0 && d == 0 {
                    continue;
                }
                let previous = (d != 0).then(|| &text[i - d..i]);
                let mut chosen: Option<(f64, usize)> = None;
                for end in i + 1..=n.min(i + LIMIT) {
                    let prefix_score = self.score(&text[i..end], previous, &mut key).log10();
                    let suffix_score = if end == n { 0.0 } else { best[end][end - i].0 };
                    let total = prefix_score + suffix_score;
                    if chosen.is_none_or(|(s, _)| total >= s) {
                        chosen = Some((total, end));
                    }
                }
                if let Some(c) = chosen {
                    best[i][d] = c;
                }
            }
        }
        let mut words = Vec::new();
        let (mut i, mut d) = (0, 0);
        while i < n {
            let end = best[i][d].1;
            words.push(&text[i..end]);
            d = end - i;
            i = end;
        }
        words
    }
}

/// `wordsegment.segment(text)`: lower-cased, non-`[a-z0-9]` dropped, segmented in chunks of
/// 250 characters (each chunk re-segmented together with the last five words before it).
pub(crate) fn segment(text: &str) -> Result<Vec<String>, Error> {
    // A poisoned cache only means another thread panicked mid-insert; the map is still valid.
    if let Some(hit) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(text) {
        return Ok(hit.clone());
    }
    let words = segment_uncached(text)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(text.to_string(), words.clone());
    Ok(words)
}

fn segment_uncached(text: &str) -> Result<Vec<String>, Error> {
    let model = model()?;
    let clean: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .collect();
    let mut out = Vec::new();
    let mut prefix = String::new();
    let mut offset = 0;
    while offset < clean.len() {
        let chunk = &clean[offset..(offset + CHUNK).min(clean.len())];
        let joined = format!("{prefix}{chunk}");
        let mut words = model.search(&joined);
        let keep = words.len().saturating_sub(5);
        prefix = words[keep..].concat();
        words.truncate(keep);
        out.extend(words.into_iter().map(str::to_string));
        offset += CHUNK;
    }
    out.extend(model.search(&prefix).into_iter().map(str::to_string));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_like_wordsegment() -> Result<(), Error> {
        assert_eq!(segment("thisisatest")?, ["this", "is", "a", "test"]);
        assert_eq!(segment("well-designed")?, ["well", "designed"]);
        assert_eq!(segment("blorptastic")?, ["bl", "or", "p", "tastic"]);
        assert_eq!(segment("zindleworp")?, ["zind", "lew", "or", "p"]);
        assert!(segment("")?.is_empty());
        Ok(())
    }
}
