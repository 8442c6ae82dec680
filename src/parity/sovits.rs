//! Parity checks for the `sovits` stage.
use super::{FixtureSet, Report};

pub fn run(_set: &FixtureSet, report: &mut Report) {
    report.error("sovits", "sovits", "not implemented yet");
}
