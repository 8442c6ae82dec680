//! Parity checks for the `gpt` stage.
use super::{FixtureSet, Report};

pub fn run(_set: &FixtureSet, report: &mut Report) {
    report.error("gpt", "gpt", "not implemented yet");
}
