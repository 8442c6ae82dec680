// gsv-server playground: speaks over the WebSocket (/v1/tts/stream, docs/websocket.md), playing
// each PCM chunk as it arrives; manages the voice library (/v1/voices). Plain browser JavaScript,
// no build step, no network beyond this server.
'use strict';

const LANGUAGES = ['auto', 'auto_yue', 'en', 'zh', 'ja', 'yue', 'ko', 'all_zh', 'all_ja', 'all_yue', 'all_ko'];
const KEY = 'gsv-api-key';
// Audio starts this far ahead of "now" so the first chunk is never cut; later chunks follow
// the previous one exactly (gap-free).
const LEAD_SECONDS = 0.05;

const $ = (id) => document.getElementById(id);

// Counters the headless-browser test reads (tests/browser_playground.rs).
const stats = (window.gsv = {
  chunks: 0, samples: 0, scheduled: 0, scheduledAtDone: null, done: 0, cancelled: 0,
  running: false, ttfaMs: null, rtf: null, lastError: null, voicesLoaded: 0, saved: 0,
});

// ---- API key: asked for once (on the first 401), kept for this tab's session.
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = Object.assign({}, options.headers || {});
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = 'Bearer ' + key;
    const res = await fetch(path, Object.assign({}, options, { headers }));
    if (res.status !== 401) return res;
    sessionStorage.removeItem(KEY);
    if (attempt > 0) return res;
    const given = window.prompt('This server needs an API key:');
    if (!given) return res;
    sessionStorage.setItem(KEY, given.trim());
  }
}

async function errorText(res) {
  try {
    const body = await res.json();
    return typeof body.error === 'string' ? body.error : (body.error && body.error.message) || JSON.stringify(body);
  } catch (_) {
    return res.status + ' ' + res.statusText;
  }
}

function say(el, text, kind) {
  el.textContent = text;
  el.className = 'status' + (kind ? ' ' + kind : '');
}

// ---- Voices.
let voices = [];

async function loadVoices(select) {
  const res = await api('/v1/voices');
  if (!res.ok) {
    say($('status'), 'Cannot list voices: ' + (await errorText(res)), 'bad');
    return;
  }
  const body = await res.json();
  voices = body.voices;
  const picker = $('voice');
  const keep = select || picker.value;
  picker.textContent = '';
  for (const v of voices) {
    const o = new Option(`${v.name} (${v.language}, ${v.source})`, v.name);
    picker.add(o);
  }
  if (voices.some((v) => v.name === keep)) picker.value = keep;
  const list = $('voice-list');
  list.textContent = '';
  for (const v of voices) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.innerHTML = '<b></b> <small></small>';
    label.querySelector('b').textContent = v.name;
    label.querySelector('small').textContent = `${v.language} · ${v.ref_seconds.toFixed(1)} s · ${v.source}`;
    li.append(label);
    if (v.source === 'library') {
      const del = document.createElement('button');
      del.className = 'secondary';
      del.textContent = 'Delete';
      del.onclick = () => deleteVoice(v.name);
      li.append(del);
    }
    list.append(li);
  }
  for (const f of body.failed) {
    const li = document.createElement('li');
    li.textContent = `${f.name}: failed (${f.error})`;
    list.append(li);
  }
  stats.voicesLoaded++;
}

async function deleteVoice(name) {
  const res = await api('/v1/voices/' + encodeURIComponent(name), { method: 'DELETE' });
  say($('voice-status'), res.ok ? `Deleted ${name}.` : 'Delete failed: ' + (await errorText(res)), res.ok ? 'ok' : 'bad');
  await loadVoices();
}

// ---- Audio out: each chunk becomes an AudioBuffer scheduled right after the previous one.
let ctx = null;
let playhead = 0;
const playing = new Set();

function audioContext() {
  if (!ctx) ctx = new AudioContext();
  if (ctx.state === 'suspended') ctx.resume();
  return ctx;
}

function schedule(pcm, rate) {
  const c = audioContext();
  const buf = c.createBuffer(1, pcm.length, rate);
  const data = buf.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
  const src = c.createBufferSource();
  src.buffer = buf;
  src.connect(c.destination);
  playhead = Math.max(playhead, c.currentTime + LEAD_SECONDS);
  src.start(playhead);
  playhead += buf.duration;
  playing.add(src);
  src.onended = () => playing.delete(src);
  stats.scheduled++;
}

