//! `GET /v1/tts/stream`: WebSocket synthesis (protocol in docs/websocket.md).
//!
//! Client → server: JSON text frames `{"type":"synthesize","id":..,...}` and `{"type":"cancel","id":..}`.
//! Server → client: JSON events `started`, `chunk` (always followed by exactly one binary frame of
//! s16le mono PCM at 32 kHz), `done` (timings), `cancelled`, `error`. Several requests may run on
//! one connection; closing the socket cancels all of them.
use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::engine::{JobReport, JobUpdate, SynthesisJob, VoiceSelect, SAMPLE_RATE};
use crate::server::error::ApiError;
use crate::server::params::{check_chars, shown, token_chunking, RawParams, MAX_ID_CHARS};
use crate::server::AppState;

/// A client message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Start a synthesis; `id` (any string, unique among the connection's running requests) tags
    /// every event about it.
    Synthesize(WsSynthesize),
    /// Stop a running request; answered by `cancelled`.
    Cancel { id: String },
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WsSynthesize {
    pub id: String,
    pub text: String,
    pub voice: String,
    /// A configured model (name or alias); default: the voice's model, else the default model.
    pub model: Option<String>,
    pub language: Option<String>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub temperature: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub speed: Option<f32>,
    pub text_split_method: Option<String>,
    pub fragment_interval: Option<f32>,
    /// `tokens` (default: a chunk every few semantic tokens, lowest latency) or `sentence`.
    pub chunking: Option<String>,
}

/// A server event (text frame).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Started { id: String, sample_rate: u32, seed: u64, queue_ms: f64 },
    /// The next binary frame holds `samples` samples of this request's audio.
    Chunk { id: String, seq: u64, samples: usize },
    Done { id: String, timings: JobReport },
    Cancelled { id: String },
    Error { id: Option<String>, error: String, error_type: String, param: Option<String> },
}

/// Opens the WebSocket.
#[utoipa::path(get, path = "/v1/tts/stream", tag = "tts",
    responses(
        (status = 101, description = "WebSocket upgrade; protocol in docs/websocket.md (ClientMessage / ServerEvent schemas)"),
        (status = 400, description = "Not a WebSocket handshake", body = crate::server::error::ErrorResponse),
        (status = 401, description = "Missing or wrong API key (`Authorization: Bearer` or `?api_key=`)", body = crate::server::error::ErrorResponse),
    ))]
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(state.settings.limits.max_body_bytes).on_upgrade(move |socket| handle(socket, state))
}

/// Messages for the socket, in groups that are sent back to back (a `chunk` event and its binary
/// frame must not be split by another request's frames).
type Outgoing = Vec<Message>;

fn event(e: &ServerEvent) -> Message {
    Message::Text(serde_json::to_string(e).unwrap_or_else(|_| "{\"type\":\"error\"}".into()).into())
}

fn error_event(id: Option<String>, e: &ApiError) -> Message {
    event(&ServerEvent::Error { id, error: e.message.clone(), error_type: e.kind.as_str().into(), param: e.param.clone() })
}

