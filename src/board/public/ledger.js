// flowgate board: the resource ledger charts (procs, memory and named
// resources reserved over time) and where nodes were placed.

import { ACTIVE_RUN, colHeader, fmtGb, fmtNamed, fmtSlots, h, list, niceStep, num, obj, round, s, stateBadge } from './dom.js';

function chartTimeEnd(run) {
  const fin = num(run.finished_ms);
  if (fin !== null && !ACTIVE_RUN.has(run.status)) return fin;
  return Date.now();
}

export function timeAxis(g, x, t0, t1, top, bottom) {
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

/** `containerWidth`: the width of the section the charts go in (0 before layout). */
export function ledgerBlock(run, containerWidth) {
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
  const waiting0 = run.waiting ? obj(run.waiting) : null;
  // Named resources: the live snapshot's budget while the run goes on (a fleet's changes), else the stored one.
  const budgetNamed = { ...obj(budget.resources), ...obj(waiting0 ? obj(waiting0.budget).resources : null) };
  const names = [...new Set([...Object.keys(budgetNamed), ...timeline.flatMap((p) => Object.keys(obj(p.resources)))])].sort();
  // One chart per resource side by side, as many as fit (the grid wraps the rest).
  const perRow = Math.max(1, Math.min(2 + names.length, Math.floor((containerWidth || 1100) / 290)));
  const width = Math.max(280, (containerWidth || 1100) / perRow - 10);
  const budgetProcs = num(budget.n_procs);
  const budgetMem = num(budget.memory_gb) ?? num(budget.mem_gb);

  // Free now: the scheduler's own snapshot while the run is going, else budget minus the last reservation.
  const waiting = run.waiting ? obj(run.waiting) : null;
  let free = null;
  if (waiting && waiting.free) free = obj(waiting.free);
  else if (ACTIVE_RUN.has(run.status) && timeline.length > 0) {
    const last = timeline[timeline.length - 1];
    const held = obj(last.resources);
    free = {
      n_procs: budgetProcs !== null ? budgetProcs - (num(last.n_procs) ?? 0) : null,
      mem_gb: budgetMem !== null ? budgetMem - (num(last.mem_gb) ?? 0) : null,
      resources: Object.fromEntries(Object.entries(budgetNamed).map(([k, n]) => [k, (num(n) ?? 0) - (num(held[k]) ?? 0)])),
    };
  }
  const namedFree = free ? names.map((k) => `, ${k} ${num(obj(free.resources)[k]) ?? 0} of ${num(budgetNamed[k]) ?? '–'}`).join('') : '';
  const freeText = ACTIVE_RUN.has(run.status)
    ? free
      ? `Free now: ${num(free.n_procs) ?? '–'} of ${budgetProcs ?? '–'} procs, ${fmtGb(free.mem_gb)} of ${fmtGb(budgetMem)}${namedFree}`
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
      names.map((name) => {
        const series = timeline.map((p) => ({ t: p.t_ms, v: num(obj(p.resources)[name]) ?? 0 }));
        const cap = num(budgetNamed[name]);
        return h(
          'figure',
          { 'data-resource': name },
          h('figcaption', null, `${name} slots reserved (budget ${cap ?? '–'})`),
          stepChart({ id: `ledger-res-${name}`, label: name, unit: 'slots', series, rss: [], budget: cap, t0, t1, width }),
        );
      }),
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

/**
 * Where the nodes of the page on display were placed: host (per-host
 * placement) and named resource slots (`gpu 0,1`); nothing when no node
 * of the page was placed on a host or held slots.
 */
export function placementBlock(nodes) {
  const placed = nodes.filter((n) => n.host || fmtSlots(n.slots));
  if (placed.length === 0) return null;
  const rows = placed.map((n) =>
    h(
      'tr',
      { 'data-node-id': String(n.id) },
      h('th', { scope: 'row' }, String(n.id)),
      h('td', null, stateBadge(n.state)),
      h('td', { class: 'host' }, n.host ? String(n.host) : h('span', { class: 'muted' }, '–')),
      h('td', { class: 'slots' }, fmtSlots(n.slots) || h('span', { class: 'muted' }, '–')),
      h('td', null, fmtNamed(obj(n.granted).resources) || h('span', { class: 'muted' }, '–')),
      h('td', null, n.worker ? String(n.worker) : h('span', { class: 'muted' }, '–')),
    ),
  );
  return h(
    'div',
    { class: 'table-wrap', 'data-scroll': 'placement' },
    h(
      'table',
      { id: 'placement', class: 'grid' },
      h('caption', null, `Placement: ${placed.length} node${placed.length === 1 ? '' : 's'} of this page on a host or holding named slots`),
      h('thead', null, h('tr', null, ...['Node', 'State', 'Host', 'Slots', 'Named resources', 'Worker'].map(colHeader))),
      h('tbody', null, rows),
    ),
  );
}
