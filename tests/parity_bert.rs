//! Runs the `bert` parity stage on tests/fixtures and requires every check to pass.
use gsv_server::parity::{self, FixtureSet, Report};

#[test]
fn bert_stage_matches_upstream() {
    let set = FixtureSet::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixture set");
    let mut report = Report::default();
    parity::bert::run(&set, &mut report);
    println!("{report}");
    assert!(report.passed(), "bert parity failed:\n{report}");
}
