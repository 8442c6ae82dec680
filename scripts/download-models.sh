#!/usr/bin/env bash
# Downloads the official pretrained GPT-SoVITS v2 models (spec §10) from the Hugging Face
# repository lj1995/GPT-SoVITS into models/, the layout config/default.toml expects:
#
#   models/chinese-roberta-wwm-ext-large/{config.json,pytorch_model.bin,tokenizer.json}   BERT
#   models/chinese-hubert-base/{config.json,preprocessor_config.json,pytorch_model.bin}    CNHuBERT
#   models/gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt          GPT v2
#   models/gsv-v2final-pretrained/s2G2333k.pth                                             SoVITS v2
#
# About 1.6 GB. Re-running resumes partial files and skips complete ones. Needs curl and access
# to huggingface.co (set HF_ENDPOINT for a mirror, HF_TOKEN if your network requires one).
# Usage: scripts/download-models.sh [DEST]   (default: models/ in the repository root)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-"$root/models"}
endpoint=${HF_ENDPOINT:-https://huggingface.co}
repo=lj1995/GPT-SoVITS
revision=${GSV_MODELS_REVISION:-main}

files=(
  chinese-roberta-wwm-ext-large/config.json
  chinese-roberta-wwm-ext-large/pytorch_model.bin
  chinese-roberta-wwm-ext-large/tokenizer.json
  chinese-hubert-base/config.json
  chinese-hubert-base/preprocessor_config.json
  chinese-hubert-base/pytorch_model.bin
  "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
  gsv-v2final-pretrained/s2G2333k.pth
)

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
