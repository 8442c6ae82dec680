//! Decoding of uploaded/reference audio (WAV, FLAC, MP3, OGG Vorbis) to mono f32 with symphonia.
//!
//! Integer PCM is scaled as torchaudio and librosa scale it (`int16 / 32768`), and channels are
//! mixed by their mean, as both `librosa.to_mono` and `_get_ref_spec` do.
use std::io::Cursor;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::{Error, Result};

/// Decoded audio mixed down to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Channel count of the source (before mixing).
    pub channels: usize,
}

impl DecodedAudio {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate.max(1) as f64
    }
}

/// Bounds on what a decode may produce, checked against the container's declared stream
/// parameters *before* any sample is decoded, and against the decoded length while decoding: a
/// hostile header (1 Hz, 65535 channels, hours of declared audio) costs nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    pub min_rate: u32,
    pub max_rate: u32,
    pub max_channels: usize,
    /// Longest audio accepted, in seconds.
    pub max_seconds: f64,
}

impl DecodeLimits {
    /// No practical bound (trusted files: fixtures, parity tools).
    pub const NONE: DecodeLimits = DecodeLimits { min_rate: 1, max_rate: u32::MAX, max_channels: usize::MAX, max_seconds: f64::INFINITY };

    /// Reference clips: telephone to studio rates, up to 8 channels, and at most `max_seconds`.
    pub fn reference(max_seconds: f64) -> DecodeLimits {
        DecodeLimits { min_rate: 4_000, max_rate: 384_000, max_channels: 8, max_seconds }
    }

    fn check_spec(&self, name: &str, rate: u32, channels: usize) -> Result<()> {
        if !(self.min_rate..=self.max_rate).contains(&rate) {
            return Err(decode_err(name, format!("sample rate {rate} Hz is outside {}–{} Hz", self.min_rate, self.max_rate)));
        }
        if channels == 0 || channels > self.max_channels {
            return Err(decode_err(name, format!("{channels} channels (at most {} are accepted)", self.max_channels)));
        }
        Ok(())
    }

    /// Most mono samples at `rate` (a little over `max_seconds`, so the exact length rule that
    /// follows decoding still reports the real duration of a clip just over the limit).
    fn max_samples(&self, rate: u32) -> usize {
        let s = (self.max_seconds + 1.0) * rate as f64;
        if s.is_finite() && s < usize::MAX as f64 {
            s as usize
        } else {
            usize::MAX
        }
    }
}

/// Reads and decodes a file; the extension is used as a format hint.
pub fn decode_file(path: &Path) -> Result<DecodedAudio> {
    decode_file_limited(path, &DecodeLimits::NONE)
}

/// [`decode_file`] within `limits`.
pub fn decode_file_limited(path: &Path, limits: &DecodeLimits) -> Result<DecodedAudio> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    decode_bytes_limited(&bytes, &path.display().to_string(), limits)
}

/// Decodes an encoded file held in memory. `name` names the input in errors; its extension, if
/// any, is a format hint (the content is probed either way).
pub fn decode_bytes(bytes: &[u8], name: &str) -> Result<DecodedAudio> {
    decode_bytes_limited(bytes, name, &DecodeLimits::NONE)
}

