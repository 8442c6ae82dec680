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
        /// SoVITS codes decoded (0 skips the SoVITS stage and the speaker model).
        #[arg(long, default_value_t = 250)]
        sovits_tokens: usize,
        /// SoVITS generation: v2 | v2Pro | v2ProPlus | v1 (v2Pro/v2ProPlus also time the speaker model).
        #[arg(long = "version", default_value = "v2")]
        sovits_version: String,
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
        /// Tokens before the first streamed chunk in the end-to-end stage (the server's default).
        #[arg(long, default_value_t = gsv_server::config::Defaults::default().stream_first_chunk_tokens)]
        e2e_first_chunk: usize,
        /// Growth of each later streamed chunk in the end-to-end stage (the server's default; 1
        /// = a chunk every 16 tokens).
        #[arg(long, default_value_t = gsv_server::config::Defaults::default().stream_chunk_growth)]
        e2e_chunk_growth: f32,
        /// Pacing lead in seconds in the end-to-end stage (the server's default; 0 = the growth
        /// schedule alone).
        #[arg(long, default_value_t = gsv_server::config::Defaults::default().stream_lead_seconds)]
        e2e_lead: f32,
        /// Compile the GPT decode step: auto (on for a GPU) | on | off.
        #[arg(long, env = "GSV_COMPILE", default_value = "auto")]
        compile: gsv_server::device::Switch,
        /// Compiled GPT step with custom CUDA kernels: auto (see docs/cuda.md) | on | off.
        #[arg(long, env = "GSV_FUSED", default_value = "auto")]
        fused: gsv_server::device::Switch,
        /// SoVITS ResBlock convolutions as gathered-tap GEMMs: auto (= on) | on | off (MLX's own
        /// convolution, cuDNN on CUDA; see docs/cuda.md).
        #[arg(long, env = "GSV_TAP_CONVS", default_value = "auto")]
        tap_convs: gsv_server::device::Switch,
        /// The sampler as one CUDA kernel beside the fused step: auto (= on) | on | off (MLX's
        /// sampler ops).
        #[arg(long, env = "GSV_SAMPLER_KERNEL", default_value = "auto")]
        sampler_kernel: gsv_server::device::Switch,
        /// Zero-pad convolution inputs to bucketed lengths (exact; fewer cuDNN plans): auto (on
        /// CUDA) | on | off.
        #[arg(long, env = "GSV_CONV_BUCKETS", default_value = "auto")]
        conv_buckets: gsv_server::device::Switch,
        /// Largest batch the fused step's matrix-vector kernels take (0..=16; above it `matmul`
        /// and the add-norm kernel), for an A/B at a batch size.
        #[arg(long, env = "GSV_GEMV_MAX_ROWS")]
        gemv_max_rows: Option<i32>,
        /// Batch size from which the fused step's products take the tiled matrix-vector form
        /// (4 columns per block, K split over its warps) instead of one warp per column; off
        /// (above 16) by default, for an A/B.
        #[arg(long, env = "GSV_GEMV_TILED_MIN_ROWS")]
        gemv_tiled_min_rows: Option<i32>,
        /// The fused step's column-form products with `float4` weight loads (the vector form):
        /// auto (= on) | on | off.
        #[arg(long, env = "GSV_GEMV_VECTOR", default_value = "auto")]
        gemv_vector: gsv_server::device::Switch,
        /// The fused step's attention with a head spread over 32 warps (a column per warp, a
        /// dimension per lane): auto (= batches up to 4) | on (every batch) | off.
        #[arg(long, env = "GSV_ATTENTION_WARPS", default_value = "auto")]
        attention_warps: gsv_server::device::Switch,
        /// The fused step's layers of up to 16 rows as one grid-synchronised kernel each
        /// (instead of five): auto (= on) | on | off.
        #[arg(long, env = "GSV_LAYER_KERNEL", default_value = "auto")]
        layer_kernel: gsv_server::device::Switch,
        /// SoVITS decode as compiled graphs over length buckets (enc_p's encoding; the flow
        /// and Generator): auto (= on with CUDA) | on | off.
        #[arg(long, env = "GSV_COMPILE_SOVITS", default_value = "auto")]
        compile_sovits: gsv_server::device::Switch,
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
        /// Write the fused kernels' launch specs (recorded on the CPU, nothing runs) to this JSON
        /// file for `scripts/cuda-kernel-check.py`, and exit.
        #[arg(long)]
        dump_kernels: Option<std::path::PathBuf>,
        /// Run the fused kernels on the CPU in the kernel emulator (host C++ compiler; no GPU):
        /// proves what they compute, not their speed. Full size takes seconds a step: use few
        /// `--steps`, or `--small` (128 wide, 2 layers).
        #[arg(long)]
        emulate: bool,
        /// With `--emulate`: a 128-wide, 2-layer GPT instead of the full-size v2 one.
        #[arg(long, requires = "emulate")]
        small: bool,
        /// With `--emulate`: blocks of a grid-synchronised launch (default 3; at most 8192 threads
        /// in all: 16 blocks of the layer kernel's 512), as a larger GPU's grid gives more
        /// attention column ranges to the layer kernel.
        #[arg(long, requires = "emulate")]
        blocks: Option<i32>,
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
        /// The fastText language identifier (lid.176.ftz or lid.176.bin); default
        /// .gsv-data/lid.176.ftz, installed by scripts/setup.sh.
        #[arg(long, env = "GSV_LID_MODEL")]
        lid_model: Option<std::path::PathBuf>,
        /// Debugging: replay each record's recorded detector answers (langdetect_trace) instead of
        /// running the identifier, to separate split-rule differences from model differences.
        #[arg(long)]
        replay_langdetect: bool,
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
    gsv_server::device::set_mlx_env_defaults();
    match Cli::parse().command {
        Command::Serve(args) => {
            let settings = gsv_server::config::Settings::load(&args)?;
            gsv_server::init_logging(settings.server.log_json);
            gsv_text::ko::set_dictionary_dir(settings.text.mecab_ko_dic.clone())?;
            gsv_text::ja::set_dictionary_dir(settings.text.ja_dictionary.clone())?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(gsv_server::server::run(settings, gsv_server::engine::default_backend()))?;
            Ok(())
        }
        Command::Doctor { device, bench } => gsv_server::doctor::doctor(device, bench),
        Command::Bench { device, dtype, gpt_tokens, batches, batch_tokens, sovits_tokens, sovits_version, repeats, skip_features, breakdown_steps, e2e_tokens, e2e_first_chunk, e2e_chunk_growth, e2e_lead, compile, fused, tap_convs, conv_buckets, sampler_kernel, gemv_max_rows, gemv_tiled_min_rows, gemv_vector, attention_warps, layer_kernel, compile_sovits } => {
            gsv_server::models::sovits::compiled::set_compile(compile_sovits.forced());
            gsv_server::models::gpt::gemv::set_gemv_max_rows(gemv_max_rows);
            gsv_server::models::gpt::gemv::set_tiled_min_rows(gemv_tiled_min_rows);
            gsv_server::models::gpt::gemv::set_vector_columns(gemv_vector.forced());
            gsv_server::models::gpt::fused::set_warp_attention(attention_warps.forced());
            gsv_server::models::gpt::fused::set_layer_kernel(layer_kernel.forced());
            gsv_server::device::select(device).map_err(anyhow::Error::msg)?;
            gsv_server::models::gpt::step::set_compile(compile.forced());
            gsv_server::models::gpt::step::set_fused(fused.forced());
            gsv_server::models::sovits::modules::set_tap_convs(tap_convs.forced());
            gsv_server::models::layers::set_conv_buckets(conv_buckets.forced());
            gsv_server::models::gpt::sampler_kernel::set_enabled(sampler_kernel.forced());
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
                sovits_version: sovits_version.parse().map_err(|e: String| anyhow::anyhow!("--version: {e}"))?,
                repeats,
                skip_features,
                breakdown_steps,
                e2e_tokens,
                e2e_first_chunk,
                e2e_chunk_growth,
                e2e_lead,
            };
            println!("{}", serde_json::to_string_pretty(&gsv_server::bench::full(&opts)?)?);
            Ok(())
        }
        Command::Selftest { dump_kernels: Some(path), .. } => {
            gsv_server::device::select(DeviceChoice::Cpu).map_err(anyhow::Error::msg)?;
            let specs = gsv_server::bench::selftest::kernel_specs(None)?;
            std::fs::write(&path, serde_json::to_string_pretty(&specs)?)?;
            println!("{} kernel launches written to {}", specs.len(), path.display());
            Ok(())
        }
        Command::Selftest { rows, steps, dump_kernels: None, emulate: true, small, blocks, .. } => {
            // The portable reference runs on MLX's CPU backend, where TF32 does not exist; said
            // so in the report.
            std::env::set_var("MLX_ENABLE_TF32", "0");
            gsv_server::device::select(DeviceChoice::Cpu).map_err(anyhow::Error::msg)?;
            let config = small.then(gsv_server::bench::selftest::small_config);
            print_selftest(&gsv_server::bench::selftest::emulated_decode(config, rows, steps, blocks)?)
        }
        Command::Selftest { device, rows, steps, dump_kernels: None, emulate: false, .. } => {
            // MLX runs f32 `addmm` (the portable graph's projections) in TF32 on CUDA unless told
            // otherwise, the fused kernels in full f32: compare at full precision unless the
            // caller chose (read once by MLX, so it must be set before the first MLX call).
            if std::env::var_os("MLX_ENABLE_TF32").is_none() {
                std::env::set_var("MLX_ENABLE_TF32", "0");
            }
            gsv_server::device::select(device).map_err(anyhow::Error::msg)?;
            print_selftest(&gsv_server::bench::selftest::gpu_decode(None, rows, steps)?)
        }
        Command::Phonemize { check, langs, lid_model, replay_langdetect } => {
            let text = std::fs::read_to_string(&check).map_err(|e| anyhow::anyhow!("{}: {e}", check.display()))?;
            let selected: Vec<&str> = langs.iter().map(String::as_str).collect();
            let sel = (!selected.is_empty()).then_some(selected.as_slice());
            let lid_model = lid_model.unwrap_or_else(gsv_text::lid::default_model_path);
            if let Err(e) = gsv_text::lid::init(&lid_model) {
                eprintln!("warning: {e}; records that need the language identifier count as not implemented");
            }
            let opts = gsv_text::CheckOptions { replay_trace: replay_langdetect };
            let report = gsv_text::run_check_with(&text, sel, opts);
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

/// Prints a selftest report as JSON; a failed one exits with status 1.
fn print_selftest(report: &gsv_server::bench::selftest::SelftestReport) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    if !report.passed {
        std::process::exit(1);
    }
    Ok(())
}
