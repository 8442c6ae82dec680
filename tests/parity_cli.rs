//! `gsv-server parity tests/fixtures` in-process: every stage the fixture folder has files for,
//! driven by its manifest, must pass (the same function the CLI calls).
#[test]
fn every_stage_of_the_public_fixtures_passes() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let report = gsv_server::parity::run(&dir).expect("fixture folder opens");
    println!("{report}");
    for stage in ["reference", "hubert", "bert", "gpt", "sovits", "e2e"] {
        assert!(!report.stage(stage).is_empty(), "stage {stage} ran no check");
    }
    assert!(report.passed(), "failures: {:#?}", report.failures());
}
