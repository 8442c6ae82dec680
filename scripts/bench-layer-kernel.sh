#!/usr/bin/env bash
# The GPU check and A/B of the one-kernel-per-layer GPT step (the CUDA default since 2026-12-07;
# docs/cuda.md, "One kernel per layer"): the self-test of both step forms, then `gsv-server bench`
# with five kernels and with the layer kernel in each launch shape (the default, one block of 512
# threads a multiprocessor; one or two blocks of 256; without the last-split merge or the cache
# prefetch), then the end-to-end
# sentence with and without. One process per line, so every line pays its own
# kernel compilation (the first process also fills MLX's kernel cache; the first end-to-end one
# builds the SoVITS, HuBERT and BERT kernels: over a minute on a fresh H100).
#
# usage: scripts/bench-layer-kernel.sh [--bin PATH] [--out DIR] [--quick]
#   --bin    gsv-server binary (default target/release/gsv-server)
#   --out    folder for the JSON of every run, also packed as DIR.tar.xz (default
#            bench-layer-kernel-<date>)
#   --quick  skip the self-test (~3 min on an H100)
# Needs a CUDA build of MLX on the library path (scripts/cuda-runtime.sh) and python3.
set -uo pipefail
bin=target/release/gsv-server
out="bench-layer-kernel-$(date -u +%Y%m%d-%H%M)"
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"

# name, then the command's arguments; prints the wall time and the figures that decide.
run() {
  local name=$1; shift
  local start=$SECONDS
  "$@" >"$out/$name.json" 2>"$out/$name.err"
  local rc=$?
  printf '== %-14s rc=%d %ds\n' "$name" "$rc" $((SECONDS - start))
  python3 - "$out/$name.json" <<'PY' || tail -n 3 "$out/$name.err"
import json, sys
d = json.load(open(sys.argv[1]))
if "modes" in d:
    for m in d["modes"]:
        print(f"   {m['mode']}: passed={m['passed']} largest relative logit difference {m['max_rel_logit_diff']:.2e}")
    print(f"   passed={d.get('passed')}")
    sys.exit()
g = d.get("gpt", {})
forms = g.get("step_forms", {})
grid = forms.get("layer_kernel_grid")
if forms.get("layer_kernel"):
    line = [f"layer kernel {grid[0]}x{grid[1]}" if grid else "layer kernel"]
else:
    line = ["five kernels"]
if g.get("single"):
    line.append(f"batch 1 {g['single']['tokens_per_s']:.1f} tokens/s")
for b in g.get("batched", []):
    line.append(f"{b['batch']} streams {b['aggregate_tokens_per_s']:.0f}")
e = d.get("e2e")
if e:
    s, w = e["streaming"], e["sentence"]
    line.append(f"streamed first audio {s['first_audio_ms']:.1f} ms, total {s['total_ms']:.1f} ms; sentence {w['total_ms']:.1f} ms")
print("   " + "; ".join(line))
PY
}

bench=("$bin" bench --device gpu)
gpt=(--gpt-tokens 300 --batches 4,16 --batch-tokens 64 --breakdown-steps 0 --sovits-tokens 0 --e2e-tokens 0 --skip-features --repeats 1)
e2e=(--gpt-tokens 8 --batches 1 --batch-tokens 8 --breakdown-steps 0 --sovits-tokens 0 --e2e-tokens 100 --skip-features --repeats 5)

"$bin" doctor --device gpu | grep -E "device in use|CUDA kernels"
[ "$quick" = 1 ] || run selftest "$bin" selftest --device gpu
run five-kernels "${bench[@]}" "${gpt[@]}" --layer-kernel off
run layer "${bench[@]}" "${gpt[@]}" --layer-kernel on
run layer-t256 env GSV_LAYER_KERNEL_THREADS=256 "${bench[@]}" "${gpt[@]}" --layer-kernel on
run layer-no-merge-last env GSV_LAYER_KERNEL_MERGE_LAST=0 "${bench[@]}" "${gpt[@]}" --layer-kernel on
run layer-no-prefetch-kv env GSV_LAYER_KERNEL_PREFETCH_KV=0 "${bench[@]}" "${gpt[@]}" --layer-kernel on
run layer-t256-2-per-sm env GSV_LAYER_KERNEL_THREADS=256 GSV_LAYER_KERNEL_BLOCKS_PER_SM=2 "${bench[@]}" "${gpt[@]}" --layer-kernel on
run e2e-five "${bench[@]}" "${e2e[@]}" --layer-kernel off
run e2e-layer "${bench[@]}" "${e2e[@]}" --layer-kernel on
# One file to carry back from a machine that returns few files (the device returns 8 a call).
tar -cJf "$out.tar.xz" "$out"
echo "JSON in $out/ (and $out.tar.xz)"
