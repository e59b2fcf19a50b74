// flowgate board: the page of one run (head, graph, resources, ready queue,
// timeline, failures, workers).

import { postJSON } from './api.js';
import { ACTIVE_RUN, STATES, fill, fmtClock, fmtGb, fmtIso, fmtNamed, fmtSeconds, h, list, num, obj, progressBar, runCounts, runDuration, stateBadge } from './dom.js';
import { renderDag } from './dag.js';
import { ledgerBlock, placementBlock } from './ledger.js';
import { ganttBlock } from './gantt.js';
import { failuresBlock, waitingBlock, workersTable } from './panels.js';

/** The page for a run id that does not exist; no view stays mounted. */
export function renderMissing(page, r) {
  page.view = null;
  document.title = 'flowgate board · run not found';
  fill(page.root, h('section', null, h('h2', null, 'Run not found'), h('p', null, 'There is no run ', h('code', null, r.id), ' under this prefix. ', h('a', { href: '#/' }, 'Back to the runs'), '.')));
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

function mountRun(page, r) {
  const root = page.root;
  const head = h('div', { id: 'run-head' });
  const dag = section('dag', 'Graph', 'Nodes in layers by dependency depth, coloured by state; hover a node for its details.');
  const ledger = section('ledger', 'Resources', 'Procs, memory and named resources (GPU slots, licences) reserved by admitted nodes against the budget over time, with the measured peak RSS of running nodes, and where nodes were placed.');
  const waiting = section('waiting-section', 'Ready queue', 'Nodes whose dependencies are done but that are not admitted yet, and why.');
  const workers = section('workers-section', 'Workers', 'Registered workers, their heartbeat and what they run.');
  const failures = section('failures', 'Failures', 'Each failed node with its crash record and the nodes it took down.');
  const gantt = section('gantt', 'Timeline', 'One row per node: the dark bar is its process (start to end), the light bar its resource reservation (admitted to released). Seconds from the run start.');
  const pager = mountPager(page);
  fill(
    root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← all runs')),
    head,
    pager.el,
    h('div', { class: 'two' }, dag.el, waiting.el),
    ledger.el,
    gantt.el,
    failures.el,
    workers.el,
  );
  return { route: r, head, pager, dag: dag.body, ledger: ledger.body, waiting: waiting.body, workers: workers.body, failures: failures.body, gantt: gantt.body, dagCache: null, cancel: { pending: false, message: null, failed: false }, retry: { pending: false, message: null, failed: false } };
}

/**
 * Renders a run's page into `page.root`, mounting its sections first unless
 * `page.view` (the mounted view) is for `r`.
 */
export function renderRun(page, r, run0, nodePage0, workers) {
  if (page.view === null || page.view.route !== r) page.view = mountRun(page, r);
  const view = page.view;
  const run = obj(run0);
  const id = String(run.run_id ?? r.id);
  // One page of the run's nodes; states come from the API as shown everywhere
  // (a node runs from its worker's claim on).
  const nodePage = obj(nodePage0);
  const nodes = list(nodePage.nodes).map(obj);
  updatePager(page, view.pager, nodePage, nodes.length);
  document.title = `flowgate board · ${id} (${run.status ?? '?'})`;
  fill(view.head, runHead(run, id, nodes), page.board.writable ? cancelControl(page, view, run, id) : null, page.board.writable ? retryControl(page, view, run, id) : null);
  renderDag(view, id, nodes);
  fill(view.ledger, ledgerBlock(run, view.ledger.clientWidth), placementBlock(nodes));
  fill(view.waiting, waitingBlock(run, nodes));
  fill(view.failures, failuresBlock(run));
  fill(view.gantt, ganttBlock(run, nodes, view.gantt.clientWidth));
  fill(view.workers, workersTable(workers, id));
}

/**
 * A button that asks the server for something about the run, with its
 * pending state and answer kept in the view (the head is rebuilt at every
 * refresh). Shown while `shown`, or while an answer is on display.
 */
function runAction(page, state, { shown, id, label, danger, confirm, busy, url, body, what }) {
  if (!shown && state.message === null) return null;
  const onclick = async () => {
    if (state.pending || !window.confirm(confirm)) return;
    state.pending = true;
    state.failed = false;
    state.message = busy;
    page.refresh();
    try {
      const res = await postJSON(url, body);
      state.failed = !res.ok;
      state.message = res.ok ? String(res.body?.message ?? `${what} requested`) : `${what} refused: ${String(res.body?.error ?? `HTTP ${res.status}`)}`;
    } catch (err) {
      state.failed = true;
      state.message = `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      state.pending = false;
      page.refresh();
    }
  };
  return h(
    'p',
    { class: 'run-actions' },
    shown ? h('button', { type: 'button', id: `${id}-run`, class: danger ? 'danger' : undefined, disabled: state.pending, onclick }, label) : null,
    state.message !== null ? h('span', { id: `${id}-status`, class: state.failed ? 'bad' : 'muted', role: 'status' }, ` ${state.message}`) : null,
  );
}

/**
 * "Cancel run" for a run that is queued or running, on a writable board only
 * (the server refuses it otherwise anyway).
 */
function cancelControl(page, view, run, id) {
  return runAction(page, view.cancel, {
    shown: ACTIVE_RUN.has(run.status),
    id: 'cancel',
    label: 'Cancel run',
    danger: true,
    confirm: `Cancel run ${id}? Its running nodes are killed and the rest never start.`,
    busy: 'cancelling…',
    url: `api/runs/${encodeURIComponent(id)}/cancel`,
    body: { reason: 'cancelled from the board' },
    what: 'cancel',
  });
}

/**
 * "Retry failed nodes" for a failed or cancelled run of the scheduler
 * service, on a writable board only: the service resets them (and what they
 * skipped) and runs them within its budget. Runs of `flowgate run` are
 * retried with `flowgate retry` where they can run.
 */
function retryControl(page, view, run, id) {
  return runAction(page, view.retry, {
    shown: (run.status === 'failed' || run.status === 'cancelled') && run.mode === 'service',
    id: 'retry',
    label: 'Retry failed nodes',
    danger: false,
    confirm: `Retry the failed nodes of run ${id}?`,
    busy: 'asking the scheduler service…',
    url: `api/runs/${encodeURIComponent(id)}/retry`,
    body: {},
    what: 'retry',
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
      h('dd', { id: 'run-budget' }, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}${fmtNamed(budget.resources) ? ` · ${fmtNamed(budget.resources)}` : ''}`),
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
      h(
        'dd',
        null,
        run.queue_paused ? h('span', { class: 'count state-text-failed', id: 'queue-paused' }, 'paused: admitted nodes wait (flowgate queue resume) · ') : null,
        h('a', { href: 'queues', title: 'BullMQ jobs of this prefix in Bull Board' }, 'Bull Board'),
      ),
      h('dt', null, 'Data as of'),
      h('dd', { id: 'run-as-of', title: `read from Redis at ${fmtIso(run.as_of_ms)}; a finished run is read again only when it changes` }, fmtClock(run.as_of_ms)),
    ),
    run.status === 'orphaned'
      ? h(
          'p',
          { class: 'orphaned-note', id: 'orphaned-note', role: 'status' },
          'No scheduler drives this run any more (its scheduler is gone). Continue it with ',
          h('code', null, String(run.continue_with ?? `flowgate resume ${id}`)),
          run.mode === 'service' ? ' or by starting the scheduler service.' : '.',
        )
      : null,
  ];
}

