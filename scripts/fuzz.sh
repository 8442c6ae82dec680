#!/usr/bin/env bash
# Fuzzes crates/torch-archive and the server's reference-audio path with cargo-fuzz (nightly
# toolchain, libFuzzer), on ONE core, for RUNS executions per target (default 1,000,000 each):
#   load   - raw bytes into torch_archive::load (zip layer, SoVITS headers, CRCs, everything behind)
#   pickle - bytes as data.pkl of a valid zip with small storage records (pickle VM, tensor rebuild)
#   reference_audio - an uploaded reference clip: container sniffing, WAV/FLAC/MP3/OGG headers and
#            packets under the reference limits, then the 16 kHz resample (src/audio/*)
# Seeds: synthetic archives (examples/fuzz_seeds.rs) plus the small fixture models; for
# reference_audio the fixture clips (the WAV cut short) and a few hostile WAV headers.
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]      Needs: cargo install cargo-fuzz; rustup nightly.
set -euo pipefail
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(pickle load reference_audio)

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }

SEEDS=$(mktemp -d)
trap 'rm -rf "$SEEDS"' EXIT
cargo run -q -p torch-archive --example fuzz_seeds -- "$SEEDS"
M=tests/fixtures/models
mkdir -p fuzz/corpus/load fuzz/corpus/pickle
cp "$SEEDS"/load/* fuzz/corpus/load/
cp "$SEEDS"/pickle/* fuzz/corpus/pickle/
# Whole fixture archives are seeds for `load` (the 31 MB SoVITS file only via its pickle: mutating
# it whole would make each execution take tens of milliseconds).
cp $M/gpt/*.ckpt $M/chinese-roberta-wwm-ext-large-tiny/pytorch_model.bin fuzz/corpus/load/
if command -v unzip >/dev/null; then
    for f in $M/gpt/*.ckpt $M/sovits/*.pth $M/*/pytorch_model.bin; do
        unzip -p "$f" '*/data.pkl' > "fuzz/corpus/pickle/$(basename "$(dirname "$f")")-$(basename "$f").pkl"
    done
fi

mkdir -p fuzz/corpus/reference_audio
A=tests/fixtures/audio
cp $A/tone.mp3 $A/tone.ogg $A/tone_stereo.flac fuzz/corpus/reference_audio/
head -c 20000 $A/ref_32k.wav > fuzz/corpus/reference_audio/ref_head.wav
# Hostile headers: 1 Hz mono, 65535 channels, 8 kHz declaring 4 GB (RIFF/WAVE, fmt PCM 16-bit).
wav_header() { # rate channels data_len
    printf 'RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00'
    python3 -c "import struct,sys; r,c,n=map(int,sys.argv[1:]); sys.stdout.buffer.write(struct.pack('<HIIHH',c,r,r*2*c&0xffffffff,(2*c)&0xffff,16)+b'data'+struct.pack('<I',n))" "$@"
}
{ wav_header 1 1 4000; head -c 4000 /dev/zero; } > fuzz/corpus/reference_audio/one_hz.wav
{ wav_header 16000 65535 4000; head -c 4000 /dev/zero; } > fuzz/corpus/reference_audio/many_channels.wav
{ wav_header 8000 1 4294967280; head -c 4000 /dev/zero; } > fuzz/corpus/reference_audio/lying_length.wav

for t in "${TARGETS[@]}"; do
    echo "== fuzz target $t: $RUNS runs ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
    start=$(date +%s)
    # One process, one core (no -jobs). -timeout: a hang counts as a crash; -rss_limit_mb: so does
    # a blow-up. -max_len: room for the largest seed of the target. The crate has no `unsafe`, so
    # the build skips AddressSanitizer (3x the executions); cargo-fuzz keeps debug assertions and
    # overflow checks on. SANITIZER=address scripts/fuzz.sh restores it.
    log="fuzz/artifacts/$t.log"
    mkdir -p fuzz/artifacts
    set +e
    maxlen=400000
    timeout=10
    [ "$t" = pickle ] && maxlen=70000
    # reference_audio: every 4096th input is also resampled, which the coverage-instrumented
    # build of rubato runs ~100x slower than the server's release build (0.03–0.1 s for an 11 s
    # clip at any accepted rate, measured 2026-12-06): allow it 30 s before calling it a hang.
    [ "$t" = reference_audio ] && maxlen=65536 && timeout=30
    cargo +nightly fuzz run --fuzz-dir fuzz -s "${SANITIZER:-none}" "$t" "fuzz/corpus/$t" -- \
        -runs="$RUNS" -timeout=$timeout -rss_limit_mb=2048 -max_len=$maxlen -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    grep -E "^(#[0-9]+ +(INITED|DONE)|Done|stat::|==[0-9]+==|SUMMARY|thread|panicked|artifact)" "$log" || tail -20 "$log"
    echo "== $t finished in $(( $(date +%s) - start )) s, exit status $rc"
    [ "$rc" -eq 0 ] || exit "$rc"
done
