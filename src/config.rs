//! Settings: config/*.toml + environment + CLI. (to be written)
