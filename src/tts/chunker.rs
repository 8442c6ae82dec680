//! Streaming: turning a growing GPT token sequence into audio chunks without seams.
//!
//! Each time enough new tokens exist, the pipeline decodes the audio of the tokens from the first
//! not-yet-final one to the newest (`[start, n)`) with SoVITS — the vocoder re-reads `context`
//! tokens before `start`, so its receptive field sees the same left context as a one-shot decode —
//! and hands the window's samples to [`Chunker::push`]. The audio of the last `holdback` tokens is not emitted yet, because their right
//! context will still change; the next window re-decodes them and the switch from the old to the new
//! decode is cross-faded over `crossfade` samples. Every output sample is emitted exactly once (no
//! token's audio appears twice — upstream's streaming mode 2 yields overlapping tokens twice
//! [quirk, fixed]).

use std::time::{Duration, Instant};

/// When to decode and how much to overlap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkPlan {
    /// Tokens needed before the first chunk is decoded.
    pub first: usize,
    /// New tokens before the second chunk.
    pub every: usize,
    /// Factor by which each later chunk's token count grows over the one before (1 = every chunk
    /// `every` tokens), up to [`MAX_CHUNK_TOKENS`]. Each decode costs a roughly fixed amount of
    /// host work on a GPU whatever its length, so fewer, growing chunks finish a sentence sooner;
    /// the listener already holds the earlier chunks' audio, which plays longer than the next
    /// chunk takes wherever generation runs faster than real time.
    pub growth: f32,
    /// Tokens before each window that the vocoder re-reads as left context (its receptive field;
    /// `SynthesizerTrn::decode_tail` measures 8 tokens as enough for float-noise agreement).
    pub context: usize,
    /// Tokens at the end of a window whose audio is held back until the next window.
    pub holdback: usize,
    /// Samples over which the held-back audio fades into its re-decode.
    pub crossfade: usize,
    /// Pacing, in seconds of audio (0 = off): while the listener holds more unplayed audio than
    /// this, a chunk that is due waits for more tokens (up to [`MAX_CHUNK_TOKENS`] new ones). A
    /// decode costs about the same whatever its length wherever generation outruns playback (a
    /// GPU), so waiting until the listener needs audio makes fewer, longer decodes — the sentence
    /// ends sooner and the inference thread serves other streams — and never starves the
    /// listener: a chunk is never later than without pacing once the lead runs out. Seams then
    /// fall where the clock puts them, so paced streams of one seed are not sample-identical.
    pub lead: f32,
}

impl Default for ChunkPlan {
    fn default() -> Self {
        Self {
            first: 12,
            every: 24,
            growth: 1.0,
            context: 8,
            holdback: 2,
            crossfade: 640,
            lead: 0.0,
        }
    }
}

/// Most new tokens a chunk waits for when it grows (10 s of audio at 25 tokens per second).
pub const MAX_CHUNK_TOKENS: usize = 256;

impl ChunkPlan {
    /// Whether `n` tokens (of which audio was finalised up to `done`, after `decodes` windows
    /// ending at `decoded_up_to`) call for a decode now, while the listener holds `ahead` seconds
    /// of audio it has not played yet.
    pub fn due(&self, n: usize, done: usize, decoded_up_to: usize, decodes: usize, ahead: f64) -> bool {
        let scheduled = if decoded_up_to == 0 {
            n >= self.first.max(self.holdback + 1)
        } else {
            n >= decoded_up_to + self.interval(decodes) && n > done + self.holdback
        };
        let paced = self.lead > 0.0 && ahead > f64::from(self.lead) && n.saturating_sub(decoded_up_to) < MAX_CHUNK_TOKENS;
        scheduled && !paced
    }

    /// New tokens the chunk after `decodes` decoded windows waits for (`decodes` ≥ 1).
    pub fn interval(&self, decodes: usize) -> usize {
        let every = self.every.max(1);
        if self.growth <= 1.0 || !self.growth.is_finite() {
            return every;
        }
        let grown = every as f64 * f64::from(self.growth).powi(decodes.saturating_sub(1).min(64) as i32);
        (grown.round() as usize).clamp(every, MAX_CHUNK_TOKENS.max(every))
    }

