//! The TTS pipeline over the models: voices, text → tokens → waveform, chunked streaming. (to be written)
