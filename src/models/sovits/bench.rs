//! Random-weight SoVITS for benchmarks.
