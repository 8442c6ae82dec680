//! Response encoding: WAV, raw PCM, MP3, Ogg Opus and FLAC, each as ONE continuous stream.
//!
//! A [`StreamEncoder`] takes int16 mono PCM as the engine produces it and returns bytes ready to
//! send: one header first (WAV/FLAC/Ogg), then only payload; no per-chunk containers. A streamed
//! WAV cannot know its length, so its RIFF and data sizes are `0xFFFFFFFF` (what streaming TTS
//! servers send; decoders read to the end). [`encode_all`] makes a complete file with exact sizes.
//!
//! Codecs: WAV through hound, MP3 through LAME (`mp3lame-encoder`, LAME built from its bundled
//! source), Opus through the pure-Rust `opus-pure` (Ogg encapsulation per RFC 7845), FLAC through
//! the pure-Rust `flacenc`. Resampling (OpenAI's 24 kHz PCM, Opus's 48 kHz) through `rubato`'s FFT
//! resampler, streamed.
use std::io::Cursor;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("{format} encoder: {message}")]
    Codec { format: &'static str, message: String },
    #[error("resampling {from} Hz to {to} Hz: {message}")]
    Resample { from: u32, to: u32, message: String },
}

fn codec(format: &'static str, e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Codec { format, message: e.to_string() }
}

/// Output container/codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    Wav,
    /// Raw little-endian int16 mono.
    Pcm,
    Mp3,
    /// Opus in Ogg.
    Opus,
    Flac,
}

impl AudioFormat {
    /// Parses a format name (`wav`, `pcm`/`raw`, `mp3`, `opus`/`ogg`, `flac`); `None` if unknown
    /// or not supported by this build (e.g. `aac`).
    pub fn parse(name: &str) -> Option<AudioFormat> {
        match name.to_ascii_lowercase().as_str() {
            "wav" => Some(AudioFormat::Wav),
            "pcm" | "raw" => Some(AudioFormat::Pcm),
            "mp3" => Some(AudioFormat::Mp3),
            "opus" | "ogg" => Some(AudioFormat::Opus),
            "flac" => Some(AudioFormat::Flac),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Pcm => "pcm",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Opus => "opus",
            AudioFormat::Flac => "flac",
        }
    }

    /// The `Content-Type` of a response at `rate` Hz.
    pub fn content_type(self, rate: u32) -> String {
        match self {
            AudioFormat::Wav => "audio/wav".into(),
            AudioFormat::Pcm => format!("audio/pcm;rate={rate};encoding=signed-int;bits=16;channels=1"),
            AudioFormat::Mp3 => "audio/mpeg".into(),
            AudioFormat::Opus => "audio/ogg; codecs=opus".into(),
            AudioFormat::Flac => "audio/flac".into(),
        }
    }

    /// The sample rate the encoded stream carries when `requested` is asked for (Opus runs at 48 kHz).
    pub fn output_rate(self, requested: u32) -> u32 {
        match self {
            AudioFormat::Opus => 48_000,
            _ => requested,
        }
    }
}

/// Encodes int16 mono PCM incrementally into one continuous stream.
pub struct StreamEncoder {
    format: AudioFormat,
    rate: u32,
    resampler: Option<StreamResampler>,
    inner: Inner,
}

enum Inner {
    Wav { header_sent: bool },
    Pcm,
    Mp3(Box<mp3lame_encoder::Encoder>),
    Opus(Box<OpusState>),
    Flac(FlacState),
}

