//! OpenJTalk 1.11 `njd_set_accent_type`: the accent nucleus of each chained accent phrase,
//! from the chain rules (`名詞%F1/動詞%F2@0`, `C1`, `P2` …) of its words.
//!
//! Written from OpenJTalk's C (as vendored by pyopenjtalk 0.4.1) rather than taken from
//! `jpreprocess`, whose version answers differently in three ways that change upstream's marks:
//! - [quirk] OpenJTalk picks a rule by `strstr(prev_pos, rule_pos)`: the rule for `動詞` also
//!   applies after a `助動詞` or a `感動詞` (わかり|ませ|ん, おはよう|ござい|ます).
//! - `P1`/`P2`/`P14` test the accent of the chained word itself, not that of the phrase head.
//! - A digit `十` at the head of the text is a phrase head even when its chain flag is set.
use jpreprocess_core::accent_rule::{AccentType, ChainRule, ChainRules};
use jpreprocess_njd::{NJDNode, NJD};

const KANSUJI_TEN: &str = "十";

/// The rule OpenJTalk's `get_rule` finds for a word after a word of major POS `prev_pos`: the
/// first `POS%…` entry whose POS occurs in `prev_pos`, else an entry without POS. The naist-jdic
/// rules never mix the two kinds, and repeated POS entries carry the same rule, so entry order
/// (which `ChainRules` does not keep) cannot change the answer.
fn find_rule<'a>(rules: &'a ChainRules, prev_pos: &str) -> Option<&'a ChainRule> {
    [("名詞", &rules.meishi), ("動詞", &rules.doushi), ("助詞", &rules.joshi), ("形容詞", &rules.keiyoushi)]
        .into_iter()
        .find_map(|(pos, rule)| rule.as_ref().filter(|_| prev_pos.contains(pos)))
        .or(rules.default.as_ref())
}

/// POS names a chain rule can name and still match: the major POS of naist-jdic that contain
/// them (`特殊助動詞%…` names none, so OpenJTalk never applies it).
const RULE_POS: [&str; 4] = ["名詞", "動詞", "助詞", "形容詞"];
const RULE_TYPES: [&str; 14] = ["F1", "F2", "F3", "F4", "F5", "C1", "C2", "C3", "C4", "C5", "P1", "P2", "P6", "P14"];

/// C's `atoi`: optional sign and leading digits; 0 when there are none.
fn atoi(s: &str) -> isize {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<isize>().map_or(0, |v| sign * v)
}

/// A dictionary chain-rule field (`動詞%F2@0/形容詞%F2@-1`) rewritten to what OpenJTalk's
/// `get_rule` makes of it, in the grammar jpreprocess' `ChainRules` parses. Entries that can
/// never change an accent in OpenJTalk (an unknown POS or rule name) are dropped, so jpreprocess
/// neither warns about them nor loses the valid part of a malformed entry: [quirk] in
/// `形容詞%F2@-1動詞%F2@0` C reads `F2@-1` for 形容詞 and never sees the 動詞 part.
pub(super) fn chain_rule_field(raw: &str) -> String {
    let mut kept: Vec<(Option<&str>, &str, isize)> = Vec::new();
    for entry in raw.split('/') {
        let (pos, rest) = match entry.find(['%', '@']) {
            Some(i) if entry[i..].starts_with('%') => (Some(&entry[..i]), &entry[i + 1..]),
            _ => (None, entry),
        };
        let (rule, add) = match rest.find(['%', '@']) {
            Some(i) if rest[i..].starts_with('@') => {
                let after = &rest[i + 1..];
                (&rest[..i], atoi(&after[..after.find(['%', '@']).unwrap_or(after.len())]))
            }
            Some(i) => (&rest[..i], 0),
            None => (rest, 0),
        };
        let known_pos = pos.is_none_or(|p| RULE_POS.contains(&p));
        let first_of_its_pos = !kept.iter().any(|(p, _, _)| *p == pos);
        if known_pos && RULE_TYPES.contains(&rule) && first_of_its_pos {
            kept.push((pos, rule, add));
        }
    }
    if kept.is_empty() {
        return "*".to_string();
    }
    let entries: Vec<String> = kept
        .into_iter()
        .map(|(pos, rule, add)| {
            let pos = pos.map(|p| format!("{p}%")).unwrap_or_default();
            if add == 0 { format!("{pos}{rule}") } else { format!("{pos}{rule}@{add}") }
        })
        .collect();
    entries.join("/")
}

fn major_pos(node: &NJDNode) -> String {
    let pos = node.get_pos().to_string();
    pos.split(',').next().unwrap_or_default().to_string()
}

fn accent(node: &NJDNode) -> usize {
    node.get_pron().accent()
}

fn chained(node: &NJDNode) -> bool {
    node.get_chain_flag() == Some(true)
}

/// OpenJTalk keeps accents as C ints; a negative one (a `@-n` rule at the phrase start) never
/// reaches the labels differently from 0.
fn offset(mora_size: usize, add: isize) -> usize {
    (mora_size as isize + add).max(0) as usize
}

