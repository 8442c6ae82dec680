//! Parity checks for the `reference` stage.
use super::{FixtureSet, Report};

pub fn run(_set: &FixtureSet, report: &mut Report) {
    report.error("reference", "reference", "not implemented yet");
}