    /// The token window whose audio is needed when `n` tokens exist and audio is final up to
    /// token `done` (the decoder adds `context` tokens before it on its own).
    pub fn window(&self, n: usize, done: usize) -> (usize, usize) {
        (done, n)
    }
}

/// The listener's side of a stream, as far as the server can tell: audio sent plays in real time
/// from the moment it is sent, and a listener that ran dry resumes with the next chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Playback {
    /// When the audio sent so far will have played out.
    until: Option<Instant>,
}

impl Playback {
    /// `seconds` of audio were sent at `now`.
    pub fn sent(&mut self, seconds: f64, now: Instant) {
        if seconds > 0.0 {
            let from = self.until.map_or(now, |u| u.max(now));
            self.until = Some(from + Duration::from_secs_f64(seconds));
        }
    }

    /// Seconds of audio sent and not yet played at `now`.
    pub fn ahead(&self, now: Instant) -> f64 {
        self.until.map_or(0.0, |u| u.saturating_duration_since(now).as_secs_f64())
    }
}

/// Stitches re-decoded windows into one continuous stream.
#[derive(Debug)]
pub struct Chunker {
    plan: ChunkPlan,
    samples_per_token: usize,
    /// Audio is emitted (final) up to this token.
    done_tokens: usize,
    /// Tokens covered by the last decoded window.
    decoded_up_to: usize,
    /// Windows decoded so far.
    decodes: usize,
    /// Samples of the previous window from `done_tokens` on (not emitted yet).
    held: Vec<f32>,
}

impl Chunker {
    pub fn new(plan: ChunkPlan, samples_per_token: usize) -> Self {
        Self {
            plan,
            samples_per_token,
            done_tokens: 0,
            decoded_up_to: 0,
            decodes: 0,
            held: Vec::new(),
        }
    }

    pub fn plan(&self) -> &ChunkPlan {
        &self.plan
    }

    /// Whether `n` generated tokens call for a decode while the listener holds `ahead` seconds of
    /// unplayed audio ([`Playback::ahead`]).
    pub fn due(&self, n: usize, ahead: f64) -> bool {
        self.plan.due(n, self.done_tokens, self.decoded_up_to, self.decodes, ahead)
    }

    /// The window `[start, end)` to decode now for `n` tokens.
    pub fn window(&self, n: usize) -> (usize, usize) {
        self.plan.window(n, self.done_tokens)
    }

