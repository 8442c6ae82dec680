//! The SoVITS reference linear spectrogram, `module/mel_processing.spectrogram_torch` with
//! `center=False`.
//!
//! Computed on the CPU in f64 with realfft (a few hundred 2048-point FFTs per reference, once per
//! voice), then handed to MLX; f64 keeps the port's own rounding far below torch's f32 noise.
use mlx_rs::Array;
use realfft::RealFftPlanner;

use super::{Error, Result};

/// STFT settings of `spectrogram_torch(y, n_fft, sampling_rate, hop_size, win_size, center)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectrogramConfig {
    pub n_fft: usize,
    pub hop: usize,
    pub win: usize,
}

impl SpectrogramConfig {
    /// `configs/s2.json` data settings of v1/v2/v2Pro (filter_length 2048, hop 640, win 2048).
    pub fn sovits_v2() -> Self {
        Self {
            n_fft: 2048,
            hop: 640,
            win: 2048,
        }
    }

    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames for `n` samples: `(n + 2·pad − n_fft) / hop + 1` with `pad = (n_fft − hop) / 2`.
    pub fn frames(&self, n: usize) -> usize {
        let padded = n + 2 * self.pad();
        if padded < self.n_fft {
            0
        } else {
            (padded - self.n_fft) / self.hop + 1
        }
    }

    fn pad(&self) -> usize {
        (self.n_fft - self.hop) / 2
    }
}

/// `|STFT|` as `[1, n_fft/2+1, T]` f32: reflect-pad `(n_fft−hop)/2` on both sides, periodic Hann
/// window of `win` samples (centred in `n_fft` when shorter, as torch.stft does), hop `hop`,
/// magnitude `sqrt(re² + im² + 1e-8)` (the epsilon keeps silent bins at 1e-4, not 0).
pub fn linear_spectrogram(wav: &[f32], cfg: &SpectrogramConfig) -> Result<Array> {
    let (data, bins, frames) = linear_spectrogram_data(wav, cfg)?;
    Ok(Array::from_slice(&data, &[1, bins as i32, frames as i32]))
}

/// Like [`linear_spectrogram`], as a row-major `[bins][frames]` buffer with its dimensions.
pub fn linear_spectrogram_data(wav: &[f32], cfg: &SpectrogramConfig) -> Result<(Vec<f32>, usize, usize)> {
    if cfg.hop == 0 || cfg.win == 0 || cfg.win > cfg.n_fft || cfg.hop > cfg.n_fft {
        return Err(Error::Spectrogram(format!("invalid settings {cfg:?}")));
    }
    let pad = cfg.pad();
    let n = wav.len();
    // torch's reflect padding needs more samples than the pad width.
    if n <= pad {
        return Err(Error::Spectrogram(format!(
            "audio of {n} samples is too short for reflect padding of {pad}"
        )));
    }
    let frames = cfg.frames(n);
    if frames == 0 {
        return Err(Error::Spectrogram(format!("audio of {n} samples gives no frame")));
    }
    let padded: Vec<f64> = (0..n + 2 * pad)
        .map(|i| {
            let j = if i < pad {
                pad - i
            } else if i - pad < n {
                i - pad
            } else {
                // Mirror around the last sample without repeating it.
                2 * (n - 1) - (i - pad)
            };
            wav[j] as f64
        })
        .collect();
    let offset = (cfg.n_fft - cfg.win) / 2;
    let mut window = vec![0.0f64; cfg.n_fft];
    for k in 0..cfg.win {
        window[offset + k] =
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / cfg.win as f64).cos();
    }

    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(cfg.n_fft);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let bins = cfg.bins();
    let mut out = vec![0.0f32; bins * frames];
    for t in 0..frames {
        let frame = &padded[t * cfg.hop..t * cfg.hop + cfg.n_fft];
        for ((dst, &s), &w) in input.iter_mut().zip(frame).zip(&window) {
            *dst = s * w;
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .map_err(|e| Error::Spectrogram(e.to_string()))?;
        for (f, c) in spectrum.iter().enumerate() {
            out[f * frames + t] = (c.re * c.re + c.im * c.im + 1e-8).sqrt() as f32;
        }
    }
    Ok((out, bins, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_follows_upstream_frame_rule() {
        let cfg = SpectrogramConfig::sovits_v2();
        // Upstream: [1, 1025, floor(N / 640)] for N a multiple of the hop.
        assert_eq!(cfg.frames(99_200), 155);
        assert_eq!(cfg.frames(160_000), 250);
        let (d, b, t) = linear_spectrogram_data(&vec![0.0; 3200], &cfg).unwrap();
        assert_eq!((b, t, d.len()), (1025, 5, 1025 * 5));
        // Silence gives sqrt(1e-8).
        assert!(d.iter().all(|&v| (v - 1e-4).abs() < 1e-9));
    }

    #[test]
    fn sine_peaks_at_its_bin() {
        let cfg = SpectrogramConfig::sovits_v2();
        // Bin 64 of a 2048-point FFT at 32 kHz is 1000 Hz.
        let wav: Vec<f32> = (0..6400)
            .map(|i| (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 32_000.0).sin() as f32)
            .collect();
        let (d, b, t) = linear_spectrogram_data(&wav, &cfg).unwrap();
        let col = t / 2;
        let best = (0..b).max_by(|&x, &y| d[x * t + col].total_cmp(&d[y * t + col])).unwrap();
        assert_eq!(best, 64);
        // Amplitude 1 sine under a Hann window: |X| = n_fft / 4.
        assert!((d[64 * t + col] - 512.0).abs() < 1.0, "{}", d[64 * t + col]);
    }

    #[test]
    fn too_short_is_an_error() {
        assert!(linear_spectrogram_data(&vec![0.1; 500], &SpectrogramConfig::sovits_v2()).is_err());
    }
}
