//! The speaker path's 32 kHz → 16 kHz step: `torchaudio.transforms.Resample(32000, 16000)` with
//! its defaults (`sinc_interp_hann`, `lowpass_filter_width` 6, `rolloff` 0.99), as upstream's
//! `TTS._get_ref_spec` applies it for v2Pro/v2ProPlus.
//!
//! [quirk] this is not the resampler of the HuBERT input (librosa/soxr): the two 16 kHz signals
//! differ slightly, and the speaker embedding is defined on this one.
//!
//! The ratio reduces to 2 → 1, so torchaudio's polyphase kernel has a single phase of
//! `2·width + orig` taps with `width = ⌈6·2/0.99⌉ = 13`, applied as a stride-2 convolution of the
//! signal padded by `width` zeros on the left and `width + orig` on the right.
const ORIG: usize = 2;
const LOWPASS_WIDTH: f64 = 6.0;
const ROLLOFF: f64 = 0.99;

/// `width` of torchaudio's kernel for 2 → 1.
fn width() -> usize {
    (LOWPASS_WIDTH * ORIG as f64 / ROLLOFF).ceil() as usize
}

/// The kernel, computed in f64 and rounded to f32 like torchaudio's (`[2·width + 2]` taps):
/// `t = clamp((k − width)/2 · rolloff, −6, 6)`, `sinc(πt) · cos(πt/12)² · rolloff/2`.
pub fn kernel() -> Vec<f32> {
    let w = width();
    (0..2 * w + ORIG)
        .map(|k| {
            let t = ((k as f64 - w as f64) / ORIG as f64 * ROLLOFF).clamp(-LOWPASS_WIDTH, LOWPASS_WIDTH);
            let window = (t * std::f64::consts::PI / LOWPASS_WIDTH / 2.0).cos().powi(2);
            let x = t * std::f64::consts::PI;
            let sinc = if x == 0.0 { 1.0 } else { x.sin() / x };
            (sinc * window * ROLLOFF / ORIG as f64) as f32
        })
        .collect()
}

/// 32 kHz → 16 kHz: `⌈n/2⌉` samples.
pub fn to_16k(wav32k: &[f32]) -> Vec<f32> {
    let k = kernel();
    let w = width() as isize;
    let n = wav32k.len();
    let at = |i: isize| -> f64 {
        if i < 0 || i as usize >= n {
            0.0
        } else {
            wav32k[i as usize] as f64
        }
    };
    (0..n.div_ceil(ORIG))
        .map(|j| {
            let start = (j * ORIG) as isize - w;
            k.iter().enumerate().map(|(t, &c)| c as f64 * at(start + t as isize)).sum::<f64>() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_has_torchaudio_shape_and_unit_dc_gain() {
        let k = kernel();
        assert_eq!(k.len(), 28);
        // Centre tap t = 0: sinc 1 · window 1 · 0.99/2.
        assert!((k[13] - 0.495).abs() < 1e-7);
        // Low-pass at half band: DC gain ≈ 1 (rolloff and truncation shave a little).
        let dc: f32 = k.iter().sum();
        assert!((dc - 1.0).abs() < 0.02, "dc gain {dc}");
    }

    #[test]
    fn length_and_a_passband_tone() {
        assert_eq!(to_16k(&[0.0; 7]).len(), 4);
        let tone: Vec<f32> = (0..3200).map(|i| (2.0 * std::f32::consts::PI * 500.0 * i as f32 / 32000.0).sin()).collect();
        let out = to_16k(&tone);
        assert_eq!(out.len(), 1600);
        // Away from the edges the 500 Hz tone passes unchanged, sampled every other input sample.
        for j in 100..1500 {
            assert!((out[j] - tone[2 * j]).abs() < 0.02, "sample {j}: {} vs {}", out[j], tone[2 * j]);
        }
    }
}