/**
 * The pager of the run's nodes: which nodes the graph and the timeline show
 * (a page of at most 200), a state filter and previous/next. Mounted once,
 * so the open filter menu survives the refreshes.
 */
function mountPager(page) {
  const text = h('span', { id: 'nodes-range' });
  const go = (offset) => {
    page.nodes.offset = Math.max(0, offset);
    page.refresh();
  };
  const state = h(
    'select',
    {
      id: 'nodes-state',
      'aria-label': 'show the nodes in this state',
      onchange: (e) => {
        page.nodes.state = e.target.value;
        go(0);
      },
    },
    h('option', { value: '' }, 'all states'),
    STATES.map((st) => h('option', { value: st }, st)),
  );
  const prev = h('button', { type: 'button', id: 'nodes-prev', onclick: () => go(page.nodes.offset - page.nodes.limit) }, '‹ previous');
  const next = h('button', { type: 'button', id: 'nodes-next', onclick: () => go(page.nodes.offset + page.nodes.limit) }, 'next ›');
  const el = h('p', { class: 'pager', id: 'nodes-pager' }, text, ' ', state, ' ', prev, ' ', next);
  return { el, text, state, prev, next };
}

function updatePager(page, pager, nodePage, shown) {
  const total = num(nodePage.total) ?? shown;
  const offset = num(nodePage.offset) ?? 0;
  // The filter matches fewer nodes than before: back to its last page.
  if (shown === 0 && offset > 0 && offset >= total) {
    page.nodes.offset = Math.max(0, Math.floor((total - 1) / page.nodes.limit) * page.nodes.limit);
    page.refresh();
  }
  const what = page.nodes.state === '' ? 'nodes' : `${page.nodes.state} nodes`;
  pager.text.textContent = shown === 0 ? `No ${what}.` : `Graph and timeline: ${what} ${offset + 1}–${offset + shown} of ${total}.`;
  if (pager.state.value !== page.nodes.state) pager.state.value = page.nodes.state;
  pager.prev.disabled = offset === 0;
  pager.next.disabled = offset + shown >= total;
  // A run that fits on one page needs no pager unless filtered.
  pager.el.hidden = total <= page.nodes.limit && offset === 0 && page.nodes.state === '';
}
