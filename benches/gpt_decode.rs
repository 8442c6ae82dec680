//! `cargo bench --bench gpt_decode [-- --tokens N --batch-tokens N --batches 4,16 --json PATH]`:
//! GPT decode speed on random full-size v2 weights (see `gsv_server::bench::gpt`).
use gsv_server::bench::gpt::{run, BenchOptions};

fn main() -> anyhow::Result<()> {
    let mut opts = BenchOptions::default();
    let mut json_path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| anyhow::anyhow!("{name} needs a value"));
        match a.as_str() {
            "--tokens" => opts.tokens = val("--tokens")?.parse()?,
            "--batch-tokens" => opts.batch_tokens = val("--batch-tokens")?.parse()?,
            "--batches" => {
                opts.batch_sizes = val("--batches")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse())
                    .collect::<Result<_, _>>()?
            }
            "--positions" => {
                opts.positions = val("--positions")?.split(',').map(|s| s.parse()).collect::<Result<_, _>>()?
            }
            "--f16" => opts.dtype = mlx_rs::Dtype::Float16,
            "--bf16" => opts.dtype = mlx_rs::Dtype::Bfloat16,
            "--gpu" => mlx_rs::Device::set_default(&mlx_rs::Device::gpu()),
            "--json" => json_path = Some(val("--json")?),
            "--bench" => {} // passed by `cargo bench`
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    let r = run(&opts)?;
    println!("device {} dtype {} | {} layers, d {}, {} heads | {} phones + {} prompt tokens", r.device, r.dtype, r.layers, r.d_model, r.heads, r.phones, r.prompt_tokens);
    let s = &r.single;
    println!("batch 1: {} tokens, prefill {:.1} ms, {:.2} tokens/s", s.tokens, s.prefill_ms, s.tokens_per_s);
    for p in &s.per_position {
        println!("  position {:>5}: {:.2} ms/token", p.position, p.ms_per_token);
    }
    println!("  spread max/min - 1 = {:.1} %", s.position_spread * 100.0);
    for b in &r.batched {
        println!(
            "batch {:>2}: {} tokens/seq, prefill {:.1} ms, {:.2} ms/step, {:.2} tokens/s aggregate",
            b.batch, b.tokens_per_seq, b.prefill_ms, b.ms_per_step, b.aggregate_tokens_per_s
        );
    }
    for k in &r.kv_write {
        println!("kv write at length {:>5}: {:.3} ms/token (all layers, in place)", k.position, k.ms_per_token);
    }
    let json = serde_json::to_string_pretty(&r)?;
    match json_path {
        Some(p) => std::fs::write(&p, json)?,
        None => println!("{json}"),
    }
    Ok(())
}
