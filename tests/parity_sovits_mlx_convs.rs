//! The SoVITS Generator's other convolution form: with `set_tap_convs(Some(false))` and every
//! convolution's input zero-padded to its length bucket (what MLX's CUDA backend runs by default:
//! MLX's own convolution, cuDNN there) the v2 and v2Pro decodes still match upstream's golden
//! outputs within the same tolerances as the tap-GEMM form the CPU runs, eager and with the flow and
//! Generator compiled.
//! A binary of its own: the switch is process-wide.
use std::path::Path;

#[test]
fn mlx_convolutions_match_the_golden_decodes() {
    use gsv_server::models::sovits::compiled;
    gsv_server::models::sovits::modules::set_tap_convs(Some(false));
    gsv_server::models::layers::set_conv_buckets(Some(true));
    assert!(!gsv_server::models::sovits::modules::tap_convs_enabled());
    // Eager, then with the flow and Generator compiled (`models::sovits::compiled`): a model's
    // first decode runs eagerly, the parity run's later decodes replay the traces.
    for compile in [false, true] {
        compiled::set_compile(Some(compile));
        for set in ["tests/fixtures", "tests/fixtures-pro"] {
            let set = gsv_server::parity::FixtureSet::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(set)).expect("fixture set");
            let mut report = gsv_server::parity::Report::default();
            gsv_server::parity::sovits::run(&set, &mut report);
            println!("compiled {compile}:\n{report}");
            assert!(report.checks.len() >= 10, "too few sovits checks ran: {}", report.checks.len());
            assert!(report.passed(), "sovits parity failures with MLX convolutions (compiled {compile}): {:#?}", report.failures());
        }
    }
    compiled::set_compile(None);
    gsv_server::models::sovits::modules::set_tap_convs(None);
    gsv_server::models::layers::set_conv_buckets(None);
}
