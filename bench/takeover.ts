/**
 * How long a standby scheduler service takes to lead after the leader stops,
 * with the default lease (`--leader-ttl-ms 10000`): the leader killed with
 * SIGKILL (a process of this host that is gone: taken over at once), and the
 * leader frozen with SIGSTOP (alive but silent, as a leader on another host
 * that lost its network: taken over when its lease runs out). One JSON line
 * per case on stdout.
 *
 *   npx tsx bench/takeover.ts [--repeat 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { deletePrefix } from './redis-keys.js';

const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const args = parseArgs({ options: { repeat: { type: 'string', default: '3' } } }).values;

function scheduler(prefix: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, 'scheduler', '--n-procs', '2', '--memory-gb', '2', '--work-dir', '/tmp/fg-takeover-bench'], {
    env: { ...process.env, REDIS_URL: url, FLOWGATE_PREFIX: prefix, FLOWGATE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stderr: () => err };
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now();
}

async function one(how: 'SIGKILL' | 'SIGSTOP'): Promise<number> {
  const prefix = `fgbench-takeover-${process.pid}-${Date.now()}`;
  const leader = scheduler(prefix);
  const standby = scheduler(prefix);
  try {
    await until(() => leader.stderr().includes('leading as') || standby.stderr().includes('leading as'), 20_000);
    const [lead, wait] = leader.stderr().includes('leading as') ? [leader, standby] : [standby, leader];
    await until(() => wait.stderr().includes('standby;'), 20_000);
    const stoppedAt = Date.now();
    lead.child.kill(how);
    const tookOver = await until(() => wait.stderr().includes('leading as'), 60_000);
    return tookOver - stoppedAt;
  } finally {
    for (const p of [leader, standby]) {
      p.child.kill('SIGKILL');
    }
    const redis = new Redis(url);
    await deletePrefix(redis, prefix);
    redis.disconnect();
  }
}

for (const how of ['SIGKILL', 'SIGSTOP'] as const) {
  const ms: number[] = [];
  for (let i = 0; i < Number(args.repeat); i++) ms.push(await one(how));
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(JSON.stringify({ case: how === 'SIGKILL' ? 'leader killed (gone on this host)' : 'leader frozen (alive, silent)', leader_ttl_ms: 10_000, takeover_ms: ms, median_ms: sorted[Math.floor(sorted.length / 2)] }));
}
