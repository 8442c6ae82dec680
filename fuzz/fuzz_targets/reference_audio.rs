//! Untrusted reference clips (`reference.audio_base64`, multipart `reference_audio`): container
//! sniffing, WAV/FLAC/MP3/OGG headers and packets under the server's reference limits. Contract:
//! an error or bounded audio, never a panic, a hang or memory out of proportion — a decoded clip
//! never exceeds the limit's length at an accepted rate, which is what bounds the resampling that
//! follows (its cost is proportional to the clip's length and the rates; resampling every input
//! here would cost ~0.3 s an execution for the sinc tables alone, so it runs on every 4096th).
//!
//! The server contains panics of the third-party decoders (`catch_unwind` in `decode_bytes`, so a
//! malformed clip is a 400); libfuzzer-sys's hook would abort on them before that. The hook is
//! replaced by a silent one, so a contained panic is what the server makes of it (an error), and
//! any panic that escapes still aborts (libfuzzer-sys aborts on an unwinding fuzz closure).
#![no_main]

use libfuzzer_sys::fuzz_target;
use gsv_audio::{decode_bytes_limited, resample, DecodeLimits};

/// The server's reference rule: at most 10 s (decoding stops past 11 s).
const MAX_SECONDS: f64 = 10.0;

static QUIET_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let limits = DecodeLimits::reference(MAX_SECONDS);
    let Ok(audio) = decode_bytes_limited(data, "fuzz", &limits) else { return };
    let rate = audio.sample_rate as f64;
    assert!((4_000.0..=384_000.0).contains(&rate), "rate {rate} passed the limits");
    // One packet may overshoot the running check; none is longer than a second here.
    assert!(
        (audio.samples.len() as f64) <= (MAX_SECONDS + 2.0) * rate,
        "{} samples at {rate} Hz passed a {MAX_SECONDS} s limit",
        audio.samples.len()
    );
    if audio.duration_seconds() <= MAX_SECONDS + 1.0 && data.len() % 4096 == 0 {
        let out = resample(&audio.samples, audio.sample_rate, 16_000).expect("a decoded clip resamples");
        let want = (audio.samples.len() as f64 * 16_000.0 / rate).ceil() as usize;
        assert!(out.len().abs_diff(want) <= 1, "{} samples resampled to {}, want {want}", audio.samples.len(), out.len());
    }
});
