//! Shared by the frontend test binaries.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use gsv_text::{clean_text, Language, Version};

/// Times `clean_text(text, language, v2)`: the first call (dictionary loading included), then the
/// median and minimum of 21 more; prints them under `label` (docs/benchmarks.md quotes them).
pub fn clean_text_times(label: &str, text: &str, language: Language) -> (Duration, Duration, Duration) {
    let first = Instant::now();
    clean_text(text, language, Version::V2).unwrap();
    let first = first.elapsed();
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            clean_text(text, language, Version::V2).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("{label} clean_text: first call {first:?}; 100 characters: median {:?} (min {:?})", times[10], times[0]);
    (first, times[10], times[0])
}
