// flowgate board: the dashboard page. Plain browser JavaScript (an ES module),
// served as-is: no build step, no framework, nothing fetched from elsewhere.
//
// Every piece of data (run ids, node ids, reasons, paths) comes from user files
// or processes, so it only ever reaches the page through textContent,
// setAttribute and createElement — never through innerHTML.

const REFRESH_MS = 1000;
const STATES = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'];
const DONE_STATES = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);
const ACTIVE_RUN = new Set(['submitted', 'running']);
const STATE_HELP = {
  waiting: 'waiting for its dependencies',
  ready: 'dependencies done, waiting for resources or its turn',
  queued: 'admitted: resources reserved, job in the queue',
  running: 'running on a worker',
  succeeded: 'finished successfully',
  failed: 'failed (see the crash record)',
  skipped: 'not run: a node it depends on failed',
  cached: 'result taken from the cache',
  cancelled: 'cancelled before it finished',
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
function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element. */
function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVGNS, tag), attrs), children);
}

/** Replaces the children of `el`, keeping the scroll position of it and of its scrollable descendants. */
function fill(el, ...children) {
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

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const list = (v) => (Array.isArray(v) ? v : []);
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

function round(v, digits = 2) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function fmtGb(v) {
  const n = num(v);
  return n === null ? '–' : `${round(n, 2)} GB`;
}

function fmtSeconds(sec) {
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

function fmtClock(ms) {
  const v = num(ms);
  if (v === null) return '–';
  const d = new Date(v);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

function fmtIso(ms) {
  const v = num(ms);
  return v === null ? '–' : new Date(v).toISOString();
}

function fmtAge(ms) {
  const v = num(ms);
  if (v === null) return '–';
  return `${fmtSeconds(Math.max(0, Date.now() - v) / 1000)} ago`;
}

/** Seconds between two epoch-ms values, or from `a` to now when `b` is missing. */
function span(a, b) {
  const x = num(a);
  if (x === null) return null;
  const y = num(b) ?? Date.now();
  return Math.max(0, (y - x) / 1000);
}

/** A "nice" step for about `target` ticks over `range`. */
function niceStep(range, target) {
  const raw = range / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

const NUMERIC_COLUMNS = new Set(['Duration', 'Budget', 'Heartbeat', 'PID', 'Concurrency', 'Done', 'Procs', 'Memory']);

function colHeader(text) {
  return h('th', { scope: 'col', class: NUMERIC_COLUMNS.has(text) ? 'num' : null }, text);
}

function stateBadge(state, extraTitle) {
  const st = String(state ?? 'unknown');
  const title = extraTitle ? `${st}: ${extraTitle}` : STATE_HELP[st] ?? st;
  return h('span', { class: `badge state-${st}`, 'data-state': st, title }, st);
}

function runHref(id) {
  return `#/runs/${encodeURIComponent(id)}`;
}

function runCounts(run) {
  const c = obj(run.counts);
  const out = {};
  for (const st of STATES) out[st] = num(c[st]) ?? 0;
  return out;
}

function runDuration(run) {
  if (num(run.wall_s) !== null) return run.wall_s;
  if (!ACTIVE_RUN.has(run.status)) return span(run.started_ms, run.finished_ms);
  return span(run.started_ms, null);
}

// ------------------------------------------------------------------------ API

class HttpError extends Error {
  constructor(path, status) {
    super(`${path}: HTTP ${status}`);
    this.status = status;
  }
}

async function getJSON(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new HttpError(path, res.status);
  return res.json();
}

/** An optional endpoint: null when it fails. */
async function maybeJSON(path) {
  try {
    return await getJSON(path);
  } catch {
    return null;
  }
}

// --------------------------------------------------------------------- router

const app = document.getElementById('app');
const conn = document.getElementById('conn');
let route = parseHash();
let view = null; // the mounted view: {route, ...persistent elements}
let timer;
let inflight = false;
let again = false;

function parseHash() {
  const hash = location.hash.replace(/^#/, '');
  const m = /^\/runs\/(.+)$/.exec(hash);
  if (m) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
    return { name: 'run', id };
  }
  return { name: 'runs' };
}

function setConn(ok, text) {
  conn.textContent = text;
  conn.classList.toggle('bad', !ok);
}

async function refresh() {
  clearTimeout(timer);
  if (inflight) {
    again = true;
    return;
  }
  inflight = true;
  const r = route;
  try {
    if (r.name === 'run') {
      const [run, workers] = await Promise.all([getJSON(`api/runs/${encodeURIComponent(r.id)}`), maybeJSON('api/workers')]);
      if (r === route) renderRun(r, run, workers);
    } else {
      const [runs, workers, service] = await Promise.all([getJSON('api/runs'), maybeJSON('api/workers'), maybeJSON('api/service')]);
      if (r === route) renderRuns(r, runs, workers, service);
    }
    setConn(true, `updated ${fmtClock(Date.now())}`);
  } catch (err) {
    if (r === route && err instanceof HttpError && err.status === 404 && r.name === 'run') {
      renderMissing(r);
      setConn(true, `updated ${fmtClock(Date.now())}`);
    } else {
      setConn(false, `cannot reach the board API (${err instanceof Error ? err.message : String(err)}); retrying`);
    }
  } finally {
    inflight = false;
    if (again) {
      again = false;
      void refresh();
    } else schedule();
  }
}

function schedule() {
  clearTimeout(timer);
  if (document.visibilityState === 'visible') timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void refresh();
  else clearTimeout(timer);
});

window.addEventListener('hashchange', () => {
  route = parseHash();
  view = null;
  app.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
  window.scrollTo(0, 0);
  void refresh();
});

// ------------------------------------------------------------------ runs list

function progressBar(counts, total) {
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

function renderRuns(r, runs, workers, service) {
  if (view === null || view.route !== r) {
    const runsBody = h('div', { id: 'runs-body' });
    const serviceBody = h('div', { id: 'service-body' });
    const workersBody = h('div', { id: 'workers-body' });
    fill(
      app,
      h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs'), runsBody),
      h('section', { 'aria-labelledby': 'service-h', id: 'service' }, h('h2', { id: 'service-h' }, 'Scheduler service'), serviceBody),
      h('section', { 'aria-labelledby': 'workers-h' }, h('h2', { id: 'workers-h' }, 'Workers'), workersBody),
    );
    view = { route: r, runsBody, serviceBody, workersBody };
    document.title = 'flowgate board · runs';
  }
  const items = list(runs);
  if (items.length === 0) {
    fill(view.runsBody, h('p', { class: 'muted' }, 'No runs under this prefix yet. Start one with ', h('code', null, 'flowgate run WORKFLOW'), '.'));
  } else {
    const rows = items.map((run) => {
      const id = String(run.run_id ?? '');
      const counts = runCounts(run);
      const total = num(run.total) ?? STATES.reduce((a, st) => a + counts[st], 0);
      const budget = obj(run.budget);
      const tr = h(
        'tr',
        { 'data-run-id': id, 'data-status': run.status ?? '', class: 'clickable' },
        h('td', null, stateBadge(run.status)),
        h('th', { scope: 'row' }, h('a', { href: runHref(id) }, id)),
        h('td', null, String(run.workflow ?? '')),
        h('td', null, progressBar(counts, total)),
        h('td', { title: fmtIso(run.started_ms) }, fmtClock(run.started_ms)),
        h('td', { class: 'num' }, fmtSeconds(runDuration(run))),
        h('td', { class: 'num', title: 'budget' }, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}`),
        h('td', null, String(run.mode ?? 'run')),
      );
      tr.addEventListener('click', (ev) => {
        if (ev.target instanceof Element && ev.target.closest('a')) return;
        location.hash = runHref(id);
      });
      return tr;
    });
    fill(
      view.runsBody,
      h(
        'div',
        { class: 'table-wrap', 'data-scroll': 'runs' },
        h(
          'table',
          { id: 'runs', class: 'grid' },
          h('caption', { class: 'sr-only' }, 'Runs, newest first'),
          h(
            'thead',
            null,
            h('tr', null, ...['State', 'Run', 'Workflow', 'Progress', 'Started', 'Duration', 'Budget', 'Mode'].map(colHeader)),
          ),
          h('tbody', null, rows),
        ),
      ),
    );
  }
  fill(view.serviceBody, serviceBlock(service));
  fill(view.workersBody, workersTable(workers, null));
}

function serviceBlock(service) {
  if (service === null || service === undefined) {
    return h('p', { class: 'muted' }, 'No scheduler service is running under this prefix.');
  }
  const sv = obj(service);
  const budget = obj(sv.budget);
  const runs = list(sv.runs);
  return h(
    'dl',
    { class: 'facts' },
    h('dt', null, 'Holder'),
    h('dd', null, String(sv.holder ?? '–')),
    h('dt', null, 'Budget'),
    h('dd', null, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}`),
    h('dt', null, 'Started'),
    h('dd', { title: fmtIso(sv.started_ms) }, fmtClock(sv.started_ms)),
    h('dt', null, 'Heartbeat'),
    h('dd', null, fmtAge(sv.heartbeat_ms)),
    h('dt', null, 'Runs'),
    h('dd', null, runs.length === 0 ? '–' : runs.map((id, i) => [i > 0 ? ', ' : null, h('a', { href: runHref(String(id)) }, String(id))])),
  );
}

function workersTable(workers, runId) {
  const ws = list(workers);
  if (workers === null) return h('p', { class: 'muted' }, 'Worker list unavailable.');
  if (ws.length === 0) return h('p', { class: 'muted' }, 'No worker is registered under this prefix.');
  const rows = ws.map((w0) => {
    const w = obj(w0);
    const status = w.status === 'lost' ? 'lost' : 'alive';
    const current = list(w.current).map(obj);
    const mine = runId === null ? current : current.filter((c) => c.run_id === runId);
    const others = current.length - mine.length;
    const hbAge = num(w.heartbeat_ms) === null ? null : (Date.now() - w.heartbeat_ms) / 1000;
    const interval = num(w.heartbeat_interval_ms);
    return h(
      'tr',
      { 'data-worker': String(w.name ?? ''), 'data-status': status },
      h('th', { scope: 'row' }, String(w.name ?? '')),
      h('td', null, h('span', { class: `badge worker-${status}`, title: status === 'lost' ? 'missed three heartbeats' : 'heartbeating' }, status)),
      h(
        'td',
        { class: 'num', title: `last heartbeat ${fmtIso(w.heartbeat_ms)}${interval !== null ? `, every ${interval} ms` : ''}` },
        hbAge === null ? '–' : `${fmtSeconds(Math.max(0, hbAge))} ago`,
      ),
      h('td', null, String(w.host ?? '–')),
      h('td', { class: 'num' }, String(w.pid ?? '–')),
      h('td', { class: 'num', title: `max tasks per child: ${w.max_tasks_per_child ?? '–'}` }, String(w.concurrency ?? '–')),
      h('td', { class: 'num' }, String(w.nodes_done ?? '–')),
      h(
        'td',
        null,
        mine.length === 0 && others === 0 ? h('span', { class: 'muted' }, 'idle') : null,
        mine.map((c, i) => [
          i > 0 ? ', ' : null,
          h(
            'span',
            { class: 'chip', title: `run ${c.run_id ?? '?'}, job ${c.job_id ?? '?'}, pid ${c.pid ?? '–'}, since ${fmtClock(c.since_ms)}` },
            runId === null ? `${c.run_id ?? '?'}/${c.node_id ?? '?'}` : String(c.node_id ?? '?'),
            ` (${fmtSeconds(span(c.since_ms, null))})`,
          ),
        ]),
        others > 0 ? h('span', { class: 'muted' }, `${mine.length > 0 ? ' + ' : ''}${others} of other runs`) : null,
      ),
    );
  });
  return h(
    'div',
    { class: 'table-wrap', 'data-scroll': 'workers' },
    h(
      'table',
      { id: 'workers', class: 'grid' },
      h('caption', { class: 'sr-only' }, 'Registered workers'),
      h(
        'thead',
        null,
        h('tr', null, ...['Worker', 'Status', 'Heartbeat', 'Host', 'PID', 'Concurrency', 'Done', runId === null ? 'Running now' : 'Running now (this run)'].map(colHeader)),
      ),
      h('tbody', null, rows),
    ),
  );
}

// ----------------------------------------------------------------- run detail

function renderMissing(r) {
  view = null;
  document.title = 'flowgate board · run not found';
  fill(app, h('section', null, h('h2', null, 'Run not found'), h('p', null, 'There is no run ', h('code', null, r.id), ' under this prefix. ', h('a', { href: '#/' }, 'Back to the runs'), '.')));
}

function section(id, title, help) {
  const body = h('div', { class: 'section-body', id: `${id}-body` });
  const el = h(
    'section',
    { id, 'aria-labelledby': `${id}-h`, class: 'panel' },
    h('h2', { id: `${id}-h` }, title, help ? h('span', { class: 'help', title: help, role: 'note', 'aria-label': help }, '?') : null),
    body,
  );
  return { el, body };
}

function mountRun(r) {
  const head = h('div', { id: 'run-head' });
  const dag = section('dag', 'Graph', 'Nodes in layers by dependency depth, coloured by state; hover a node for its details.');
  const ledger = section('ledger', 'Resources', 'Procs and memory reserved by admitted nodes against the budget over time, with the measured peak RSS of running nodes.');
  const waiting = section('waiting-section', 'Ready queue', 'Nodes whose dependencies are done but that are not admitted yet, and why.');
  const workers = section('workers-section', 'Workers', 'Registered workers, their heartbeat and what they run.');
  const failures = section('failures', 'Failures', 'Each failed node with its crash record and the nodes it took down.');
  const gantt = section('gantt', 'Timeline', 'One row per node: the dark bar is its process (start to end), the light bar its resource reservation (admitted to released). Seconds from the run start.');
  fill(
    app,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← all runs')),
    head,
    h('div', { class: 'two' }, dag.el, waiting.el),
    ledger.el,
    gantt.el,
    failures.el,
    workers.el,
  );
  view = { route: r, head, dag: dag.body, ledger: ledger.body, waiting: waiting.body, workers: workers.body, failures: failures.body, gantt: gantt.body, dagCache: null };
}

function renderRun(r, run0, workers) {
  if (view === null || view.route !== r) mountRun(r);
  const run = obj(run0);
  const id = String(run.run_id ?? r.id);
  const nodes = withLiveStarts(list(run.nodes).map(obj), id, workers);
  document.title = `flowgate board · ${id} (${run.status ?? '?'})`;
  fill(view.head, runHead(run, id, nodes));
  renderDag(view, id, nodes);
  fill(view.ledger, ledgerBlock(run));
  fill(view.waiting, waitingBlock(run, nodes));
  fill(view.failures, failuresBlock(run));
  fill(view.gantt, ganttBlock(run, nodes, view.gantt.clientWidth));
  fill(view.workers, workersTable(workers, id));
}

/**
 * A node's start is stamped by its worker when it ends; while it runs, the
 * worker registry says since when it runs (and where).
 */
function withLiveStarts(nodes, runId, workers) {
  const live = new Map();
  for (const w0 of list(workers)) {
    const w = obj(w0);
    for (const c0 of list(w.current)) {
      const c = obj(c0);
      if (c.run_id === runId && num(c.since_ms) !== null) live.set(String(c.node_id), { since: c.since_ms, worker: w.name });
    }
  }
  if (live.size === 0) return nodes;
  return nodes.map((n) => {
    const l = live.get(String(n.id));
    if (!l || num(n.start_ms) !== null || DONE_STATES.has(n.state)) return n;
    // "running" is stored lazily by the scheduler; a worker running the node says so at once.
    return { ...n, state: n.state === 'queued' ? 'running' : n.state, start_ms: l.since, worker: n.worker ?? l.worker ?? null };
  });
}

function runHead(run, id, nodes) {
  const counts = runCounts(run);
  const total = num(run.total) ?? nodes.length;
  const budget = obj(run.budget);
  const options = obj(run.options);
  const optionText = Object.entries(options)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return [
    h('h2', { class: 'run-title' }, 'Run ', h('span', { class: 'run-id' }, id), ' ', stateBadge(run.status)),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Workflow'),
      h('dd', null, String(run.workflow ?? '–')),
      h('dt', null, 'Progress'),
      h('dd', null, progressBar(counts, total)),
      h('dt', null, 'Started'),
      h('dd', { title: fmtIso(run.started_ms) }, fmtClock(run.started_ms)),
      h('dt', null, ACTIVE_RUN.has(run.status) ? 'Running for' : 'Duration'),
      h('dd', null, fmtSeconds(runDuration(run))),
      h('dt', null, 'Budget'),
      h('dd', null, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}`),
      h('dt', null, 'Scheduler'),
      h('dd', { title: optionText || null }, String(run.scheduler ?? options.scheduler ?? '–'), run.mode ? ` · ${run.mode}` : ''),
      h('dt', null, 'Nodes'),
      h(
        'dd',
        null,
        STATES.filter((st) => counts[st] > 0).map((st, i) => [
          i > 0 ? ' · ' : null,
          st === 'failed'
            ? h('button', { type: 'button', class: 'linklike count state-text-failed', title: 'show the failures', onclick: () => document.getElementById('failures')?.scrollIntoView({ behavior: 'smooth' }) }, `${counts[st]} ${st}`)
            : h('span', { class: `count state-text-${st}` }, `${counts[st]} ${st}`),
        ]),
      ),
      h('dt', null, 'Queue'),
      h('dd', null, h('a', { href: 'queues', title: 'BullMQ jobs of this prefix in Bull Board' }, 'Bull Board')),
    ),
  ];
}

// ---------------------------------------------------------------------- DAG

const NODE_W = 132;
const NODE_H = 26;
const GAP_X = 56;
const GAP_Y = 12;
const PAD = 12;

function truncate(text, max) {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Layers by dependency depth (longest path from a root), ordered to limit crossings. */
function layoutDag(nodes) {
  const index = new Map(nodes.map((n, i) => [String(n.id), i]));
  const needs = nodes.map((n) => list(n.needs).map(String).filter((p) => index.has(p)));
  const children = nodes.map(() => []);
  const indeg = nodes.map((_, i) => needs[i].length);
  needs.forEach((ps, i) => ps.forEach((p) => children[index.get(p)].push(i)));
  const depth = nodes.map(() => 0);
  const queue = [];
  indeg.forEach((d, i) => d === 0 && queue.push(i));
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q];
    for (const c of children[i]) {
      depth[c] = Math.max(depth[c], depth[i] + 1);
      if (--indeg[c] === 0) queue.push(c);
    }
  }
  // Nodes in a cycle (should not happen: workflows are validated) go after the rest.
  const maxDepth = Math.max(0, ...depth);
  indeg.forEach((d, i) => {
    if (d > 0) depth[i] = maxDepth + 1;
  });
  const layers = [];
  nodes.forEach((_, i) => (layers[depth[i]] ??= []).push(i));
  const pos = nodes.map(() => 0);
  layers.forEach((layer, li) => {
    if (li > 0) {
      const bary = (i) => (needs[i].length === 0 ? Infinity : needs[i].reduce((a, p) => a + pos[index.get(p)], 0) / needs[i].length);
      layer.sort((a, b) => bary(a) - bary(b) || a - b);
    }
    layer.forEach((i, k) => (pos[i] = k));
  });
  const tall = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
  const xy = nodes.map(() => ({ x: 0, y: 0 }));
  layers.forEach((layer, li) => {
    if (!layer) return;
    const offset = ((tall - layer.length) * (NODE_H + GAP_Y)) / 2;
    layer.forEach((i, k) => (xy[i] = { x: PAD + li * (NODE_W + GAP_X), y: PAD + offset + k * (NODE_H + GAP_Y) }));
  });
  return {
    xy,
    needs,
    width: PAD * 2 + layers.length * NODE_W + Math.max(0, layers.length - 1) * GAP_X,
    height: PAD * 2 + tall * NODE_H + (tall - 1) * GAP_Y,
  };
}

function nodeTitle(n) {
  const lines = [`${n.id}: ${n.state ?? '?'}`, `${n.n_procs ?? '?'} procs, ${fmtGb(n.mem_gb)}`];
  const g = n.granted ? obj(n.granted) : null;
  if (g && (g.n_procs !== n.n_procs || g.mem_gb !== n.mem_gb)) lines.push(`granted (clamped to the budget): ${g.n_procs ?? '?'} procs, ${fmtGb(g.mem_gb)}`);
  const needs = list(n.needs);
  if (needs.length > 0) lines.push(`needs: ${needs.join(', ')}`);
  if (num(n.start_ms) !== null) lines.push(`ran ${fmtSeconds(span(n.start_ms, n.end_ms))}${n.worker ? ` on ${n.worker}` : ''}`);
  if (num(n.attempts) !== null && n.attempts > 1) lines.push(`attempts: ${n.attempts}`);
  if (num(n.exit_code) !== null) lines.push(`exit code ${n.exit_code}`);
  if (n.signal) lines.push(`signal ${n.signal}`);
  if (num(n.peak_rss_mb) !== null) lines.push(`peak RSS ${round(n.peak_rss_mb, 1)} MB`);
  if (num(n.cpu_s) !== null) lines.push(`CPU ${round(n.cpu_s, 2)} s`);
  if (n.reason) lines.push(`reason: ${n.reason}`);
  if (n.skipped_because) lines.push(`skipped because ${n.skipped_because} failed`);
  return lines.join('\n');
}

function legend(nodes) {
  const counts = {};
  for (const n of nodes) counts[n.state] = (counts[n.state] ?? 0) + 1;
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Node states' },
    STATES.map((st) => h('li', { title: STATE_HELP[st], class: counts[st] ? '' : 'empty' }, h('span', { class: `swatch state-${st}`, 'aria-hidden': 'true' }), `${st} `, h('span', { class: 'muted' }, String(counts[st] ?? 0)))),
  );
}

function renderDag(v, runId, nodes) {
  const key = JSON.stringify([runId, nodes.map((n) => [n.id, list(n.needs)])]);
  if (v.dagCache !== null && v.dagCache.key === key) {
    // Same graph: update states and tooltips in place (keeps hover and scroll).
    for (const n of nodes) {
      const g = v.dagCache.byId.get(String(n.id));
      if (!g) continue;
      const st = String(n.state ?? 'unknown');
      if (g.getAttribute('data-state') !== st) {
        g.setAttribute('data-state', st);
        g.setAttribute('class', `node state-${st}`);
      }
      const title = g.querySelector('title');
      const text = nodeTitle(n);
      if (title && title.textContent !== text) title.textContent = text;
    }
    const leg = legend(nodes);
    v.dagCache.legend.replaceWith(leg);
    v.dagCache.legend = leg;
    return;
  }
  if (nodes.length === 0) {
    fill(v.dag, h('p', { class: 'muted' }, 'No nodes.'));
    v.dagCache = null;
    return;
  }
  const lay = layoutDag(nodes);
  const indexOf = new Map(nodes.map((n, i) => [String(n.id), i]));
  const byId = new Map();
  const edges = s('g', { class: 'edges' });
  const boxes = s('g', { class: 'nodes' });
  nodes.forEach((n, i) => {
    const { x, y } = lay.xy[i];
    for (const p of lay.needs[i]) {
      const a = lay.xy[indexOf.get(p)];
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = x - 2;
      const y2 = y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      edges.appendChild(s('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'data-from': p, 'data-to': String(n.id), 'marker-end': 'url(#arrow)' }));
    }
    const st = String(n.state ?? 'unknown');
    const g = s(
      'g',
      { class: `node state-${st}`, 'data-node-id': String(n.id), 'data-state': st, transform: `translate(${x},${y})`, tabindex: '0', role: 'img', 'aria-label': `${n.id}: ${st}` },
      s('title', null, nodeTitle(n)),
      s('rect', { width: NODE_W, height: NODE_H, rx: 5, ry: 5 }),
      s('text', { x: NODE_W / 2, y: NODE_H / 2, 'dominant-baseline': 'central', 'text-anchor': 'middle' }, truncate(String(n.id), 18)),
    );
    byId.set(String(n.id), g);
    boxes.appendChild(g);
  });
  const svg = s(
    'svg',
    { id: 'dag-svg', class: 'dag', width: lay.width, height: lay.height, viewBox: `0 0 ${lay.width} ${lay.height}`, role: 'group', 'aria-label': `Workflow graph, ${nodes.length} nodes` },
    s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
    edges,
    boxes,
  );
  const leg = legend(nodes);
  fill(v.dag, leg, h('div', { class: 'scroll dag-wrap', 'data-scroll': 'dag' }, svg));
  v.dagCache = { key, byId, legend: leg };
}

// ------------------------------------------------------------------- ledger

function chartTimeEnd(run) {
  const fin = num(run.finished_ms);
  if (fin !== null && !ACTIVE_RUN.has(run.status)) return fin;
  return Date.now();
}

function timeAxis(g, x, t0, t1, top, bottom) {
  const range = (t1 - t0) / 1000;
  const step = niceStep(range, 8);
  for (let v = 0; v <= range + 1e-9; v += step) {
    const px = x(t0 + v * 1000);
    g.appendChild(s('line', { class: 'grid', x1: px, x2: px, y1: top, y2: bottom }));
    g.appendChild(s('text', { class: 'tick', x: px, y: bottom + 13, 'text-anchor': 'middle' }, `${round(v, 2)} s`));
  }
}

function stepChart({ id, label, unit, series, rss, budget, t0, t1, width }) {
  const W = Math.max(280, width);
  const H = 130;
  const m = { l: 40, r: 10, t: 10, b: 22 };
  const vmax = Math.max(budget ?? 0, ...series.map((p) => p.v), ...rss.map((p) => p.v), 1e-9) * 1.08;
  const x = (t) => m.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - m.l - m.r);
  const y = (v) => H - m.b - (v / vmax) * (H - m.t - m.b);
  const path = (pts) => {
    if (pts.length === 0) return '';
    let d = `M${x(pts[0].t)},${y(0)} V${y(pts[0].v)}`;
    for (let i = 1; i < pts.length; i++) d += ` H${x(pts[i].t)} V${y(pts[i].v)}`;
    return `${d} H${x(t1)}`;
  };
  const g = s('g');
  timeAxis(g, x, t0, t1, m.t, H - m.b);
  const ticks = budget ? [0, budget / 2, budget] : [0, vmax / 2];
  for (const v of ticks) {
    g.appendChild(s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    g.appendChild(s('text', { class: 'tick', x: m.l - 4, y: y(v), 'text-anchor': 'end', 'dominant-baseline': 'central' }, `${round(v, 2)}`));
  }
  const reserved = path(series);
  if (reserved) {
    g.appendChild(s('path', { class: 'area', d: `${reserved} V${y(0)} Z` }));
    g.appendChild(s('path', { class: 'reserved', d: reserved }, s('title', null, `${label} reserved`)));
  }
  const measured = path(rss);
  if (measured) g.appendChild(s('path', { class: 'rss', d: measured }, s('title', null, 'measured peak RSS of running nodes')));
  if (budget) {
    g.appendChild(s('line', { class: 'budget', x1: m.l, x2: W - m.r, y1: y(budget), y2: y(budget) }, s('title', null, `budget: ${budget} ${unit}`)));
  }
  const peak = Math.max(0, ...series.map((p) => p.v));
  return s(
    'svg',
    { id, class: 'chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label} reserved over time: peak ${round(peak, 2)} of ${budget ?? '?'} ${unit}` },
    s('title', null, `${label} reserved over time (peak ${round(peak, 2)} of ${budget ?? '?'} ${unit})`),
    g,
  );
}

function ledgerBlock(run) {
  const ledger = obj(run.ledger);
  const budget = { ...obj(run.budget), ...obj(ledger.budget) };
  const timeline = list(ledger.timeline).map(obj).filter((p) => num(p.t_ms) !== null);
  const t0 = num(run.started_ms) ?? (timeline.length > 0 ? timeline[0].t_ms : Date.now());
  const t1 = Math.max(chartTimeEnd(run), t0 + 1000, ...timeline.map((p) => p.t_ms));
  const procs = timeline.filter((p) => num(p.n_procs) !== null).map((p) => ({ t: p.t_ms, v: p.n_procs }));
  const mem = timeline.filter((p) => num(p.mem_gb) !== null).map((p) => ({ t: p.t_ms, v: p.mem_gb }));
  let rss = timeline.filter((p) => num(p.rss_gb) !== null).map((p) => ({ t: p.t_ms, v: p.rss_gb }));
  if (!rss.some((p) => p.v > 0)) rss = []; // nothing measured yet
  const rssLabel = typeof ledger.rss_label === 'string' ? ledger.rss_label : 'measured RSS';
  const width = Math.max(280, (view.ledger.clientWidth || 1100) / 2 - 8);
  const budgetProcs = num(budget.n_procs);
  const budgetMem = num(budget.memory_gb) ?? num(budget.mem_gb);

  // Free now: the scheduler's own snapshot while the run is going, else budget minus the last reservation.
  const waiting = run.waiting ? obj(run.waiting) : null;
  let free = null;
  if (waiting && waiting.free) free = obj(waiting.free);
  else if (ACTIVE_RUN.has(run.status) && timeline.length > 0) {
    const last = timeline[timeline.length - 1];
    free = { n_procs: budgetProcs !== null ? budgetProcs - (num(last.n_procs) ?? 0) : null, mem_gb: budgetMem !== null ? budgetMem - (num(last.mem_gb) ?? 0) : null };
  }
  const freeText = ACTIVE_RUN.has(run.status)
    ? free
      ? `Free now: ${num(free.n_procs) ?? '–'} of ${budgetProcs ?? '–'} procs, ${fmtGb(free.mem_gb)} of ${fmtGb(budgetMem)}`
      : 'Free now: unknown'
    : `Run ${run.status ?? 'ended'}: nothing reserved.`;
  const peakRss = rss.length > 0 ? Math.max(...rss.map((p) => p.v)) : null;
  return [
    h('p', { id: 'free', class: 'free' }, freeText),
    timeline.length === 0 ? h('p', { class: 'muted' }, 'Nothing reserved yet.') : null,
    h(
      'div',
      { class: 'charts' },
      h('figure', null, h('figcaption', null, `Procs reserved (budget ${budgetProcs ?? '–'})`), stepChart({ id: 'ledger-procs', label: 'procs', unit: 'procs', series: procs, rss: [], budget: budgetProcs, t0, t1, width })),
      h(
        'figure',
        null,
        h('figcaption', null, `Memory reserved, GB (budget ${budgetMem ?? '–'})`),
        stepChart({ id: 'ledger-mem', label: 'memory', unit: 'GB', series: mem, rss, budget: budgetMem, t0, t1, width }),
      ),
    ),
    h(
      'ul',
      { class: 'chart-key', 'aria-label': 'Chart key' },
      h('li', null, h('span', { class: 'key reserved', 'aria-hidden': 'true' }), 'reserved'),
      h('li', null, h('span', { class: 'key budget', 'aria-hidden': 'true' }), 'budget'),
      rss.length > 0 ? h('li', null, h('span', { class: 'key rss', 'aria-hidden': 'true' }), `${rssLabel} (max ${peakRss < 1 ? `${round(peakRss * 1024, 1)} MB` : `${round(peakRss, 2)} GB`})`) : null,
    ),
  ];
}

// ------------------------------------------------------------- ready queue

function waitingBlock(run, nodes) {
  const snap = run.waiting ? obj(run.waiting) : null;
  const items = snap ? list(snap.waiting).map(obj) : [];
  const byId = new Map(nodes.map((n) => [String(n.id), n]));
  const caption = snap
    ? `${items.length} node${items.length === 1 ? '' : 's'} ready but not admitted (scheduler snapshot from ${fmtAge(snap.at_ms)})`
    : ACTIVE_RUN.has(run.status)
      ? 'No ready-queue snapshot yet.'
      : 'The run has ended: nothing is waiting.';
  const rows =
    items.length === 0
      ? [h('tr', { class: 'empty' }, h('td', { colspan: 4, class: 'muted' }, 'No node is waiting for resources.'))]
      : items.map((w) => {
          const n = byId.get(String(w.id)) ?? {};
          return h(
            'tr',
            { 'data-node-id': String(w.id) },
            h('th', { scope: 'row' }, String(w.id)),
            h('td', { class: 'num' }, String(n.n_procs ?? '–')),
            h('td', { class: 'num' }, fmtGb(n.mem_gb)),
            h('td', { class: 'reason' }, String(w.reason ?? '')),
          );
        });
  return h(
    'div',
    { class: 'table-wrap', 'data-scroll': 'waiting' },
    h(
      'table',
      { id: 'waiting', class: 'grid' },
      h('caption', null, caption),
      h('thead', null, h('tr', null, ...['Node', 'Procs', 'Memory', 'Reason'].map(colHeader))),
      h('tbody', null, rows),
    ),
  );
}

// ----------------------------------------------------------------- failures

function failuresBlock(run) {
  const failures = list(run.failures).map(obj);
  if (failures.length === 0) {
    return h('p', { class: 'muted', id: 'no-failures' }, ACTIVE_RUN.has(run.status) ? 'No failures so far.' : 'No failures.');
  }
  return failures.map((f) => {
    const crash = f.crash ? obj(f.crash) : null;
    const skipped = list(f.skipped).map(String);
    const command = crash ? (Array.isArray(crash.command) ? crash.command.map((a) => JSON.stringify(String(a))).join(' ') : crash.command) : null;
    const facts = [
      ['Reason', h('span', { class: 'reason' }, String(f.reason ?? '–'))],
      ['Crash file', f.crash_file ? h('code', { class: 'crash-file', title: 'crash record (JSON, with a .txt twin)' }, String(f.crash_file)) : h('span', { class: 'muted' }, 'none')],
    ];
    if (crash) {
      facts.push(['Exit code', String(crash.exit_code ?? '–')]);
      if (crash.signal) facts.push(['Signal', String(crash.signal)]);
      if (command) facts.push(['Command', h('code', null, String(command))]);
      facts.push(['Attempt', String(crash.attempt ?? '–')]);
      facts.push(['Where', `${crash.worker ?? '–'}${crash.host ? ` on ${crash.host}` : ''}${num(crash.pid) !== null ? `, pid ${crash.pid}` : ''}`]);
      facts.push(['When', `${fmtClock(crash.start_ms)} → ${fmtClock(crash.end_ms)} (${fmtSeconds(span(crash.start_ms, crash.end_ms ?? crash.start_ms))})`]);
      if (crash.node_dir) facts.push(['Directory', h('code', null, String(crash.node_dir))]);
      if (crash.stderr_path) facts.push(['Stderr', h('code', null, String(crash.stderr_path))]);
    }
    facts.push([
      'Skipped',
      skipped.length === 0 ? h('span', { class: 'muted' }, 'nothing') : skipped.map((id, i) => [i > 0 ? ' ' : null, h('span', { class: 'chip state-skipped-chip', 'data-node-id': id }, id)]),
    ]);
    const tail = crash && typeof crash.stderr_tail === 'string' ? crash.stderr_tail : null;
    return h(
      'article',
      { class: 'failure', 'data-node-id': String(f.id ?? f.node ?? '') },
      h('h3', null, stateBadge('failed'), ' ', String(f.id ?? f.node ?? '?')),
      h(
        'dl',
        { class: 'facts' },
        facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
      ),
      tail !== null
        ? h('details', { open: tail.length > 0 }, h('summary', null, 'stderr (tail)'), h('pre', { class: 'stderr-tail' }, tail.length > 0 ? tail : '(empty)'))
        : null,
    );
  });
}

// -------------------------------------------------------------------- Gantt

function ganttBlock(run, nodes, containerWidth) {
  const rows = nodes
    .filter((n) => num(n.start_ms) !== null || num(n.admitted_ms) !== null)
    .sort((a, b) => (num(a.start_ms) ?? num(a.admitted_ms)) - (num(b.start_ms) ?? num(b.admitted_ms)) || String(a.id).localeCompare(String(b.id)));
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No node has started yet.');
  const active = ACTIVE_RUN.has(run.status);
  const now = Date.now();
  const t0 = num(run.started_ms) ?? Math.min(...rows.map((n) => num(n.admitted_ms) ?? num(n.start_ms)));
  const ends = rows.flatMap((n) => [num(n.end_ms), num(n.released_ms)]).filter((v) => v !== null);
  const t1 = Math.max(active ? now : num(run.finished_ms) ?? 0, t0 + 1000, ...ends);
  const LABEL = 150;
  const ROW = 20;
  const TOP = 22;
  const W = Math.max(560, (containerWidth || 900) - 4);
  const H = TOP + rows.length * ROW + 6;
  const x = (t) => LABEL + ((t - t0) / Math.max(1, t1 - t0)) * (W - LABEL - 12);
  const axis = s('g', { class: 'axis' });
  timeAxis(axis, x, t0, t1, TOP - 4, H - 4);
  // timeAxis puts labels below; for the Gantt, move them to the top.
  for (const t of axis.querySelectorAll('text')) t.setAttribute('y', '12');
  const body = s('g');
  rows.forEach((n, i) => {
    const st = String(n.state ?? 'unknown');
    const y = TOP + i * ROW;
    const holding = active && num(n.released_ms) === null;
    const holdEnd = num(n.released_ms) ?? (holding ? now : num(n.end_ms));
    const runEnd = num(n.end_ms) ?? (active ? now : num(n.released_ms));
    const g = s('g', { class: `gantt-row state-${st}`, 'data-node-id': String(n.id), 'data-state': st });
    const detail = [
      `${n.id}: ${st}`,
      num(n.admitted_ms) !== null ? `admitted +${round((n.admitted_ms - t0) / 1000, 2)} s, held ${fmtSeconds(span(n.admitted_ms, holdEnd))}` : null,
      num(n.start_ms) !== null ? `ran +${round((n.start_ms - t0) / 1000, 2)} s for ${fmtSeconds(span(n.start_ms, runEnd))}` : 'not started',
      n.worker ? `worker ${n.worker}` : null,
      `${n.n_procs ?? '?'} procs, ${fmtGb(n.mem_gb)}${num(n.peak_rss_mb) !== null ? `, peak RSS ${round(n.peak_rss_mb, 1)} MB` : ''}`,
      n.reason ? `reason: ${n.reason}` : null,
    ]
      .filter(Boolean)
      .join('\n');
    g.appendChild(s('title', null, detail));
    if (i % 2 === 1) g.appendChild(s('rect', { class: 'stripe', x: 0, y, width: W, height: ROW }));
    g.appendChild(s('text', { class: 'label', x: LABEL - 6, y: y + ROW / 2, 'text-anchor': 'end', 'dominant-baseline': 'central' }, truncate(String(n.id), 22)));
    if (num(n.admitted_ms) !== null && holdEnd !== null) {
      g.appendChild(s('rect', { class: 'hold', x: x(n.admitted_ms), y: y + 3, width: Math.max(1, x(holdEnd) - x(n.admitted_ms)), height: ROW - 6, rx: 2 }));
    }
    if (num(n.start_ms) !== null && runEnd !== null) {
      g.appendChild(s('rect', { class: 'bar', x: x(n.start_ms), y: y + 6, width: Math.max(2, x(runEnd) - x(n.start_ms)), height: ROW - 12, rx: 2 }));
    }
    body.appendChild(g);
  });
  const svg = s('svg', { id: 'gantt-svg', class: 'gantt', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'group', 'aria-label': `Timeline of ${rows.length} nodes, seconds from the run start` }, axis, body);
  if (active) svg.appendChild(s('line', { class: 'now', x1: x(now), x2: x(now), y1: TOP - 4, y2: H - 4 }, s('title', null, 'now')));
  return [
    h(
      'ul',
      { class: 'chart-key', 'aria-label': 'Timeline key' },
      h('li', null, h('span', { class: 'key bar', 'aria-hidden': 'true' }), 'process (start → end)'),
      h('li', null, h('span', { class: 'key hold', 'aria-hidden': 'true' }), 'reservation (admitted → released)'),
    ),
    h('div', { class: 'scroll', 'data-scroll': 'gantt' }, svg),
  ];
}

// -------------------------------------------------------------------- start

app.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
void refresh();
