//! The GPT parity checks on `tests/fixtures` (the same code as `gsv-server parity`).
use gsv_server::parity::{self, FixtureSet, Report};

fn fixtures() -> FixtureSet {
    FixtureSet::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixture set")
}

#[test]
fn gpt_stage_matches_upstream() {
    let set = fixtures();
    let mut report = Report::default();
    parity::gpt::run(&set, &mut report);
    println!("{report}");
    let failures = report.failures();
    assert!(failures.is_empty(), "failed GPT checks: {failures:#?}");
    // Every fixture family ran: prompt pass, logits, the three unit decodes and both e2e cases.
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for must in [
        "prompt_pass xy_dec",
        "first_step_logits",
        "teacher_forced logits (KV cache)",
        "decode_greedy_rp1 generated",
        "decode_greedy_rp1.35 generated",
        "decode_sampled probs per step",
        "decode_sampled step_token",
        "e2e_zh pred_semantic",
        "e2e_en pred_semantic",
    ] {
        assert!(names.contains(&must), "check `{must}` did not run: {names:?}");
    }
}
