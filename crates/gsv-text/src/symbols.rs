//! Symbol tables and `cleaned_text_to_sequence` (upstream `text/symbols.py`, `text/symbols2.py`,
//! `text/__init__.py`, and the `UNK` substitution of `text/cleaner.py`).
//!
//! The tables are embedded as the ordered JSON lists upstream's modules evaluate to (v1:
//! `sorted(set(...))`, 322 symbols; v2: v1 + `[`/`]` + Korean + Cantonese, 732 symbols). The id
//! of a symbol is its index, so the same list serves GPT and SoVITS embeddings.
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{Error, Version};

const V1_JSON: &str = include_str!("../data/symbols/symbols_v1.json");
const V2_JSON: &str = include_str!("../data/symbols/symbols_v2.json");

/// The symbol every phone missing from a table is replaced with (upstream `cleaner.clean_text`).
pub const UNK: &str = "UNK";

/// One parsed symbol table with its reverse index.
#[derive(Debug)]
pub struct SymbolTable {
    symbols: Vec<String>,
    ids: HashMap<String, i64>,
}

impl SymbolTable {
    fn parse(json: &str, expected: usize) -> Result<Self, Error> {
        let symbols: Vec<String> = serde_json::from_str(json)
            .map_err(|e| Error::Invalid(format!("embedded symbol table is not a JSON string list: {e}")))?;
        if symbols.len() != expected {
            return Err(Error::Invalid(format!(
                "embedded symbol table has {} symbols, expected {expected}",
                symbols.len()
            )));
        }
        let ids = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as i64)).collect();
        Ok(Self { symbols, ids })
    }

    /// Symbols in id order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Id of `symbol`, if it is in the table.
    pub fn id(&self, symbol: &str) -> Option<i64> {
        self.ids.get(symbol).copied()
    }

    /// Symbol with id `id`, if in range.
    pub fn symbol(&self, id: i64) -> Option<&str> {
        usize::try_from(id).ok().and_then(|i| self.symbols.get(i)).map(String::as_str)
    }

    pub fn contains(&self, symbol: &str) -> bool {
        self.ids.contains_key(symbol)
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

/// Number of symbols of `version`'s table (= SoVITS `text_embedding` rows; GPT v1 pads to 512).
pub const fn symbol_count(version: Version) -> usize {
    match version {
        Version::V1 => 322,
        Version::V2 => 732,
    }
}

/// The table of `version`. The embedded data is checked by the crate's tests, so failing to parse
/// it is a build defect; it is still reported as an error rather than a panic.
pub fn table(version: Version) -> Result<&'static SymbolTable, Error> {
    static V1: OnceLock<Result<SymbolTable, Error>> = OnceLock::new();
    static V2: OnceLock<Result<SymbolTable, Error>> = OnceLock::new();
    let cell = match version {
        Version::V1 => V1.get_or_init(|| SymbolTable::parse(V1_JSON, symbol_count(Version::V1))),
        Version::V2 => V2.get_or_init(|| SymbolTable::parse(V2_JSON, symbol_count(Version::V2))),
    };
    cell.as_ref().map_err(Clone::clone)
}

/// Id of `symbol` in `version`'s table.
pub fn symbol_id(symbol: &str, version: Version) -> Result<Option<i64>, Error> {
    Ok(table(version)?.id(symbol))
}

/// Replace every phone that is not in `version`'s table by `UNK` (upstream `clean_text`'s last step;
/// e.g. the Japanese accent border `#`, or `[`/`]` under v1).
pub fn substitute_unk<S: AsRef<str>>(phones: &[S], version: Version) -> Result<Vec<String>, Error> {
    let table = table(version)?;
    Ok(phones
        .iter()
        .map(|p| if table.contains(p.as_ref()) { p.as_ref().to_string() } else { UNK.to_string() })
        .collect())
}

/// Phone symbols → ids (upstream `cleaned_text_to_sequence`), with the `UNK` substitution applied
/// first, so a symbol missing from the table maps to `UNK`'s id instead of failing.
pub fn cleaned_text_to_sequence<S: AsRef<str>>(phones: &[S], version: Version) -> Result<Vec<i64>, Error> {
    let table = table(version)?;
    let unk = table
        .id(UNK)
        .ok_or_else(|| Error::Invalid(format!("symbol table {version:?} has no {UNK}")))?;
    Ok(phones.iter().map(|p| table.id(p.as_ref()).unwrap_or(unk)).collect())
}

/// Upstream version string → table: `v1` → V1; `v2`, `v2Pro`, `v2ProPlus`, `v3`, `v4` → V2.
pub fn parse_version(s: &str) -> Result<Version, Error> {
    match s {
        "v1" => Ok(Version::V1),
        "v2" | "v2Pro" | "v2ProPlus" | "v3" | "v4" => Ok(Version::V2),
        other => Err(Error::Invalid(format!("unknown model version `{other}`"))),
    }
}
