//! Each format is encoded as a stream fed in uneven pieces, then decoded by an independent decoder
//! (symphonia for WAV/MP3/FLAC; opus-pure's Ogg reader + decoder for Opus): the decoded audio must
//! have the right rate, about the right length, and the same pitch.
use super::*;

const RATE: u32 = 32_000;

fn tone(freq: f32, seconds: f32) -> Vec<i16> {
    let n = (RATE as f32 * seconds) as usize;
    (0..n).map(|i| ((2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin() * 12_000.0) as i16).collect()
}

/// Feeds the encoder in uneven pieces, as the engine does.
fn stream(format: AudioFormat, rate: u32, pcm: &[i16]) -> Vec<u8> {
    let mut enc = StreamEncoder::new(format, RATE, rate).unwrap();
    let mut out = enc.header().unwrap();
    let mut at = 0;
    for piece in [1, 999, 4097, 333, 12_800].iter().cycle() {
        if at >= pcm.len() {
            break;
        }
        let end = (at + piece).min(pcm.len());
        out.extend(enc.push(&pcm[at..end]).unwrap());
        at = end;
    }
    out.extend(enc.finish().unwrap());
    out
}

/// Decodes with symphonia (through `audio::decode_bytes`): (rate, mono f32 samples).
fn decode(bytes: Vec<u8>, ext: &str) -> (u32, Vec<f32>) {
    let d = crate::audio::decode_bytes(&bytes, &format!("encoded.{ext}")).expect("decodes");
    (d.sample_rate, d.samples)
}

/// Dominant frequency from zero crossings over the middle of the clip (avoids codec edges).
fn pitch(rate: u32, x: &[f32]) -> f32 {
    let mid = &x[x.len() / 4..x.len() * 3 / 4];
    let crossings = mid.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    crossings as f32 / 2.0 / (mid.len() as f32 / rate as f32)
}

fn check(rate: u32, decoded: &[f32], want_rate: u32, seconds: f32, tolerance_samples: usize) {
    assert_eq!(rate, want_rate);
    let want = (seconds * want_rate as f32) as usize;
    assert!(decoded.len().abs_diff(want) <= tolerance_samples, "decoded {} samples, want {want} ± {tolerance_samples}", decoded.len());
    let p = pitch(rate, decoded);
    assert!((p - 440.0).abs() < 5.0, "pitch {p} Hz, want 440");
}

#[test]
fn wav_stream_has_one_header_and_decodes() {
    let pcm = tone(440.0, 1.0);
    let bytes = stream(AudioFormat::Wav, RATE, &pcm);
    assert_eq!(bytes.len(), 44 + pcm.len() * 2, "one header, then only PCM");
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(bytes.windows(4).filter(|w| w == b"RIFF").count(), 1);
    assert_eq!(&bytes[40..44], &u32::MAX.to_le_bytes(), "streamed length is unknown");
    let body: Vec<i16> = bytes[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(body, pcm, "lossless");
}

#[test]
fn wav_file_has_exact_sizes_and_decodes() {
    let pcm = tone(440.0, 0.5);
    let bytes = encode_all(AudioFormat::Wav, RATE, RATE, &pcm).unwrap();
    assert_eq!(u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize, pcm.len() * 2);
    let (rate, x) = decode(bytes, "wav");
    check(rate, &x, RATE, 0.5, 0);
    assert_eq!((x[100] * 32768.0).round() as i16, pcm[100]);
}

#[test]
fn pcm_24k_is_resampled_to_the_exact_length() {
    let pcm = tone(440.0, 1.0);
    let bytes = stream(AudioFormat::Pcm, 24_000, &pcm);
    assert_eq!(bytes.len(), 24_000 * 2, "1 s at 24 kHz, no header");
    let x: Vec<f32> = bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect();
    check(24_000, &x, 24_000, 1.0, 0);
    // Amplitude survives resampling (the tone is well below Nyquist).
    let peak = x[6000..18000].iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!((peak - 12_000.0 / 32768.0).abs() < 0.02, "peak {peak}");
}

#[test]
fn mp3_stream_decodes() {
    let pcm = tone(440.0, 1.0);
    let bytes = stream(AudioFormat::Mp3, RATE, &pcm);
    let (rate, x) = decode(bytes, "mp3");
    // LAME adds encoder delay and pads the last frame (1152 samples at 32 kHz).
    check(rate, &x, RATE, 1.0, 2 * 1152 + 1105);
}

#[test]
fn flac_stream_decodes_losslessly() {
    let pcm = tone(440.0, 1.0);
    let bytes = stream(AudioFormat::Flac, RATE, &pcm);
    assert_eq!(&bytes[..4], b"fLaC");
    let (rate, x) = decode(bytes, "flac");
    check(rate, &x, RATE, 1.0, 0);
    let back: Vec<i16> = x.iter().map(|v| (v * 32768.0).round() as i16).collect();
    assert_eq!(back, pcm, "FLAC is lossless");
}

#[test]
fn opus_stream_is_one_ogg_stream_and_decodes() {
    let pcm = tone(440.0, 1.0);
    let bytes = stream(AudioFormat::Opus, RATE, &pcm);
    assert_eq!(&bytes[..4], b"OggS");
    let mut reader = opus_pure::OggOpusReader::new(Cursor::new(bytes.clone())).expect("ogg opus");
    assert_eq!(reader.head().channel_count, 1);
    assert_eq!(reader.head().input_sample_rate, RATE);
    let head = reader.head().clone();
    let mut dec = head.decoder(48_000).expect("decoder");
    let mut trim = opus_pure::Trim::new(&head, 48_000, 1).expect("trim");
    let mut out = Vec::new();
    let mut buf = vec![0f32; 5760];
    while let Some(p) = reader.read_packet().expect("packet") {
        let n = dec.decode(&p.data, 5760, &mut buf).expect("decode");
        out.extend_from_slice(trim.keep(&p, &buf[..n]));
    }
    // One logical stream: every page carries the same serial.
    let serials: std::collections::BTreeSet<_> =
        bytes.windows(4).enumerate().filter(|(_, w)| *w == b"OggS").map(|(i, _)| &bytes[i + 14..i + 18]).collect();
    assert_eq!(serials.len(), 1);
    check(48_000, &out, 48_000, 1.0, 960);
}

#[test]
fn formats_parse_by_name_and_aac_is_not_supported() {
    assert_eq!(AudioFormat::parse("MP3"), Some(AudioFormat::Mp3));
    assert_eq!(AudioFormat::parse("raw"), Some(AudioFormat::Pcm));
    assert_eq!(AudioFormat::parse("ogg"), Some(AudioFormat::Opus));
    assert_eq!(AudioFormat::parse("aac"), None);
    assert_eq!(AudioFormat::Pcm.content_type(24_000), "audio/pcm;rate=24000;encoding=signed-int;bits=16;channels=1");
}

#[test]
fn flac_file_states_its_length_and_md5() {
    use md5::Digest;
    let pcm = tone(440.0, 0.5);
    let bytes = encode_all(AudioFormat::Flac, 32_000, 32_000, &pcm).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    // STREAMINFO follows the 4-byte block header: the 36-bit total ends byte 18, then the MD5.
    let si = &bytes[8..42];
    let packed = u64::from_be_bytes(si[10..18].try_into().unwrap());
    assert_eq!(packed & 0xF_FFFF_FFFF, pcm.len() as u64, "total samples");
    let mut md5 = md5::Md5::new();
    pcm.iter().for_each(|s| md5.update(s.to_le_bytes()));
    assert_eq!(&si[18..34], &md5.finalize()[..], "MD5 of the audio");
    let (rate, decoded) = decode(bytes, "flac");
    assert_eq!((rate, decoded.len()), (32_000, pcm.len()));
    // A stream cannot know either: both stay zero there.
    let streamed = stream(AudioFormat::Flac, 32_000, &pcm);
    let packed = u64::from_be_bytes(streamed[18..26].try_into().unwrap());
    assert_eq!(packed & 0xF_FFFF_FFFF, 0);
}
