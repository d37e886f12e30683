// narrate dashboard: plain JavaScript, no build step. Talks to the JSON API
// under /api (docs/API.md) and follows /api/events (server-sent events).
'use strict';

const TOKEN = document.querySelector('meta[name="narrate-token"]').content;
// The token arrived in ?token= once; the server set a cookie. Keep it out
// of the address bar and the history.
if (location.search.indexOf('token=') >= 0) history.replaceState(null, '', location.pathname);

const $ = (id) => document.getElementById(id);
const MAX_LOG_LINES = 3000;
const MAX_UPLOAD = 50 * 1024 * 1024;

const ui = {
  state: 'idle',
  busy: false,
  prompt: null,
  points: new Map(), // batch number -> point
  keys: [],
};

// ---- API -------------------------------------------------------------------

async function api(method, path, body) {
  const opts = { method, headers: { 'X-Narrate-Token': TOKEN } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    return { ok: false, status: 0, data: { error: 'the server is not reachable' } };
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return { ok: res.ok, status: res.status, data };
}

function setMsg(el, text, kind) {
  el.textContent = text || '';
  el.className = 'msg' + (kind ? ' ' + kind : '');
}

// ---- formatting ------------------------------------------------------------

function fmtDuration(s) {
  if (s === null || s === undefined || s < 0) return '--';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

function humanKey(name) {
  return name.replace(/_/g, ' ');
}

// ---- state, progress, buttons ----------------------------------------------------

function setState(state, busy) {
  ui.state = state;
  if (busy !== undefined) ui.busy = busy;
  const badge = $('state');
  badge.textContent = state;
  badge.className = 'badge state-' + state;
  const running = ui.busy && (state === 'running' || state === 'starting' || state === 'prompt');
  $('start').disabled = ui.busy;
  $('pause').disabled = !(ui.busy && running && state !== 'prompt');
  $('resume').disabled = !(ui.busy && state === 'paused');
  $('stop').disabled = !ui.busy;
}

function showProgress(p) {
  if (!p) return;
  const total = p.chunks_total || 0, done = p.chunks_done || 0;
  $('bar-fill').style.width = (total ? (100 * done) / total : 0).toFixed(1) + '%';
  $('p-chunks').textContent = `${done} / ${total}`;
  $('p-audio').textContent = ((p.audio_seconds || 0) / 60).toFixed(1);
  $('p-eta').textContent = fmtDuration(p.eta_seconds);
  $('p-batch').textContent = p.batch_size ? String(p.batch_size) : '-';
  if (p.state && p.state !== 'idle') setState(p.state);
}

// ---- activity log ------------------------------------------------------------------

function addLog(entry) {
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const div = document.createElement('div');
  div.className = 'line ' + (entry.level || 'info');
  div.textContent = entry.line;
  log.appendChild(div);
  while (log.childElementCount > MAX_LOG_LINES) log.removeChild(log.firstChild);
  $('log-count').textContent = log.childElementCount + ' lines';
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// ---- VRAM chart (plain SVG) ----------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(parent, tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

// A round step (1, 2, 2.5 or 5 times a power of ten) so that about four
// steps cover v, and the axis top: the first multiple of it above v.
function niceAxis(v) {
  if (!(v > 0)) return { step: 0.25, top: 1 };
  const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = 10 * p;
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) { step = m * p; break; }
  return { step, top: Math.ceil(v / step - 1e-9) * step };
}

function drawChart() {
  const el = $('chart');
  while (el.firstChild) el.removeChild(el.firstChild);
  const W = 720, H = 280, L = 52, R = 56, T = 14, B = 34;
  const pw = W - L - R, ph = H - T - B;
  const pts = Array.from(ui.points.values()).sort((a, b) => a.batch - b.batch);
  const withVram = pts.filter((p) => p.used_gb !== null && p.total_gb);
  const total = withVram.length ? Math.max(...withVram.map((p) => p.total_gb)) : 0;
  const gbAxis = niceAxis(total ? total * 1.04 : 0);
  const yMax = gbAxis.top;
  const spcAxis = niceAxis(Math.max(0.001, ...pts.map((p) => p.sec_per_chunk || 0)) * 1.05);
  const spcMax = spcAxis.top;
  const n = Math.max(pts.length, 2);
  const xOf = (i) => L + (pts.length <= 1 ? pw / 2 : (pw * i) / (n - 1));
  const yOf = (gb) => T + ph - (ph * gb) / yMax;
  const ySpc = (s) => T + ph - (ph * s) / spcMax;

  // grid and left axis (GB)
  const nTicks = Math.round(yMax / gbAxis.step);
  for (let i = 0; i <= nTicks; i++) {
    const v = i * gbAxis.step, y = yOf(v);
    svg(el, 'line', { x1: L, x2: L + pw, y1: y, y2: y, class: 'grid' });
    if (total)
      svg(el, 'text', { x: L - 8, y: y + 4, 'text-anchor': 'end', class: 'tick' },
          Number.isInteger(v) ? String(v) : v.toFixed(1));
  }
  const nSpc = Math.round(spcMax / spcAxis.step);
  for (let i = 0; i <= nSpc; i++) {
    const v = i * spcAxis.step;
    svg(el, 'text', { x: L + pw + 8, y: ySpc(v) + 4, class: 'tick spc-tick' },
        (spcAxis.step < 0.1 ? v.toFixed(2) : v.toFixed(1)) + ' s');
  }
  svg(el, 'line', { x1: L, x2: L, y1: T, y2: T + ph, class: 'axis' });
  svg(el, 'line', { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, class: 'axis' });
  svg(el, 'text', { x: 12, y: T + ph / 2, class: 'tick', transform: `rotate(-90 12 ${T + ph / 2})`,
    'text-anchor': 'middle' }, total ? 'VRAM (GB)' : 'no GPU data');
  svg(el, 'text', { x: L + pw / 2, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, 'batch');

  if (!pts.length) {
    svg(el, 'text', { x: L + pw / 2, y: T + ph / 2, class: 'empty', 'text-anchor': 'middle' },
        'Waiting for the first batch');
    return;
  }
  // x ticks: at most ~12 labels
  const step = Math.max(1, Math.ceil(pts.length / 12));
  pts.forEach((p, i) => {
    if (i % step === 0 || i === pts.length - 1)
      svg(el, 'text', { x: xOf(i), y: T + ph + 16, class: 'tick', 'text-anchor': 'middle' },
          String(p.batch));
  });
  if (total) {
    const guide = (frac, cls, label) => {
      const y = yOf(total * frac);
      svg(el, 'line', { x1: L, x2: L + pw, y1: y, y2: y, class: cls });
      svg(el, 'text', { x: L + 4, y: y - 3, class: 'guide-label ' + cls + '-label' }, label);
    };
    svg(el, 'line', { x1: L, x2: L + pw, y1: yOf(total), y2: yOf(total), class: 'total' });
    svg(el, 'text', { x: L + pw - 4, y: yOf(total) - 4, class: 'tick', 'text-anchor': 'end' },
        `total ${total.toFixed(1)} GB`);
    guide(0.8, 'g80', '80 %');
    guide(0.95, 'g95', '95 %');
  }
  // seconds per chunk (right axis)
  const spc = pts.map((p, i) => `${xOf(i).toFixed(1)},${ySpc(p.sec_per_chunk || 0).toFixed(1)}`);
  svg(el, 'polyline', { points: spc.join(' '), class: 'spc' });
  // Markers while they stay readable; a long render keeps only the lines
  // (and the red markers above 95 %).
  const markers = pts.length <= 150;
  if (markers)
    pts.forEach((p, i) => svg(el, 'circle', { cx: xOf(i), cy: ySpc(p.sec_per_chunk || 0), r: 2.5,
      class: 'spc-pt' }));
  // VRAM used
  if (withVram.length) {
    const line = [];
    pts.forEach((p, i) => { if (p.used_gb !== null) line.push(`${xOf(i).toFixed(1)},${yOf(p.used_gb).toFixed(1)}`); });
    svg(el, 'polyline', { points: line.join(' '), class: 'used' });
    pts.forEach((p, i) => {
      if (p.used_gb === null || (!markers && !(p.percent > 95))) return;
      const c = svg(el, 'circle', { cx: xOf(i), cy: yOf(p.used_gb), r: 4,
        class: 'pt' + (p.percent > 95 ? ' hot' : ''), 'data-batch': p.batch });
      svg(c, 'title', {}, `Batch ${p.batch}: ${p.used_gb.toFixed(1)}/${p.total_gb.toFixed(1)} GB ` +
          `(${p.percent}%), ${(p.sec_per_chunk || 0).toFixed(2)} s/chunk, batch size ${p.batch_size}`);
    });
  }
}

function addPoint(p) {
  ui.points.set(p.batch, p);
  drawChart();
}

// ---- the VRAM prompt ----------------------------------------------------------------

function showPrompt(p) {
  ui.prompt = p;
  $('prompt-text').textContent =
    `VRAM reached ${Math.round(p.used_percent)} % with batch size ${p.batch_size}. ` +
    'The render is paused until you choose how to go on.';
  $('prompt-advice').textContent = p.advice || '';
  $('prompt-reduce').textContent = `Reduce batch size to ${p.suggested} and continue`;
  const dlg = $('prompt');
  if (!dlg.open) dlg.showModal();
}

function closePrompt() {
  ui.prompt = null;
  const dlg = $('prompt');
  if (dlg.open) dlg.close();
}

async function answerPrompt(answer) {
  const r = await api('POST', '/api/render/answer', { answer });
  if (!r.ok) setMsg($('render-msg'), (r.data && r.data.error) || 'answer failed', 'error');
  closePrompt();
}

// ---- GPU panel -------------------------------------------------------------------------

async function loadGpu() {
  const r = await api('GET', '/api/gpu');
  if (!r.ok) {
    $('gpu-report').textContent = (r.data && r.data.error) || 'GPU report unavailable';
    return;
  }
  // One line per element so the recommendation (NOTE) stands out.
  const pre = $('gpu-report');
  while (pre.firstChild) pre.removeChild(pre.firstChild);
  let note = false;
  for (const line of r.data.report.trimEnd().split('\n')) {
    note = line.startsWith('NOTE:') || (note && line.startsWith(' '));
    const span = document.createElement('span');
    span.className = note ? 'report-line note' : 'report-line';
    span.textContent = line + '\n';
    pre.appendChild(span);
  }
  $('gpu-detail').textContent = `${r.data.provider}: ${r.data.detail}`;
  $('gpu-name').textContent = r.data.present ? r.data.name : 'no GPU';
}

// ---- books, voices, upload ---------------------------------------------------------------

async function loadBooks(select) {
  const r = await api('GET', '/api/books');
  if (!r.ok) return;
  $('root').textContent = r.data.root;
  const sel = $('book');
  const keep = select || sel.value;
  while (sel.firstChild) sel.removeChild(sel.firstChild);
  for (const b of r.data.books) {
    const o = document.createElement('option');
    o.value = b;
    o.textContent = b;
    sel.appendChild(o);
  }
  if (keep && r.data.books.indexOf(keep) >= 0) sel.value = keep;
  const list = $('voice-list');
  for (const v of r.data.piper_voices) {
    const o = document.createElement('option');
    o.value = v;
    o.textContent = 'Piper voice';
    list.appendChild(o);
  }
}

async function loadVoices() {
  const r = await api('GET', '/api/voices');
  if (!r.ok) return;
  const list = $('voice-list');
  for (const v of r.data.espeak) {
    const o = document.createElement('option');
    o.value = v.id;
    o.textContent = v.name;
    list.appendChild(o);
  }
}

async function upload() {
  const f = $('upload-file').files[0];
  const msg = $('render-msg');
  if (!f) return setMsg(msg, 'Choose a file to upload first.', 'error');
  if (f.size > MAX_UPLOAD) return setMsg(msg, 'That file is larger than 50 MB.', 'error');
  setMsg(msg, `Uploading ${f.name}...`);
  let res;
  try {
    res = await fetch('/api/upload?name=' + encodeURIComponent(f.name), {
      method: 'POST',
      headers: { 'X-Narrate-Token': TOKEN, 'Content-Type': 'application/octet-stream' },
      body: f,
    });
  } catch (e) {
    return setMsg(msg, 'Upload failed: the server is not reachable.', 'error');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) return setMsg(msg, 'Upload refused: ' + ((data && data.error) || res.status), 'error');
  await loadBooks(data.path);
  setMsg(msg, `Uploaded ${data.path} (${data.bytes} bytes).`, 'ok');
}

// ---- render controls -------------------------------------------------------------------------

async function start() {
  const body = { book: $('book').value };
  if ($('voice').value.trim()) body.voice = $('voice').value.trim();
  if ($('out-dir').value.trim()) body.out_dir = $('out-dir').value.trim();
  const msg = $('render-msg');
  if (!body.book) return setMsg(msg, 'Choose a book first.', 'error');
  const r = await api('POST', '/api/render/start', body);
  if (!r.ok) return setMsg(msg, (r.data && r.data.error) || 'start failed', 'error');
  ui.points.clear();
  drawChart();
  setMsg(msg, `Rendering into ${r.data.out_dir}`);
  $('p-book').textContent = r.data.book;
  setState('starting', true);
}

async function control(what) {
  const r = await api('POST', '/api/render/' + what);
  if (!r.ok) setMsg($('render-msg'), (r.data && r.data.error) || what + ' failed', 'error');
  else if (what === 'pause') setMsg($('render-msg'), 'Pausing after the current batch...');
  else if (what === 'stop') setMsg($('render-msg'), 'Stopping after the current batch...');
  else setMsg($('render-msg'), 'Resumed.');
}

// ---- Advanced Settings ----------------------------------------------------------------------------

function buildSettings(keys, values) {
  ui.keys = keys;
  const box = $('settings-fields');
  while (box.firstChild) box.removeChild(box.firstChild);
  for (const k of keys) {
    const v = values[k.name];
    const wrap = document.createElement('div');
    wrap.className = 'setting';
    wrap.id = 'setting-' + k.name;
    const label = document.createElement('label');
    label.className = 'label';
    label.htmlFor = 'set-' + k.name;
    label.textContent = humanKey(k.name);
    let input;
    if (typeof v === 'boolean') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = v;
      const row = document.createElement('div');
      row.className = 'checkbox-row';
      row.appendChild(input);
      row.appendChild(label);
      wrap.appendChild(row);
    } else if (k.choices) {
      input = document.createElement('select');
      for (const c of k.choices) {
        const o = document.createElement('option');
        o.value = c;
        o.textContent = c;
        input.appendChild(o);
      }
      input.value = v;
      wrap.appendChild(label);
      wrap.appendChild(input);
    } else {
      input = document.createElement('input');
      input.type = typeof v === 'number' ? 'number' : 'text';
      if (typeof v === 'number') {
        input.step = 'any';
        if (k.min !== undefined) input.min = k.min;
        if (k.max !== undefined) input.max = k.max;
      }
      input.value = String(v);
      wrap.appendChild(label);
      wrap.appendChild(input);
    }
    input.id = 'set-' + k.name;
    input.dataset.kind = typeof v;
    const help = document.createElement('span');
    help.className = 'help';
    help.textContent = k.help + (k.min !== undefined ? ` (${k.min} to ${k.max})` : '');
    const err = document.createElement('span');
    err.className = 'field-error';
    err.id = 'err-' + k.name;
    wrap.appendChild(help);
    wrap.appendChild(err);
    box.appendChild(wrap);
  }
}

async function loadSettings() {
  const r = await api('GET', '/api/settings');
  if (!r.ok) return setMsg($('settings-msg'), (r.data && r.data.error) || 'settings unavailable', 'error');
  $('settings-path').textContent = r.data.path;
  buildSettings(r.data.keys, r.data.settings);
  if (!$('voice').value) $('voice').value = r.data.settings.voice;
}

async function saveSettings(ev) {
  ev.preventDefault();
  const body = {};
  for (const k of ui.keys) {
    const input = $('set-' + k.name);
    if (input.dataset.kind === 'boolean') body[k.name] = input.checked;
    else if (input.dataset.kind === 'number') {
      const n = input.value.trim() === '' ? NaN : Number(input.value);
      body[k.name] = Number.isFinite(n) ? n : input.value; // the server names the bad value
    } else body[k.name] = input.value;
    $('setting-' + k.name).classList.remove('invalid');
    $('err-' + k.name).textContent = '';
  }
  const r = await api('PUT', '/api/settings', body);
  const msg = $('settings-msg');
  if (r.ok) {
    setMsg(msg, 'Saved to ' + r.data.path, 'ok');
    loadGpu(); // the recommendation line depends on the batch size
    return;
  }
  const errors = (r.data && r.data.errors) || {};
  let n = 0;
  for (const name in errors) {
    const wrap = $('setting-' + name);
    if (wrap) {
      wrap.classList.add('invalid');
      $('err-' + name).textContent = errors[name];
      n++;
    }
  }
  setMsg(msg, n ? `Not saved: ${n} setting${n > 1 ? 's' : ''} to fix` : (r.data && r.data.error) || 'not saved', 'error');
}

// ---- events ------------------------------------------------------------------------------------

function listen(since) {
  const es = new EventSource('/api/events?since=' + since);
  const on = (type, fn) => es.addEventListener(type, (e) => fn(JSON.parse(e.data)));
  on('log', addLog);
  on('point', addPoint);
  on('progress', showProgress);
  on('prompt', showPrompt);
  on('prompt_closed', closePrompt);
  on('render', (r) => {
    if (r.event === 'started') {
      setState('starting', true);
      $('p-book').textContent = r.book;
    } else if (r.event === 'finished') {
      setState(r.result, false);
      closePrompt();
      const kind = r.result === 'done' ? 'ok' : r.result === 'failed' ? 'error' : '';
      const text = r.result === 'done' ? `Finished: audio is in ${r.out_dir}`
        : r.result === 'stopped' ? 'Stopped: finished chunks are cached; Start again to resume.'
        : 'Failed: ' + r.message;
      setMsg($('render-msg'), text, kind);
    }
  });
}

// ---- start-up -------------------------------------------------------------------------------------

async function init() {
  $('start').addEventListener('click', start);
  $('pause').addEventListener('click', () => control('pause'));
  $('resume').addEventListener('click', () => control('resume'));
  $('stop').addEventListener('click', () => control('stop'));
  $('upload').addEventListener('click', upload);
  $('settings-form').addEventListener('submit', saveSettings);
  $('prompt-reduce').addEventListener('click', () => answerPrompt('reduce'));
  $('prompt-continue').addEventListener('click', () => answerPrompt('continue'));
  $('prompt-stop').addEventListener('click', () => answerPrompt('stop'));
  // Escape would close the dialog without an answer; the render keeps waiting.
  $('prompt').addEventListener('cancel', (e) => e.preventDefault());

  const st = await api('GET', '/api/status');
  if (!st.ok) {
    setMsg($('render-msg'), (st.data && st.data.error) || 'status unavailable', 'error');
    return;
  }
  const s = st.data;
  for (const line of s.log) addLog(line);
  for (const p of s.points) ui.points.set(p.batch, p);
  drawChart();
  setState(s.state, s.busy);
  showProgress(s.progress);
  if (s.book) $('p-book').textContent = s.book;
  if (s.voice) $('voice').value = s.voice;
  if (s.prompt) showPrompt(s.prompt);
  listen(s.seq);
  await Promise.all([loadSettings(), loadGpu(), loadBooks(), loadVoices()]);
}

init();
