//! upstream: text/tone_sandhi.py (`ToneSandhi`, from PaddleSpeech): merging of jieba words
//! before pinyin lookup, and tone changes of 不, 一, neutral-tone words and third-tone runs.
//! Upstream raises (IndexError) on a few malformed cases; those are errors here too.
use std::collections::HashSet;
use std::sync::LazyLock;

use super::jieba::{cut_for_search, Tagged};
use super::pinyin;
use super::py::{chars, index_error, is_numeric, last_char, set_tone};
use crate::Error;

struct Words {
    must_neural: HashSet<&'static str>,
    must_not_neural: HashSet<&'static str>,
}

static WORDS: LazyLock<Words> = LazyLock::new(|| {
    let mut lines = include_str!("../../data/zh/tone_sandhi_words.txt").lines().skip(1);
    let mut set = || lines.next().unwrap_or("").split_whitespace().collect::<HashSet<_>>();
    let must_neural = set();
    let must_not_neural = set();
    Words { must_neural, must_not_neural }
});

/// Characters `_yi_sandhi` treats as punctuation after 一 (note: not `…` or `-`).
const PUNC: &str = "：，；。？！“”‘’':,;.?!";

fn finals_of(word: &str) -> Result<Vec<String>, Error> {
    Ok(pinyin::readings(word)?.iter().map(pinyin::finals_tone3).collect())
}

/// `_all_tone_three`, short-circuiting like Python's `all()` (an empty final raises).
fn all_tone_three(finals: &[String]) -> Result<bool, Error> {
    for f in finals {
        if last_char(f)? != '3' {
            return Ok(false);
        }
    }
    Ok(true)
}

fn set_at(finals: &mut [String], i: usize, tone: char) -> Result<(), Error> {
    let f = finals.get_mut(i).ok_or_else(|| index_error("list"))?;
    *f = set_tone(f, tone);
    Ok(())
}

fn set_last(finals: &mut [String], tone: char) -> Result<(), Error> {
    let n = finals.len();
    if n == 0 {
        return Err(index_error("list"));
    }
    set_at(finals, n - 1, tone)
}

fn tone_at(finals: &[String], i: usize) -> Result<char, Error> {
    last_char(finals.get(i).ok_or_else(|| index_error("list"))?)
}

/// `word[-2:]`.
fn last_two(word: &[char]) -> String {
    word[word.len().saturating_sub(2)..].iter().collect()
}

/// `_split_word`: the shortest `cut_for_search` piece and the rest of the word, in order.
fn split_word(word: &str) -> Result<[String; 2], Error> {
    let mut pieces = cut_for_search(word)?;
    pieces.sort_by_key(|p| p.chars().count());
    let first = pieces.into_iter().next().unwrap_or_default();
    Ok(match word.find(first.as_str()) {
        Some(0) => [first.clone(), word[first.len()..].to_string()],
        _ => {
            let keep = word.chars().count().saturating_sub(first.chars().count());
            [word.chars().take(keep).collect(), first]
        }
    })
}

fn neural_sandhi(word: &str, pos: &str, mut finals: Vec<String>) -> Result<Vec<String>, Error> {
    let w = &*WORDS;
    let wc = chars(word);
    let pos0 = pos.chars().next();
    for j in 1..wc.len() {
        if wc[j] == wc[j - 1] && pos0.is_some_and(|p| "nva".contains(p)) && !w.must_not_neural.contains(word) {
            set_at(&mut finals, j, '5')?;
        }
    }
    let ge_idx = wc.iter().position(|&c| c == '个');
    let last = wc.last().copied();
    let in_last = |set: &str| last.is_some_and(|c| set.contains(c));
    // Upstream's elif chain: the first six branches all make the last syllable neutral.
    let neutral_last = in_last("吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶")
        || in_last("的地得")
        || (wc.len() == 1 && in_last("了着过") && ["ul", "uz", "ug"].contains(&pos))
        || (wc.len() > 1 && in_last("们子") && ["r", "n"].contains(&pos) && !w.must_not_neural.contains(word))
        || (wc.len() > 1 && in_last("上下里") && ["s", "l", "f"].contains(&pos))
        || (wc.len() > 1 && in_last("来去") && "上下进出回过起开".contains(wc[wc.len() - 2]));
    if neutral_last {
        set_last(&mut finals, '5')?;
    } else if let Some(g) = ge_idx.filter(|&g| {
        (g >= 1 && (is_numeric(wc[g - 1]) || "几有两半多各整每做是".contains(wc[g - 1]))) || word == "个"
    }) {
        set_at(&mut finals, g, '5')?;
    } else if w.must_neural.contains(word) || w.must_neural.contains(last_two(&wc).as_str()) {
        set_last(&mut finals, '5')?;
    }

    let parts = split_word(word)?;
    let cut = parts[0].chars().count().min(finals.len());
    let mut halves = [finals[..cut].to_vec(), finals[cut..].to_vec()];
    for (half, part) in halves.iter_mut().zip(parts.iter()) {
        let pc = chars(part);
        if w.must_neural.contains(part.as_str()) || w.must_neural.contains(last_two(&pc).as_str()) {
            set_last(half, '5')?;
        }
    }
    Ok(halves.concat())
}

