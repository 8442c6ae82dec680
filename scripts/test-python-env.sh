#!/usr/bin/env bash
# Creates .venv-test with the official `openai` Python client and `soundfile` (libsndfile, an
# independent decoder for wav/flac/mp3/ogg-opus), used by tests/openai_client.rs to check the
# OpenAI-compatible route with OpenAI's own client, and `schemathesis`, which tests/schemathesis.rs
# runs against the committed OpenAPI document. Idempotent; the server itself needs no Python.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv-test"
want="openai==1.* soundfile==0.13.* numpy schemathesis==4.32.*"
stamp="$venv/.gsv-requirements"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv" 2>/dev/null || {
  echo "[test-python-env] python3 -m venv failed; installing python3-venv" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$venv"
}
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q --disable-pip-version-check $want
echo "$want" >"$stamp"
echo "[test-python-env] ready: $venv" >&2