async fn handle(socket: WebSocket, state: AppState) {
    let (mut sink, mut incoming) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(32);
    let mut writer = tokio::spawn(async move {
        while let Some(group) = out_rx.recv().await {
            for m in group {
                if sink.send(m).await.is_err() {
                    return;
                }
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame { code: axum::extract::ws::close_code::NORMAL, reason: "bye".into() })))
            .await;
    });
    let mut jobs: JoinSet<String> = JoinSet::new();
    let mut running: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            msg = incoming.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let e = ApiError::invalid("message", "binary frames are not accepted; send JSON text frames");
                        let _ = out_tx.send(vec![error_event(None, &e)]).await;
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    // Close, error or EOF: the client is gone.
                    _ => break,
                };
                match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(ClientMessage::Synthesize(req)) => {
                        let id = req.id.clone();
                        if let Err(e) = check_chars("id", &id, MAX_ID_CHARS) {
                            let _ = out_tx.send(vec![error_event(None, &e)]).await;
                        } else if running.contains_key(&id) {
                            // Not tagged with the id: the request running under it is unaffected,
                            // and an event with its id would read as its failure.
                            let e = ApiError::invalid("id", format!("request `{id}` is already running on this connection; this message was ignored"));
                            let _ = out_tx.send(vec![error_event(None, &e)]).await;
                        } else {
                            // Validated before it counts toward max_ws_in_flight: an invalid
                            // request gets its own error, never "too many running".
                            match validate(&state, req) {
                                Err(e) => {
                                    let _ = out_tx.send(vec![error_event(Some(id), &e)]).await;
                                }
                                Ok(_) if running.len() >= state.settings.limits.max_ws_in_flight => {
                                    let e = ApiError::invalid("id", format!("at most {} requests may run on one connection", state.settings.limits.max_ws_in_flight));
                                    let _ = out_tx.send(vec![error_event(Some(id), &e)]).await;
                                }
                                Ok(job) => {
                                    let abort = jobs.spawn(run_job(state.clone(), id.clone(), job, out_tx.clone()));
                                    running.insert(id, abort);
                                }
                            }
                        }
                    }
                    Ok(ClientMessage::Cancel { id }) => {
                        if let Some(abort) = running.remove(&id) {
                            abort.abort(); // drops the job handle: the engine cancels it
                            let _ = out_tx.send(vec![event(&ServerEvent::Cancelled { id })]).await;
                        } else {
                            let id = shown(&id);
                            let e = ApiError::invalid("id", format!("no running request `{id}`"));
                            let _ = out_tx.send(vec![error_event(Some(id), &e)]).await;
                        }
                    }
                    Err(e) => {
                        let e = ApiError::invalid("message", format!("invalid message: {e}"));
                        let _ = out_tx.send(vec![error_event(None, &e)]).await;
                    }
                }
            }
            Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                if let Ok(id) = done {
                    running.remove(&id);
                }
            }
            _ = &mut writer => break, // the socket can no longer be written
        }
    }
    // Dropping every job task drops its JobHandle, so the engine cancels within one step.
    jobs.abort_all();
    drop(out_tx);
    let _ = writer.await;
}

/// Runs one validated request and forwards its events; returns its id when it ends.
async fn run_job(state: AppState, id: String, job: SynthesisJob, out: mpsc::Sender<Outgoing>) -> String {
    if let Err(e) = forward(&state, &id, job, &out).await {
        let _ = out.send(vec![error_event(Some(id.clone()), &e)]).await;
    }
    id
}

/// A synthesize message as a validated job.
fn validate(state: &AppState, req: WsSynthesize) -> Result<SynthesisJob, ApiError> {
    let chunking = match req.chunking.as_deref() {
        None | Some("tokens") => token_chunking(&state.settings),
        Some("sentence") => crate::engine::Chunking::Sentence,
        Some(other) => return Err(ApiError::invalid("chunking", format!("`chunking` must be `tokens` or `sentence`, got `{}`", shown(other)))),
    };
    let raw = RawParams {
        model: req.model,
        text: req.text,
        language: req.language,
        voice: Some(VoiceSelect::Named(req.voice)),
        top_k: req.top_k,
        top_p: req.top_p,
        temperature: req.temperature,
        repetition_penalty: req.repetition_penalty,
        seed: req.seed,
        speed: req.speed,
        text_split_method: req.text_split_method,
        batch_size: None,
        fragment_interval: req.fragment_interval,
        chunking: Some(chunking),
    };
    let job = state.build_job(raw)?;
    state.engine.check_job(&job)?;
    Ok(job)
}

async fn forward(state: &AppState, id: &str, job: SynthesisJob, out: &mpsc::Sender<Outgoing>) -> Result<(), ApiError> {
    let seed = job.sampling.seed;
    let id = id.to_string();
    let span = tracing::info_span!("job", route = "ws", id = %id, seed);
    let mut handle = state.engine.submit(job, span)?;
    let mut seq = 0u64;
    while let Some(update) = handle.updates.recv().await {
        let group = match update {
            JobUpdate::Started { queue } => vec![event(&ServerEvent::Started {
                id: id.clone(),
                sample_rate: SAMPLE_RATE,
                seed,
                queue_ms: queue.as_secs_f64() * 1000.0,
            })],
            JobUpdate::Audio(a) => {
                let mut bytes = Vec::with_capacity(a.len() * 2);
                for s in &a {
                    bytes.extend_from_slice(&s.to_le_bytes());
                }
                seq += 1;
                vec![event(&ServerEvent::Chunk { id: id.clone(), seq: seq - 1, samples: a.len() }), Message::Binary(bytes.into())]
            }
            JobUpdate::Done(timings) => {
                let _ = out.send(vec![event(&ServerEvent::Done { id: id.clone(), timings })]).await;
                return Ok(());
            }
            JobUpdate::Failed(e) => return Err(e.into()),
        };
        if out.send(group).await.is_err() {
            return Ok(()); // socket gone; dropping `handle` cancels the job
        }
    }
    Err(ApiError::from(crate::engine::EngineError::Internal("the engine dropped the job".into())))
}