    /// Takes the samples of the window `[start, end)` (as returned by [`Chunker::window`]) and
    /// returns the samples that are final now. With `last`, everything left is emitted.
    pub fn push(&mut self, start: usize, end: usize, samples: &[f32], last: bool) -> Vec<f32> {
        let spt = self.samples_per_token;
        // Samples of this window from the first non-final token on.
        let offset = (self.done_tokens.saturating_sub(start) * spt).min(samples.len());
        let fresh = &samples[offset..];
        let mut out = Vec::with_capacity(fresh.len());
        // Fade from the held-back old decode into the new one.
        let xf = self.plan.crossfade.min(self.held.len()).min(fresh.len());
        for i in 0..xf {
            let w = (i as f32 + 0.5) / xf as f32;
            out.push(self.held[i] * (1.0 - w) + fresh[i] * w);
        }
        let keep_tokens = if last { end } else { end.saturating_sub(self.plan.holdback).max(self.done_tokens) };
        let final_len = ((keep_tokens - self.done_tokens) * spt).min(fresh.len()).max(xf);
        let final_len = if last { fresh.len() } else { final_len };
        out.extend_from_slice(&fresh[xf..final_len]);
        self.held = fresh[final_len..].to_vec();
        self.done_tokens = if last { end } else { self.done_tokens + final_len / spt };
        self.decoded_up_to = end;
        self.decodes += 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "decoder" whose samples depend only on the absolute sample index, so re-decodes agree
    /// and any duplicated or dropped sample shows up as a discontinuity.
    fn decode(start: usize, end: usize, spt: usize) -> Vec<f32> {
        (start * spt..end * spt).map(|i| i as f32).collect()
    }

    fn stream(plan: ChunkPlan, total: usize, spt: usize) -> (Vec<f32>, Vec<usize>) {
        let mut c = Chunker::new(plan, spt);
        let mut out = Vec::new();
        let mut chunk_at = Vec::new();
        for n in 1..=total {
            let last = n == total;
            if c.due(n, 0.0) || last {
                let (s, e) = c.window(n);
                let got = c.push(s, e, &decode(s, e, spt), last);
                if !got.is_empty() {
                    chunk_at.push(n);
                }
                out.extend(got);
            }
        }
        (out, chunk_at)
    }

    #[test]
    fn every_sample_exactly_once_in_order() {
        for total in [1, 5, 13, 14, 37, 100, 257] {
            let (out, _) = stream(ChunkPlan::default(), total, 8);
            let want: Vec<f32> = (0..total * 8).map(|i| i as f32).collect();
            // Cross-fading two identical decodes returns the same samples.
            assert_eq!(out.len(), want.len(), "total {total}");
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-3, "total {total}: sample {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn first_chunk_after_plan_first_tokens() {
        let plan = ChunkPlan { first: 12, ..ChunkPlan::default() };
        let (_, at) = stream(plan, 100, 4);
        assert_eq!(at[0], 12);
        assert!(at.len() >= 4, "chunks at {at:?}");
    }

    #[test]
    fn growing_chunks_double_up_to_the_cap_and_keep_every_sample() {
        let plan = ChunkPlan { first: 8, every: 16, growth: 2.0, ..ChunkPlan::default() };
        let (_, at) = stream(plan, 100, 4);
        assert_eq!(at, vec![8, 24, 56, 100]);
        let (_, at) = stream(ChunkPlan { growth: 1.0, ..plan }, 100, 4);
        assert_eq!(at, vec![8, 24, 40, 56, 72, 88, 100]);
        assert_eq!((plan.interval(1), plan.interval(4), plan.interval(5), plan.interval(50)), (16, 128, 256, 256));
        for total in [1, 9, 25, 57, 300, 700] {
            let (out, _) = stream(plan, total, 8);
            assert_eq!(out.len(), total * 8, "total {total}");
            for (i, a) in out.iter().enumerate() {
                assert!((a - i as f32).abs() < 1e-3, "total {total}: sample {i}: {a}");
            }
        }
    }

    #[test]
    fn pacing_defers_a_due_chunk_only_while_the_listener_holds_more_than_the_lead() {
        let plan = ChunkPlan { first: 8, every: 16, growth: 1.0, lead: 0.5, ..ChunkPlan::default() };
        // The first chunk of a stream: nothing sent, nothing to wait for.
        assert!(plan.due(8, 0, 0, 0, 0.0));
        // Due by the schedule: waits while 2 s are buffered, goes at the lead.
        assert!(!plan.due(30, 6, 8, 1, 2.0));
        assert!(plan.due(30, 6, 8, 1, 0.5));
        assert!(plan.due(30, 6, 8, 1, -0.1));
        // Not due by the schedule: pacing never brings a chunk forward.
        assert!(!plan.due(20, 6, 8, 1, 0.0));
        // A later sentence's first chunk waits too while the earlier sentences still play.
        assert!(!plan.due(8, 0, 0, 0, 3.0));
        // At most MAX_CHUNK_TOKENS new tokens, however much is buffered.
        assert!(!plan.due(8 + MAX_CHUNK_TOKENS - 1, 6, 8, 1, 60.0));
        assert!(plan.due(8 + MAX_CHUNK_TOKENS, 6, 8, 1, 60.0));
        // Lead 0 = the schedule alone.
        assert!(ChunkPlan { lead: 0.0, ..plan }.due(30, 6, 8, 1, 2.0));
    }

    #[test]
    fn playback_runs_in_real_time_from_each_send_and_resumes_after_running_dry() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut p = Playback::default();
        assert_eq!(p.ahead(t0), 0.0);
        p.sent(1.0, at(0.0));
        assert!((p.ahead(at(0.25)) - 0.75).abs() < 1e-9);
        p.sent(0.5, at(0.5)); // queued behind what is still playing
        assert!((p.ahead(at(0.5)) - 1.0).abs() < 1e-9);
        assert_eq!(p.ahead(at(2.0)), 0.0); // ran dry at 1.5 s
        p.sent(0.3, at(3.0)); // resumes with the next chunk
        assert!((p.ahead(at(3.1)) - 0.2).abs() < 1e-9);
        p.sent(0.0, at(4.0));
        assert_eq!(p.ahead(at(4.0)), 0.0);
    }

    /// Streams `total` tokens generated every `step` seconds (a decode taking no time) to a
    /// listener; returns the chunk count and the least audio the listener held when a chunk
    /// after the first arrived.
    fn paced(plan: ChunkPlan, total: usize, step: f64, spt: usize) -> (usize, f64, Vec<f32>) {
        let t0 = Instant::now();
        let (mut c, mut listener, mut out) = (Chunker::new(plan, spt), Playback::default(), Vec::new());
        let (mut chunks, mut least) = (0, f64::INFINITY);
        for n in 1..=total {
            let now = t0 + Duration::from_secs_f64(n as f64 * step);
            let last = n == total;
            if c.due(n, listener.ahead(now)) || last {
                let (s, e) = c.window(n);
                let got = c.push(s, e, &decode(s, e, spt), last);
                if !got.is_empty() {
                    if chunks > 0 {
                        least = least.min(listener.ahead(now));
                    }
                    chunks += 1;
                    listener.sent(got.len() as f64 / (25.0 * spt as f64), now);
                }
                out.extend(got);
            }
        }
        (chunks, least, out)
    }

    #[test]
    fn paced_streams_send_fewer_chunks_and_every_sample_before_the_listener_runs_dry() {
        let plan = ChunkPlan { first: 8, every: 16, growth: 2.0, ..ChunkPlan::default() };
        let paced_plan = ChunkPlan { lead: 0.5, ..plan };
        for total in [9, 57, 100, 300, 700] {
            // Ten times faster than real time (a token is 40 ms of audio).
            let (fixed, fixed_least, _) = paced(plan, total, 0.004, 8);
            let (fewer, least, out) = paced(paced_plan, total, 0.004, 8);
            assert!(fewer <= fixed, "total {total}: {fewer} vs {fixed}");
            // A deferred chunk goes within a step of the lead: the listener never runs dry.
            assert!(least > 0.0 && least >= fixed_least.min(0.5 - 0.004) - 1e-9, "total {total}: the listener held only {least} s");
            assert_eq!(out.len(), total * 8, "total {total}");
            for (i, a) in out.iter().enumerate() {
                assert!((a - i as f32).abs() < 1e-3, "total {total}: sample {i}: {a}");
            }
        }
        assert_eq!((paced(plan, 100, 0.004, 8).0, paced(paced_plan, 100, 0.004, 8).0), (4, 3));
        assert!(paced(paced_plan, 700, 0.004, 8).0 < paced(plan, 700, 0.004, 8).0);
        // Slower than real time: the listener is always dry, so pacing changes nothing.
        for total in [57, 300] {
            assert_eq!(paced(paced_plan, total, 0.08, 8).0, paced(plan, total, 0.08, 8).0);
        }
    }

    #[test]
    fn crossfade_blends_old_into_new() {
        let plan = ChunkPlan { first: 4, every: 4, growth: 1.0, context: 2, holdback: 2, crossfade: 4, lead: 0.0 };
        let mut c = Chunker::new(plan, 4);
        // First window: tokens [0,4) decoded as 1.0; tokens 2..4 held back.
        let a = c.push(0, 4, &[1.0; 16], false);
        assert_eq!(a, vec![1.0; 8]);
        // Re-decode of [0,8) as 0.0: the first 4 samples fade from 1 to 0.
        let (s, e) = c.window(8);
        assert_eq!((s, e), (2, 8));
        let b = c.push(s, e, &[0.0; 24], false);
        assert!(b[0] > 0.8 && b[3] < 0.2, "fade {:?}", &b[..4]);
        assert_eq!(b.len(), 16);
    }
}
