#!/usr/bin/env bash
# Installs Debian's `chromium` and `chromium-driver` for tests/browser_playground.rs (the headless
# playground test drives Chromium through chromedriver's WebDriver HTTP API). Idempotent: when
# both are present it only checks. The server itself needs no browser.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "[test-browser-env] needs chromium and chromedriver on PATH (no apt-get here to install them)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "[test-browser-env] installing chromium chromium-driver" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "[test-browser-env] ready: $(chromium --version 2>/dev/null || echo chromium)" >&2