fn bu_sandhi(word: &str, mut finals: Vec<String>) -> Result<Vec<String>, Error> {
    let wc = chars(word);
    if wc.len() == 3 && wc[1] == '不' {
        set_at(&mut finals, 1, '5')?;
    } else {
        for i in 0..wc.len() {
            if wc[i] == '不' && i + 1 < wc.len() && tone_at(&finals, i + 1)? == '4' {
                set_at(&mut finals, i, '2')?;
            }
        }
    }
    Ok(finals)
}

fn yi_sandhi(word: &str, mut finals: Vec<String>) -> Result<Vec<String>, Error> {
    let wc = chars(word);
    if wc.contains(&'一') && wc.iter().filter(|&&c| c != '一').all(|&c| is_numeric(c)) {
        return Ok(finals);
    } else if wc.len() == 3 && wc[1] == '一' && wc[0] == wc[2] {
        set_at(&mut finals, 1, '5')?;
    } else if word.starts_with("第一") {
        set_at(&mut finals, 1, '1')?;
    } else {
        for i in 0..wc.len() {
            if wc[i] == '一' && i + 1 < wc.len() {
                if tone_at(&finals, i + 1)? == '4' {
                    set_at(&mut finals, i, '2')?;
                } else if !PUNC.contains(wc[i + 1]) {
                    set_at(&mut finals, i, '4')?;
                }
            }
        }
    }
    Ok(finals)
}

fn three_sandhi(word: &str, mut finals: Vec<String>) -> Result<Vec<String>, Error> {
    let n = word.chars().count();
    if n == 2 && all_tone_three(&finals)? {
        set_at(&mut finals, 0, '2')?;
    } else if n == 3 {
        let parts = split_word(word)?;
        let first_len = parts[0].chars().count();
        if all_tone_three(&finals)? {
            if first_len == 2 {
                set_at(&mut finals, 0, '2')?;
                set_at(&mut finals, 1, '2')?;
            } else if first_len == 1 {
                set_at(&mut finals, 1, '2')?;
            }
        } else {
            let cut = first_len.min(finals.len());
            let mut halves = [finals[..cut].to_vec(), finals[cut..].to_vec()];
            for i in 0..2 {
                if all_tone_three(&halves[i])? && halves[i].len() == 2 {
                    set_at(&mut halves[i], 0, '2')?;
                } else if i == 1
                    && !all_tone_three(&halves[1])?
                    && tone_at(&halves[1], 0)? == '3'
                    && last_char(halves[0].last().ok_or_else(|| index_error("list"))?)? == '3'
                {
                    set_last(&mut halves[0], '2')?;
                }
            }
            finals = halves.concat();
        }
    } else if n == 4 {
        let cut = 2.min(finals.len());
        let mut halves = [finals[..cut].to_vec(), finals[cut..].to_vec()];
        for half in halves.iter_mut() {
            if all_tone_three(half)? {
                set_at(half, 0, '2')?;
            }
        }
        finals = halves.concat();
    }
    Ok(finals)
}

/// `modified_tone`: 不, 一, neutral tone, third tone — in upstream's order.
pub(crate) fn modified_tone(word: &str, pos: &str, finals: Vec<String>) -> Result<Vec<String>, Error> {
    let finals = bu_sandhi(word, finals)?;
    let finals = yi_sandhi(word, finals)?;
    let finals = neural_sandhi(word, pos, finals)?;
    three_sandhi(word, finals)
}

