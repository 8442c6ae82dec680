//! Chunked decoding.
