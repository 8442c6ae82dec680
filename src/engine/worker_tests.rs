//! Worker-loop tests against the test double (`engine::test_double`, a computed sine, not TTS).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::test_double::{factory as double, sine, Probe, CHUNK};
use super::super::*;

fn existing_models() -> ModelPaths {
    let f = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    ModelPaths {
        gpt: f.clone(),
        sovits: f.clone(),
        hubert: f.clone(),
        bert: f.clone(),
        sv: f,
        default_name: "default".into(),
        default_aliases: Vec::new(),
        named: Vec::new(),
        max_resident: 1,
    }
}

fn voice(name: &str) -> VoiceSpec {
    VoiceSpec {
        name: name.into(),
        ref_audio: RefAudio::Path("ref.wav".into()),
        transcript: "hello".into(),
        language: "en".into(),
        gpt: None,
        sovits: None,
        model: None,
    }
}

fn engine(models: ModelPaths, chunks: usize, delay_ms: u64, queue: usize, batch: usize) -> (Engine, Arc<Mutex<Probe>>) {
    let (factory, probe) = double(chunks, delay_ms);
    let options = EngineOptions {
        backend: BackendConfig { device: crate::device::DeviceChoice::Cpu, compile: crate::device::Switch::Auto, fused: crate::device::Switch::Auto, layer_kernel: crate::device::Switch::Auto, compile_sovits: crate::device::Switch::Auto, warmup: crate::device::Switch::Auto, models, max_batch: batch, min_ref_seconds: 3.0, max_ref_seconds: 10.0 },
        voices: vec![voice("alice"), voice("broken")],
        queue_size: queue,
        updates_capacity: 4,
        max_pending_samples: 1_000_000,
        max_pending_tokens: 1_000_000,
    };
    let e = Engine::start(options, factory).expect("engine starts");
    let w = e.watch_status();
    for _ in 0..200 {
        if !matches!(w.borrow().readiness, Readiness::Loading { .. }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        let _ = w.has_changed();
    }
    (e, probe)
}

fn job(text: &str, seed: u64) -> SynthesisJob {
    SynthesisJob {
        model: None,
        text: text.into(),
        language: "en".into(),
        voice: VoiceSelect::Named("alice".into()),
        sampling: Sampling { top_k: 15, top_p: 1.0, temperature: 1.0, repetition_penalty: 1.35, seed },
        speed: 1.0,
        text_split_method: "cut5".into(),
        batch_size: 1,
        fragment_interval: 0.3,
        chunking: Chunking::Sentence,
        token_budget: 1_000,
    }
}

/// Collects a job's updates until it ends: (audio, final update).
fn collect(mut h: JobHandle) -> (Vec<i16>, JobUpdate) {
    let mut audio = Vec::new();
    let mut started = false;
    while let Some(u) = h.updates.blocking_recv() {
        match u {
            JobUpdate::Started { .. } => started = true,
            JobUpdate::Audio(a) => {
                assert!(started, "audio before Started");
                audio.extend(a)
            }
            end => return (audio, end),
        }
    }
    panic!("update channel closed without Done/Failed");
}

#[test]
fn job_streams_its_audio_in_order_then_done() {
    let (e, _) = engine(existing_models(), 5, 0, 4, 4);
    assert_eq!(e.status().readiness, Readiness::Ready);
    assert_eq!(e.status().voices.len(), 1, "the broken voice is reported, not served");
    assert_eq!(e.status().failed_voices[0].0, "broken");
    let (audio, end) = collect(e.submit(job("hi", 7), tracing::Span::none()).unwrap());
    let want: Vec<i16> = (0..5).flat_map(|c| sine(7, c)).collect();
    assert_eq!(audio, want);
    match end {
        JobUpdate::Done(r) => {
            assert_eq!(r.stats.tokens, 20);
            assert!((r.audio_seconds - 5.0 * CHUNK as f64 / 32000.0).abs() < 1e-9);
            assert!(r.first_audio_seconds.is_some());
        }
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn concurrent_jobs_are_stepped_together() {
    let (e, probe) = engine(existing_models(), 20, 2, 8, 4);
    let handles: Vec<_> = (0..3).map(|i| e.submit(job("hi", i), tracing::Span::none()).unwrap()).collect();
    let results: Vec<_> = handles.into_iter().map(collect).collect();
    for (i, (audio, end)) in results.iter().enumerate() {
        assert!(matches!(end, JobUpdate::Done(_)));
        assert_eq!(audio[..CHUNK], sine(i as u64, 0)[..], "job {i} got its own audio");
    }
    let max = probe.lock().unwrap().batch_sizes.iter().copied().max().unwrap_or(0);
    assert_eq!(max, 3, "all three jobs shared decode steps");
}

#[test]
fn admission_counts_worst_case_tokens_and_releases_them_when_jobs_end() {
    let (e, _) = engine(existing_models(), 20, 2, 8, 4);
    let big = |seed| SynthesisJob { token_budget: 600_000, ..job("long", seed) };
    let first = e.submit(big(1), tracing::Span::none()).expect("the first fits the allowance");
    assert_eq!(e.pending_tokens(), 600_000);
    let refused = e.submit(big(2), tracing::Span::none()).err().expect("a second would exceed it");
    assert!(matches!(refused, EngineError::OverBudget { held: 600_000, limit: 1_000_000 }), "{refused:?}");
    assert_eq!(refused.kind(), ErrorKind::Overloaded);
    // Small jobs still fit beside it.
    let small = e.submit(job("short", 3), tracing::Span::none()).expect("a small job fits");
    let (_, end) = collect(first);
    assert!(matches!(end, JobUpdate::Done(_)), "{end:?}");
    let (_, end) = collect(small);
    assert!(matches!(end, JobUpdate::Done(_)), "{end:?}");
    for _ in 0..200 {
        if e.pending_tokens() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(e.pending_tokens(), 0, "every ended job gives its share back");
    let again = e.submit(big(4), tracing::Span::none()).expect("the allowance is free again");
    drop(again); // cancelled: its share comes back too
    for _ in 0..200 {
        if e.pending_tokens() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(e.pending_tokens(), 0);
}

#[test]
fn full_queue_is_overloaded_not_buffered() {
    // batch 1, queue 1, slow steps: job A runs, B waits in the queue, C is refused.
    let (e, _) = engine(existing_models(), 50, 5, 1, 1);
    let a = e.submit(job("a", 1), tracing::Span::none()).unwrap();
    // Wait until the worker has taken A off the queue.
    for _ in 0..200 {
        if e.active_jobs() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let b = e.submit(job("b", 2), tracing::Span::none()).unwrap();
    let c = e.submit(job("c", 3), tracing::Span::none());
    match c {
        Err(err @ EngineError::Overloaded { .. }) => assert_eq!(err.kind(), ErrorKind::Overloaded),
        other => panic!("expected Overloaded, got {:?}", other.map(|h| h.id)),
    }
    drop((a, b));
}

#[test]
fn dropping_the_handle_cancels_within_a_step() {
    let (e, probe) = engine(existing_models(), 10_000, 2, 4, 4);
    let mut h = e.submit(job("long", 1), tracing::Span::none()).unwrap();
    // Read until audio flows, then hang up.
    loop {
        if let Some(JobUpdate::Audio(_)) = h.updates.blocking_recv() {
            break;
        }
    }
    assert_eq!(e.active_jobs(), 1);
    let id = h.id;
    drop(h);
    let mut cancelled = false;
    for _ in 0..100 {
        if e.active_jobs() == 0 {
            cancelled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cancelled, "job counter did not drop after the client left");
    assert_eq!(probe.lock().unwrap().cancelled, vec![id]);
}

#[test]
fn a_panicking_job_fails_alone_and_the_engine_keeps_serving() {
    let (e, _) = engine(existing_models(), 3, 0, 4, 4);
    let (_, end) = collect(e.submit(job("panic-step", 1), tracing::Span::none()).unwrap());
    match end {
        JobUpdate::Failed(err) => {
            assert_eq!(err.kind(), ErrorKind::Internal);
            assert!(err.to_string().contains("injected step panic"), "{err}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let (_, end) = collect(e.submit(job("panic-start", 1), tracing::Span::none()).unwrap());
    assert!(matches!(end, JobUpdate::Failed(ref err) if err.kind() == ErrorKind::Internal), "{end:?}");
    let (_, end) = collect(e.submit(job("reject", 1), tracing::Span::none()).unwrap());
    assert!(matches!(end, JobUpdate::Failed(ref err) if err.kind() == ErrorKind::InvalidInput), "{end:?}");
    let (audio, end) = collect(e.submit(job("fine", 2), tracing::Span::none()).unwrap());
    assert!(matches!(end, JobUpdate::Done(_)));
    assert_eq!(audio.len(), 3 * CHUNK);
}

#[test]
fn missing_models_leave_the_engine_up_but_unavailable() {
    let mut models = existing_models();
    models.gpt = "/nonexistent/gpt.ckpt".into();
    let (e, _) = engine(models, 1, 0, 4, 4);
    match e.status().readiness {
        Readiness::NoModels { missing, hint } => {
            assert_eq!(missing, vec!["gpt model /nonexistent/gpt.ckpt".to_string()]);
            assert!(hint.contains("scripts/download-models.sh"));
        }
        other => panic!("expected NoModels, got {other:?}"),
    }
    let err = e.submit(job("hi", 1), tracing::Span::none()).map(|h| h.id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("gpt model /nonexistent/gpt.ckpt"), "{err}");
}

#[test]
fn unknown_voice_is_refused_before_queueing() {
    let (e, _) = engine(existing_models(), 1, 0, 4, 4);
    let mut j = job("hi", 1);
    j.voice = VoiceSelect::Named("bob".into());
    let err = e.submit(j, tracing::Span::none()).map(|h| h.id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownVoice);
    assert_eq!(err.param(), Some("voice"));
    assert_eq!(e.queued(), 0);
}

#[test]
fn dropping_the_engine_stops_the_worker_while_clients_hold_unread_streams() {
    // Two long jobs whose clients hold their streams but never read them: the worker must not
    // wait for them when the last Engine handle goes (a server's runtime may be the very thread
    // joining it).
    let (e, probe) = engine(existing_models(), 10_000, 1, 4, 4);
    let a = e.submit(job("a", 1), tracing::Span::none()).unwrap();
    let b = e.submit(job("b", 2), tracing::Span::none()).unwrap();
    for _ in 0..400 {
        if e.active_jobs() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(e);
        let _ = done_tx.send(());
    });
    assert!(done_rx.recv_timeout(Duration::from_secs(10)).is_ok(), "dropping the engine hung");
    let cancelled = probe.lock().unwrap().cancelled.clone();
    assert!(cancelled.contains(&a.id) && cancelled.contains(&b.id), "running jobs not cancelled: {cancelled:?}");
    drop((a, b));
}

#[tokio::test]
async fn voices_are_added_and_removed_between_steps() {
    let (e, _) = engine(existing_models(), 50, 2, 4, 2);
    // A job is running while the voice is prepared: the worker does both.
    let running = e.submit(job("long", 1), tracing::Span::none()).unwrap();
    let info = e.add_voice(voice("carol")).await.unwrap();
    assert_eq!((info.name.as_str(), info.prompt_tokens), ("carol", 100));
    assert!(e.status().voices.iter().any(|v| v.name == "carol"));
    let mut with_carol = job("hi", 2);
    with_carol.voice = VoiceSelect::Named("carol".into());
    drop(e.submit(with_carol.clone(), tracing::Span::none()).unwrap());

    let err = e.add_voice(voice("broken")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!e.status().voices.iter().any(|v| v.name == "broken"));

    assert!(e.remove_voice("carol").await.unwrap());
    assert!(!e.status().voices.iter().any(|v| v.name == "carol"));
    assert!(matches!(e.submit(with_carol, tracing::Span::none()), Err(EngineError::UnknownVoice(_))));
    drop(running);
}
