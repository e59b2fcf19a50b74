// flowgate board: the runs list page (runs, scheduler service, workers).

import { STATES, colHeader, fill, fmtClock, fmtGb, fmtIso, fmtNamed, fmtSeconds, h, list, num, obj, progressBar, runCounts, runDuration, runHref, stateBadge } from './dom.js';
import { hostsTable, serviceBlock, workersTable } from './panels.js';

/**
 * Renders the runs list into `page.root`, mounting its sections first unless
 * `page.view` (the mounted view: {route, ...persistent elements}) is for `r`.
 */
export function renderRuns(page, r, runs, workers, service, hosts) {
  if (page.view === null || page.view.route !== r) {
    const runsBody = h('div', { id: 'runs-body' });
    const serviceBody = h('div', { id: 'service-body' });
    const workersBody = h('div', { id: 'workers-body' });
    const hostsBody = h('div', { id: 'hosts-body' });
    fill(
      page.root,
      h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs'), runsBody),
      h('section', { 'aria-labelledby': 'service-h', id: 'service' }, h('h2', { id: 'service-h' }, 'Scheduler service'), serviceBody),
      h('section', { 'aria-labelledby': 'hosts-h', id: 'hosts-section' }, h('h2', { id: 'hosts-h' }, 'Hosts'), hostsBody),
      h('section', { 'aria-labelledby': 'workers-h' }, h('h2', { id: 'workers-h' }, 'Workers'), workersBody),
    );
    page.view = { route: r, runsBody, serviceBody, hostsBody, workersBody };
    document.title = 'flowgate board · runs';
  }
  const view = page.view;
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
        h('td', { class: 'num', title: 'budget' }, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}${fmtNamed(budget.resources) ? ` · ${fmtNamed(budget.resources)}` : ''}`),
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
  fill(view.hostsBody, hostsTable(hosts));
  fill(view.workersBody, workersTable(workers, null));
}
