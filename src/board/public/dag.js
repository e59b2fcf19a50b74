// flowgate board: the workflow graph (layered SVG layout, states in place).

import { STATES, STATE_HELP, fill, fmtGb, fmtNamed, fmtSeconds, fmtSlots, h, list, num, obj, round, s, span, truncate } from './dom.js';

const NODE_W = 132;
const NODE_H = 26;
const GAP_X = 56;
const GAP_Y = 12;
const PAD = 12;

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
  const named = fmtNamed(n.resources);
  const lines = [`${n.id}: ${n.state ?? '?'}`, `${n.n_procs ?? '?'} procs, ${fmtGb(n.mem_gb)}${named ? `, ${named}` : ''}`];
  const g = n.granted ? obj(n.granted) : null;
  if (g && (g.n_procs !== n.n_procs || g.mem_gb !== n.mem_gb || fmtNamed(g.resources) !== named)) lines.push(`granted (clamped to the budget): ${g.n_procs ?? '?'} procs, ${fmtGb(g.mem_gb)}${fmtNamed(g.resources) ? `, ${fmtNamed(g.resources)}` : ''}`);
  if (n.host) lines.push(`host: ${n.host}`);
  if (fmtSlots(n.slots)) lines.push(`slots: ${fmtSlots(n.slots)}`);
  const needs = list(n.needs);
  if (needs.length > 0) lines.push(`needs: ${needs.join(', ')}`);
  // Secret-looking values arrive masked by the board.
  const env = Object.entries(obj(n.env));
  if (env.length > 0) lines.push(`env: ${env.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  if (num(n.start_ms) !== null) lines.push(`ran ${fmtSeconds(span(n.start_ms, n.end_ms))}${n.worker ? ` on ${n.worker}` : ''}`);
  if (num(n.attempts) !== null && n.attempts > 1) lines.push(`attempts: ${n.attempts}`);
  const history = list(n.attempt_history).map(obj);
  if (history.some((a) => a.status === 'lost' || a.status === 'killed')) lines.push(`history: ${history.map((a) => `${a.attempt ?? '?'} ${a.status ?? '?'}${a.worker ? ` on ${a.worker}` : ''}`).join('; ')}`);
  if (num(n.exit_code) !== null) lines.push(`exit code ${n.exit_code}`);
  if (n.signal) lines.push(`signal ${n.signal}`);
  if (num(n.peak_rss_mb) !== null) lines.push(`peak RSS ${round(n.peak_rss_mb, 1)} MB`);
  if (num(n.cpu_s) !== null) lines.push(`CPU ${round(n.cpu_s, 2)} s`);
  if (n.reason) lines.push(`reason: ${n.reason}`);
  if (n.skipped_because) lines.push(`skipped because ${n.skipped_because} failed`);
  const cache = n.cache ? obj(n.cache) : null;
  if (cache && cache.hit === true) lines.push('taken from its cache record');
  else if (cache && list(cache.reasons).length > 0) lines.push(`ran because: ${list(cache.reasons).join('; ')}`);
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

export function renderDag(v, runId, nodes) {
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