impl StreamEncoder {
    /// `input_rate`: the engine's rate; `rate`: the rate asked for (resampled if different; Opus
    /// always carries 48 kHz).
    pub fn new(format: AudioFormat, input_rate: u32, rate: u32) -> Result<StreamEncoder, EncodeError> {
        let rate = format.output_rate(rate);
        let resampler = if rate != input_rate { Some(StreamResampler::new(input_rate, rate)?) } else { None };
        let inner = match format {
            AudioFormat::Wav => Inner::Wav { header_sent: false },
            AudioFormat::Pcm => Inner::Pcm,
            AudioFormat::Mp3 => Inner::Mp3(Box::new(mp3_encoder(rate)?)),
            AudioFormat::Opus => Inner::Opus(Box::new(OpusState::new(input_rate)?)),
            AudioFormat::Flac => Inner::Flac(FlacState::new(rate)?),
        };
        Ok(StreamEncoder { format, rate, resampler, inner })
    }

    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Sample rate of the encoded audio.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Bytes that can be sent before any audio (the container header); empty for PCM and MP3.
    pub fn header(&mut self) -> Result<Vec<u8>, EncodeError> {
        match &mut self.inner {
            Inner::Wav { header_sent } if !*header_sent => {
                *header_sent = true;
                Ok(wav_header(self.rate, u32::MAX))
            }
            Inner::Opus(o) => Ok(o.take()),
            Inner::Flac(f) => f.header(),
            _ => Ok(Vec::new()),
        }
    }

    /// Encodes the next samples; returns the bytes ready so far (the header first if not yet sent).
    pub fn push(&mut self, pcm: &[i16]) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.header()?;
        let resampled;
        let pcm = match &mut self.resampler {
            Some(r) => {
                resampled = r.push(pcm)?;
                &resampled[..]
            }
            None => pcm,
        };
        self.encode(pcm, &mut out)?;
        Ok(out)
    }

    /// Ends the stream: flushes the resampler and the codec; returns the last bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.header()?;
        if let Some(r) = &mut self.resampler {
            let tail = r.finish()?;
            self.encode(&tail, &mut out)?;
        }
        match &mut self.inner {
            Inner::Mp3(enc) => {
                out.reserve(7200);
                enc.flush_to_vec::<mp3lame_encoder::FlushNoGap>(&mut out).map_err(|e| codec("mp3", e))?;
            }
            Inner::Opus(o) => o.finish(&mut out)?,
            Inner::Flac(f) => f.finish(&mut out)?,
            Inner::Wav { .. } | Inner::Pcm => {}
        }
        Ok(out)
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if pcm.is_empty() {
            return Ok(());
        }
        match &mut self.inner {
            Inner::Wav { .. } | Inner::Pcm => {
                out.reserve(pcm.len() * 2);
                for s in pcm {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            Inner::Mp3(enc) => {
                out.reserve(mp3lame_encoder::max_required_buffer_size(pcm.len()));
                enc.encode_to_vec(mp3lame_encoder::MonoPcm(pcm), out).map_err(|e| codec("mp3", e))?;
            }
            Inner::Opus(o) => o.push(pcm, out)?,
            Inner::Flac(f) => f.push(pcm, out)?,
        }
        Ok(())
    }
}

/// A complete file. WAV and FLAC get exact sizes (and FLAC its MD5); the others are the same
/// bytes a stream would carry.
pub fn encode_all(format: AudioFormat, input_rate: u32, rate: u32, pcm: &[i16]) -> Result<Vec<u8>, EncodeError> {
    let mut enc = StreamEncoder::new(format, input_rate, rate)?;
    if matches!(format, AudioFormat::Wav | AudioFormat::Flac) {
        let samples = match &mut enc.resampler {
            Some(r) => {
                let mut v = r.push(pcm)?;
                v.extend(r.finish()?);
                v
            }
            None => pcm.to_vec(),
        };
        return match format {
            AudioFormat::Wav => wav_file(enc.rate, &samples),
            _ => flac_file(enc.rate, samples),
        };
    }
    let mut out = enc.push(pcm)?;
    out.extend(enc.finish()?);
    Ok(out)
}

/// A 44-byte PCM16 mono WAV header; `data_len = u32::MAX` marks an unknown (streamed) length.
pub fn wav_header(rate: u32, data_len: u32) -> Vec<u8> {
    let riff_len = if data_len == u32::MAX { u32::MAX } else { data_len.saturating_add(36) };
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&riff_len.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes()); // byte rate
    h.extend_from_slice(&2u16.to_le_bytes()); // block align
    h.extend_from_slice(&16u16.to_le_bytes()); // bits
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

