// flowgate board: tables and blocks — scheduler service, workers, ready queue, failures.

import { ACTIVE_RUN, colHeader, fmtAge, fmtClock, fmtGb, fmtIso, fmtNamed, fmtSeconds, h, list, num, obj, runHref, span, stateBadge } from './dom.js';

export function serviceBlock(service) {
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
    h('dd', { id: 'service-budget' }, `${num(budget.n_procs) ?? '–'} procs / ${fmtGb(budget.memory_gb)}${fmtNamed(budget.resources) ? ` · ${fmtNamed(budget.resources)}` : ''}`),
    h('dt', null, 'Placement'),
    h('dd', null, sv.placement === 'hosts' ? 'per host (one ledger per registered host)' : 'one pooled budget'),
    h('dt', null, 'Started'),
    h('dd', { title: fmtIso(sv.started_ms) }, fmtClock(sv.started_ms)),
    h('dt', null, 'Heartbeat'),
    h('dd', null, fmtAge(sv.heartbeat_ms)),
    h('dt', null, 'Runs'),
    h('dd', null, runs.length === 0 ? '–' : runs.map((id, i) => [i > 0 ? ', ' : null, h('a', { href: runHref(String(id)) }, String(id))])),
  );
}

export function workersTable(workers, runId) {
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

/** `2 procs, 1.5 GB, gpu 1` ('–' when absent). */
function amounts(a) {
  if (a === null || a === undefined) return '–';
  const o = obj(a);
  const named = fmtNamed(o.resources);
  return `${num(o.n_procs) ?? '–'} procs, ${fmtGb(o.mem_gb)}${named ? `, ${named}` : ''}`;
}

/** The registered hosts: liveness, declared capacity, what nodes placed on each hold and what is free. */
export function hostsTable(hosts) {
  if (hosts === null || hosts === undefined) return h('p', { class: 'muted' }, 'Host list unavailable.');
  const hs = list(hosts).map(obj);
  if (hs.length === 0) return h('p', { class: 'muted' }, 'No host is registered under this prefix.');
  const rows = hs.map((x) => {
    const status = x.status === 'lost' ? 'lost' : 'alive';
    const ws = list(x.workers).map(obj);
    const labels = Object.entries(obj(x.labels)).map(([k, v]) => `${k}=${String(v)}`).join(', ');
    return h(
      'tr',
      { 'data-host': String(x.host_id ?? ''), 'data-status': status },
      h('th', { scope: 'row' }, String(x.host_id ?? '')),
      h('td', null, h('span', { class: `badge worker-${status}`, title: status === 'lost' ? 'its last worker missed three heartbeats' : 'a worker of it is heartbeating' }, status)),
      h('td', { class: 'capacity' }, x.capacity ? amounts(x.capacity) : h('span', { class: 'muted' }, 'not declared')),
      h('td', { class: 'held' }, amounts(x.held)),
      h('td', { class: 'free' }, x.free ? amounts(x.free) : '–'),
      h('td', null, labels || h('span', { class: 'muted' }, '–')),
      h('td', { class: 'num', title: ws.map((w) => `${w.name ?? '?'} (${w.status ?? '?'})`).join(', ') }, `${ws.filter((w) => w.status === 'alive').length}/${ws.length}`),
    );
  });
  return h(
    'div',
    { class: 'table-wrap', 'data-scroll': 'hosts' },
    h(
      'table',
      { id: 'hosts', class: 'grid' },
      h('caption', { class: 'sr-only' }, 'Registered hosts'),
      h('thead', null, h('tr', null, ...['Host', 'Status', 'Capacity', 'Held', 'Free', 'Labels', 'Workers alive'].map(colHeader))),
      h('tbody', null, rows),
    ),
  );
}

// ------------------------------------------------------------- ready queue

export function waitingBlock(run, nodes) {
  const snap = run.waiting ? obj(run.waiting) : null;
  const items = snap ? list(snap.waiting).map(obj) : [];
  const byId = new Map(nodes.map((n) => [String(n.id), n]));
  const caption = snap
    ? `${items.length} node${items.length === 1 ? '' : 's'} waiting${snap.queue_paused ? ' (the node queue is paused: admitted nodes wait too)' : ' for admission'} (scheduler snapshot from ${fmtAge(snap.at_ms)})`
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

export function failuresBlock(run) {
  const failures = list(run.failures).map(obj);
  if (failures.length === 0) {
    return h('p', { class: 'muted', id: 'no-failures' }, ACTIVE_RUN.has(run.status) ? 'No failures so far.' : 'No failures.');
  }
  const total = num(run.failures_total) ?? failures.length;
  const more = total > failures.length ? h('p', { class: 'muted', id: 'more-failures' }, `The first ${failures.length} of ${total} failures; filter the nodes by state "failed" for the rest.`) : null;
  return [more, failures.map((f) => {
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
    const skippedTotal = num(f.skipped_total) ?? skipped.length;
    facts.push([
      'Skipped',
      skipped.length === 0
        ? h('span', { class: 'muted' }, 'nothing')
        : [skipped.map((id, i) => [i > 0 ? ' ' : null, h('span', { class: 'chip state-skipped-chip', 'data-node-id': id }, id)]), skippedTotal > skipped.length ? h('span', { class: 'muted' }, ` … (${skippedTotal} in all)`) : null],
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
  })];
}
