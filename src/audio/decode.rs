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

use super::{Error, Result};

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

/// Reads and decodes a file; the extension is used as a format hint.
pub fn decode_file(path: &Path) -> Result<DecodedAudio> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    decode_bytes(&bytes, &path.display().to_string())
}

/// Decodes an encoded file held in memory. `name` names the input in errors; its extension, if
/// any, is a format hint (the content is probed either way).
pub fn decode_bytes(bytes: &[u8], name: &str) -> Result<DecodedAudio> {
    if bytes.is_empty() {
        return Err(Error::Empty {
            source_name: name.to_string(),
        });
    }
    // Decoders of a third-party crate face untrusted bytes here: a panic inside them must become
    // an error for this request, not take the server thread down.
    match std::panic::catch_unwind(|| decode_inner(bytes, name)) {
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

fn decode_inner(bytes: &[u8], name: &str) -> Result<DecodedAudio> {
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
        buf.copy_to_vec_interleaved(&mut interleaved);
        mix_to_mono(&interleaved, channels, &mut mono);
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

    #[test]
    fn empty_and_garbage_inputs_are_errors() {
        assert!(matches!(decode_bytes(&[], "x.wav"), Err(Error::Empty { .. })));
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let e = decode_bytes(&garbage, "upload.mp3").unwrap_err();
        assert!(e.to_string().contains("upload.mp3"), "{e}");
    }
}
