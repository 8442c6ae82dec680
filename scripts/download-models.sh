#!/usr/bin/env bash
# Downloads the official pretrained GPT-SoVITS v2 models (spec §10) from the Hugging Face
# repository lj1995/GPT-SoVITS into models/, the layout config/default.toml expects:
#
#   models/chinese-roberta-wwm-ext-large/{config.json,pytorch_model.bin,tokenizer.json}   BERT
#   models/chinese-hubert-base/{config.json,preprocessor_config.json,pytorch_model.bin}    CNHuBERT
#   models/gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt          GPT v2
#   models/gsv-v2final-pretrained/s2G2333k.pth                                             SoVITS v2
#
# About 1.6 GB. Optional extras, each by flag (same repository, spec §10):
#   --v2pro       models/v2Pro/s2Gv2Pro.pth                        SoVITS v2Pro     (~160 MB)
#   --v2proplus   models/v2Pro/s2Gv2ProPlus.pth                    SoVITS v2ProPlus (~200 MB)
#   --s1v3        models/s1v3.ckpt                                 GPT for v2Pro/v2ProPlus (~155 MB)
#   --sv          models/sv/pretrained_eres2netv2w24s4ep4.ckpt     speaker model v2Pro/ProPlus need
#   --pro         all four of the above
#   --no-v2       skip the v2 GPT/SoVITS pair (BERT and HuBERT are always fetched: every model uses them)
#   --dry-run     print what would be fetched, fetch nothing
# config/default.toml shows (commented out) a v2ProPlus model and voice using these paths.
#
# Re-running resumes partial files and skips complete ones. Needs curl and access to
# huggingface.co (set HF_ENDPOINT for a mirror, HF_TOKEN if your network requires one).
# Usage: scripts/download-models.sh [FLAGS] [DEST]   (default DEST: models/ in the repository root)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
endpoint=${HF_ENDPOINT:-https://huggingface.co}
repo=lj1995/GPT-SoVITS
revision=${GSV_MODELS_REVISION:-main}

v2=1 v2pro=0 v2proplus=0 s1v3=0 sv=0 dry=0 dest=""
for arg in "$@"; do
  case "$arg" in
    --v2pro) v2pro=1 ;;
    --v2proplus) v2proplus=1 ;;
    --s1v3) s1v3=1 ;;
    --sv) sv=1 ;;
    --pro) v2pro=1 v2proplus=1 s1v3=1 sv=1 ;;
    --no-v2) v2=0 ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown flag $arg (see --help)" >&2; exit 2 ;;
    *) [ -z "$dest" ] || { echo "error: more than one destination: $dest, $arg" >&2; exit 2; }; dest=$arg ;;
  esac
done
dest=${dest:-"$root/models"}

files=(
  chinese-roberta-wwm-ext-large/config.json
  chinese-roberta-wwm-ext-large/pytorch_model.bin
  chinese-roberta-wwm-ext-large/tokenizer.json
  chinese-hubert-base/config.json
  chinese-hubert-base/preprocessor_config.json
  chinese-hubert-base/pytorch_model.bin
)
[ "$v2" = 1 ] && files+=("gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt" gsv-v2final-pretrained/s2G2333k.pth)
[ "$v2pro" = 1 ] && files+=(v2Pro/s2Gv2Pro.pth)
[ "$v2proplus" = 1 ] && files+=(v2Pro/s2Gv2ProPlus.pth)
[ "$s1v3" = 1 ] && files+=(s1v3.ckpt)
[ "$sv" = 1 ] && files+=(sv/pretrained_eres2netv2w24s4ep4.ckpt)

if [ "$dry" = 1 ]; then
  for f in "${files[@]}"; do
    echo "[models] would fetch $endpoint/$repo/resolve/$revision/${f//=/%3D} -> $dest/$f"
  done
  exit 0
fi

command -v curl >/dev/null || { echo "error: curl is required (apt-get install curl)" >&2; exit 1; }
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

for f in "${files[@]}"; do
  out="$dest/$f"
  mkdir -p "$(dirname "$out")"
  if [ -s "$out" ] && [ ! -e "$out.part" ]; then
    echo "[models] have $f"
    continue
  fi
  url="$endpoint/$repo/resolve/$revision/${f//=/%3D}"
  echo "[models] fetching $f"
  touch "$out.part"
  curl -fL --retry 3 --retry-delay 2 -C - "${auth[@]}" -o "$out.tmp" "$url"
  mv "$out.tmp" "$out"
  rm -f "$out.part"
done
echo "[models] done: $dest (start the server with scripts/serve.sh; GET /health says ready once loaded)"
