//! Feature-extractor timings at full size with random weights (no model files needed):
//! CNHuBERT (12 layers, 768) on a 5 s reference, BERT-large (the 22 layers `hidden_states[-3]`
//! needs, 1024) on a 20-character sentence. One warm-up run, then the mean of `RUNS` runs.
//!
//! `cargo bench --bench features` (MLX default device; on Linux here that is the CPU).
use std::time::Instant;

use gsv_server::models::bert::{self, expand_to_phones, BertConfig};
use gsv_server::models::hubert::{self, HubertConfig};

const RUNS: usize = 3;

fn time<F: FnMut() -> anyhow::Result<()>>(label: &str, mut f: F) -> anyhow::Result<()> {
    f()?;
    let start = Instant::now();
    for _ in 0..RUNS {
        f()?;
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / RUNS as f64;
    println!("{label:<58} {ms:>9.1} ms  (mean of {RUNS})");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    println!("device: {:?}", mlx_rs::Device::default());

    let t = Instant::now();
    let model = hubert::bench_random(HubertConfig::chinese_hubert_base(), 1)?;
    println!("{:<58} {:>9.1} ms", "hubert: build random 12x768 model", t.elapsed().as_secs_f64() * 1e3);
    // 5 s at 16 kHz plus upstream's 9600-sample padding.
    let wav: Vec<f32> = (0..80_000 + 9_600)
        .map(|i| 0.3 * ((i as f32) * 0.07).sin() * ((i as f32) * 0.0011).sin())
        .collect();
    time("hubert: ssl_content, 5 s clip (+0.6 s pad) -> [1,768,279]", || {
        let y = model.ssl_content(&wav)?;
        y.eval()?;
        anyhow::ensure!(y.shape() == [1, 768, 279], "shape {:?}", y.shape());
        Ok(())
    })?;
    drop(model);

    let cfg = BertConfig::chinese_roberta_wwm_ext_large();
    let vocab = cfg.vocab_size as u32;
    let t = Instant::now();
    let model = bert::bench_random(cfg, 2)?;
    println!("{:<58} {:>9.1} ms", "bert: build random 22x1024 model", t.elapsed().as_secs_f64() * 1e3);
    // [CLS] + 20 characters + [SEP]; 2 phones per character (initial + final).
    let ids: Vec<u32> = std::iter::once(101)
        .chain((0..20).map(|i| 1000 + (i * 37) % (vocab - 1000)))
        .chain(std::iter::once(102))
        .collect();
    let word2ph = vec![2usize; 20];
    time("bert: phone features, 20 chars -> [1024,40]", || {
        let s = model.feature_states(&ids)?;
        let f = expand_to_phones(&s, &word2ph, "bench")?;
        f.eval()?;
        anyhow::ensure!(f.shape() == [1024, 40], "shape {:?}", f.shape());
        Ok(())
    })?;
    Ok(())
}
