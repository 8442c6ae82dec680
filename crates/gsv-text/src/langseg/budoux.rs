//! A BudouX phrase parser (the algorithm of `budoux.Parser.parse`), used by the split_lang port to
//! cut Han/kana runs into chunks exactly where upstream does.
//!
//! Model: feature group (`UW1`..`UW6` unigrams, `BW1`..`BW3` bigrams, `TW1`..`TW4` trigrams around
//! the boundary) → feature string → integer weight. A boundary is placed before character `i` when
//! the weights of the present features exceed half the total of all weights.
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Error;

const JA_JSON: &str = include_str!("../../data/budoux/ja.json");
const ZH_HANS_JSON: &str = include_str!("../../data/budoux/zh-hans.json");

/// One loaded model.
#[derive(Debug)]
pub struct Parser {
    groups: HashMap<String, HashMap<String, i64>>,
    /// Sum of all weights; BudouX's base score is `-total / 2`, kept doubled to stay in integers.
    total: i64,
}

impl Parser {
    fn from_json(json: &str, name: &str) -> Result<Self, Error> {
        let groups: HashMap<String, HashMap<String, i64>> = serde_json::from_str(json)
            .map_err(|e| Error::Invalid(format!("embedded BudouX model {name} is malformed: {e}")))?;
        let total = groups.values().flat_map(|g| g.values()).sum();
        Ok(Self { groups, total })
    }

    fn weight(&self, group: &str, feature: &[char]) -> i64 {
        let Some(g) = self.groups.get(group) else { return 0 };
        let key: String = feature.iter().collect();
        g.get(&key).copied().unwrap_or(0)
    }

    /// Split `sentence` into chunks (empty input → no chunks).
    pub fn parse(&self, sentence: &str) -> Vec<String> {
        let s: Vec<char> = sentence.chars().collect();
        let Some(&first) = s.first() else { return Vec::new() };
        let mut chunks = vec![first.to_string()];
        let n = s.len();
        for i in 1..n {
            let mut score = 0i64;
            if i > 2 {
                score += self.weight("UW1", &s[i - 3..i - 2]);
            }
            if i > 1 {
                score += self.weight("UW2", &s[i - 2..i - 1]);
            }
            score += self.weight("UW3", &s[i - 1..i]);
            score += self.weight("UW4", &s[i..i + 1]);
            if i + 1 < n {
                score += self.weight("UW5", &s[i + 1..i + 2]);
            }
            if i + 2 < n {
                score += self.weight("UW6", &s[i + 2..i + 3]);
            }
            if i > 1 {
                score += self.weight("BW1", &s[i - 2..i]);
            }
            score += self.weight("BW2", &s[i - 1..i + 1]);
            if i + 1 < n {
                score += self.weight("BW3", &s[i..i + 2]);
            }
            if i > 2 {
                score += self.weight("TW1", &s[i - 3..i]);
            }
            if i > 1 {
                score += self.weight("TW2", &s[i - 2..i + 1]);
            }
            if i + 1 < n {
                score += self.weight("TW3", &s[i - 1..i + 2]);
            }
            if i + 2 < n {
                score += self.weight("TW4", &s[i..i + 3]);
            }
            // score - total/2 > 0, doubled.
            if 2 * score - self.total > 0 {
                chunks.push(s[i].to_string());
            } else if let Some(last) = chunks.last_mut() {
                last.push(s[i]);
            }
        }
        chunks
    }
}

/// The default Japanese parser (`budoux.load_default_japanese_parser`).
pub fn japanese() -> Result<&'static Parser, Error> {
    static P: OnceLock<Result<Parser, Error>> = OnceLock::new();
    P.get_or_init(|| Parser::from_json(JA_JSON, "ja")).as_ref().map_err(Clone::clone)
}

/// The default Simplified-Chinese parser (`budoux.load_default_simplified_chinese_parser`).
pub fn simplified_chinese() -> Result<&'static Parser, Error> {
    static P: OnceLock<Result<Parser, Error>> = OnceLock::new();
    P.get_or_init(|| Parser::from_json(ZH_HANS_JSON, "zh-hans")).as_ref().map_err(Clone::clone)
}