/// The phrase head's new accent under `rule` for `node` (chained after `mora_size` morae), or
/// `None` when the rule leaves it.
fn head_accent(rule: &ChainRule, head_acc: usize, node: &NJDNode, mora_size: usize) -> Option<usize> {
    let node_acc = accent(node);
    let add = || offset(mora_size, rule.add_type);
    match rule.accent_type {
        AccentType::F2 if head_acc == 0 => Some(add()),
        AccentType::F3 if head_acc != 0 => Some(add()),
        AccentType::F4 => Some(add()),
        AccentType::F5 | AccentType::C4 | AccentType::P6 => Some(0),
        AccentType::C1 => Some(mora_size + node_acc),
        AccentType::C2 => Some(mora_size + 1),
        AccentType::C3 => Some(mora_size),
        AccentType::P1 if node_acc == 0 => Some(0),
        AccentType::P1 => Some(mora_size + node_acc),
        AccentType::P2 if node_acc == 0 => Some(mora_size + 1),
        AccentType::P2 => Some(mora_size + node_acc),
        AccentType::P14 if node_acc != 0 => Some(mora_size + node_acc),
        _ => None,
    }
}

/// Accent of the digit before `current` when both are numerals (十/百/千/万/億/兆 readings).
fn digit_accent(prev: &NJDNode, current: &NJDNode, next: Option<&NJDNode>) -> Option<usize> {
    let p = prev.get_string();
    let next_is_unit_digit = next.is_some_and(|n| {
        matches!(n.get_string(), "一" | "二" | "三" | "四" | "五" | "六" | "七" | "八" | "九")
    });
    let prev_morae = prev.get_pron().mora_size();
    Some(match current.get_string() {
        KANSUJI_TEN if matches!(p, "五" | "六" | "八") && next_is_unit_digit => 0,
        KANSUJI_TEN => 1,
        "百" if p == "七" => 2,
        "百" if matches!(p, "三" | "四" | "九" | "何") => 1,
        "百" => prev_morae + current.get_pron().mora_size(),
        "千" | "万" => prev_morae + 1,
        "億" if matches!(p, "一" | "六" | "七" | "八" | "幾") => 2,
        "億" => 1,
        "兆" if matches!(p, "六" | "七") => 2,
        "兆" => 1,
        _ => return None,
    })
}

pub fn njd_set_accent_type(njd: &mut NJD) {
    let nodes = &mut njd.nodes;
    let mut head = 0;
    let mut mora_size = 0;
    for i in 0..nodes.len() {
        if i == 0 || !chained(&nodes[i]) {
            head = i;
            mora_size = 0;
        } else {
            let prev_pos = major_pos(&nodes[i - 1]);
            let new_head = find_rule(nodes[i].get_chain_rule(), &prev_pos)
                .and_then(|rule| head_accent(rule, accent(&nodes[head]), &nodes[i], mora_size));
            if let Some(acc) = new_head {
                nodes[head].get_pron_mut().set_accent(acc);
            }
        }
        if i > 0 && chained(&nodes[i]) && nodes[i - 1].get_pos().is_kazu() && nodes[i].get_pos().is_kazu() {
            if let Some(acc) = digit_accent(&nodes[i - 1], &nodes[i], nodes.get(i + 1)) {
                nodes[i - 1].get_pron_mut().set_accent(acc);
            }
        }
        if nodes[i].get_string() == KANSUJI_TEN
            && !chained(&nodes[i])
            && nodes.get(i + 1).is_some_and(|n| n.get_pos().is_kazu())
        {
            nodes[i].get_pron_mut().set_accent(0);
        }
        mora_size += nodes[i].get_pron().mora_size();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_rule_fields_read_as_openjtalk_reads_them() {
        assert_eq!(chain_rule_field("C1"), "C1");
        assert_eq!(chain_rule_field("*"), "*");
        assert_eq!(chain_rule_field("動詞%F4@1/助詞%F2@1"), "動詞%F4@1/助詞%F2@1");
        assert_eq!(chain_rule_field("名詞%F2@1/形容詞%F2@-1動詞%F2@0"), "名詞%F2@1/形容詞%F2@-1");
        assert_eq!(chain_rule_field("動詞%F1/特殊助動詞%F2@0"), "動詞%F1");
        assert_eq!(chain_rule_field("名詞%F4@2/動詞%F4@2/動詞%F4@3"), "名詞%F4@2/動詞%F4@2");
        assert_eq!(chain_rule_field("-1"), "*");
        assert_eq!(chain_rule_field("動詞F4@0"), "*");
        assert_eq!(atoi("-1動詞"), -1);
        assert_eq!(atoi("x"), 0);
    }

    #[test]
    fn rules_match_the_previous_pos_as_a_substring() {
        let rules = ChainRules::new("動詞%F4@1/助詞%F2@1");
        let after_auxiliary = find_rule(&rules, "助動詞").unwrap();
        assert_eq!((after_auxiliary.accent_type.clone(), after_auxiliary.add_type), (AccentType::F4, 1));
        assert!(find_rule(&rules, "感動詞").is_some());
        assert!(find_rule(&rules, "名詞").is_none());
        let default = ChainRules::new("C2");
        assert_eq!(find_rule(&default, "記号").unwrap().accent_type, AccentType::C2);
    }
}