function silence() {
  for (const src of playing) {
    try { src.stop(); } catch (_) { /* not started yet */ }
  }
  playing.clear();
  playhead = 0;
}

// ---- The WebSocket: one connection, reopened when it closes.
let ws = null;
let expect = null; // the `chunk` event whose binary frame comes next
let current = null; // the request being spoken: {id, t0, rate, pcm: [Int16Array], samples}
let seq = 0;

function socket() {
  if (ws && ws.readyState <= WebSocket.OPEN) {
    return ws.readyState === WebSocket.OPEN ? Promise.resolve(ws) : new Promise((ok, fail) => {
      ws.addEventListener('open', () => ok(ws), { once: true });
      ws.addEventListener('error', () => fail(new Error('WebSocket failed')), { once: true });
    });
  }
  const key = sessionStorage.getItem(KEY);
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/tts/stream' +
    (key ? '?api_key=' + encodeURIComponent(key) : '');
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = onMessage;
  ws.onclose = () => {
    if (current) finish('The connection closed.', 'bad');
  };
  return new Promise((ok, fail) => {
    ws.onopen = () => ok(ws);
    ws.onerror = () => fail(new Error('cannot open the WebSocket (wrong API key?)'));
  });
}

function onMessage(msg) {
  if (typeof msg.data !== 'string') {
    if (expect && current && expect.id === current.id) {
      const pcm = new Int16Array(msg.data);
      if (stats.chunks === 0) {
        stats.ttfaMs = performance.now() - current.t0;
        $('ttfa').textContent = stats.ttfaMs.toFixed(0) + ' ms';
      }
      stats.chunks++;
      stats.samples += pcm.length;
      current.pcm.push(pcm);
      current.samples += pcm.length;
      schedule(pcm, current.rate);
      $('chunks').textContent = stats.chunks;
      $('audio-seconds').textContent = (current.samples / current.rate).toFixed(2);
    }
    expect = null;
    return;
  }
  const ev = JSON.parse(msg.data);
  if (!current || ev.id !== current.id) return; // a stopped request's late events
  switch (ev.type) {
    case 'started':
      current.rate = ev.sample_rate;
      current.seed = ev.seed;
      say($('status'), `Speaking (seed ${ev.seed}, queued ${ev.queue_ms.toFixed(0)} ms)…`);
      break;
    case 'chunk':
      expect = ev;
      break;
    case 'done': {
      stats.scheduledAtDone = stats.scheduled;
      stats.done++;
      const wall = (performance.now() - current.t0) / 1000;
      const audio = current.samples / current.rate;
      stats.rtf = audio > 0 ? wall / audio : null;
      $('rtf').textContent = stats.rtf === null ? '–' : stats.rtf.toFixed(2);
      const t = ev.timings;
      finish(`Done: ${audio.toFixed(2)} s of audio, ${t.tokens} tokens, server inference ${(t.inference_seconds * 1000).toFixed(0)} ms.`, 'ok');
      break;
    }
    case 'cancelled':
      stats.cancelled++;
      finish('Stopped.');
      break;
    case 'error':
      stats.lastError = ev.error;
      finish('Error: ' + ev.error, 'bad');
      break;
  }
}

function finish(text, kind) {
  if (current) offerDownload(current);
  current = null;
  stats.running = false;
  $('speak').disabled = false;
  $('stop').disabled = true;
  say($('status'), text, kind);
}

function numberField(id, body) {
  const v = $(id).value.trim();
  if (v !== '') body[id] = Number(v);
}

async function speak() {
  if (current) stop();
  const voice = $('voice').value;
  if (!voice) {
    say($('status'), 'No voice: add one on the right.', 'bad');
    return;
  }
  audioContext();
  silence();
  const id = 'p' + ++seq;
  const body = { type: 'synthesize', id, text: $('text').value, voice, chunking: 'tokens' };
  if ($('language').value) body.language = $('language').value;
  for (const f of ['top_k', 'top_p', 'temperature', 'repetition_penalty', 'speed', 'seed']) numberField(f, body);
  Object.assign(stats, { chunks: 0, samples: 0, scheduled: 0, scheduledAtDone: null, ttfaMs: null, rtf: null, lastError: null, running: true });
  for (const m of ['ttfa', 'rtf', 'audio-seconds', 'chunks']) $(m).textContent = '–';
  current = { id, t0: performance.now(), rate: 32000, pcm: [], samples: 0, voice };
  $('speak').disabled = true;
  $('stop').disabled = false;
  say($('status'), 'Connecting…');
  try {
    (await socket()).send(JSON.stringify(body));
  } catch (e) {
    stats.lastError = String(e.message || e);
    finish('Error: ' + stats.lastError, 'bad');
  }
}

