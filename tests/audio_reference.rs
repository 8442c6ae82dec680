//! Reference-audio rules: 3–10 s at 16 kHz, both resampled branches, peak rule on 32 kHz only.
use std::io::Cursor;

use gsv_server::audio::{Error, ReferenceAudio};

fn wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut buf = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut buf, spec).expect("writer");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
    buf.into_inner()
}

fn tone(rate: u32, seconds: f64, amp: f32) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    (0..n)
        .map(|i| amp * (2.0 * std::f64::consts::PI * 220.0 * i as f64 / rate as f64).sin() as f32)
        .collect()
}

#[test]
fn durations_outside_three_to_ten_seconds_are_rejected_with_the_duration() {
    for (secs, ok) in [(2.9, false), (3.0, true), (10.0, true), (10.2, false)] {
        let r = ReferenceAudio::from_bytes(&wav(44_100, &tone(44_100, secs, 0.5)), "ref.wav");
        match (r, ok) {
            (Ok(r), true) => assert_eq!(r.wav16k.len(), (secs * 16_000.0).round() as usize),
            (Err(Error::Duration { seconds, .. }), false) => {
                assert!((seconds - secs).abs() < 1e-3, "{seconds} vs {secs}")
            }
            (other, _) => panic!("{secs} s: unexpected {other:?}"),
        }
    }
    let msg = ReferenceAudio::from_bytes(&wav(16_000, &tone(16_000, 2.0, 0.5)), "short.wav")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("short.wav") && msg.contains("2.00 s") && msg.contains("between 3 and 10 s"), "{msg}");
}

#[test]
fn branches_are_resampled_and_only_32k_is_peak_limited() {
    let loud = tone(48_000, 4.0, 3.0);
    let r = ReferenceAudio::from_bytes(&wav(48_000, &loud), "loud.wav").unwrap();
    assert_eq!(r.wav16k.len(), 64_000);
    assert_eq!(r.wav32k.len(), 128_000);
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, &s| m.max(s.abs()));
    // 16 kHz branch untouched (≈3), 32 kHz divided by min(2, 3) = 2 (≈1.5).
    assert!((peak(&r.wav16k) - 3.0).abs() < 0.05, "{}", peak(&r.wav16k));
    assert!((peak(&r.wav32k) - 1.5).abs() < 0.03, "{}", peak(&r.wav32k));
    let input = r.hubert_input(32_000);
    assert_eq!(input.len(), 64_000 + 9_600);
    let spec = r.spectrogram().unwrap();
    assert_eq!(spec.shape(), &[1, 1025, 200]);
}

#[test]
fn a_32k_reference_keeps_its_samples_on_the_32k_branch() {
    let x = tone(32_000, 3.5, 0.5);
    let r = ReferenceAudio::from_bytes(&wav(32_000, &x), "ref.wav").unwrap();
    assert_eq!(r.wav32k, x);
}