fn wav_file(rate: u32, pcm: &[i16]) -> Result<Vec<u8>, EncodeError> {
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut cur = Cursor::new(Vec::with_capacity(44 + pcm.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).map_err(|e| codec("wav", e))?;
        let mut w16 = w.get_i16_writer(pcm.len() as u32);
        for s in pcm {
            w16.write_sample(*s);
        }
        w16.flush().map_err(|e| codec("wav", e))?;
        w.finalize().map_err(|e| codec("wav", e))?;
    }
    Ok(cur.into_inner())
}

fn mp3_encoder(rate: u32) -> Result<mp3lame_encoder::Encoder, EncodeError> {
    let mut b = mp3lame_encoder::Builder::new().ok_or_else(|| codec("mp3", "LAME could not allocate an encoder"))?;
    b.set_num_channels(1).map_err(|e| codec("mp3", e))?;
    b.set_sample_rate(rate).map_err(|e| codec("mp3", e))?;
    b.set_brate(mp3lame_encoder::Bitrate::Kbps64).map_err(|e| codec("mp3", e))?;
    b.set_quality(mp3lame_encoder::Quality::Good).map_err(|e| codec("mp3", e))?;
    // A streamed file cannot go back to fill in a Xing/LAME tag.
    b.set_to_write_vbr_tag(false).map_err(|e| codec("mp3", e))?;
    b.build().map_err(|e| codec("mp3", e))
}

/// Ogg Opus at 48 kHz, 20 ms mono frames, pages flushed small so streams start quickly.
struct OpusState {
    encoder: opus_pure::OpusEncoder,
    writer: opus_pure::OggOpusWriter<Vec<u8>>,
    /// Samples not yet making a whole frame.
    pending: Vec<i16>,
    packet: Vec<u8>,
    /// Audio samples (48 kHz) pushed, for the end trim.
    samples: u64,
    pre_skip: u64,
}

const OPUS_FRAME: usize = 960;

impl OpusState {
    fn new(input_rate: u32) -> Result<OpusState, EncodeError> {
        let mut encoder = opus_pure::OpusEncoder::new(48_000, 1, opus_pure::Application::Audio).map_err(|e| codec("opus", e))?;
        encoder.bitrate_bps = 48_000;
        let head = opus_pure::OpusHead::for_encoder(&encoder, input_rate);
        let pre_skip = u64::from(head.pre_skip);
        let mut writer = opus_pure::OggOpusWriter::new(Vec::new(), head).map_err(|e| codec("opus", e))?;
        writer.set_page_target(512);
        Ok(OpusState { encoder, writer, pending: Vec::new(), packet: vec![0; opus_pure::MAX_PACKET_BYTES], samples: 0, pre_skip })
    }

    /// Bytes the writer has produced so far (pages are complete when written).
    fn take(&mut self) -> Vec<u8> {
        self.writer.get_mut().map(std::mem::take).unwrap_or_default()
    }

    fn push(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.samples += pcm.len() as u64;
        self.pending.extend_from_slice(pcm);
        let whole = self.pending.len() / OPUS_FRAME * OPUS_FRAME;
        for frame in self.pending[..whole].chunks_exact(OPUS_FRAME) {
            let n = self.encoder.encode_s16(frame, OPUS_FRAME, &mut self.packet).map_err(|e| codec("opus", e))?;
            self.writer.write_packet(&self.packet[..n]).map_err(|e| codec("opus", e))?;
        }
        self.pending.drain(..whole);
        out.extend(self.take());
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // Pad the last frame with silence, and end-trim it (RFC 7845 §4.4) so the decoded length
        // matches the audio.
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            let mut frame = rest;
            frame.resize(OPUS_FRAME, 0);
            let n = self.encoder.encode_s16(&frame, OPUS_FRAME, &mut self.packet).map_err(|e| codec("opus", e))?;
            let final_granule = self.pre_skip + self.samples;
            let duration = final_granule.saturating_sub(self.writer.granule().max(0) as u64);
            self.writer
                .write_packet_with_duration(&self.packet[..n], duration as u32)
                .map_err(|e| codec("opus", e))?;
        }
        let placeholder = opus_pure::OggOpusWriter::new(Vec::new(), opus_pure::OpusHead::new(1, 48_000).map_err(|e| codec("opus", e))?)
            .map_err(|e| codec("opus", e))?;
        let writer = std::mem::replace(&mut self.writer, placeholder);
        out.extend(writer.finish().map_err(|e| codec("opus", e))?);
        Ok(())
    }
}

