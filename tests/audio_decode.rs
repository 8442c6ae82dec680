//! Decoding of every accepted container/codec to mono f32.
//!
//! WAV inputs are written here with hound. The FLAC/MP3/OGG files in tests/fixtures/audio were
//! made once from 16-bit WAVs of 5512 frames at 22.05 kHz with the integer samples
//! `L[i] = round(16384·sin(2π·440·i/22050))`, `R[i] = round(8192·sin(2π·660·i/22050))`
//! (stereo L,R for FLAC; mono L for MP3/OGG), converted with Debian's sox (`-D`: no dither):
//!   sox -D st.wav tone_stereo.flac; sox -D mono.wav tone.mp3; sox -D mono.wav tone.ogg
use std::f64::consts::PI;
use std::io::Cursor;
use std::path::PathBuf;

use gsv_server::audio::{decode_bytes, decode_file, ClipError as Error};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio").join(name)
}

/// Amplitude of the `freq` component (single-bin DFT over whole periods' worth of samples).
fn amplitude_at(x: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let ph = 2.0 * PI * freq * i as f64 / rate as f64;
        re += s as f64 * ph.cos();
        im += s as f64 * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

fn wav_bytes(rate: u32, channels: u16, frames: &[Vec<i16>]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut buf = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut buf, spec).expect("wav writer");
    for f in frames {
        for &s in f {
            w.write_sample(s).expect("write");
        }
    }
    w.finalize().expect("finalize");
    buf.into_inner()
}

#[test]
fn wav_pcm16_is_scaled_by_32768_and_mixed_by_mean() {
    let frames: Vec<Vec<i16>> = (0..1000).map(|i| vec![(i * 30) as i16, -16384]).collect();
    let a = decode_bytes(&wav_bytes(44_100, 2, &frames), "stereo.wav").unwrap();
    assert_eq!((a.sample_rate, a.channels, a.samples.len()), (44_100, 2, 1000));
    for (i, &s) in a.samples.iter().enumerate() {
        let want = ((i * 30) as f32 / 32768.0 + -0.5) / 2.0;
        assert!((s - want).abs() < 1e-7, "frame {i}: {s} vs {want}");
    }
}

#[test]
fn wav_f32_is_read_as_is() {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut buf = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
    for s in [0.25f32, -0.75, 1.5] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    let a = decode_bytes(&buf.into_inner(), "f.wav").unwrap();
    assert_eq!(a.samples, vec![0.25, -0.75, 1.5]);
}

#[test]
fn flac_stereo_is_lossless_and_mixed() {
    let a = decode_file(&fixture("tone_stereo.flac")).unwrap();
    assert_eq!((a.sample_rate, a.channels, a.samples.len()), (22_050, 2, 5512));
    // Lossless: mono = (L + R) / 2 / 32768 (1 LSB allowed for libm rounding of the recipe).
    for (i, &s) in a.samples.iter().enumerate() {
        let l = (16384.0 * (2.0 * PI * 440.0 * i as f64 / 22_050.0).sin()).round();
        let r = (8192.0 * (2.0 * PI * 660.0 * i as f64 / 22_050.0).sin()).round();
        let want = (l + r) / 2.0 / 32768.0;
        assert!((s as f64 - want).abs() <= 1.0 / 32768.0, "sample {i}: {s} vs {want}");
    }
}

#[test]
fn mp3_and_ogg_decode_to_the_tone() {
    for name in ["tone.mp3", "tone.ogg"] {
        let a = decode_file(&fixture(name)).unwrap();
        assert_eq!((a.sample_rate, a.channels), (22_050, 1), "{name}");
        // Lossy codecs may add encoder delay/padding frames.
        assert!((5000..=7500).contains(&a.samples.len()), "{name}: {} samples", a.samples.len());
        // The steady middle (lossy codecs smear the edges and may add leading silence).
        let mid = &a.samples[1500..4500];
        let amp = amplitude_at(mid, a.sample_rate, 440.0);
        assert!((amp - 0.5).abs() < 0.05, "{name}: 440 Hz amplitude {amp}");
        let off = amplitude_at(mid, a.sample_rate, 1760.0);
        assert!(off < 0.02, "{name}: 1760 Hz amplitude {off}");
    }
}

#[test]
fn undecodable_inputs_are_errors_not_panics() {
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    for name in ["x.wav", "x.mp3", "x.flac", "x.ogg", "x"] {
        let e = decode_bytes(&garbage, name).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
    assert!(matches!(decode_bytes(&[], "empty.wav"), Err(Error::Empty { .. })));
    // A valid header with no samples is empty, not a crash.
    let header_only = wav_bytes(16_000, 1, &[]);
    assert!(decode_bytes(&header_only, "silent.wav").is_err());
    // Truncated files of every format decode what is there or fail cleanly.
    for name in ["tone_stereo.flac", "tone.mp3", "tone.ogg"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in [4, 40, bytes.len() / 2] {
            let _ = decode_bytes(&bytes[..cut], name);
        }
    }
    assert!(matches!(decode_file(&fixture("missing.wav")), Err(Error::Io { .. })));
}
