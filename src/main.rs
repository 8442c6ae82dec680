use clap::{Parser, Subcommand};
use gsv_server::device::DeviceChoice;

#[derive(Parser)]
#[command(name = "gsv-server", version, about = "GPT-SoVITS text-to-speech server on MLX")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP/WebSocket API (settings: config/default.toml, GSV_* variables, flags).
    Serve(gsv_server::config::ServeArgs),
    /// Print the MLX version, backend, device and BLAS in use, and check that a computation runs.
    Doctor {
        /// auto | cpu | gpu
        #[arg(long, env = "GSV_DEVICE", default_value = "auto")]
        device: DeviceChoice,
        /// Also time a decode-like step (24 layers, d 512) on random weights.
        #[arg(long)]
        bench: bool,
    },
    /// Benchmarks on full-size v2 models with random weights (no download): GPT tokens/s at
    /// batch 1 and batched, per-token time across positions, SoVITS real-time factor, HuBERT and
    /// BERT times, where a decode step's time goes, and end to end: time to first audio and
    /// real-time factor of a 20-character Chinese sentence with a cached voice. Prints JSON.
    Bench {
        #[arg(long, env = "GSV_DEVICE", default_value = "auto")]
        device: DeviceChoice,
        /// f32 | f16 | bf16
        #[arg(long, default_value = "f32")]
        dtype: String,
        #[arg(long, default_value_t = 500)]
        gpt_tokens: usize,
        #[arg(long, default_value = "4,16", value_delimiter = ',')]
        batches: Vec<usize>,
        #[arg(long, default_value_t = 128)]
        batch_tokens: usize,
        #[arg(long, default_value_t = 250)]
        sovits_tokens: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long)]
        skip_features: bool,
        /// Steps timed per piece of the decode-step breakdown (0 skips it).
        #[arg(long, default_value_t = 100)]
        breakdown_steps: usize,
        /// GPT tokens of the end-to-end sentence (0 skips the end-to-end stage).
        #[arg(long, default_value_t = 100)]
        e2e_tokens: usize,
        /// Tokens before the first streamed chunk in the end-to-end stage (server default 8).
        #[arg(long, default_value_t = 8)]
        e2e_first_chunk: usize,
        /// Compile the GPT decode step: auto (on for a GPU) | on | off.
        #[arg(long, env = "GSV_COMPILE", default_value = "auto")]
        compile: gsv_server::device::Switch,
        /// Compiled GPT step with custom CUDA kernels: auto (wherever CUDA runs) | on | off.
        #[arg(long, env = "GSV_FUSED", default_value = "auto")]
        fused: gsv_server::device::Switch,
    },
    /// Check the fused CUDA decode step against the portable one on random full-size weights
    /// (same tokens, greedy and sampled, logits within tolerance, left-padded rows). Prints
    /// JSON; exits non-zero on any difference.
    Selftest {
        #[arg(long, env = "GSV_DEVICE", default_value = "gpu")]
        device: DeviceChoice,
        #[arg(long, default_value_t = 3)]
        rows: usize,
        #[arg(long, default_value_t = 500)]
        steps: usize,
    },
    /// Run a text-frontend corpus (JSONL in the fixture record format) and print per-language and
    /// per-record-kind match rates; exits non-zero when a selected language is below 100 %.
    Phonemize {
        /// The corpus file, e.g. tests/fixtures/text/frontend_public.jsonl.
        #[arg(long)]
        check: std::path::PathBuf,
        /// Languages to select (e.g. zh,en); all when omitted. Languages not implemented are
        /// reported as such, never as passes.
        #[arg(long, value_delimiter = ',')]
        langs: Vec<String>,
    },
    /// Compare every stage with a golden fixture folder (layout of tests/fixtures, driven by its
    /// manifest.json); prints a table and exits non-zero on any failure.
    Parity {
        dir: std::path::PathBuf,
    },
    /// Print the OpenAPI document (what openapi/openapi.json holds).
    Openapi,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => {
            let settings = gsv_server::config::Settings::load(&args)?;
            gsv_server::init_logging(settings.server.log_json);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(gsv_server::server::run(settings, gsv_server::engine::default_backend()))?;
            Ok(())
        }
        Command::Doctor { device, bench } => gsv_server::doctor::doctor(device, bench),
        Command::Bench { device, dtype, gpt_tokens, batches, batch_tokens, sovits_tokens, repeats, skip_features, breakdown_steps, e2e_tokens, e2e_first_chunk, compile, fused } => {
            gsv_server::device::select(device).map_err(anyhow::Error::msg)?;
            gsv_server::models::gpt::step::set_compile(compile.forced());
            gsv_server::models::gpt::step::set_fused(fused.forced());
            let dtype = match dtype.as_str() {
                "f32" => mlx_rs::Dtype::Float32,
                "f16" => mlx_rs::Dtype::Float16,
                "bf16" => mlx_rs::Dtype::Bfloat16,
                other => anyhow::bail!("--dtype {other}: expected f32, f16 or bf16"),
            };
            let positions: Vec<usize> = [1, 250, 500, 1000, 1500].into_iter().filter(|&p| p <= gpt_tokens).collect();
            let opts = gsv_server::bench::FullBenchOptions {
                dtype,
                gpt_tokens,
                gpt_positions: positions,
                batch_sizes: batches,
                batch_tokens,
                sovits_tokens,
                repeats,
                skip_features,
                breakdown_steps,
                e2e_tokens,
                e2e_first_chunk,
            };
            println!("{}", serde_json::to_string_pretty(&gsv_server::bench::full(&opts)?)?);
            Ok(())
        }
        Command::Selftest { device, rows, steps } => {
            gsv_server::device::select(device).map_err(anyhow::Error::msg)?;
            let report = gsv_server::bench::selftest::gpu_decode(None, rows, steps)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Phonemize { check, langs } => {
            let text = std::fs::read_to_string(&check).map_err(|e| anyhow::anyhow!("{}: {e}", check.display()))?;
            let selected: Vec<&str> = langs.iter().map(String::as_str).collect();
            let sel = (!selected.is_empty()).then_some(selected.as_slice());
            let report = gsv_text::run_check(&text, sel);
            println!("{report}");
            if !report.passed(sel) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Parity { dir } => {
            gsv_server::device::select(DeviceChoice::Cpu).map_err(anyhow::Error::msg)?;
            let report = gsv_server::parity::run(&dir)?;
            println!("{report}");
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Openapi => {
            print!("{}", gsv_server::server::openapi::document());
            Ok(())
        }
    }
}