/// A FLAC file whose STREAMINFO carries the total sample count and the MD5 of the audio (a
/// streamed FLAC cannot know them; a file can, and players and `soundfile` need them).
fn flac_file(rate: u32, mut samples: Vec<i16>) -> Result<Vec<u8>, EncodeError> {
    use md5::Digest;
    // The last frame is padded to 32 samples (the encoder's minimum): count and hash what the
    // frames hold.
    let tail = samples.len() % FLAC_BLOCK;
    if tail > 0 && tail < 32 {
        samples.resize(samples.len() - tail + 32, 0);
    }
    let mut flac = FlacState::new(rate)?;
    flac.info.set_total_samples(samples.len());
    let mut md5 = md5::Md5::new();
    for s in &samples {
        md5.update(s.to_le_bytes());
    }
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&md5.finalize());
    flac.info.set_md5_digest(&digest);
    let mut out = flac.header()?;
    flac.push(&samples, &mut out)?;
    flac.finish(&mut out)?;
    Ok(out)
}

/// FLAC with fixed 4096-sample blocks; a streamed STREAMINFO says "length unknown" (0) and has no MD5.
struct FlacState {
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    info: flacenc::component::StreamInfo,
    header_sent: bool,
    pending: Vec<i32>,
    frame_number: usize,
}

const FLAC_BLOCK: usize = 4096;

impl FlacState {
    fn new(rate: u32) -> Result<FlacState, EncodeError> {
        use flacenc::error::Verify;
        let mut cfg = flacenc::config::Encoder::default();
        cfg.block_size = FLAC_BLOCK;
        let config = cfg.into_verified().map_err(|(_, e)| codec("flac", e))?;
        let mut info = flacenc::component::StreamInfo::new(rate as usize, 1, 16).map_err(|e| codec("flac", e))?;
        info.set_block_sizes(FLAC_BLOCK, FLAC_BLOCK).map_err(|e| codec("flac", e))?;
        info.set_frame_sizes(0, 0).map_err(|e| codec("flac", e))?;
        Ok(FlacState { config, info, header_sent: false, pending: Vec::new(), frame_number: 0 })
    }

    fn header(&mut self) -> Result<Vec<u8>, EncodeError> {
        use flacenc::component::BitRepr;
        if self.header_sent {
            return Ok(Vec::new());
        }
        self.header_sent = true;
        let stream = flacenc::component::Stream::with_stream_info(self.info.clone());
        let mut sink = flacenc::bitsink::MemSink::<u8>::new();
        stream.write(&mut sink).map_err(|e| codec("flac", e))?;
        Ok(sink.into_inner())
    }

    fn push(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.pending.extend(pcm.iter().map(|&s| i32::from(s)));
        let whole = self.pending.len() / FLAC_BLOCK * FLAC_BLOCK;
        let blocks: Vec<i32> = self.pending.drain(..whole).collect();
        for block in blocks.chunks_exact(FLAC_BLOCK) {
            self.frame(block, out)?;
        }
        Ok(())
    }

    fn frame(&mut self, block: &[i32], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        use flacenc::component::BitRepr;
        use flacenc::source::Fill;
        let mut fb = flacenc::source::FrameBuf::with_size(1, FLAC_BLOCK).map_err(|e| codec("flac", e))?;
        fb.fill_interleaved(block).map_err(|e| codec("flac", e))?;
        let frame = flacenc::encode_fixed_size_frame(&self.config, &fb, self.frame_number, &self.info).map_err(|e| codec("flac", e))?;
        self.frame_number += 1;
        let mut sink = flacenc::bitsink::MemSink::<u8>::new();
        frame.write(&mut sink).map_err(|e| codec("flac", e))?;
        out.extend(sink.into_inner());
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            return Ok(());
        }
        // A frame needs at least 32 samples; pad a shorter tail with silence (< 1 ms).
        if rest.len() < 32 {
            rest.resize(32, 0);
        }
        self.frame(&rest, out)
    }
}

