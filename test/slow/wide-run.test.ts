/**
 * `flowgate run` of 100 000 independent `true` nodes, end to end: the run is
 * created (in chunks), every node is admitted, run and recorded once, and the
 * summary counts them all. Slow — minutes, bounded by how fast this machine
 * starts processes and how fast the scheduler turns events around — so it
 * lives in `npm run test:slow`, not `npm test`; .ci/run runs it after
 * `npm test`, with TMPDIR on tmpfs where there is one. FLOWGATE_SLOW_NODES
 * makes it smaller (to check the test itself). It prints the run's wall time
 * and rate on stderr; bench/scale-run.ts measures memory too.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { wide } from '../../bench/scale-shapes.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const NODES = Number(process.env['FLOWGATE_SLOW_NODES'] ?? 100_000);
const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

describe('a 100 000-node run', () => {
  it(`runs ${NODES.toLocaleString('en-US')} independent nodes to success`, async () => {
    const dir = tempDir('fg-slow-wide');
    const prefix = uniquePrefix('slow-wide');
    prefixes.push(prefix);
    const file = writeWorkflow(dir, 'wide.json', wide(NODES));
    const r = await runCli(['run', file, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '8'], {
      env: { REDIS_URL: redisUrl() },
      // Well inside CI's budget: a run this slow is a regression to look at, not to wait for.
      timeoutMs: 25 * 60_000,
    });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    process.stderr.write(`${NODES} nodes in ${summary.wall_s} s: ${Math.round(NODES / summary.wall_s)} nodes/s\n`);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(NODES);
    expect(new Set(summary.nodes.map((n) => n.id)).size).toBe(NODES);
    expect(summary.nodes.every((n) => n.attempts === 1)).toBe(true);
  });
});
