#!/usr/bin/env bash
# The test command (README, CI): prepares a fresh machine, then runs every test of the workspace.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
if [ -x scripts/test-python-env.sh ]; then scripts/test-python-env.sh; fi
if [ -x scripts/test-browser-env.sh ]; then scripts/test-browser-env.sh; fi
cargo test --workspace --locked "$@"
