"""Drives gsv-server's /v1/audio/speech with the official `openai` client (run by
tests/openai_client.rs against a live server: `python tests/openai_speech.py BASE_URL VOICE`).

For every supported response_format it streams the audio with `with_streaming_response`, decodes
the bytes with libsndfile (soundfile) or numpy (pcm), and checks rate, length and that it is not
silence; it also checks the non-streaming call, the SSE stream and the error for `aac`.
Prints one line per check and exits non-zero on the first failure.
"""
import base64
import io
import json
import sys

import httpx
import numpy as np
import openai
import soundfile as sf

BASE, VOICE = sys.argv[1], sys.argv[2]
TEXT = "Please call me when you get to the station."
client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="test-key-unused", max_retries=0, timeout=600)

# format -> (libsndfile format hint or None for raw pcm, expected sample rate)
FORMATS = {"wav": ("WAV", 32000), "flac": ("FLAC", 32000), "mp3": ("MP3", 32000), "opus": ("OGG", 48000), "pcm": (None, 24000)}


def decode(fmt, data):
    hint, rate = FORMATS[fmt]
    if hint is None:
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate
    with sf.SoundFile(io.BytesIO(data)) as f:
        assert f.format == hint, f"{fmt}: libsndfile sees {f.format}"
        if f.frames < 2**62:
            return f.read(dtype="float32"), f.samplerate
        # A streamed FLAC says "length unknown" (STREAMINFO total 0); pysoundfile's read() then
        # tries to seek past the end, so read through libsndfile's own loop until it runs dry.
        out, buf = [], np.empty(4096 * f.channels, dtype="float32")
        while True:
            n = sf._snd.sf_readf_float(f._file, sf._ffi.cast("float *", buf.ctypes.data), 4096)
            if n <= 0:
                break
            out.append(buf[: n * f.channels].copy())
        return (np.concatenate(out) if out else np.zeros(0, np.float32)), f.samplerate


def check(fmt, data, how):
    audio, sr = decode(fmt, data)
    want = FORMATS[fmt][1]
    assert sr == want, f"{fmt}: rate {sr}, want {want}"
    seconds = len(audio) / sr
    assert seconds > 0.05, f"{fmt}: only {seconds:.3f} s decoded"
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    assert peak > 1e-4, f"{fmt}: silence (peak {peak})"
    print(f"ok {how} {fmt}: {len(data)} bytes -> {seconds:.2f} s at {sr} Hz, peak {peak:.3f}")


for fmt in FORMATS:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice=VOICE, input=TEXT, response_format=fmt
    ) as response:
        assert response.http_request is not None
        chunks = [c for c in response.iter_bytes() if c]
    check(fmt, b"".join(chunks), "streamed")

speech = client.audio.speech.create(model="gpt-sovits-v2", voice=VOICE, input=TEXT, response_format="wav", speed=1.25)
check("wav", speech.read(), "create")

try:
    client.audio.speech.create(model="tts-1", voice=VOICE, input=TEXT, response_format="aac")
    raise AssertionError("aac was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400, e.status_code
    err = e.body if isinstance(e.body, dict) else {}
    assert err.get("param") == "response_format", e.body
    print("ok aac -> 400 response_format")

try:
    client.audio.speech.create(model="tts-1", voice="no-such-voice", input=TEXT)
    raise AssertionError("an unknown voice was accepted")
except openai.BadRequestError as e:
    assert (e.body or {}).get("param") == "voice", e.body
    print("ok unknown voice -> 400 voice")

# SSE: speech.audio.delta events (base64 of the encoded stream), then speech.audio.done.
audio = bytearray()
done = None
with httpx.stream(
    "POST", f"{BASE}/v1/audio/speech", timeout=600,
    json={"model": "tts-1", "voice": VOICE, "input": TEXT, "response_format": "pcm", "stream_format": "sse"},
) as r:
    assert r.status_code == 200, r.status_code
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers["content-type"]
    for line in r.iter_lines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event["type"] == "speech.audio.delta":
            audio += base64.b64decode(event["audio"])
        elif event["type"] == "speech.audio.done":
            done = event
assert done is not None and done["usage"]["output_tokens"] > 0, done
check("pcm", bytes(audio), "sse")
print("all openai checks passed")
