//! No input makes English `clean_text` panic, and whatever it returns respects upstream's
//! invariants: `norm_text` holds only ` A-Za-z'.,?!-`, every phone is a v2 symbol, there are
//! at least 4 phones (upstream pads with ","), and `word2ph` is `None`.
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;

use gsv_text::{clean_text, Language, Version};
use proptest::prelude::*;

static SYMBOLS_V2: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/text/symbols_v2.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
});

/// Runs `text` through both versions and checks the invariants. Errors are allowed (upstream
/// raises for some inputs, e.g. `int("(5")` or numbers beyond decillions) but must not panic.
fn check(text: &str) -> Result<(), TestCaseError> {
    for version in [Version::V1, Version::V2] {
        let Ok(cleaned) = clean_text(text, Language::En, version) else {
            continue;
        };
        prop_assert!(
            cleaned
                .norm_text
                .chars()
                .all(|c| c == ' ' || c.is_ascii_alphabetic() || "'.,?!-".contains(c)),
            "norm_text {:?} of {:?}",
            cleaned.norm_text,
            text
        );
        prop_assert!(
            cleaned.phones.len() >= 4 || cleaned.phones.first().map(String::as_str) == Some(",")
        );
        for phone in &cleaned.phones {
            prop_assert!(
                SYMBOLS_V2.contains(phone),
                "phone {phone:?} of {text:?} is not a symbol"
            );
        }
        prop_assert!(cleaned.word2ph.is_none());
    }
    Ok(())
}

/// Characters that drive the normaliser's number, money, time, unit and arithmetic paths.
const NASTY: &[char] = &[
    '0', '1', '2', '5', '9', '.', ',', ':', '/', '$', '£', '%', '°', 'C', 'F', 'm', 'k', 'h', 's',
    't', 'L', 'n', 'd', 'r', ' ', '-', '+', '×', '÷', '=', '(', '\'', '"', '²', 'ⁿ', 'e', 'g', 'i',
    'A', 'Z', '。', '！', '，', '\t', '\n', 'é', '\u{301}', '٣', '５',
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_unicode_never_panics(chars in prop::collection::vec(any::<char>(), 0..120)) {
        check(&chars.into_iter().collect::<String>())?;
    }

    #[test]
    fn number_like_text_never_panics(chars in prop::collection::vec(prop::sample::select(NASTY), 0..80)) {
        check(&chars.into_iter().collect::<String>())?;
    }

    #[test]
    fn control_characters_never_panic(chars in prop::collection::vec(prop::char::range('\0', '\u{9f}'), 0..60)) {
        check(&chars.into_iter().collect::<String>())?;
    }

    #[test]
    fn letters_and_marks_never_panic(word in "[a-zA-Z'\\-.]{1,40}") {
        check(&word)?;
    }

    #[test]
    fn punctuation_only_gives_phones(text in "[!?…,.;:'\"。！？，\\- ]{0,30}") {
        prop_assert!(clean_text(&text, Language::En, Version::V2).is_ok(), "{text:?}");
        check(&text)?;
    }
}

#[test]
fn huge_inputs_never_panic() -> Result<(), TestCaseError> {
    check(&"Hello world, it's 12:30 and I have $1,234.56 left. ".repeat(2_000))?;
    // One long unknown token: wordsegment's chunking, then the GRU per piece.
    let letters: String = (0..600u32)
        .map(|i| char::from(b'a' + ((i * 7 + i / 3) % 26) as u8))
        .collect();
    check(&letters)?;
    check(&"9".repeat(5_000))?;
    check(&"'".repeat(1_000))?;
    check(&"-".repeat(1_000))?;
    check("")
}
