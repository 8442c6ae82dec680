#!/usr/bin/env bash
# Checks the Dockerfile's CPU runtime stage where Docker can't run: builds the same userland
# (Debian bookworm, minbase, the packages the `cpu` stage installs) with debootstrap, lays out
# /app as the stage does (libmlx, the release binary, config), then serves the fixture models in a
# chroot and asks /health and POST /v1/tts.
#
# usage (root; needs debootstrap and Debian's mirror): scripts/verify-runtime-rootfs.sh [ROOTFS_DIR]
# Build first: scripts/setup.sh && cargo build --release --locked --bin gsv-server
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rootfs=${1:-/tmp/gsv-runtime-rootfs}
port=9891
# Keep in step with the `cpu` stage of the Dockerfile.
packages=libopenblas0-pthread,libgomp1,ca-certificates,curl

[ "$(id -u)" = 0 ] || { echo "error: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
bin="$root/target/release/gsv-server"
[ -x "$bin" ] || { echo "error: build $bin first" >&2; exit 1; }

if [ ! -x "$rootfs/usr/bin/curl" ]; then
  echo "[rootfs] debootstrap bookworm (minbase + $packages) into $rootfs"
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
fi
mkdir -p "$rootfs/app/.mlx/wheel/mlx" "$rootfs/app/tests"
rm -rf "$rootfs/app/.mlx/wheel/mlx/lib" "$rootfs/app/config" "$rootfs/app/tests/fixtures"
cp -a "$root/.mlx/wheel/mlx/lib" "$rootfs/app/.mlx/wheel/mlx/"
cp "$bin" "$rootfs/usr/local/bin/gsv-server"
cp -a "$root/config" "$rootfs/app/"
cp -a "$root/tests/fixtures" "$rootfs/app/tests/"

mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
trap 'pkill -f "gsv-server serve --bind 127.0.0.1:$port" || true; umount "$rootfs/proc" 2>/dev/null || true' EXIT
chroot "$rootfs" /bin/sh -ec "
  cd /app
  export LD_LIBRARY_PATH=/app/.mlx/wheel/mlx/lib GSV_CONFIG=config/fixture.toml
  ldd /usr/local/bin/gsv-server | grep 'not found' && exit 1 || true
  gsv-server serve --bind 127.0.0.1:$port > /tmp/serve.log 2>&1 &
  for i in \$(seq 1 60); do
    curl -fs http://127.0.0.1:$port/health >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fs http://127.0.0.1:$port/health
  echo
  curl -fs -o /tmp/out.wav -X POST http://127.0.0.1:$port/v1/tts -H 'content-type: application/json' \
    -d '{\"text\":\"Hello from the runtime image.\",\"voice\":\"fixture\"}'
  [ \"\$(head -c 4 /tmp/out.wav)\" = RIFF ] || { echo 'no WAV came back' >&2; cat /tmp/serve.log >&2; exit 1; }
  echo \"ok: \$(wc -c < /tmp/out.wav) bytes of WAV from the runtime rootfs\"
"
