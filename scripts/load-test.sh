#!/usr/bin/env bash
# Load test against a RUNNING gsv-server (start it with scripts/serve.sh first). Sends only to the
# URL given (default loopback), a bounded number of requests per level, then stops.
#
#   scripts/load-test.sh [URL] [VOICE] [REQUESTS_PER_CLIENT]
#
# For concurrency 1, 4, 16 and 64 it runs oha (installed with `cargo install oha` if missing)
# against POST /v1/tts (non-streaming WAV), reads the server's gsv_semantic_tokens_total before and
# after to get the aggregate tokens/s, then measures time to first audio byte with the streaming
# client (examples/ttfa.rs). Results replace the table in the "Load test" section of
# docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
url=${1:-http://127.0.0.1:9880}
voice=${2:-}
per_client=${3:-4}
levels=(1 4 16 64)
text="Please call me when you get to the station. I will be waiting by the north entrance."
log() { printf '[load-test] %s\n' "$*" >&2; }

case "$url" in
  http://127.*|http://localhost*|http://\[::1\]*) ;;
  *) log "refusing $url: this script only targets a server on this machine"; exit 1 ;;
esac

command -v jq >/dev/null || { log "installing jq"; apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
if ! command -v oha >/dev/null; then
  log "installing oha (cargo install oha --locked)"
  cargo install oha --locked
fi

health=$(curl -s "$url/health" || true)
if [ "$(echo "$health" | jq -r .status 2>/dev/null)" != ready ]; then
  log "the server at $url is not ready: $health"
  exit 1
fi
if [ -z "$voice" ]; then
  voice=$(curl -s "$url/v1/voices" | jq -r '.voices[0].name // empty')
  [ -n "$voice" ] || { log "no voice is configured on the server"; exit 1; }
fi
body=$(jq -nc --arg t "$text" --arg v "$voice" '{text: $t, voice: $v, seed: 1, format: "wav"}')

tokens() { curl -s "$url/metrics" | awk '/^gsv_semantic_tokens_total /{print $2}' | tail -n1; }
device=$(curl -s "$url/health" | jq -r '"v" + .version')
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)

rows=()
single_tps=""
for c in "${levels[@]}"; do
  n=$((c * per_client))
  log "c=$c: $n requests"
  before=$(tokens); before=${before:-0}
  start=$(date +%s.%N)
  out=$(oha -n "$n" -c "$c" -m POST -H 'content-type: application/json' -d "$body" \
        --no-tui --output-format json "$url/v1/tts")
  end=$(date +%s.%N)
  after=$(tokens); after=${after:-0}
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN{print b - a}')
  tps=$(awk -v a="$before" -v b="$after" -v w="$wall" 'BEGIN{print (b - a) / w}')
  [ -n "$single_tps" ] || single_tps=$tps
  factor=$(awk -v t="$tps" -v s="$single_tps" 'BEGIN{print (s > 0) ? t / s : 0}')
  p50=$(echo "$out" | jq '.latencyPercentiles.p50 * 1000')
  p99=$(echo "$out" | jq '.latencyPercentiles.p99 * 1000')
  rps=$(echo "$out" | jq '.summary.requestsPerSec')
  ok=$(echo "$out" | jq '[.statusCodeDistribution | to_entries[] | select(.key == "200") | .value] | add // 0')
  errors=$((n - ok))
  rows+=("$(printf '| %d | %d | %.0f | %.0f | %.2f | %d | %.1f | %.2f× |' "$c" "$n" "$p50" "$p99" "$rps" "$errors" "$tps" "$factor")")
done

log "time to first audio (streaming)"
cargo build -q --release --example ttfa --manifest-path "$root/Cargo.toml"
ttfa1=$("$root/target/release/examples/ttfa" "$url" "$voice" 4 1 "$text")
ttfa4=$("$root/target/release/examples/ttfa" "$url" "$voice" 8 4 "$text")

table=$(
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), commit $commit, server $device, $url, voice \`$voice\`, $per_client requests per client, text of ${#text} characters."
  echo
  echo "| clients | requests | p50 ms | p99 ms | req/s | errors | server tokens/s | vs 1 client |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Streaming time to first audio byte (\`examples/ttfa.rs\`):"
  echo
  echo '```'
  echo "$ttfa1"
  echo "$ttfa4"
  echo '```'
)
printf '%s\n' "$table"

doc="$root/docs/benchmarks.md"
begin='<!-- load-test:begin -->'
end='<!-- load-test:end -->'
if [ -f "$doc" ] && grep -q "$begin" "$doc"; then
  awk -v b="$begin" -v e="$end" -v t="$table" '
    $0 == b { print; print t; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" >"$doc.new" && mv "$doc.new" "$doc"
  log "updated $doc"
else
  log "no load-test markers in $doc; table printed above"
fi
