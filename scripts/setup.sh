#!/usr/bin/env bash
# Prepares this checkout to build gsv-server. Idempotent: a second run only checks.
#
# macOS: nothing to do — crates.io mlx-sys builds MLX with Metal as published.
# Linux: the MLX runtime comes from the pinned `mlx-cpu` PyPI wheel (MLX has no Linux build in
# mlx-sys 0.7.0), the crates.io mlx-sys package is copied into .mlx/ and gsv-server's own Linux
# build glue (build-support/mlx-sys-linux) is laid over it, and .cargo/config.toml points cargo there.
# Nothing of a third party is committed: .mlx/ and .cargo/config.toml are git-ignored.
set -euo pipefail

MLX_VERSION=0.32.2
MLX_SYS_VERSION=0.7.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mlx_home="$root/.mlx"
prefix="$mlx_home/wheel/mlx"
log() { printf '[setup] %s\n' "$*"; }

# Text-frontend dictionaries (git-ignored, under .gsv-data/); needs python3 with pip.
#    Korean: mecab-ko-dic 2.1.1 as compiled on PyPI (python-mecab-ko-dic 2.1.1.post2, Apache-2.0), the
#    dictionary upstream's g2pk2 loads; read by crates/gsv-text/src/mecab. The server finds it
#    at `text.mecab_ko_dic` / GSV_MECAB_KO_DIC, default .gsv-data/mecab-ko-dic.
install_text_data() {
  MECAB_KO_DIC_VERSION=2.1.1.post2
  ko_dic="$root/.gsv-data/mecab-ko-dic"
  if [ "$(cat "$ko_dic/.version" 2>/dev/null)" != "$MECAB_KO_DIC_VERSION" ]; then
    log "installing mecab-ko-dic $MECAB_KO_DIC_VERSION (python-mecab-ko-dic wheel) into .gsv-data/mecab-ko-dic"
    tmp=$(mktemp -d)
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
      -d "$tmp" "python-mecab-ko-dic==$MECAB_KO_DIC_VERSION"
    rm -rf "$ko_dic" && mkdir -p "$ko_dic"
    python3 - "$tmp"/python_mecab_ko_dic-*.whl "$ko_dic" <<'PY'
import sys, zipfile, os
wheel, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        # What MeCab reads at run time (model.bin and the *.def sources are for training/building).
        if name.startswith("mecab_ko_dic/dictionary/") and base in ("sys.dic", "unk.dic", "char.bin", "matrix.bin", "dicrc"):
            with open(os.path.join(dst, base), "wb") as f:
                f.write(z.read(name))
        elif name.endswith(".dist-info/LICENSE"):
            with open(os.path.join(dst, "LICENSE"), "wb") as f:
                f.write(z.read(name))
PY
    rm -rf "$tmp"
    echo "$MECAB_KO_DIC_VERSION" >"$ko_dic/.version"
  fi
  #    Japanese: OpenJTalk's naist-jdic from Debian (open-jtalk-mecab-naist-jdic), the MeCab
  #    oracle tests' second dictionary (tests/mecab_oracle.rs).
  if command -v apt-get >/dev/null && [ ! -e /var/lib/mecab/dic/open-jtalk/naist-jdic/sys.dic ]; then
    log "installing open-jtalk-mecab-naist-jdic"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq open-jtalk-mecab-naist-jdic >/dev/null
  fi
}

if [ "$(uname -s)" = Darwin ]; then
  install_text_data
  log "macOS: crates.io mlx-sys builds MLX with Metal; nothing else to set up."
  rm -f "$root/.cargo/config.toml"
  exit 0
fi

