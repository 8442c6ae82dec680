//! Raw bytes straight into `load`: zip parsing, SoVITS headers, CRCs, then everything behind.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = torch_archive::load(data);
});
