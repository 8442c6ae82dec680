//! Streaming client that measures time to first audio byte (TTFA) against a running server.
//!
//! `cargo run --release --example ttfa -- [URL] [VOICE] [REQUESTS] [CONCURRENCY] [TEXT]`
//! Streams `POST /v1/tts` (`stream: true`, raw PCM) and prints p50/p90/p99 of TTFA and of the
//! total time, the audio received, and the rate. Requests stay on loopback or the URL given.
use std::time::{Duration, Instant};

use futures_util::StreamExt;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().cloned().unwrap_or_else(|| "http://127.0.0.1:9880".into());
    let voice = args.get(1).cloned().unwrap_or_else(|| "default".into());
    let requests: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let text = args.get(4).cloned().unwrap_or_else(|| "Please call me when you get to the station.".into());
    let client = reqwest::Client::new();
    let body = serde_json::json!({"text": text, "voice": voice, "stream": true, "format": "pcm"});
    let start = Instant::now();
    let results = futures_util::stream::iter(0..requests)
        .map(|_| {
            let (client, body, url) = (client.clone(), body.clone(), url.clone());
            async move {
                let t0 = Instant::now();
                let res = client.post(format!("{url}/v1/tts")).json(&body).send().await.map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("HTTP {}: {}", res.status(), res.text().await.unwrap_or_default()));
                }
                let mut stream = res.bytes_stream();
                let mut first = None;
                let mut bytes = 0usize;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| e.to_string())?;
                    if first.is_none() && !chunk.is_empty() {
                        first = Some(t0.elapsed());
                    }
                    bytes += chunk.len();
                }
                Ok::<_, String>((first.unwrap_or_else(|| t0.elapsed()), t0.elapsed(), bytes))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let wall = start.elapsed();
    let mut ttfa = Vec::new();
    let mut total = Vec::new();
    let mut audio_s = 0.0;
    let mut errors = 0;
    for r in results {
        match r {
            Ok((f, t, b)) => {
                ttfa.push(f);
                total.push(t);
                audio_s += b as f64 / 2.0 / 32_000.0;
            }
            Err(e) => {
                errors += 1;
                eprintln!("error: {e}");
            }
        }
    }
    ttfa.sort();
    total.sort();
    println!(
        "c={concurrency} n={requests} ok={} errors={errors} ttfa_ms p50={:.0} p90={:.0} p99={:.0} total_ms p50={:.0} p99={:.0} audio_s={audio_s:.1} wall_s={:.2} rps={:.2}",
        ttfa.len(),
        pct(&ttfa, 0.5),
        pct(&ttfa, 0.9),
        pct(&ttfa, 0.99),
        pct(&total, 0.5),
        pct(&total, 0.99),
        wall.as_secs_f64(),
        ttfa.len() as f64 / wall.as_secs_f64()
    );
    Ok(())
}
