//! Runs the `reference` parity stage on tests/fixtures and requires every check to pass.
use gsv_server::parity::{self, FixtureSet, Report};

#[test]
fn reference_stage_matches_upstream() {
    let set = FixtureSet::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixture set");
    let mut report = Report::default();
    parity::reference::run(&set, &mut report);
    println!("{report}");
    assert!(report.passed(), "reference parity failed:\n{report}");
}
