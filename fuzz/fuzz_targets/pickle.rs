//! Fuzzed bytes as `archive/data.pkl` of a valid zip with a few small storage records, so
//! mutations reach the pickle machine and the tensor rebuild instead of failing the zip CRC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static RECORDS: OnceLock<Vec<(String, Vec<u8>, u32)>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let records = RECORDS.get_or_init(torch_archive_fuzz::records);
    let mut entries: Vec<(&str, &[u8], u32)> = vec![
        ("archive/data.pkl", data, torch_archive_fuzz::crc32(data)),
        (
            "archive/byteorder",
            b"little",
            torch_archive_fuzz::crc32(b"little"),
        ),
    ];
    entries.extend(
        records
            .iter()
            .map(|(n, d, c)| (n.as_str(), d.as_slice(), *c)),
    );
    let _ = torch_archive::load(&torch_archive_fuzz::stored_zip(&entries));
});
