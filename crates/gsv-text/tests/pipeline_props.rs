//! Property tests: no input makes splitting, language segmentation or preprocessing panic, and
//! splitting keeps its invariants.
use gsv_text::langseg::{self, LanguageSetting, ScriptDetector};
use gsv_text::split::{self, SplitMethod};
use gsv_text::{preprocess, Version};
use proptest::prelude::*;

/// Characters that exercise every branch: Han, kana, Hangul, Latin, digits (ASCII, full-width,
/// superscript, circled), both punctuation widths, quotes, whitespace kinds, newlines.
fn mixed_text() -> impl Strategy<Value = String> {
    let pool: Vec<char> = "我你好世界的了一不儿年元￥^ひらがなカタカナーまい々한국어안녕abcXYZ'é0129９²①.,!?…-~:;，。！？：；、—·“”‘’《》()（）[]#@/ \u{3000}\n\r\t"
        .chars()
        .collect();
    prop::collection::vec(prop::sample::select(pool), 0..60).prop_map(|v| v.into_iter().collect())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![mixed_text(), any::<String>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn splitting_never_panics(text in any_text()) {
        prop_assume!(text.chars().count() < 400);
        let merged = split::replace_consecutive_punctuation(&text);
        for method in SplitMethod::ALL {
            let _ = method.apply(&text);
            for lang in ["zh", "en", "all_zh"] {
                if let Ok(segments) = split::pre_seg_text(&merged, lang, method) {
                    // Short inputs never reach split_big_text: every segment has a word character
                    // and ends with a sentence mark.
                    for s in &segments {
                        prop_assert!(s.chars().any(|c| c.is_alphanumeric() || c == '_'), "{:?}", s);
                        prop_assert!(s.chars().last().is_some_and(|c| split::SPLITS.contains(&c)), "{:?}", s);
                    }
                }
            }
        }
        let _ = split::prompt_text(&text, "zh");
        let _ = split::split_big_text(&text, 7);
    }

    #[test]
    fn language_segmentation_never_panics_and_keeps_text(text in any_text()) {
        let text = langseg::collapse_spaces(&text);
        for setting in LanguageSetting::ALL {
            if let Ok(parts) = langseg::segment(&text, setting, &ScriptDetector) {
                prop_assert!(parts.iter().all(|p| !p.lang.is_empty()));
                if matches!(setting, LanguageSetting::AllZh | LanguageSetting::Zh) {
                    // Forced/user-language settings: the script detector never yields `x`, so
                    // nothing but the outer whitespace is dropped.
                    let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
                    prop_assert_eq!(joined.as_str(), text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)));
                }
            }
        }
    }

    #[test]
    fn preprocess_never_panics(text in any_text()) {
        // The real language identifier, so `auto` runs fastText on arbitrary text.
        let lid = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.gsv-data/lid.176.ftz"));
        gsv_text::lid::init(lid).expect("lid.176.ftz (scripts/setup.sh)");
        for setting in [LanguageSetting::Zh, LanguageSetting::En, LanguageSetting::AllZh, LanguageSetting::Auto, LanguageSetting::Ja, LanguageSetting::Yue, LanguageSetting::AutoYue, LanguageSetting::AllYue] {
            for version in [Version::V1, Version::V2] {
                let _ = preprocess(&text, setting, SplitMethod::Cut5, version);
                let _ = gsv_text::prompt_phones(&text, setting, version);
            }
        }
    }
}
