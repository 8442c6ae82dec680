//! Turning a job's updates into HTTP responses: a complete file, a chunked audio stream, or SSE.
//!
//! The [`JobHandle`] always lives inside what hyper polls (the handler future or the body stream),
//! so a client that disconnects drops it and the worker cancels the job at its next step.
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use crate::audio::encode::{encode_all, AudioFormat, StreamEncoder};
use crate::engine::{EngineError, JobHandle, JobReport, JobUpdate, SAMPLE_RATE};

use super::error::ApiError;
use super::listen::PeerWatch;

/// A job that has started (its first update was `Started`).
pub struct Started {
    pub handle: JobHandle,
    pub queue: Duration,
}

/// Waits for the job to start; a job refused by the backend becomes its error (proper status,
/// since no header has been sent yet).
pub async fn started(mut handle: JobHandle) -> Result<Started, ApiError> {
    match handle.updates.recv().await {
        Some(JobUpdate::Started { queue }) => Ok(Started { handle, queue }),
        Some(JobUpdate::Failed(e)) => Err(e.into()),
        Some(other) => Err(ApiError::from(EngineError::Internal(format!("job sent {other:?} before Started")))),
        None => Err(ApiError::from(EngineError::Internal("the engine dropped the job".into()))),
    }
}

/// Reads all audio of a started job.
pub async fn collect(mut s: Started) -> Result<(Vec<i16>, JobReport), ApiError> {
    let mut audio = Vec::new();
    while let Some(u) = s.handle.updates.recv().await {
        match u {
            JobUpdate::Audio(a) => audio.extend(a),
            JobUpdate::Done(report) => return Ok((audio, report)),
            JobUpdate::Failed(e) => return Err(e.into()),
            JobUpdate::Started { .. } => {}
        }
    }
    Err(ApiError::from(EngineError::Internal("the engine dropped the job".into())))
}

/// Headers every audio response carries.
pub fn audio_headers(format: AudioFormat, rate: u32, seed: u64, queue: Duration) -> HeaderMap {
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    put(&mut h, "content-type", format.content_type(rate));
    put(&mut h, "x-sample-rate", rate.to_string());
    put(&mut h, "x-seed", seed.to_string());
    put(&mut h, "x-queue-time-ms", format!("{:.1}", queue.as_secs_f64() * 1000.0));
    h
}

/// Adds the finished job's timings (non-streaming responses only).
pub fn report_headers(h: &mut HeaderMap, r: &JobReport) {
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    put("x-inference-time-ms", format!("{:.1}", r.inference_seconds * 1000.0));
    if let Some(t) = r.first_audio_seconds {
        put("x-time-to-first-audio-ms", format!("{:.1}", t * 1000.0));
    }
    put("x-audio-seconds", format!("{:.3}", r.audio_seconds));
    put("x-semantic-tokens", r.stats.tokens.to_string());
    put("x-tokens-per-second", format!("{:.1}", r.tokens_per_second));
}

/// A complete file response. Nothing is written until the job ends, so hyper would not notice a
/// client that left; `peer` does, and dropping the collection drops the job handle (the worker
/// then cancels the job within one step).
pub async fn file_response(s: Started, format: AudioFormat, rate: u32, seed: u64, peer: Option<PeerWatch>) -> Result<Response, ApiError> {
    let queue = s.queue;
    let (audio, report) = match peer {
        Some(peer) => tokio::select! {
            r = collect(s) => r?,
            _ = peer.closed() => return Err(ApiError::from(EngineError::Cancelled)),
        },
        None => collect(s).await?,
    };
    let bytes = encode_all(format, SAMPLE_RATE, rate, &audio).map_err(|e| ApiError::from(EngineError::Internal(e.to_string())))?;
    let mut headers = audio_headers(format, format.output_rate(rate), seed, queue);
    report_headers(&mut headers, &report);
    Ok((headers, Body::from(bytes)).into_response())
}

/// The encoded audio of a started job as a byte stream: the container header first, then each
/// chunk as the engine produces it. A failure after the start ends the body with an error, which
/// cuts the HTTP response (the client sees an incomplete transfer, not a silent truncation).
pub fn byte_stream(s: Started, encoder: StreamEncoder) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    stream::unfold(Some((s.handle, Some(encoder))), |state| async move {
        let (mut handle, mut encoder) = state?;
        loop {
            let Some(enc) = encoder.as_mut() else {
                return None;
            };
            let update = handle.updates.recv().await;
            let out = match update {
                Some(JobUpdate::Audio(a)) => enc.push(&a),
                Some(JobUpdate::Started { .. }) => continue,
                Some(JobUpdate::Done(_)) => match encoder.take() {
                    Some(enc) => enc.finish(),
                    None => return None,
                },
                Some(JobUpdate::Failed(e)) => return Some((Err(io_error(e.to_string())), None)),
                None => return Some((Err(io_error("the engine dropped the job".into())), None)),
            };
            match out {
                Ok(bytes) if bytes.is_empty() && encoder.is_some() => continue,
                Ok(bytes) => return Some((Ok(Bytes::from(bytes)), Some((handle, encoder)))),
                Err(e) => return Some((Err(io_error(e.to_string())), None)),
            }
        }
    })
}

fn io_error(message: String) -> std::io::Error {
    tracing::warn!("stream ended early: {message}");
    std::io::Error::other(message)
}

/// A streaming audio response.
pub fn stream_response(s: Started, format: AudioFormat, rate: u32, seed: u64) -> Result<Response, ApiError> {
    let mut encoder = StreamEncoder::new(format, SAMPLE_RATE, rate).map_err(|e| ApiError::from(EngineError::Internal(e.to_string())))?;
    let mut headers = audio_headers(format, encoder.sample_rate(), seed, s.queue);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Send the container header right away so clients can set up playback before the audio.
    let head = encoder.header().map_err(|e| ApiError::from(EngineError::Internal(e.to_string())))?;
    let first = stream::iter((!head.is_empty()).then(|| Ok::<_, std::io::Error>(Bytes::from(head))));
    let body = Body::from_stream(futures_util::StreamExt::chain(first, byte_stream(s, encoder)));
    Ok((headers, body).into_response())
}
