#!/usr/bin/env bash
# Starts gsv-server on a fresh machine: prepares the build, builds in release, serves with
# config/default.toml (override with GSV_* variables or flags after `--`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
exec cargo run --release --locked --bin gsv-server -- serve "$@"
