//! The TTS pipeline over the models: voices, text → GPT tokens → waveform, chunked streaming.
pub mod chunker;
