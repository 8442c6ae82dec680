//! Kaldi-compatible log-mel filterbank, as upstream's speaker path calls it
//! (`GPT_SoVITS/eres2net/kaldi.py::fbank(wav, num_mel_bins=80, sample_frequency=16000, dither=0)`,
//! every other option at its default): 25 ms frames every 10 ms with `snip_edges`, per-frame DC
//! removal, pre-emphasis 0.97, povey window, zero-padded to 512, power spectrum, 80 triangular
//! mel bins from 20 Hz to Nyquist, natural log floored at f32 epsilon.
//!
//! Computed on the CPU in f64 (a few hundred 512-point FFTs per reference, once per voice);
//! torch runs it in f32, so f64 keeps the port's own rounding far below that noise.
use realfft::RealFftPlanner;

/// Sample rate the speaker model's features are defined at.
pub const SAMPLE_RATE: f64 = 16_000.0;
/// Mel bins of `compute_embedding3`.
pub const MEL_BINS: usize = 80;
/// 25 ms / 10 ms at 16 kHz.
const FRAME_LENGTH: usize = 400;
const FRAME_SHIFT: usize = 160;
/// `round_to_power_of_two`: 400 → 512.
pub const PADDED: usize = 512;
const PREEMPHASIS: f64 = 0.97;
const LOW_FREQ: f64 = 20.0;
/// `std::numeric_limits<float>::epsilon()`, the log floor.
const LOG_FLOOR: f64 = f32::EPSILON as f64;

/// Features of one clip, row-major `[frames, MEL_BINS]`, with the intermediates the fixtures
/// record (for parity checks).
pub struct Fbank {
    pub frames: usize,
    /// `[frames, PADDED]`: DC-removed, pre-emphasised, windowed, zero-padded frames.
    pub windowed: Vec<f32>,
    /// `[frames, PADDED/2 + 1]`: `|rfft|²`.
    pub power: Vec<f32>,
    /// `[frames, MEL_BINS]`.
    pub fbank: Vec<f32>,
}

/// Frames that fit completely (`snip_edges`): `1 + (n − 400) / 160`, 0 when shorter than a frame.
pub fn num_frames(samples: usize) -> usize {
    if samples < FRAME_LENGTH {
        0
    } else {
        1 + (samples - FRAME_LENGTH) / FRAME_SHIFT
    }
}

/// The povey window: `hann(400, periodic=False)^0.85`.
fn povey_window() -> Vec<f64> {
    let n = FRAME_LENGTH as f64;
    (0..FRAME_LENGTH)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1.0)).cos()).powf(0.85))
        .collect()
}

fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// `get_mel_banks(80, 512, 16000, low 20, high 0 → Nyquist)` with the zero Nyquist column
/// appended: `[MEL_BINS, PADDED/2 + 1]` row-major.
pub fn mel_banks() -> Vec<f64> {
    let bins = PADDED / 2 + 1;
    let nyquist = SAMPLE_RATE / 2.0;
    let (lo, hi) = (mel(LOW_FREQ), mel(nyquist));
    let delta = (hi - lo) / (MEL_BINS + 1) as f64;
    let bin_width = SAMPLE_RATE / PADDED as f64;
    let mut out = vec![0.0; MEL_BINS * bins];
    for b in 0..MEL_BINS {
        let left = lo + b as f64 * delta;
        let center = left + delta;
        let right = center + delta;
        // The last column (Nyquist) stays zero, as upstream pads it.
        for k in 0..bins - 1 {
            let m = mel(bin_width * k as f64);
            let up = (m - left) / (center - left);
            let down = (right - m) / (right - center);
            out[b * bins + k] = up.min(down).max(0.0);
        }
    }
    out
}

/// Kaldi fbank of a 16 kHz clip (samples in [−1, 1], no scaling).
pub fn fbank(wav: &[f32]) -> Fbank {
    let frames = num_frames(wav.len());
    let bins = PADDED / 2 + 1;
    let window = povey_window();
    let banks = mel_banks();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(PADDED);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut out = Fbank {
        frames,
        windowed: Vec::with_capacity(frames * PADDED),
        power: Vec::with_capacity(frames * bins),
        fbank: Vec::with_capacity(frames * MEL_BINS),
    };
    let mut frame = [0.0f64; FRAME_LENGTH];
    for f in 0..frames {
        let src = &wav[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LENGTH];
        let mean = src.iter().map(|&x| x as f64).sum::<f64>() / FRAME_LENGTH as f64;
        for (d, &s) in frame.iter_mut().zip(src) {
            *d = s as f64 - mean;
        }
        // [quirk] pre-emphasis of the first sample uses itself: x[0] − 0.97·x[0].
        input.fill(0.0);
        for j in 0..FRAME_LENGTH {
            let prev = frame[j.saturating_sub(1)];
            input[j] = (frame[j] - PREEMPHASIS * prev) * window[j];
        }
        out.windowed.extend(input.iter().map(|&x| x as f32));
        // realfft only fails on buffer-length mismatches, which the planner's own vectors rule out.
        if fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).is_err() {
            unreachable!("realfft buffers come from the same plan");
        }
        let power: Vec<f64> = spectrum.iter().map(|c| c.norm_sqr()).collect();
        out.power.extend(power.iter().map(|&x| x as f32));
        for b in 0..MEL_BINS {
            let row = &banks[b * bins..(b + 1) * bins];
            let e: f64 = row.iter().zip(&power).map(|(w, p)| w * p).sum();
            out.fbank.push(e.max(LOG_FLOOR).ln() as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_follows_snip_edges() {
        assert_eq!(num_frames(399), 0);
        assert_eq!(num_frames(400), 1);
        assert_eq!(num_frames(559), 1);
        assert_eq!(num_frames(560), 2);
        assert_eq!(num_frames(6400), 38);
    }

    #[test]
    fn silence_hits_the_log_floor_and_a_tone_lands_in_its_band() {
        let f = fbank(&vec![0.0; 800]);
        assert!(f.fbank.iter().all(|&v| (v - (f32::EPSILON as f64).ln() as f32).abs() < 1e-6));
        // 1 kHz tone: the strongest bin is the one whose centre is nearest 1 kHz on the mel scale.
        let tone: Vec<f32> = (0..1600).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin() * 0.5).collect();
        let f = fbank(&tone);
        let row = &f.fbank[..MEL_BINS];
        let best = (0..MEL_BINS).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0);
        let delta = (mel(8000.0) - mel(20.0)) / (MEL_BINS + 1) as f64;
        let centre = |b: usize| mel(20.0) + (b + 1) as f64 * delta;
        assert!((centre(best) - mel(1000.0)).abs() <= delta, "best bin {best}");
    }
}
