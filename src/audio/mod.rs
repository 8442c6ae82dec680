//! Audio I/O: decoding reference clips, resampling, spectrograms, encoding responses. (to be written)
pub mod encode;
