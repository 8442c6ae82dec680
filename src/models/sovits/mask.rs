//! Which frames of a length-padded sequence are real: upstream's `x_mask`/`y_mask`.
//!
//! A batch-1 decode needs no masks (every frame is real), so the model code leaves them out. The
//! compiled decode ([`super::compiled`]) pads its inputs to a few length buckets instead, so that
//! one trace serves every length of a bucket; then the padded frames must not reach the real
//! ones. They can do so only through a convolution's window or an attention's keys, so exactly
//! there the masked forms zero the padded frames (a convolution then reads the zeros its own
//! padding would have read at the real end) or drop them from the softmax (upstream's
//! `masked_fill(mask == 0, -1e4)`, whose weights are exactly 0 in f32). Everything else is per
//! frame, and the padded frames' values are thrown away at the end.
//!
//! The real length is an array, not a number, so a compiled trace does not depend on it.
use mlx_rs::{ops, Array};

use crate::models::Result;

/// The first `len` of `padded` frames, on a channels-last `[1, padded, C]` sequence.
#[derive(Clone)]
pub struct FrameMask {
    /// Real frames, int32 `[1]`.
    len: Array,
    padded: i32,
    /// `[1, padded, 1]` bool.
    mask: Array,
}

impl FrameMask {
    /// `len` int32 `[1]` (≤ `padded`, unchecked: a compiled trace cannot check a value).
    pub fn new(len: &Array, padded: i32) -> Result<Self> {
        let frames = ops::arange::<_, i32>(0, padded, 1)?;
        let mask = frames.lt(len)?.reshape(&[1, padded, 1])?;
        Ok(Self { len: len.clone(), padded, mask })
    }

    /// `x [1, padded, C]` with the padded frames set to 0 (`where`, not a product: a padded
    /// frame's value may be anything, an infinity included).
    pub fn zero_padding(&self, x: &Array) -> Result<Array> {
        Ok(ops::select(&self.mask, x, &Array::from_f32(0.0).as_dtype(x.dtype())?)?)
    }

    /// [`Self::zero_padding`] where a mask is given, else `x` itself.
    pub fn apply(mask: Option<&Self>, x: &Array) -> Result<Array> {
        match mask {
            Some(m) => m.zero_padding(x),
            None => Ok(x.clone()),
        }
    }

    /// Attention scores `[B, H, Tq, Tk]` (keys = these frames) with the padded keys' scores
    /// replaced by −1e4, as upstream's `masked_fill`.
    pub fn mask_keys(&self, scores: &Array) -> Result<Array> {
        let keys = self.mask.reshape(&[1, 1, 1, self.padded])?;
        let fill = Array::from_f32(-1e4).as_dtype(scores.dtype())?;
        Ok(ops::select(&keys, scores, &fill)?)
    }

    /// The mask after a transposed convolution of stride `u`, padding `p` and kernel `k`:
    /// `(len − 1)·u − 2p + k` of `(padded − 1)·u − 2p + k` frames are real.
    pub fn upsampled(&self, u: i32, p: i32, k: i32) -> Result<Self> {
        let grow = |n: &Array| -> Result<Array> { Ok(n.subtract(Array::from_int(1))?.multiply(Array::from_int(u))?.add(Array::from_int(k - 2 * p))?) };
        Self::new(&grow(&self.len)?, (self.padded - 1) * u - 2 * p + k)
    }

    /// The mask of a sequence `times` as long (each frame repeated: 25 Hz codes → 50 Hz).
    pub fn repeated(&self, times: i32) -> Result<Self> {
        Self::new(&self.len.multiply(Array::from_int(times))?, self.padded * times)
    }
}

#[cfg(test)]
mod tests {
    use mlx_rs::Dtype;

    use super::*;

    impl FrameMask {
        fn of(len: i32, padded: i32) -> Result<Self> {
            Self::new(&Array::from_slice(&[len], &[1]), padded)
        }
    }

    fn host(a: &Array) -> Vec<f32> {
        let a = a.as_dtype(Dtype::Float32).unwrap().reshape(&[-1]).unwrap();
        a.eval().unwrap();
        a.as_slice::<f32>().to_vec()
    }

    #[test]
    fn zeroes_exactly_the_padded_frames_even_infinite_ones() {
        let m = FrameMask::of(2, 4).unwrap();
        let x = Array::from_slice(&[1.0f32, 2.0, f32::INFINITY, f32::NAN], &[1, 4, 1]);
        assert_eq!(host(&m.zero_padding(&x).unwrap()), [1.0, 2.0, 0.0, 0.0]);
        let scores = Array::ones::<f32>(&[1, 1, 1, 4]).unwrap();
        assert_eq!(host(&m.mask_keys(&scores).unwrap()), [1.0, 1.0, -1e4, -1e4]);
    }

    #[test]
    fn follows_lengths_through_upsampling_and_repetition() {
        // Stride 10, kernel 16, padding 3: 3 real of 5 frames → 30 real of 50.
        let up = FrameMask::of(3, 5).unwrap().upsampled(10, 3, 16).unwrap();
        assert_eq!(up.padded, 50);
        let ones = host(&up.zero_padding(&Array::ones::<f32>(&[1, 50, 1]).unwrap()).unwrap());
        assert_eq!(ones.iter().sum::<f32>(), 30.0);
        // An odd kernel − stride: (3 − 1)·2 − 2·1 + 5 = 7 of (5 − 1)·2 + 3 = 11.
        let odd = FrameMask::of(3, 5).unwrap().upsampled(2, 1, 5).unwrap();
        assert_eq!(odd.padded, 11);
        assert_eq!(host(&odd.zero_padding(&Array::ones::<f32>(&[1, 11, 1]).unwrap()).unwrap()).iter().sum::<f32>(), 7.0);
        let twice = FrameMask::of(3, 5).unwrap().repeated(2).unwrap();
        assert_eq!(host(&twice.zero_padding(&Array::ones::<f32>(&[1, 10, 1]).unwrap()).unwrap()).iter().sum::<f32>(), 6.0);
    }
}
