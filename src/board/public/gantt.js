// flowgate board: the Gantt timeline (process and reservation of each node).

import { ACTIVE_RUN, fmtGb, fmtNamed, fmtSeconds, fmtSlots, h, num, round, s, span, truncate } from './dom.js';
import { timeAxis } from './ledger.js';

export function ganttBlock(run, nodes, containerWidth) {
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
      n.worker ? `worker ${n.worker}${n.host ? ` on host ${n.host}` : ''}` : n.host ? `host ${n.host}` : null,
      `${n.n_procs ?? '?'} procs, ${fmtGb(n.mem_gb)}${fmtNamed(n.resources) ? `, ${fmtNamed(n.resources)}` : ''}${num(n.peak_rss_mb) !== null ? `, peak RSS ${round(n.peak_rss_mb, 1)} MB` : ''}`,
      fmtSlots(n.slots) ? `slots ${fmtSlots(n.slots)}` : null,
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