# 1. System packages: libclang for bindgen, OpenBLAS (30x faster than the wheel's reference BLAS),
#    patchelf to point libmlx.so at it, python3 + pip for the wheel.
need_apt=()
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || ls /usr/lib/*/libclang-[0-9]*.so* >/dev/null 2>&1 || need_apt+=(libclang-dev)
[ -e /usr/lib/x86_64-linux-gnu/libopenblas.so.0 ] || [ -e /usr/lib/aarch64-linux-gnu/libopenblas.so.0 ] || need_apt+=(libopenblas0-pthread)
command -v patchelf >/dev/null || need_apt+=(patchelf)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v c++ >/dev/null || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

install_text_data

# 2. The MLX runtime (headers + libmlx.so) from the pinned wheel.
version_of() {
  local h="$1/include/mlx/version.h"
  [ -f "$h" ] || return 1
  awk '/#define MLX_VERSION_(MAJOR|MINOR|PATCH)/ {v[$2]=$3} END {printf "%s.%s.%s", v["MLX_VERSION_MAJOR"], v["MLX_VERSION_MINOR"], v["MLX_VERSION_PATCH"]}' "$h"
}
have=$(version_of "$prefix" || true)
if [ "$have" != "$MLX_VERSION" ]; then
  [ -z "$have" ] || log "MLX $have found in .mlx/wheel, but $MLX_VERSION is required: replacing it"
  rm -rf "$mlx_home/wheel"
  log "installing mlx-cpu==$MLX_VERSION into .mlx/wheel"
  python3 -m pip install -q --disable-pip-version-check --no-deps --target "$mlx_home/wheel" "mlx-cpu==$MLX_VERSION"
  have=$(version_of "$prefix" || true)
  if [ "$have" != "$MLX_VERSION" ]; then
    echo "error: the installed MLX reports version '$have', expected $MLX_VERSION" >&2
    exit 1
  fi
fi
lib="$prefix/lib/libmlx.so"
if patchelf --print-needed "$lib" | grep -q '^libblas-'; then
  log "pointing libmlx.so at the system OpenBLAS"
  args=()
  for dep in $(patchelf --print-needed "$lib" | grep -E '^lib(blas|lapack)-'); do
    args+=(--replace-needed "$dep" libopenblas.so.0)
  done
  patchelf "${args[@]}" "$lib"
fi

# 3. mlx-sys from crates.io, with the Linux overlay.
dst="$mlx_home/mlx-sys"
stamp="$dst/.gsv-overlay"
overlay="$root/build-support/mlx-sys-linux"
want_stamp=$(cat "$overlay/build.rs" "$overlay/lib.rs" "$overlay"/compat/* | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/mlx-sys-$MLX_SYS_VERSION.crate 2>/dev/null | head -n1 || true)
  if [ -z "$crate" ]; then
    log "fetching mlx-sys $MLX_SYS_VERSION through cargo"
    tmp=$(mktemp -d)
    mkdir -p "$tmp/src" && : >"$tmp/src/lib.rs"
    printf '[package]\nname = "mlx-sys-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nmlx-sys = { version = "=%s", default-features = false }\n' "$MLX_SYS_VERSION" >"$tmp/Cargo.toml"
    (cd "$tmp" && cargo fetch -q)
    rm -rf "$tmp"
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/mlx-sys-$MLX_SYS_VERSION.crate | head -n1)
  fi
  rm -rf "$dst" && mkdir -p "$mlx_home"
  tar -xzf "$crate" -C "$mlx_home" && mv "$mlx_home/mlx-sys-$MLX_SYS_VERSION" "$dst"
  cp "$overlay/build.rs" "$dst/build.rs"
  cp "$overlay/lib.rs" "$dst/src/lib.rs"
  cp -r "$overlay/compat" "$dst/compat"
  echo "$want_stamp" >"$stamp"
  log "mlx-sys $MLX_SYS_VERSION laid out in .mlx/mlx-sys with the Linux overlay"
fi

# 4. Cargo wiring, generated (git-ignored): patch mlx-sys, tell its build where MLX is.
mkdir -p "$root/.cargo"
cat >"$root/.cargo/config.toml.new" <<TOML
# Generated by scripts/setup.sh on Linux; do not edit, do not commit.
[patch.crates-io]
mlx-sys = { path = "$dst" }

[env]
MLX_PREFIX = "$prefix"
TOML
if ! cmp -s "$root/.cargo/config.toml.new" "$root/.cargo/config.toml" 2>/dev/null; then
  mv "$root/.cargo/config.toml.new" "$root/.cargo/config.toml"
  log "wrote .cargo/config.toml"
else
  rm "$root/.cargo/config.toml.new"
fi
log "ready: MLX $MLX_VERSION (CPU) at .mlx/wheel/mlx"
