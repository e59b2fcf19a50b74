// flowgate board: element helpers, formatting and small shared pieces.
//
// Every piece of data (run ids, node ids, reasons, paths) comes from user files
// or processes, so it only ever reaches the page through textContent,
// setAttribute and createElement — never through innerHTML.

export const STATES = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'];
export const DONE_STATES = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);
// An orphaned run (no scheduler drives it) has not ended: it continues once resumed.
export const ACTIVE_RUN = new Set(['submitted', 'running', 'orphaned']);
export const STATE_HELP = {
  waiting: 'waiting for its dependencies',
  ready: 'dependencies done, waiting for resources or its turn',
  queued: 'admitted: resources reserved, job in the queue',
  running: 'running on a worker',
  succeeded: 'finished successfully',
  failed: 'failed (see the crash record)',
  skipped: 'not run: a node it depends on failed',
  cached: 'result taken from the cache',
  cancelled: 'cancelled before it finished',
  orphaned: 'no scheduler drives this run any more; continue it with flowgate resume',
};
const SVGNS = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------- DOM helpers

function append(parent, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
  return parent;
}

function setAttrs(el, attrs) {
  if (!attrs) return el;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

/** An HTML element: h('td', {class: 'x'}, 'text', child). */
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVGNS, tag), attrs), children);
}

/** Replaces the children of `el`, keeping the scroll position of it and of its scrollable descendants. */
export function fill(el, ...children) {
  const keep = [];
  for (const sc of [el, ...el.querySelectorAll('[data-scroll]')]) {
    keep.push([sc === el ? null : sc.getAttribute('data-scroll'), sc.scrollLeft, sc.scrollTop]);
  }
  el.replaceChildren();
  append(el, children);
  for (const [key, left, top] of keep) {
    const sc = key === null ? el : el.querySelector(`[data-scroll="${CSS.escape(key)}"]`);
    if (sc) {
      sc.scrollLeft = left;
      sc.scrollTop = top;
    }
  }
}

// ----------------------------------------------------------------- formatting

export const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const list = (v) => (Array.isArray(v) ? v : []);
export const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

export function round(v, digits = 2) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Named resources `{gpu: 2, licence_x: 1}` as `gpu 2, licence_x 1` ('' when none). */
export function fmtNamed(v) {
  return Object.entries(obj(v))
    .filter(([, n]) => num(n) !== null)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

/** Slots `{gpu: [0, 1]}` as `gpu 0,1` ('' when none). */
export function fmtSlots(v) {
  return Object.entries(obj(v))
    .map(([name, l]) => `${name} ${list(l).map(String).join(',')}`)
    .join('; ');
}

export function fmtGb(v) {
  const n = num(v);
  return n === null ? '–' : `${round(n, 2)} GB`;
}

export function fmtSeconds(sec) {
  const v = num(sec);
  if (v === null) return '–';
  if (v < 10) return `${round(v, 2)} s`;
  if (v < 60) return `${round(v, 1)} s`;
  const m = Math.floor(v / 60);
  if (m < 60) return `${m} min ${String(Math.floor(v % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

export function fmtClock(ms) {
  const v = num(ms);
  if (v === null) return '–';
  const d = new Date(v);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

export function fmtIso(ms) {
  const v = num(ms);
  return v === null ? '–' : new Date(v).toISOString();
}

export function fmtAge(ms) {
  const v = num(ms);
  if (v === null) return '–';
  return `${fmtSeconds(Math.max(0, Date.now() - v) / 1000)} ago`;
}

/** Seconds between two epoch-ms values, or from `a` to now when `b` is missing. */
export function span(a, b) {
  const x = num(a);
  if (x === null) return null;
  const y = num(b) ?? Date.now();
  return Math.max(0, (y - x) / 1000);
}

/** A "nice" step for about `target` ticks over `range`. */
export function niceStep(range, target) {
  const raw = range / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

const NUMERIC_COLUMNS = new Set(['Duration', 'Budget', 'Heartbeat', 'PID', 'Concurrency', 'Done', 'Procs', 'Memory']);

export function colHeader(text) {
  return h('th', { scope: 'col', class: NUMERIC_COLUMNS.has(text) ? 'num' : null }, text);
}

export function stateBadge(state, extraTitle) {
  const st = String(state ?? 'unknown');
  const title = extraTitle ? `${st}: ${extraTitle}` : STATE_HELP[st] ?? st;
  return h('span', { class: `badge state-${st}`, 'data-state': st, title }, st);
}

export function runHref(id) {
  return `#/runs/${encodeURIComponent(id)}`;
}

export function runCounts(run) {
  const c = obj(run.counts);
  const out = {};
  for (const st of STATES) out[st] = num(c[st]) ?? 0;
  return out;
}

export function runDuration(run) {
  if (num(run.wall_s) !== null) return run.wall_s;
  if (!ACTIVE_RUN.has(run.status)) return span(run.started_ms, run.finished_ms);
  return span(run.started_ms, null);
}

export function truncate(text, max) {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}


export function progressBar(counts, total) {
  const done = [...DONE_STATES].reduce((a, st) => a + counts[st], 0);
  const t = Math.max(total, 1);
  const bar = h('div', {
    class: 'progress',
    role: 'progressbar',
    'aria-valuemin': 0,
    'aria-valuemax': total,
    'aria-valuenow': done,
    title: STATES.filter((st) => counts[st] > 0).map((st) => `${counts[st]} ${st}`).join(', ') || 'no nodes',
  });
  for (const st of ['succeeded', 'cached', 'failed', 'skipped', 'cancelled', 'running', 'queued']) {
    if (counts[st] <= 0) continue;
    const seg = h('span', { class: `seg state-${st}` });
    seg.style.width = `${(100 * counts[st]) / t}%`;
    bar.appendChild(seg);
  }
  return h('div', { class: 'progress-cell' }, bar, h('span', { class: 'progress-text' }, `${done}/${total}`));
}