/// Streaming sample-rate conversion over rubato's synchronous FFT resampler; output length tracks
/// `input × to / from` exactly (the resampler's delay is trimmed at the start, flushed at the end).
struct StreamResampler {
    inner: rubato::Fft<f32>,
    from: u32,
    to: u32,
    input: Vec<f32>,
    out_buf: Vec<f32>,
    skip: usize,
    consumed: u64,
    produced: u64,
}

const RESAMPLE_CHUNK: usize = 1024;

impl StreamResampler {
    fn new(from: u32, to: u32) -> Result<StreamResampler, EncodeError> {
        use rubato::Resampler;
        let inner = rubato::Fft::<f32>::new(from as usize, to as usize, RESAMPLE_CHUNK, 1, rubato::FixedSync::Input)
            .map_err(|e| EncodeError::Resample { from, to, message: e.to_string() })?;
        let skip = inner.output_delay();
        let out_buf = vec![0.0; inner.output_frames_max()];
        Ok(StreamResampler { inner, from, to, input: Vec::new(), out_buf, skip, consumed: 0, produced: 0 })
    }

    fn err(&self, e: impl std::fmt::Display) -> EncodeError {
        EncodeError::Resample { from: self.from, to: self.to, message: e.to_string() }
    }

    /// Runs one whole input chunk (zero-padded when `block` is short) and emits its output.
    fn run(&mut self, block: &[f32], out: &mut Vec<i16>) -> Result<(), EncodeError> {
        use rubato::audioadapter_buffers::direct::InterleavedSlice;
        use rubato::Resampler;
        let need = self.inner.input_frames_next();
        let mut chunk = block.to_vec();
        chunk.resize(need, 0.0);
        let input = InterleavedSlice::new(&chunk, 1, need).map_err(|e| self.err(e))?;
        let cap = self.out_buf.len();
        let mut buf = std::mem::take(&mut self.out_buf);
        let result = {
            let mut output = InterleavedSlice::new_mut(&mut buf, 1, cap).map_err(|e| self.err(e))?;
            self.inner.process_into_buffer(&input, &mut output, None)
        };
        let (_, produced) = match result {
            Ok(r) => r,
            Err(e) => {
                self.out_buf = buf;
                return Err(self.err(e));
            }
        };
        self.emit(&buf[..produced], out);
        self.out_buf = buf;
        Ok(())
    }

    fn push(&mut self, pcm: &[i16]) -> Result<Vec<i16>, EncodeError> {
        use rubato::Resampler;
        self.consumed += pcm.len() as u64;
        self.input.extend(pcm.iter().map(|&s| f32::from(s) / 32768.0));
        let mut out = Vec::new();
        while self.input.len() >= self.inner.input_frames_next() {
            let n = self.inner.input_frames_next();
            let block: Vec<f32> = self.input.drain(..n).collect();
            self.run(&block, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<i16>, EncodeError> {
        let want = (self.consumed * u64::from(self.to) + u64::from(self.from) / 2) / u64::from(self.from);
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.input);
        self.run(&rest, &mut out)?;
        // Flush the resampler's delay line with silence until the expected length is reached.
        let mut guard = 0;
        while self.produced < want && guard < 16 {
            self.run(&[], &mut out)?;
            guard += 1;
        }
        let extra = self.produced.saturating_sub(want) as usize;
        out.truncate(out.len().saturating_sub(extra));
        self.produced -= extra as u64;
        Ok(out)
    }

    fn emit(&mut self, block: &[f32], out: &mut Vec<i16>) {
        let drop = self.skip.min(block.len());
        self.skip -= drop;
        for &x in &block[drop..] {
            out.push((x * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
        }
        self.produced += (block.len() - drop) as u64;
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
