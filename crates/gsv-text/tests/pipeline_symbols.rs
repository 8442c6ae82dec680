//! Symbol tables equal the fixture tables; ids and the UNK substitution behave as upstream.
use gsv_text::symbols::{self, cleaned_text_to_sequence, symbol_count, substitute_unk};
use gsv_text::Version;

fn fixture_table(name: &str) -> Vec<String> {
    let path = format!("{}/../../tests/fixtures/text/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture readable")).expect("JSON list")
}

#[test]
fn tables_equal_fixtures() {
    for (version, file) in [(Version::V1, "symbols_v1.json"), (Version::V2, "symbols_v2.json")] {
        let table = symbols::table(version).expect("embedded table parses");
        assert_eq!(table.symbols(), fixture_table(file).as_slice(), "{version:?}");
        assert_eq!(table.len(), symbol_count(version));
    }
    assert_eq!(symbol_count(Version::V1), 322);
    assert_eq!(symbol_count(Version::V2), 732);
}

#[test]
fn spec_anchor_ids() {
    let anchors = [
        ("!", 0), (",", 1), ("-", 2), (".", 3), ("?", 4), ("AA", 5), ("AA0", 6), ("E1", 28), ("EE", 33),
        ("I", 52), ("N", 64), ("OO", 66), ("SP", 77), ("SP2", 78), ("SP3", 79), ("U", 82), ("UNK", 86),
        ("ZH", 94), ("_", 95), ("a", 96), ("a1", 97), ("ch", 125), ("cl", 126), ("i01", 161), ("ir1", 211),
        ("sh", 251), ("w", 316), ("y", 318), ("zh", 320), ("…", 321),
    ];
    for version in [Version::V1, Version::V2] {
        for (sym, id) in anchors {
            assert_eq!(symbols::symbol_id(sym, version).expect("table"), Some(id), "{sym} {version:?}");
        }
    }
    let v2 = [("[", 322), ("]", 323), ("ㄱ", 324), ("停", 351), ("空", 352), ("Ya", 353), ("Yz", 731)];
    for (sym, id) in v2 {
        assert_eq!(symbols::symbol_id(sym, Version::V2).expect("table"), Some(id), "{sym}");
        assert_eq!(symbols::symbol_id(sym, Version::V1).expect("table"), None, "{sym} not in v1");
    }
    let table = symbols::table(Version::V2).expect("table");
    assert_eq!(table.symbol(731), Some("Yz"));
    assert_eq!(table.symbol(732), None);
    assert_eq!(table.symbol(-1), None);
}

#[test]
fn unknown_symbols_become_unk() {
    let phones = ["k", "o", "[", "#", "."];
    assert_eq!(substitute_unk(&phones, Version::V1).expect("ok"), vec!["k", "o", "UNK", "UNK", "."]);
    assert_eq!(substitute_unk(&phones, Version::V2).expect("ok"), vec!["k", "o", "[", "UNK", "."]);
    assert_eq!(cleaned_text_to_sequence(&phones, Version::V1).expect("ok"), vec![222, 229, 86, 86, 3]);
    assert_eq!(cleaned_text_to_sequence(&phones, Version::V2).expect("ok"), vec![222, 229, 322, 86, 3]);
}

/// Every `phones`/`phone_ids` pair recorded in the corpus maps identically.
#[test]
fn corpus_phone_ids_roundtrip() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");
    let text = std::fs::read_to_string(path).expect("corpus");
    let mut pairs = 0;
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let version = match r["version"].as_str() {
            Some("v1") => Version::V1,
            Some(_) => Version::V2,
            None => continue,
        };
        let mut items = vec![&r];
        if let Some(results) = r["results"].as_array() {
            items.extend(results.iter());
            items.extend(results.iter().flat_map(|x| x["parts"].as_array().into_iter().flatten()));
        }
        for item in items {
            let (Some(phones), Some(ids)) = (item["phones"].as_array(), item["phone_ids"].as_array()) else {
                continue;
            };
            let phones: Vec<&str> = phones.iter().map(|p| p.as_str().expect("str")).collect();
            let ids: Vec<i64> = ids.iter().map(|i| i.as_i64().expect("int")).collect();
            assert_eq!(cleaned_text_to_sequence(&phones, version).expect("ok"), ids, "{}", r["id"]);
            pairs += 1;
        }
    }
    assert!(pairs > 1000, "{pairs}");
}