fn merge_bu(seg: Vec<Tagged>) -> Vec<Tagged> {
    let mut out = Vec::new();
    let mut last = String::new();
    for (mut word, pos) in seg {
        if last == "不" {
            word = format!("{last}{word}");
        }
        if word != "不" {
            out.push((word.clone(), pos));
        }
        last = word;
    }
    if last == "不" {
        out.push((last, "d".to_string()));
    }
    out
}

fn merge_yi(seg: Vec<Tagged>) -> Vec<Tagged> {
    // Function 1: 听 一 听 → 听一听 (both sides the same verb).
    let mut merged: Vec<Tagged> = Vec::new();
    let mut i = 0;
    while i < seg.len() {
        let (word, pos) = &seg[i];
        if i >= 1 && word == "一" && i + 1 < seg.len() {
            if let Some(last) = merged.last_mut() {
                let next = &seg[i + 1];
                if last.0 == next.0 && last.1 == "v" && next.1 == "v" {
                    last.0 = format!("{}一{}", last.0, next.0);
                    i += 2;
                    continue;
                }
            }
        }
        merged.push((word.clone(), pos.clone()));
        i += 1;
    }
    // Function 2: a lone 一 absorbs the next word (even punctuation).
    let mut out: Vec<Tagged> = Vec::new();
    for (word, pos) in merged {
        match out.last_mut() {
            Some(last) if last.0 == "一" => last.0.push_str(&word),
            _ => out.push((word, pos)),
        }
    }
    out
}

fn merge_reduplication(seg: Vec<Tagged>) -> Vec<Tagged> {
    let mut out: Vec<Tagged> = Vec::new();
    for (word, pos) in seg {
        match out.last_mut() {
            Some(last) if last.0 == word => last.0.push_str(&word),
            _ => out.push((word, pos)),
        }
    }
    out
}

fn is_reduplication(word: &str) -> bool {
    let c = chars(word);
    c.len() == 2 && c[0] == c[1]
}

/// `_merge_continuous_three_tones` (`whole`: both words all third tone) and `_2` (last
/// syllable of one and first of the next). Upstream wraps both in try/except: on an error the
/// step is skipped, which is what an `Err` here means to the caller.
fn merge_three_tones(seg: &[Tagged], whole: bool) -> Result<Vec<Tagged>, Error> {
    let finals = seg.iter().map(|(w, _)| finals_of(w)).collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<Tagged> = Vec::new();
    let mut merge_last = vec![false; seg.len()];
    for i in 0..seg.len() {
        let joinable = i >= 1 && {
            let (a, b) = (&finals[i - 1], &finals[i]);
            let cond = if whole {
                all_tone_three(a)? && all_tone_three(b)?
            } else {
                let a_last = a.last().ok_or_else(|| index_error("list"))?;
                let b_first = b.first().ok_or_else(|| index_error("list"))?;
                last_char(a_last)? == '3' && last_char(b_first)? == '3'
            };
            cond && !merge_last[i - 1]
        };
        let prev = &seg[i.saturating_sub(1)].0;
        let short = prev.chars().count() + seg[i].0.chars().count() <= 3;
        match out.last_mut() {
            Some(last) if joinable && !is_reduplication(prev) && short => {
                last.0.push_str(&seg[i].0);
                merge_last[i] = true;
            }
            _ => out.push(seg[i].clone()),
        }
    }
    Ok(out)
}

fn merge_er(seg: Vec<Tagged>) -> Vec<Tagged> {
    let mut out: Vec<Tagged> = Vec::new();
    let mut prev_word = String::new();
    for (i, (word, pos)) in seg.into_iter().enumerate() {
        let is_er = i >= 1 && word == "儿" && prev_word != "#";
        prev_word = word.clone();
        match out.last_mut() {
            Some(last) if is_er => last.0.push_str(&word),
            _ => out.push((word, pos)),
        }
    }
    out
}

/// `pre_merge_for_modify`.
pub(crate) fn pre_merge_for_modify(seg: Vec<Tagged>) -> Vec<Tagged> {
    let seg = merge_yi(merge_bu(seg));
    let seg = merge_reduplication(seg);
    let seg = merge_three_tones(&seg, true).unwrap_or(seg);
    let seg = merge_three_tones(&seg, false).unwrap_or(seg);
    merge_er(seg)
}
