import { describe, expect, it } from 'vitest';
import { jsonChunks } from '../../src/shared/json-stream.js';
import { downsampleTimeline, type LedgerPoint } from '../../src/shared/ledger-timeline.js';

async function text(chunks: AsyncIterable<string>): Promise<{ all: string; largest: number }> {
  let all = '';
  let largest = 0;
  for await (const c of chunks) {
    all += c;
    largest = Math.max(largest, c.length);
  }
  return { all, largest };
}

const node = (i: number): Record<string, unknown> => ({ id: `n${i}`, status: 'failed', nested: { a: [1, { b: 'x\ny "q"' }], empty: [], none: {} }, gone: undefined, n: null, attempt_history: i % 2 ? [] : [{ attempt: 1 }] });

describe('jsonChunks', () => {
  it('writes exactly what JSON.stringify writes, compact and pretty, wherever the streamed array is', async () => {
    const nodes = Array.from({ length: 25 }, (_, i) => node(i));
    const doc = { run_id: 'r', skipped: undefined, counts: { a: 1 }, nodes, after: [{ x: 1 }], last: 'é\u2028' };
    for (const indent of [0, 2]) {
      expect((await text(jsonChunks(doc, 'nodes', nodes, indent))).all).toBe(JSON.stringify(doc, null, indent));
      expect((await text(jsonChunks(doc, 'nodes', [], indent))).all).toBe(JSON.stringify({ ...doc, nodes: [] }, null, indent));
      expect((await text(jsonChunks({ nodes }, 'nodes', nodes, indent))).all).toBe(JSON.stringify({ nodes }, null, indent));
    }
  });

  it('hands on bounded chunks for a large array, from an async source too', async () => {
    async function* many(): AsyncGenerator<Record<string, unknown>> {
      for (let i = 0; i < 5000; i++) yield node(i);
    }
    const { all, largest } = await text(jsonChunks({ run_id: 'r', nodes: undefined }, 'nodes', many()));
    expect((JSON.parse(all) as { nodes: unknown[] }).nodes).toHaveLength(5000);
    expect(all.length).toBeGreaterThan(500_000);
    expect(largest).toBeLessThan(70 * 1024);
  });
});

describe('downsampleTimeline', () => {
  it('keeps short timelines and keeps the peaks and the last point of long ones', () => {
    const pts: LedgerPoint[] = Array.from({ length: 10_000 }, (_, i) => ({ t_ms: i * 3, n_procs: i === 4321 ? 64 : i % 4, mem_gb: i % 7, rss_gb: 0 }));
    pts.push({ t_ms: 40_000, n_procs: 0, mem_gb: 0, rss_gb: 0 });
    expect(downsampleTimeline(pts.slice(0, 50), 100)).toEqual(pts.slice(0, 50));
    const out = downsampleTimeline(pts, 500);
    expect(out.length).toBeLessThanOrEqual(500);
    expect(Math.max(...out.map((p) => p.n_procs))).toBe(64);
    expect(Math.max(...out.map((p) => p.mem_gb))).toBe(6);
    expect(out.at(-1)).toEqual(pts.at(-1));
    expect(out.map((p) => p.t_ms)).toEqual([...out.map((p) => p.t_ms)].sort((a, b) => a - b));
  });
});