function stop() {
  if (current && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'cancel', id: current.id }));
  silence();
}

// ---- WAV files: the download link and uploads of recordings.
function wavBlob(chunks, rate) {
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const out = new DataView(new ArrayBuffer(44 + n * 2));
  const text = (o, s) => { for (let i = 0; i < s.length; i++) out.setUint8(o + i, s.charCodeAt(i)); };
  text(0, 'RIFF'); out.setUint32(4, 36 + n * 2, true); text(8, 'WAVE'); text(12, 'fmt ');
  out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, rate, true); out.setUint32(28, rate * 2, true); out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  text(36, 'data'); out.setUint32(40, n * 2, true);
  let o = 44;
  for (const c of chunks) for (let i = 0; i < c.length; i++, o += 2) out.setInt16(o, c[i], true);
  return new Blob([out.buffer], { type: 'audio/wav' });
}

function offerDownload(req) {
  if (!req.samples) return;
  const a = $('download');
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(wavBlob(req.pcm, req.rate));
  a.download = `gsv-${req.voice}-${req.seed ?? 'x'}.wav`;
  a.hidden = false;
}

// ---- Recording (MediaRecorder), converted to 16-bit mono WAV so the server can decode it.
let recorder = null;
let recorded = null; // a File from the last recording

async function toggleRecord() {
  if (recorder) {
    recorder.stop();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    say($('voice-status'), 'No microphone: ' + e.message, 'bad');
    return;
  }
  const parts = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => parts.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    $('record').textContent = 'Record';
    const decoded = await audioContext().decodeAudioData(await new Blob(parts).arrayBuffer());
    const mono = decoded.getChannelData(0);
    const pcm = new Int16Array(mono.length);
    for (let i = 0; i < mono.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(mono[i] * 32767)));
    recorded = new File([wavBlob([pcm], decoded.sampleRate)], 'recording.wav', { type: 'audio/wav' });
    $('voice-file').value = '';
    preview(recorded);
    const secs = decoded.duration;
    const fits = secs >= 3 && secs <= 10;
    say($('voice-status'), `Recorded ${secs.toFixed(1)} s` + (fits ? '.' : ' — the clip must last 3–10 s.'), fits ? 'ok' : 'bad');
  };
  recorder.start();
  $('record').textContent = 'Stop recording';
  say($('voice-status'), 'Recording… say the transcript, 3–10 s.');
}

function preview(file) {
  const p = $('clip-preview');
  if (p.src) URL.revokeObjectURL(p.src);
  p.src = URL.createObjectURL(file);
  p.hidden = false;
}

async function saveVoice() {
  const file = $('voice-file').files[0] || recorded;
  const name = $('voice-name').value.trim();
  if (!name || !file) {
    say($('voice-status'), 'A voice needs a name and a clip (upload or record).', 'bad');
    return;
  }
  const form = new FormData();
  form.append('name', name);
  form.append('transcript', $('voice-transcript').value);
  form.append('language', $('voice-language').value);
  form.append('audio', file, file.name || 'clip');
  $('save-voice').disabled = true;
  say($('voice-status'), `Preparing ${name}…`);
  try {
    const res = await api('/v1/voices', { method: 'POST', body: form });
    if (!res.ok) {
      say($('voice-status'), 'Not saved: ' + (await errorText(res)), 'bad');
      return;
    }
    const v = await res.json();
    stats.saved++;
    say($('voice-status'), `Saved ${v.name} (${v.ref_seconds.toFixed(1)} s clip).`, 'ok');
    await loadVoices(v.name);
  } finally {
    $('save-voice').disabled = false;
  }
}

// ---- Wiring.
for (const sel of [$('language'), $('voice-language')]) {
  if (sel.id === 'language') sel.add(new Option("the voice's", ''));
  for (const l of LANGUAGES) sel.add(new Option(l, l));
}
$('voice-language').value = 'en';
$('speak').onclick = speak;
$('stop').onclick = stop;
$('record').onclick = toggleRecord;
$('save-voice').onclick = saveVoice;
$('voice-file').onchange = () => {
  recorded = null;
  if ($('voice-file').files[0]) preview($('voice-file').files[0]);
};
if (typeof MediaRecorder === 'undefined') $('record').disabled = true;
loadVoices();
