//! Robustness of the Chinese frontend: arbitrary input never panics, and every successful
//! result is self-consistent (word2ph sums to the phone count, one entry per character).
use gsv_text::{clean_text, zh, Language, Version};
use proptest::prelude::*;

fn check_consistent(text: &str) -> Result<(), TestCaseError> {
    let _ = zh::normalize(text);
    for version in [Version::V1, Version::V2] {
        if let Ok(c) = clean_text(text, Language::Zh, version) {
            let w = c.word2ph.clone().unwrap_or_default();
            prop_assert_eq!(w.iter().sum::<usize>(), c.phones.len(), "word2ph sum for {:?}", text);
            prop_assert_eq!(w.len(), c.norm_text.chars().count(), "word2ph length for {:?}", text);
            let kept = |ch: char| ('\u{4e00}'..='\u{9fa5}').contains(&ch) || "!?…,.-".contains(ch);
            prop_assert!(c.norm_text.chars().all(kept), "unexpected character in {:?}", c.norm_text);
        }
    }
    Ok(())
}

/// Characters that exercise the normaliser and segmenter: Han (common and rare), digits,
/// full-width forms, Latin, Greek, math and unit symbols, punctuation, whitespace, controls.
fn mixed_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('\u{4e00}', '\u{9fa5}'),
        3 => proptest::sample::select("一不儿个了的们子上下来去是有两几第年月日号点分秒度元".chars().collect::<Vec<_>>()),
        2 => proptest::sample::select("0123456789０１２３".chars().collect::<Vec<_>>()),
        2 => proptest::sample::select(
            ".,!?-~:;/%+×÷=^￥$@#&_|\\()（）《》【】“”‘’、。，！？：；…—～·° ℃²³⁴ⁿˣ\n\r\t \u{3000}\u{0}\u{1f}αβΩ①⑩kmgscmMLa"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        check_consistent(&text)?;
    }

    #[test]
    fn mixed_chinese_input_never_panics(chars in proptest::collection::vec(mixed_char(), 0..120)) {
        let text: String = chars.into_iter().collect();
        check_consistent(&text)?;
    }

    #[test]
    fn punctuation_only_never_panics(chars in proptest::collection::vec(
        proptest::sample::select("，。！？、；：…—~“”《》（）,.!?-^￥ \n".chars().collect::<Vec<_>>()), 0..40)) {
        let text: String = chars.into_iter().collect();
        check_consistent(&text)?;
    }
}

#[test]
fn huge_input_completes() {
    let unit = "今天是2024年3月15日，温度-5℃，价格￥88.5元，电话13812345678。這是繁體字！一个一个地看一看，不不不……";
    let rare: String = ('\u{9f00}'..'\u{9f40}').collect();
    let text = format!("{}{}", unit.repeat(150), rare.repeat(20));
    let result = clean_text(&text, Language::Zh, Version::V2).expect("huge input is processed");
    assert!(result.phones.len() > 10_000);
    assert_eq!(result.word2ph.map(|w| w.iter().sum::<usize>()), Some(result.phones.len()));
}

#[test]
fn empty_and_blank_input() {
    for text in ["", " ", "\n\n", "abc"] {
        let c = clean_text(text, Language::Zh, Version::V2).expect("blank input is not an error in clean_text");
        assert!(c.phones.is_empty() && c.norm_text.is_empty(), "{text:?} gave {c:?}");
    }
}
