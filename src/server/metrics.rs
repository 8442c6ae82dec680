//! Prometheus metrics: the recorder (installed once per process), histogram buckets, and the HTTP
//! request middleware. Engine-side names live in [`crate::engine::metric`]; all carry `gsv_`.
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS_TOTAL: &str = "gsv_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "gsv_http_request_seconds";

/// Latency buckets (seconds) for every `*_seconds` histogram: from a cached voice's first chunk on a
/// GPU (tens of ms) to a long CPU synthesis (minutes).
const SECONDS_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0];
const TOKENS_PER_SECOND_BUCKETS: &[f64] = &[5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide Prometheus handle; installs the recorder on first use (the `metrics` facade
/// is global, so several servers in one test process share it).
pub fn handle() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("tokens_per_second".into()), TOKENS_PER_SECOND_BUCKETS))
                .map_err(|e| e.to_string())?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| format!("a metrics recorder is already installed: {e}"))?;
            describe();
            Ok(handle)
        })
        .clone()
}

fn describe() {
    use crate::engine::metric as m;
    metrics::describe_gauge!(m::QUEUE_DEPTH, "Jobs waiting for the engine");
    metrics::describe_gauge!(m::JOBS_ACTIVE, "Jobs the engine is decoding");
    metrics::describe_counter!(m::JOBS_TOTAL, "Jobs ended, by outcome (done, failed, cancelled)");
    metrics::describe_histogram!(m::QUEUE_SECONDS, "Time a job waited in the queue");
    metrics::describe_histogram!(m::FIRST_AUDIO_SECONDS, "Time from job start to its first audio chunk");
    metrics::describe_histogram!(m::INFERENCE_SECONDS, "Time from job start to its end");
    metrics::describe_histogram!(m::STAGE_SECONDS, "Time per pipeline stage per job");
    metrics::describe_histogram!(m::AUDIO_SECONDS, "Seconds of audio per job (sum = total audio)");
    metrics::describe_counter!(m::TOKENS_TOTAL, "Semantic tokens generated (rate = aggregate tokens/s)");
    metrics::describe_histogram!(m::JOB_TOKENS_PER_SECOND, "Semantic tokens per second of one job");
    metrics::describe_counter!(m::ERRORS_TOTAL, "Errors by kind");
    metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests by route, method and status");
    metrics::describe_histogram!(HTTP_REQUEST_SECONDS, "HTTP request time to response headers, by route");
}

/// Drains histogram buffers now and then (the exporter otherwise keeps raw samples until render).
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// The `method` label: one of a fixed set, so clients cannot mint series (a client may send any
/// token as a method, and every label value is a series kept for the process's life).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts requests and times them to the response headers, labelled by matched route.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route).record(start.elapsed().as_secs_f64());
    res
}
