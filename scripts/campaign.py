#!/usr/bin/env python3
"""The issue-17 attack campaign as a black-box check of a RUNNING gsv-server (loopback only).

    scripts/campaign.py [--url http://127.0.0.1:9880] [--voice fixture] [--clip tests/fixtures/audio/ref_32k.wav]

Sends each of the campaign's inputs (docs/api.md "Limits") to a server started on the fixture
models with one token per streamed chunk:

    GSV_CONFIG=config/campaign.toml target/release/gsv-server serve

and prints one line per item, PASS or FAIL with what was seen. Being black-box, it runs unchanged
against any build, old or new, which is how the fixes were shown to change behaviour
(docs/benchmarks.md, "Attack campaign before and after"). The in-process tests
(tests/http_hardening.rs and others) assert the same behaviour on every CI run. Python standard
library only; exits 1 if any item fails.
"""
import argparse
import base64
import http.client
import json
import os
import socket
import struct
import sys
import time
from urllib.parse import urlparse


def wav(rate, channels, data):
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * 2 * channels) & 0xFFFFFFFF, (2 * channels) & 0xFFFF, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


class Client:
    def __init__(self, url):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port or 80

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers dict, body bytes, seconds)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = dict(headers or {})
        data = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h.setdefault("content-type", "application/json")
        elif body is not None:
            data = body
        t = time.time()
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, payload, time.time() - t
        except (socket.timeout, TimeoutError):
            return None, {}, b"", time.time() - t
        finally:
            conn.close()

    def ws(self, messages, until_done=1, timeout=60):
        """Sends text frames on a WebSocket to /v1/tts/stream; returns the JSON events received
        until `until_done` done/error events (or the timeout)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /v1/tts/stream HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, buf = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"no websocket upgrade: {head[:200]!r}")
        for m in messages:
            payload = json.dumps(m).encode()
            mask = os.urandom(4)
            n = len(payload)
            hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
            s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        events, ends = [], 0
        deadline = time.time() + timeout

        def need(k):
            nonlocal buf
            while len(buf) < k:
                if time.time() > deadline:
                    raise TimeoutError
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk

        try:
            while ends < until_done:
                need(2)
                op, n = buf[0] & 0x0F, buf[1] & 0x7F
                off = 2
                if n == 126:
                    need(4)
                    n, off = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127:
                    need(10)
                    n, off = struct.unpack(">Q", buf[2:10])[0], 10
                need(off + n)
                payload, buf = buf[off:off + n], buf[off + n:]
                if op == 1:
                    e = json.loads(payload)
                    events.append(e)
                    if e.get("type") in ("done", "error"):
                        ends += 1
                elif op == 2:
                    events.append({"type": "binary", "bytes": len(payload)})
                elif op == 8:
                    break
        except (TimeoutError, ConnectionError, socket.timeout):
            pass
        s.close()
        return events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:9880")
    ap.add_argument("--voice", default="fixture")
    ap.add_argument("--clip", default="tests/fixtures/audio/ref_32k.wav")
    a = ap.parse_args()
    u = urlparse(a.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing {a.url}: this script only targets a server on this machine")
    c, v = Client(a.url), a.voice
    clip = base64.b64encode(open(a.clip, "rb").read()).decode()
    results = []

    def item(n, what, ok, seen):
        results.append(ok)
        print(f"{n:>2} {'PASS' if ok else 'FAIL'}  {what}: {seen}", flush=True)

    def is_json(h):
        return h.get("content-type", "").startswith("application/json")

    # 1. A clip whose header claims 1 Hz: refused before any decode or resample, in well under a second.
    one_hz = base64.b64encode(wav(1, 1, b"\0" * 16000)).decode()
    st, h, _, t = c.request("POST", "/v1/tts", {"text": "Hi.", "reference": {"audio_base64": one_hz, "transcript": "", "language": "en"}}, timeout=120)
    item(1, "1 Hz WAV header as a reference clip", st == 400 and t < 2, f"{st} in {t:.1f} s")
    # 2. A long reference transcript: refused before work.
    st, h, _, t = c.request("POST", "/v1/tts", {"text": "Hi.", "reference": {"audio_base64": clip, "transcript": "hello " * 400, "language": "en"}}, timeout=120)
    item(2, "2400-character reference transcript", st == 400 and t < 2, f"{st} in {t:.1f} s")
    # 3. Junk method names must not mint metric series.
    before = len(c.request("GET", "/metrics")[2])
    for i in range(300):
        c.request(f"JUNK{i}", "/v1/tts")
    after = len(c.request("GET", "/metrics")[2])
    item(3, "300 junk HTTP methods vs /metrics size", after - before < 4096, f"{before} -> {after} bytes")
    # 4. A half-sent request head is cut off (slowloris).
    s = socket.create_connection((u.hostname, u.port or 80))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(40)
    t = time.time()
    try:
        closed = s.recv(1024) is not None
    except socket.timeout:
        closed = False
    t = time.time() - t
    s.close()
    item(4, "half-sent request head", closed and t < 35, f"{'closed' if closed else 'still open'} after {t:.0f} s")
    # 5. A repetition penalty that never lets a sentence end: refused (bounded cost).
    st, h, _, t = c.request("POST", "/v1/tts", {"text": "Hello there.", "voice": v, "repetition_penalty": 1e-38}, timeout=60)
    item(5, "repetition_penalty 1e-38", st == 400, f"{st} in {t:.1f} s")
    # 6. Token-chunked streaming reports all the audio it sent.
    ev = c.ws([{"type": "synthesize", "id": "a", "voice": v, "fragment_interval": 0.0,
                "text": "The quick brown fox jumps over the lazy dog. It was a bright cold day in April."}], timeout=120)
    sent = sum(e.get("samples", 0) for e in ev if e.get("type") == "chunk")
    done = next((e for e in ev if e.get("type") == "done"), {})
    reported = (done.get("timings") or {}).get("samples", done.get("samples"))
    chunks = sum(1 for e in ev if e.get("type") == "chunk")
    item(6, "WebSocket done.samples vs chunk samples sent", reported == sent and chunks > 2, f"reported {reported}, sent {sent} in {chunks} chunks")
    # 7. A non-streaming FLAC says how long it is (STREAMINFO total samples, MD5).
    st, h, body, _ = c.request("POST", "/v1/tts", {"text": "Hello there.", "voice": v, "format": "flac"}, timeout=120)
    total = 0
    if st == 200 and body[:4] == b"fLaC":
        si = body[8:8 + 34]
        total = ((si[13] & 0x0F) << 32) | struct.unpack(">I", si[14:18])[0]
    item(7, "non-streaming FLAC STREAMINFO total samples", total > 0, f"{st}, total samples {total}")
    # 8. Requests that cannot run do not hold in-flight places: 27 frames at once (an out-of-range
    # speed, a voice nobody serves, Chinese the model set cannot speak), 27 errors of their own.
    bad = [{"type": "synthesize", "id": f"s{i}", "text": "Hi.", "voice": v, "speed": 9.0} for i in range(9)]
    bad += [{"type": "synthesize", "id": f"u{i}", "text": "Hi.", "voice": f"nobody{i}"} for i in range(9)]
    bad += [{"type": "synthesize", "id": f"z{i}", "text": "你好。", "voice": v, "language": "zh"} for i in range(9)]
    ev = c.ws(bad, until_done=len(bad), timeout=60)
    errs = [e for e in ev if e.get("type") == "error"]
    capped = [e for e in errs if "at most" in json.dumps(e)]
    item(8, f"{len(bad)} WebSocket requests that cannot run, at once", len(errs) == len(bad) and not capped,
         f"{len(errs)} errors, {len(capped)} told 'at most … may run'")
    # 9. A request the model set can never serve (Chinese with a BERT of the wrong width): 4xx, no Retry-After.
    st, h, body, _ = c.request("POST", "/v1/tts", {"text": "你好。", "voice": v, "language": "zh"}, timeout=60)
    item(9, "Chinese on a model set whose BERT width does not fit", st is not None and 400 <= st < 500 and "retry-after" not in h, f"{st}, retry-after: {h.get('retry-after')}")
    # 10. Contract gaps: JSON errors outside the handlers, /v1/models/{id}, 413 for an oversized multipart.
    st1, h1, _, _ = c.request("GET", "/v1/tts/stream")
    st2, h2, _, _ = c.request("GET", "/docs/nope.js")
    st3, _, _, _ = c.request("GET", "/v1/models/tts-1")
    b = "campaignboundary"
    big = (f"--{b}\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n" + json.dumps({"text": "Hi.", "reference": {"transcript": "", "language": "en"}})
           + f"\r\n--{b}\r\nContent-Disposition: form-data; name=\"reference_audio\"; filename=\"a.wav\"\r\n\r\n").encode() + b"\0" * (21 << 20) + f"\r\n--{b}--\r\n".encode()
    st4, _, _, _ = c.request("POST", "/v1/tts", big, {"content-type": f"multipart/form-data; boundary={b}"}, timeout=120)
    ok = is_json(h1) and is_json(h2) and st3 == 200 and st4 == 413
    item(10, "JSON errors outside handlers, /v1/models/{id}, multipart over the body limit",
         ok, f"ws GET {st1} json={is_json(h1)}, /docs 404 json={is_json(h2)}, /v1/models/tts-1 {st3}, 21 MB multipart {st4}")
    print(f"{sum(results)} of {len(results)} items pass")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
