/**
 * How fast this machine can start and finish node processes at all, without
 * flowgate's queue or scheduler: N `true` processes, 8 at a time, each with
 * its own directory and stdout/stderr files as a node gets, started through
 * the worker's launcher and through Node's spawn. The ceiling that
 * fanout-2000's nodes/s is measured against. One JSON line per spawner.
 * `--concurrency 1` shows whether starting processes side by side helps at
 * all on the machine (on some virtual machines it does not); `--spawners
 * launcher` leaves out Node's spawn.
 *
 *   npx tsx bench/spawn-ceiling.ts [--n N] [--concurrency 8] [--spawners launcher,node]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Launcher, LAUNCHER_PATH, nodeSpawner, type Spawner } from '../src/worker/launcher.js';
import { spawnRate } from './spawn-rate.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '8' }, spawners: { type: 'string', default: 'launcher,node' } },
});
const wholeNumber = (flag: string, raw: string): number => {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    process.stderr.write(`--${flag} must be a whole number >= 1, received "${raw}"\n`);
    process.exit(2);
  }
  return v;
};
const N = wholeNumber('n', values.n);
const CONCURRENCY = wholeNumber('concurrency', values.concurrency);
const SPAWNERS = values.spawners.split(',');
for (const s of SPAWNERS) {
  if (s !== 'launcher' && s !== 'node') {
    process.stderr.write(`--spawners takes launcher and/or node, received "${s}"\n`);
    process.exit(2);
  }
}

// Removed only at the end: on ext4 without a journal, creating files right
// after many were deleted is much slower, which would penalise the second spawner.
const root = mkdtempSync(join(tmpdir(), 'fgbench-spawn-'));

async function measure(spawner: Spawner): Promise<void> {
  const rate = await spawnRate(spawner, N, CONCURRENCY, join(root, spawner.kind));
  process.stdout.write(`${JSON.stringify({ bench: 'spawn-ceiling', ...rate })}\n`);
}

try {
  if (SPAWNERS.includes('launcher')) await measure(new Launcher(LAUNCHER_PATH));
  if (SPAWNERS.includes('node')) await measure(nodeSpawner());
} finally {
  rmSync(root, { recursive: true, force: true });
}
