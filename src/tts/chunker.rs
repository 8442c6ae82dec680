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
        }
    }
}

/// Most new tokens a chunk waits for when it grows (10 s of audio at 25 tokens per second).
pub const MAX_CHUNK_TOKENS: usize = 256;

impl ChunkPlan {
    /// Whether `n` tokens (of which audio was finalised up to `done`, after `decodes` windows
    /// ending at `decoded_up_to`) call for a decode now.
    pub fn due(&self, n: usize, done: usize, decoded_up_to: usize, decodes: usize) -> bool {
        if decoded_up_to == 0 {
            n >= self.first.max(self.holdback + 1)
        } else {
            n >= decoded_up_to + self.interval(decodes) && n > done + self.holdback
        }
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

    /// Whether `n` generated tokens call for a decode.
    pub fn due(&self, n: usize) -> bool {
        self.plan.due(n, self.done_tokens, self.decoded_up_to, self.decodes)
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
            if c.due(n) || last {
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
    fn crossfade_blends_old_into_new() {
        let plan = ChunkPlan { first: 4, every: 4, growth: 1.0, context: 2, holdback: 2, crossfade: 4 };
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
