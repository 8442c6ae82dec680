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
        Command::Doctor { device, bench } => gsv_server::device::doctor(device, bench),
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
