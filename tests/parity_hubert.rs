//! Runs the `hubert` parity stage on tests/fixtures and requires every check to pass.
use gsv_server::parity::{self, FixtureSet, Report};

#[test]
fn hubert_stage_matches_upstream() {
    let set = FixtureSet::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixture set");
    let mut report = Report::default();
    parity::hubert::run(&set, &mut report);
    println!("{report}");
    assert!(report.passed(), "hubert parity failed:\n{report}");
}
