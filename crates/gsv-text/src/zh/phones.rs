//! upstream: chinese2.py / chinese.py `g2p` and `_g2p` (pypinyin branch), `_merge_erhua`
//! (v2 only), and the opencpop-strict initial/final mapping to phones.
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::py::{chars, index_error, last_char, preview};
use super::{jieba, pinyin, sandhi, PUNCTUATION};
use crate::{Error, Version};

/// `opencpop-strict.txt`: toneless pinyin → (initial, final) phones.
static OPENCPOP: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> = LazyLock::new(|| {
    include_str!("../../data/opencpop-strict.txt")
        .lines()
        .filter_map(|line| {
            let (py, phones) = line.split_once('\t')?;
            let (c, v) = phones.trim().split_once(' ')?;
            Some((py, (c, v)))
        })
        .collect()
});

const MUST_ERHUA: [&str; 8] = ["小院儿", "胡同儿", "范儿", "老汉儿", "撒欢儿", "寻老礼儿", "妥妥儿", "媳妇儿"];

static NOT_ERHUA: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    "虐儿 为儿 护儿 瞒儿 救儿 替儿 有儿 一儿 我儿 俺儿 妻儿 拐儿 聋儿 乞儿 患儿 幼儿 孤儿 婴儿 婴幼儿 连体儿 \
     脑瘫儿 流浪儿 体弱儿 混血儿 蜜雪儿 舫儿 祖儿 美儿 应采儿 可儿 侄儿 孙儿 侄孙儿 女儿 男儿 红孩儿 花儿 虫儿 \
     马儿 鸟儿 猪儿 猫儿 狗儿 少儿"
        .split_whitespace()
        .collect()
});

/// `_merge_erhua` (v2): 儿 as a word's last syllable takes er2, or the previous syllable's tone.
fn merge_erhua(finals: &mut [String], word: &str, pos: &str) -> Result<(), Error> {
    let wc = chars(word);
    let n = finals.len();
    if n > 0 && wc.get(n - 1) == Some(&'儿') && finals[n - 1] == "er1" {
        finals[n - 1] = "er2".to_string();
    }
    if !MUST_ERHUA.contains(&word) && (NOT_ERHUA.contains(word) || ["a", "j", "nr"].contains(&pos)) {
        return Ok(());
    }
    if n != wc.len() {
        return Ok(());
    }
    let tail: String = wc[wc.len().saturating_sub(2)..].iter().collect();
    if n >= 2 && wc[n - 1] == '儿' && (finals[n - 1] == "er2" || finals[n - 1] == "er5") && !NOT_ERHUA.contains(tail.as_str())
    {
        finals[n - 1] = format!("er{}", last_char(&finals[n - 2])?);
    }
    Ok(())
}

/// Initials and finals of one piece (between punctuation marks), after jieba, merging, tone
/// sandhi and (v2) erhua.
fn piece_pinyin(seg: &str, version: Version) -> Result<(Vec<String>, Vec<String>), Error> {
    let cut = jieba::posseg_cut(seg)?;
    let cut = sandhi::pre_merge_for_modify(cut);
    let (mut initials, mut finals) = (Vec::new(), Vec::new());
    for (word, pos) in cut {
        if pos == "eng" {
            continue;
        }
        let items = pinyin::readings(&word)?;
        let sub_initials: Vec<String> = items.iter().map(pinyin::initials).collect();
        let sub_finals: Vec<String> = items.iter().map(pinyin::finals_tone3).collect();
        let mut sub_finals = sandhi::modified_tone(&word, &pos, sub_finals)?;
        if version == Version::V2 {
            merge_erhua(&mut sub_finals, &word, &pos)?;
        }
        initials.extend(sub_initials);
        finals.extend(sub_finals);
    }
    Ok((initials, finals))
}

/// One (initial, final+tone) pair → phones, with upstream's zero-initial spellings.
fn syllable_phones(c: &str, v: &str, seg: &str) -> Result<[String; 2], Error> {
    let tone = last_char(v)?;
    let v_without_tone = &v[..v.len() - tone.len_utf8()];
    if !"12345".contains(tone) {
        return Err(Error::Invalid(format!("zh: AssertionError: tone {tone:?} of `{c}{v}` in `{}`", preview(seg))));
    }
    let pinyin = if !c.is_empty() {
        let v2 = match v_without_tone {
            "uei" => "ui",
            "iou" => "iu",
            "uen" => "un",
            other => other,
        };
        format!("{c}{v2}")
    } else {
        match v_without_tone {
            "ing" => "ying".to_string(),
            "i" => "yi".to_string(),
            "in" => "yin".to_string(),
            "u" => "wu".to_string(),
            other => {
                let first = other.chars().next().ok_or_else(|| index_error("string"))?;
                let rest = &other[first.len_utf8()..];
                match first {
                    'v' => format!("yu{rest}"),
                    'i' => format!("y{rest}"),
                    'u' => format!("w{rest}"),
                    _ => other.to_string(),
                }
            }
        }
    };
    let (new_c, new_v) = OPENCPOP.get(pinyin.as_str()).ok_or_else(|| {
        Error::Invalid(format!("zh: AssertionError: pinyin `{pinyin}` (from `{c}{v}`) not in opencpop, in `{}`", preview(seg)))
    })?;
    Ok([new_c.to_string(), format!("{new_v}{tone}")])
}

/// `g2p(norm_text)`: phones and word2ph (2 per syllable, 1 per punctuation mark).
pub(crate) fn g2p(text: &str, version: Version) -> Result<(Vec<String>, Vec<usize>), Error> {
    // re.split(r"(?<=[!?…,.-])\s*", text): cut after every punctuation mark.
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if super::py::is_space(c) && cur.is_empty() && !pieces.is_empty() {
            continue; // whitespace right after a cut belongs to the separator
        }
        cur.push(c);
        if PUNCTUATION.contains(c) {
            pieces.push(std::mem::take(&mut cur));
        }
    }
    pieces.push(cur);
    let mut phones = Vec::new();
    let mut word2ph = Vec::new();
    for piece in pieces.iter().filter(|p| !super::py::strip(p).is_empty()) {
        let seg: String = piece.chars().filter(|c| !c.is_ascii_alphabetic()).collect();
        let (initials, finals) = piece_pinyin(&seg, version)?;
        for (c, v) in initials.iter().zip(finals.iter()) {
            if c == v {
                if !(c.chars().count() == 1 && PUNCTUATION.contains(c.as_str())) {
                    return Err(Error::Invalid(format!(
                        "zh: AssertionError: `{c}` has no pinyin and is not punctuation, in `{}`",
                        preview(&seg)
                    )));
                }
                phones.push(c.clone());
                word2ph.push(1);
            } else {
                phones.extend(syllable_phones(c, v, &seg)?);
                word2ph.push(2);
            }
        }
    }
    Ok((phones, word2ph))
}