/// [`decode_bytes`] within `limits` (untrusted uploads).
pub fn decode_bytes_limited(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<DecodedAudio> {
    if bytes.is_empty() {
        return Err(Error::Empty {
            source_name: name.to_string(),
        });
    }
    // Decoders of a third-party crate face untrusted bytes here: a panic inside them must become
    // an error for this request, not take the server thread down.
    match std::panic::catch_unwind(|| decode_inner(bytes, name, limits)) {
        Ok(r) => r,
        Err(_) => Err(decode_err(name, "the decoder failed on malformed data")),
    }
}

fn decode_err(name: &str, message: impl Into<String>) -> Error {
    Error::Decode {
        source_name: name.to_string(),
        message: message.into(),
    }
}

fn decode_inner(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<DecodedAudio> {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = Path::new(name).extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| decode_err(name, format!("unrecognised or unsupported format ({e})")))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| decode_err(name, "no audio track"))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| decode_err(name, "the audio track has no codec parameters"))?;
    // What the header declares, checked before decoding anything.
    if let Some(rate) = params.sample_rate {
        let channels = params.channels.as_ref().map_or(1, |c| c.count());
        limits.check_spec(name, rate, channels)?;
        if let Some(frames) = track.num_frames {
            let seconds = frames as f64 / rate as f64;
            if seconds > limits.max_seconds + 1.0 {
                return Err(too_long(name, seconds, limits));
            }
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| decode_err(name, format!("unsupported codec ({e})")))?;

    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut spec: Option<(u32, usize)> = None;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated file ends the stream; what was decoded so far is kept.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(decode_err(name, format!("reading the stream failed: {e}"))),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            // Corrupt frames are skipped (as ffmpeg does), but a stream of nothing else fails
            // below as empty.
            Err(SymError::DecodeError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return Err(decode_err(name, format!("decoding failed: {e}"))),
        };
        let rate = buf.spec().rate();
        let channels = buf.spec().channels().count();
        match spec {
            None => spec = Some((rate, channels)),
            Some(s) if s != (rate, channels) => {
                return Err(decode_err(
                    name,
                    format!("stream changes format mid-way ({s:?} → {:?})", (rate, channels)),
                ))
            }
            Some(_) => {}
        }
        if channels == 0 {
            return Err(decode_err(name, "stream has zero channels"));
        }
        limits.check_spec(name, rate, channels)?;
        buf.copy_to_vec_interleaved(&mut interleaved);
        mix_to_mono(&interleaved, channels, &mut mono);
        if mono.len() > limits.max_samples(rate) {
            return Err(too_long(name, mono.len() as f64 / rate as f64, limits));
        }
    }
    let Some((sample_rate, channels)) = spec else {
        return Err(if bad_packets > 0 {
            decode_err(name, format!("all {bad_packets} packets were malformed"))
        } else {
            Error::Empty {
                source_name: name.to_string(),
            }
        });
    };
    if mono.is_empty() {
        return Err(Error::Empty {
            source_name: name.to_string(),
        });
    }
    if sample_rate == 0 {
        return Err(decode_err(name, "sample rate is 0"));
    }
    Ok(DecodedAudio {
        samples: mono,
        sample_rate,
        channels,
    })
}

fn too_long(name: &str, seconds: f64, limits: &DecodeLimits) -> Error {
    decode_err(name, format!("the audio lasts {seconds:.1} s or more; at most {} s are accepted", limits.max_seconds))
}

/// Appends the per-frame channel mean of `interleaved` to `out`.
fn mix_to_mono(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels == 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_by_channel_mean() {
        let mut out = Vec::new();
        mix_to_mono(&[1.0, 0.0, 0.5, -0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.0]);
    }

    /// A canonical 16-bit PCM WAV header declaring `rate` and `channels` over `data_len` bytes.
    pub(crate) fn wav_with_header(rate: u32, channels: u16, data_len: u32, data: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate.wrapping_mul(2 * channels as u32)).to_le_bytes());
        h.extend_from_slice(&(2 * channels).to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h.extend_from_slice(data);
        h
    }

    #[test]
    fn hostile_headers_are_refused_before_decoding() {
        let lim = DecodeLimits::reference(10.0);
        let one_hz = wav_with_header(1, 1, 16_000, &[0u8; 16_000]);
        let e = decode_bytes_limited(&one_hz, "x.wav", &lim).unwrap_err().to_string();
        assert!(e.contains("1 Hz"), "{e}");
        // Unbounded, the same clip decodes (8000 samples at 1 Hz): the limit is what refuses it.
        assert_eq!(decode_bytes(&one_hz, "x.wav").unwrap().samples.len(), 8_000);
        let many = wav_with_header(16_000, 300, 600 * 10, &[0u8; 6000]);
        assert!(decode_bytes_limited(&many, "x.wav", &lim).is_err());
        // 60 s declared at 8 kHz (and present): refused by the declared length, and by the
        // running count when the header lies about it.
        let long = wav_with_header(8_000, 1, 960_000, &vec![0u8; 960_000]);
        assert!(decode_bytes_limited(&long, "x.wav", &lim).unwrap_err().to_string().contains("at most 10 s"));
        let lying = wav_with_header(8_000, 1, 0xFFFF_FFF0, &vec![0u8; 960_000]);
        assert!(decode_bytes_limited(&lying, "x.wav", &lim).is_err());
        let ok = wav_with_header(8_000, 1, 64_000, &vec![0u8; 64_000]);
        assert_eq!(decode_bytes_limited(&ok, "x.wav", &lim).unwrap().samples.len(), 32_000);
    }

    #[test]
    fn empty_and_garbage_inputs_are_errors() {
        assert!(matches!(decode_bytes(&[], "x.wav"), Err(Error::Empty { .. })));
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let e = decode_bytes(&garbage, "upload.mp3").unwrap_err();
        assert!(e.to_string().contains("upload.mp3"), "{e}");
    }
}
