#!/usr/bin/env python3
"""Soak test against a RUNNING gsv-server on this machine (loopback only), bounded: N requests of
a fixed mix, RSS of the server process and the size of /metrics sampled every N/10 requests.

    scripts/soak.py [--url URL] [--pid PID] [--requests 10000] [--voice NAME]

The mix (per 20 requests): 2 small synthesis requests (one streamed), 1 WebSocket-free OpenAI
request, then cheap hostile ones: junk method names, unknown paths, malformed JSON, out-of-range
sampling, an oversized transcript, a 1 Hz WAV header, a GET of the WebSocket route, /health and
/v1/voices. Every answer must be 2xx/4xx with a JSON error body; RSS and /metrics must stay flat.
Prints a Markdown table (docs/benchmarks.md, "Soak"). Python standard library only.
"""
import argparse
import base64
import http.client
import json
import os
import struct
import sys
import time
from urllib.parse import urlparse


def wav(rate, channels, data):
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * 2 * channels) & 0xFFFFFFFF, (2 * channels) & 0xFFFF, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:9880")
    ap.add_argument("--pid", type=int, required=True, help="the server's process id (for RSS)")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--voice", default="fixture")
    a = ap.parse_args()
    u = urlparse(a.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing {a.url}: this script only targets a server on this machine")
    one_hz = base64.b64encode(wav(1, 1, b"\0" * 16000)).decode()
    v = a.voice
    mix = [
        ("POST", "/v1/tts", {"text": "Hi there.", "voice": v, "format": "pcm", "seed": 1}),
        ("POST", "/v1/tts", {"text": "Hello.", "voice": v, "format": "wav", "stream": True}),
        ("POST", "/v1/audio/speech", {"model": "tts-1", "input": "Hi.", "voice": v, "response_format": "pcm"}),
        ("JUNK{i}", "/v1/tts", None),
        ("GET", "/nope/{i}", None),
        ("POST", "/v1/tts", "{not json"),
        ("POST", "/v1/tts", {"text": "Hi.", "voice": v, "repetition_penalty": 1e-38}),
        ("POST", "/v1/tts", {"text": "Hi.", "reference": {"audio_base64": "AAAA", "transcript": "x" * 2000, "language": "en"}}),
        ("POST", "/v1/tts", {"text": "Hi.", "reference": {"audio_base64": one_hz, "transcript": "", "language": "en"}}),
        ("GET", "/v1/tts/stream", None),
        ("GET", "/health", None),
        ("GET", "/v1/voices", None),
        ("OPTIONS{i}", "/metrics", None),
        ("POST", "/tts", {"text": "Hi.", "text_lang": "xx{i}"}),
        ("GET", "/tts?text=Hi&text_lang=en&ref_audio_path=/etc/passwd{i}&prompt_lang=en", None),
        ("POST", "/v1/tts", {"text": "Hi.", "voice": "nobody{i}"}),
        ("PUT", "/v1/voices", None),
        ("GET", "/docs/missing{i}.js", None),
        ("POST", "/v1/audio/speech", {"model": "tts-9{i}", "input": "Hi.", "voice": v}),
        ("DELETE", "/health", None),
    ]
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)

    def request(method, path, body):
        nonlocal conn
        headers = {}
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["content-type"] = "application/json"
        for attempt in range(2):
            try:
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                payload = r.read()
                return r.status, r.getheader("content-type") or "", payload
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
                if attempt:
                    raise

    def metrics_size():
        return len(request("GET", "/metrics", None)[2])

    samples = [(0, rss_kb(a.pid), metrics_size())]
    statuses = {}
    t0 = time.time()
    step = max(a.requests // 10, 1)
    for i in range(a.requests):
        method, path, body = mix[i % len(mix)]
        method, path = method.replace("{i}", str(i)), path.replace("{i}", str(i))
        if isinstance(body, dict) and any("{i}" in str(x) for x in body.values()):
            body = {k: (x.replace("{i}", str(i)) if isinstance(x, str) else x) for k, x in body.items()}
        status, ctype, payload = request(method, path, body)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            sys.exit(f"{method} {path}: {status} {payload[:200]!r}")
        if status >= 400 and not ctype.startswith("application/json"):
            sys.exit(f"{method} {path}: {status} with a non-JSON body ({ctype}): {payload[:200]!r}")
        if (i + 1) % step == 0:
            samples.append((i + 1, rss_kb(a.pid), metrics_size()))
    wall = time.time() - t0
    print(f"{a.requests} requests in {wall:.0f} s; statuses: {dict(sorted(statuses.items()))}")
    print()
    print("| requests | RSS MB | /metrics bytes |")
    print("|---:|---:|---:|")
    for n, rss, m in samples:
        print(f"| {n} | {rss / 1024:.1f} | {m} |")
    first, last = samples[1], samples[-1]
    print()
    print(f"from {first[0]} to {last[0]} requests: RSS {100 * (last[1] - first[1]) / first[1]:+.1f} %, "
          f"/metrics {100 * (last[2] - first[2]) / first[2]:+.1f} %")


if __name__ == "__main__":
    main()
