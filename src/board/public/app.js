// flowgate board: the dashboard page. Plain browser JavaScript (ES modules),
// served as-is: no build step, no framework, nothing fetched from elsewhere.
//
// Every piece of data (run ids, node ids, reasons, paths) comes from user files
// or processes, so it only ever reaches the page through textContent,
// setAttribute and createElement — never through innerHTML.
//
// This module routes (#/ and #/runs/ID) and starts the polling; the pages
// are in runs.js and run.js, the helpers in dom.js, the fetching in api.js.

import { HttpError, getJSON, maybeJSON, poller } from './api.js';
import { fmtClock, h } from './dom.js';
import { renderMissing, renderRun } from './run.js';
import { renderRuns } from './runs.js';

const REFRESH_MS = 1000;
/** Nodes per page of a run's nodes (the graph and the timeline show one page). */
const NODE_PAGE = 200;

const conn = document.getElementById('conn');
/**
 * The page: its root element, the mounted view ({route, ...persistent
 * elements}, or null) and what the board allows (`GET api/board`).
 */
const page = { root: document.getElementById('app'), view: null, board: { writable: false }, refresh: () => undefined, nodes: { runId: null, offset: 0, state: '', limit: NODE_PAGE } };
let route = parseHash();

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

/**
 * The page of the run's nodes on display (`api/runs/ID/nodes`): its offset
 * and state filter stay while the run's page is open, and start over for
 * another run.
 */
function nodesPath(runId) {
  if (page.nodes.runId !== runId) page.nodes = { runId, offset: 0, state: '', limit: NODE_PAGE };
  const q = new URLSearchParams({ offset: String(page.nodes.offset), limit: String(NODE_PAGE) });
  if (page.nodes.state !== '') q.set('state', page.nodes.state);
  return `api/runs/${encodeURIComponent(runId)}/nodes?${q.toString()}`;
}

let boardKnown = false;

async function load() {
  const r = route;
  if (!boardKnown) {
    const board = await maybeJSON('api/board');
    if (board !== null) {
      page.board = { writable: board.writable === true };
      boardKnown = true;
    }
  }
  try {
    if (r.name === 'run') {
      const [run, nodes, workers] = await Promise.all([getJSON(`api/runs/${encodeURIComponent(r.id)}`), getJSON(nodesPath(r.id)), maybeJSON('api/workers')]);
      if (r === route) renderRun(page, r, run, nodes, workers);
    } else {
      const [runs, workers, service, hosts] = await Promise.all([getJSON('api/runs'), maybeJSON('api/workers'), maybeJSON('api/service'), maybeJSON('api/hosts')]);
      if (r === route) renderRuns(page, r, runs, workers, service, hosts);
    }
    setConn(true, `updated ${fmtClock(Date.now())}`);
  } catch (err) {
    if (r === route && err instanceof HttpError && err.status === 404 && r.name === 'run') {
      renderMissing(page, r);
      setConn(true, `updated ${fmtClock(Date.now())}`);
    } else {
      setConn(false, `cannot reach the board API (${err instanceof Error ? err.message : String(err)}); retrying`);
    }
  }
}

const refresh = poller(load, REFRESH_MS);
page.refresh = refresh;

window.addEventListener('hashchange', () => {
  route = parseHash();
  page.view = null;
  page.root.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
  window.scrollTo(0, 0);
  void refresh();
});

page.root.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
void refresh();
