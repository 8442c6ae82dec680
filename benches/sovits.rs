//! SoVITS decode real-time factor at the public v2 dimensions (random weights, no model file):
//! `cargo bench --bench sovits [-- TOKENS RUNS]` (defaults: 250 tokens = 10 s of audio, 3 runs).
use gsv_server::device::{self, DeviceChoice};
use gsv_server::bench::sovits::decode_rtf;
use gsv_server::models::sovits::synthetic::random_model;
use gsv_server::models::sovits::SovitsConfig;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let tokens: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(250);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let choice: DeviceChoice = std::env::var("GSV_DEVICE")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DeviceChoice::Cpu);
    let backend = device::select(choice).map_err(anyhow::Error::msg)?;
    let cfg = SovitsConfig::v2();
    let model = random_model(&cfg, 0, mlx_rs::Dtype::Float32)?;
    // Phones: upstream text runs at roughly 12 phones per second of speech.
    let phones = (tokens * 12 / 25).max(1);
    let t = decode_rtf(&model, tokens, phones, runs)?;
    println!(
        "sovits decode v2 dims, {backend}, f32: {} tokens ({:.1} s audio), {phones} phones: best {:.3} s, mean {:.3} s over {runs} runs, RTF {:.3} (enc_p {:.3} s, flow {:.3} s, generator {:.3} s; graph nodes {:?})",
        t.tokens, t.audio_seconds, t.best_seconds, t.mean_seconds, t.rtf, t.stages[0], t.stages[1], t.stages[2], t.nodes
    );
    Ok(())
}
