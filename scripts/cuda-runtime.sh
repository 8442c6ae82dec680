#!/usr/bin/env bash
# Makes a gsv-server binary built against the CPU wheel run on an NVIDIA GPU (MLX's CUDA backend).
#
# The CUDA build of MLX 0.32.2 (`mlx-cuda-13` on PyPI) exports the same C++ API as the CPU build,
# so the binary needs no rebuild: install the wheel into a Python environment that has the NVIDIA
# runtime packages (its libmlx.so finds cuBLAS, cuDNN, NVRTC… through an RPATH into that
# site-packages), then put its lib folder first on LD_LIBRARY_PATH.
#
# usage: scripts/cuda-runtime.sh [--wheel FILE.whl] [--python PYTHON]
#   --wheel   an already downloaded mlx_cuda_13-0.32.2 wheel (offline machines); otherwise pip
#             downloads mlx-cuda-13==0.32.2 and the nvidia-* packages it needs.
#   --python  the interpreter whose site-packages to use (default: python3).
# Prints the `export LD_LIBRARY_PATH=…` line to use; `gsv-server doctor` then reports `cuda`.
set -euo pipefail
MLX_VERSION=0.32.2
wheel=""
py=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "[cuda-runtime] site-packages: $site" >&2

# The NVIDIA runtime libraries the CUDA wheel links through its RPATH into nvidia/*/lib (CUDA 13
# packages share one nvidia/cu13/lib; older ones have a folder per package).
missing=()
for l in libcublas libnvrtc libcudart libcufft libcudnn libnccl; do
  ls "$site"/nvidia/*/lib/$l.so* >/dev/null 2>&1 || missing+=("$l")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ -n "$wheel" ]; then
    echo "error: $site lacks NVIDIA runtime packages (${missing[*]}); install them, e.g." >&2
    echo "  $py -m pip install nvidia-cublas nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-nccl-cu13" >&2
    exit 1
  fi
  echo "[cuda-runtime] installing NVIDIA runtime packages: ${missing[*]}" >&2
  "$py" -m pip install -q nvidia-cublas nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-nccl-cu13 >&2
fi

if [ -n "$wheel" ]; then
  "$py" -m pip install -q --no-deps --no-index --force-reinstall "$wheel" >&2
else
  "$py" -m pip install -q --no-deps "mlx-cuda-13==$MLX_VERSION" >&2
fi
lib="$site/mlx/lib"
v=$(awk '/#define MLX_VERSION_(MAJOR|MINOR|PATCH)/ {v[$2]=$3} END {printf "%s.%s.%s", v["MLX_VERSION_MAJOR"], v["MLX_VERSION_MINOR"], v["MLX_VERSION_PATCH"]}' "$site/mlx/include/mlx/version.h")
if [ "$v" != "$MLX_VERSION" ]; then
  echo "error: installed MLX is $v; gsv-server is built for $MLX_VERSION exactly" >&2
  exit 1
fi
[ -f "$lib/libmlx.so" ] || { echo "error: no $lib/libmlx.so" >&2; exit 1; }
echo "export LD_LIBRARY_PATH=$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
