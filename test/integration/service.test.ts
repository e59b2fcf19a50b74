/**
 * Service mode as a user runs it: `flowgate scheduler` and `flowgate worker`
 * processes, runs handed in with `flowgate submit`, read back with `status`
 * and `logs`; one budget shared by concurrent runs in submission order; a
 * standby scheduler taking over a killed leader's run without rerunning nodes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { loadRunSummary } from '../../src/scheduler/summary-load.js';
import type { RunDetail, RunListItem } from '../../src/shared/run-view.js';
import { runCli, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { closeFleets, fleet, leading, type Fleet } from '../helpers/fleet.js';
import { markLines, waitForMarks } from '../helpers/marks.js';
import { keysUnder, redisUrl } from '../helpers/redis.js';
import { nodeOf, peakUsage } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

afterEach(closeFleets);

/** A fleet with one pooled budget: schedulers given the budget, and workers. */
interface Service extends Fleet {
  scheduler(extra?: string[]): CliProcess;
  worker(concurrency: number): CliProcess;
}

function service(label: string, budget: { n_procs: number; memory_gb: number }): Service {
  const f = fleet(label);
  return {
    ...f,
    scheduler: (extra = []) => f.start(['scheduler', '--work-dir', join(f.dir, 'work'), ...extra], { FLOWGATE_N_PROCS: String(budget.n_procs), FLOWGATE_MEMORY_GB: String(budget.memory_gb) }),
    worker: (concurrency) => f.start(['worker', '--concurrency', String(concurrency), '--heartbeat-ms', '500']),
  };
}

function fanout(name: string, n: number, command: string, mem = 0.5): object {
  return { name, nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, command, n_procs: 1, mem_gb: mem })) };
}

describe('flowgate scheduler + submit', () => {
  it('runs a submitted workflow; status and logs read it back; a bad workflow is refused before anything is written', async () => {
    const s = service('svc', { n_procs: 2, memory_gb: 4 });
    const sched = s.scheduler();
    s.worker(2);
    await leading(sched);
    expect(sched.stderr()).toMatch(/flowgate scheduler: redis_url=redis:\/\/\S+ prefix=\S+ n_procs=2 memory_gb=4 /);
    const wf = writeWorkflow(s.dir, 'wf.json', {
      name: 'svc',
      nodes: [
        { id: 'hello', command: ['sh', '-c', 'echo hello from $FLOWGATE_NODE_ID; echo oops >&2'] },
        { id: 'after', command: 'echo after', needs: ['hello'] },
      ],
    });
    const res = await runCli(['submit', wf, '--wait', '--json'], { env: s.env });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.budget).toEqual({ n_procs: 2, memory_gb: 4 });
    expect(summary.nodes.map((n) => n.node_dir.startsWith(join(s.dir, 'work')))).toEqual([true, true]);

    const list = await runCli(['status', '--json'], { env: s.env });
    expect(list.code, list.stderr).toBe(0);
    const runs = JSON.parse(list.stdout) as RunListItem[];
    expect(runs).toMatchObject([{ run_id: summary.run_id, status: 'succeeded', mode: 'service', total: 2 }]);
    const text = await runCli(['status'], { env: s.env });
    expect(text.stdout).toMatch(/led by \S+/);
    expect(text.stdout).toContain(`${summary.run_id}  svc`);
    const one = await runCli(['status', summary.run_id, '--json'], { env: s.env });
    expect((JSON.parse(one.stdout) as RunDetail).nodes.map((n) => n.state)).toEqual(['succeeded', 'succeeded']);

    const logs = await runCli(['logs', summary.run_id, 'hello'], { env: s.env });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('hello from hello');
    expect(logs.stdout).toContain('oops');
    const errOnly = await runCli(['logs', summary.run_id, 'hello', '--stream', 'stderr'], { env: s.env });
    expect(errOnly.stdout).toBe('oops\n');
    const typo = await runCli(['logs', summary.run_id, 'helo'], { env: s.env });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean "hello"');
    expect((await runCli(['status', 'no-such-run'], { env: s.env })).code).toBe(2);

    // Larger than the service's budget: refused at submit, nothing stored.
    const before = (await keysUnder(s.prefix)).sort();
    const big = writeWorkflow(s.dir, 'big.json', { name: 'big', nodes: [{ id: 'huge', command: 'true', mem_gb: 64 }] });
    const refused = await runCli(['submit', big], { env: s.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/huge.*needs 64 GB but the budget is 4 GB/);
    const broken = writeWorkflow(s.dir, 'broken.json', { name: 'broken', nodes: [{ id: 'a', command: 'true', needs: ['nope'] }] });
    expect((await runCli(['submit', broken], { env: s.env })).code).toBe(2);
    const after = (await keysUnder(s.prefix)).filter((k) => !k.includes(':fg:worker')).sort();
    expect(after).toEqual(before.filter((k) => !k.includes(':fg:worker')));
  });

  it('shares one budget between concurrent runs, oldest submission first', async () => {
    const s = service('share', { n_procs: 2, memory_gb: 2 });
    const wf = (name: string) => writeWorkflow(s.dir, `${name}.json`, fanout(name, 4, 'sleep 0.3', 1));
    // Both runs are waiting when the service starts: it takes them in submission order.
    const a = await runCli(['submit', wf('first'), '--run-id', 'share-a'], { env: s.env });
    const b = await runCli(['submit', wf('second'), '--run-id', 'share-b'], { env: s.env });
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    expect(a.stdout.trim()).toBe('share-a');
    expect(a.stderr).toContain('no scheduler service has run under prefix');
    s.worker(4);
    s.scheduler();
    const [ra, rb] = await Promise.all([waitForRun(s, 'share-a'), waitForRun(s, 'share-b')]);
    const all = [...ra.nodes, ...rb.nodes];
    expect(all.every((n) => n.status === 'succeeded')).toBe(true);
    // Never more than the host budget across both runs (2 procs, 2 GB: two 1-GB nodes at a time).
    const peak = peakUsage(all);
    expect(peak.n_procs).toBeLessThanOrEqual(2);
    expect(peak.mem_gb).toBeLessThanOrEqual(2);
    expect(peak.concurrent).toBe(2);
    // Submission order: every node of the older run was admitted before any of the younger one's.
    const lastA = Math.max(...ra.nodes.map((n) => n.admitted_ms ?? Infinity));
    const firstB = Math.min(...rb.nodes.map((n) => n.admitted_ms ?? -Infinity));
    expect(lastA).toBeLessThanOrEqual(firstB);
  });

  it('a standby takes over when the leader is killed; the run finishes and no node runs twice', async () => {
    const s = service('failover', { n_procs: 2, memory_gb: 4 });
    const marks = join(s.dir, 'marks');
    const leader = s.scheduler(['--leader-ttl-ms', '1500', '--reconcile-interval-ms', '500']);
    await leading(leader);
    const standby = s.scheduler(['--leader-ttl-ms', '1500', '--reconcile-interval-ms', '500']);
    await waitFor(() => standby.stderr().includes('standby;'), 20_000, 'the second scheduler to stand by');
    s.worker(2);
    const wf = writeWorkflow(s.dir, 'chain.json', {
      name: 'chain',
      nodes: Array.from({ length: 6 }, (_, i) => ({
        id: `step${i}`,
        command: ['sh', '-c', `echo $FLOWGATE_NODE_ID >> ${marks}; sleep 0.4`],
        ...(i > 0 ? { needs: [`step${i - 1}`] } : {}),
      })),
    });
    const follower = s.start(['submit', wf, '--wait', '--json', '--run-id', 'failover-run']);
    await waitFor(() => markLines(marks).includes('step1'), 20_000, 'the run to be under way');
    leader.child.kill('SIGKILL');
    await leading(standby, 'the standby to take over');
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(standby.stderr()).toContain('run failover-run resumed');
    // Each node ran exactly once, across both schedulers.
    const ran = markLines(marks).sort();
    expect(ran).toEqual(Array.from({ length: 6 }, (_, i) => `step${i}`).sort());
    standby.child.kill('SIGTERM');
    expect((await standby.done).code).toBe(0);
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)('never over-commits at a takeover (%s): every adopted run\'s holds are back before anything is admitted', async (signal) => {
    const s = service('takeover', { n_procs: 4, memory_gb: 8 });
    const flags = ['--leader-ttl-ms', '1500', '--reconcile-interval-ms', '500'];
    const leader = s.scheduler(flags);
    await leading(leader);
    const standby = s.scheduler(flags);
    await waitFor(() => standby.stderr().includes('standby;'), 20_000, 'the second scheduler to stand by');
    s.worker(8);
    const marks = join(s.dir, 'marks');
    const gate = (name: string) => `while [ ! -e ${join(s.dir, name)} ]; do sleep 0.05; done`;
    const mark = 'echo "$FLOWGATE_RUN_ID $FLOWGATE_NODE_ID" >> ' + marks;
    // A is older; its a1 needs the whole budget once a0 is done. B then holds all 4 procs.
    const a = writeWorkflow(s.dir, 'a.json', { name: 'a', nodes: [{ id: 'a0', command: `${mark}; ${gate('release-a0')}` }, { id: 'a1', n_procs: 4, needs: ['a0'], command: mark }] });
    const b = writeWorkflow(s.dir, 'b.json', { name: 'b', nodes: [0, 1, 2, 3].map((i) => ({ id: `b${i}`, command: `${mark}; ${gate('release-b')}` })) });
    const count = (prefix: string) => markLines(marks).filter((l) => l.startsWith(prefix)).length;
    const fa = s.start(['submit', a, '--wait', '--json', '--run-id', 'older-a']);
    await waitFor(() => count('older-a a0') === 1, 20_000, 'a0 to start');
    const fb = s.start(['submit', b, '--wait', '--json', '--run-id', 'younger-b']);
    await waitFor(() => count('younger-b') === 3, 20_000, 'three of B\'s nodes to start');
    writeWorkflow(s.dir, 'release-a0', '1');
    await waitFor(() => count('younger-b') === 4, 20_000, 'B to hold all 4 procs');
    const redis = new Redis(redisUrl());
    leader.child.kill(signal);
    // B's run lease outlives the dead leader by a few seconds (as when its lease was renewed
    // last, or its scheduler is on another host): the new leader adopts A first, and must not
    // admit a1 into the procs B's running nodes still hold.
    await redis.set(`${s.prefix}:fg:run:younger-b:lease`, 'elsewhere:1', 'PX', 4000);
    await leading(standby);
    try {
      await waitFor(async () => {
        const runs = JSON.parse((await redis.hget(`${s.prefix}:fg:service`, 'runs')) ?? '[]') as string[];
        return runs.includes('younger-b');
      }, 20_000, 'the standby to adopt B once its lease ran out');
    } finally {
      redis.disconnect();
    }
    // B still holds the budget: a1 has not started, and starts only after B's nodes ended.
    expect(count('older-a a1')).toBe(0);
    writeWorkflow(s.dir, 'release-b', '1');
    const [ra, rb] = await Promise.all([fa.done, fb.done]);
    const sa = JSON.parse(ra.stdout) as RunSummary;
    const sb = JSON.parse(rb.stdout) as RunSummary;
    expect([sa.status, sb.status]).toEqual(['succeeded', 'succeeded']);
    const bEnd = Math.max(...sb.nodes.map((n) => n.end_ms ?? Infinity));
    expect(nodeOf(sa, 'a1').start_ms ?? 0).toBeGreaterThanOrEqual(bEnd);
    // Per instant, on the workers' clocks: never more than the 4 procs of the budget.
    expect(peakUsage([...sa.nodes, ...sb.nodes]).n_procs).toBeLessThanOrEqual(4);
  });

  it('a run the service cannot take ends failed with the reason, and submit --wait exits 2', async () => {
    const s = service('reject', { n_procs: 1, memory_gb: 1 });
    // No service has run yet, so submit cannot check the budget: the service refuses it.
    const wf = writeWorkflow(s.dir, 'big.json', { name: 'big', nodes: [{ id: 'wide', command: 'true', n_procs: 8 }] });
    const follower = s.start(['submit', wf, '--wait']);
    await waitFor(() => follower.stderr().includes('following it'), 20_000, 'the submission');
    s.scheduler();
    const res = await follower.done;
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/wide.*needs 8 procs but the budget is 1/);
    // submit takes no --n-procs/--memory-gb: the message names what raises the service's budget.
    expect(res.stderr).toContain("raise the scheduler service's budget (flowgate scheduler --n-procs/--memory-gb");
    expect(res.stderr).not.toContain('; raise --n-procs/--memory-gb');
  });

  it('cancels a service run while it runs, and a queued run before any of its nodes starts', async () => {
    const s = service('cancel', { n_procs: 2, memory_gb: 4 });
    const marks = join(s.dir, 'marks');
    const slow = writeWorkflow(s.dir, 'slow.json', fanout('slow', 4, `echo x >> ${marks}; sleep 30`));
    // Queued with no service alive: the cancel is stored and honoured when a scheduler takes the run.
    const queued = await runCli(['submit', slow, '--run-id', 'queued-run'], { env: s.env });
    expect(queued.code, queued.stderr).toBe(0);
    const early = await runCli(['cancel', 'queued-run'], { env: s.env });
    expect(early.code, early.stderr).toBe(0);
    expect(early.stderr).toContain('will be cancelled as soon as one takes it');
    s.scheduler();
    s.worker(2);
    const gone = await waitForRun(s, 'queued-run');
    expect(gone.status).toBe('cancelled');
    expect(gone.nodes.every((n) => n.status === 'cancelled' && n.start_ms === null)).toBe(true);
    expect(existsSync(marks)).toBe(false);

    const follower = s.start(['submit', slow, '--wait', '--json', '--run-id', 'live-run']);
    await waitForMarks(marks, 2, 20_000, 'two nodes to run');
    const res = await runCli(['cancel', 'live-run', '--json'], { env: s.env });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('cancelled');
    expect(summary.counts.cancelled).toBe(4);
    const followed = await follower.done;
    expect(followed.code).toBe(130);
  });

  it('rejects bad service settings from the environment naming the variable (exit 2)', async () => {
    const s = service('badenv', { n_procs: 1, memory_gb: 1 });
    const res = await runCli(['scheduler'], { env: { ...s.env, FLOWGATE_N_PROCS: 'lots', FLOWGATE_LEADER_TTL_MS: '5' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('env FLOWGATE_N_PROCS');
    expect(res.stderr).toContain('env FLOWGATE_LEADER_TTL_MS');
    const worker = await runCli(['worker'], { env: { ...s.env, FLOWGATE_WORKER_CONCURRENCY: '0' } });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain('env FLOWGATE_WORKER_CONCURRENCY');
    const spawner = await runCli(['worker'], { env: { ...s.env, FLOWGATE_SPAWNER: 'fork' } });
    expect(spawner.code).toBe(2);
    expect(spawner.stderr).toContain('env FLOWGATE_SPAWNER');
    expect(await keysUnder(s.prefix)).toEqual([]);
  });

  it('a run whose lease another scheduler holds is tried again later, never failed, and runs once that lease is gone', async () => {
    const s = service('conflict', { n_procs: 2, memory_gb: 4 });
    const redis = new Redis(redisUrl());
    try {
      const lease = (id: string): string => `${s.prefix}:fg:run:${id}:lease`;
      const meta = (id: string): string => `${s.prefix}:fg:run:${id}:meta`;
      // Held by schedulers on another host: one lease with a few seconds left
      // (waited out before starting) and one without expiry, so the start
      // itself meets it (RUN_CONFLICT, a retryable code) until it is deleted.
      await redis.set(lease('held-ttl'), 'elsewhere:1', 'PX', 6000);
      await redis.set(lease('held-hard'), 'elsewhere:2');
      const wf = writeWorkflow(s.dir, 'wf.json', { name: 'held', nodes: [{ id: 'a', command: 'true' }] });
      for (const id of ['held-ttl', 'held-hard']) expect((await runCli(['submit', wf, '--run-id', id], { env: s.env })).code).toBe(0);
      const sched = s.scheduler();
      s.worker(1);
      await leading(sched);
      // Runs are taken in submission order: once the second was tried, so was the first.
      await waitFor(
        async () => sched.stderr().includes('cannot start run now; trying again later') || (await redis.hget(meta('held-hard'), 'status')) === 'failed',
        20_000,
        'the service to try the held run',
      );
      expect(sched.stderr()).toContain('"code":"RUN_CONFLICT"');
      expect(await redis.hget(meta('held-ttl'), 'status')).not.toBe('failed');
      expect(await redis.hmget(meta('held-hard'), 'status', 'error')).toEqual(['submitted', null]);
      // The other scheduler lets go: both runs run.
      await redis.del(lease('held-hard'));
      const [a, b] = await Promise.all([waitForRun(s, 'held-ttl'), waitForRun(s, 'held-hard')]);
      expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
    } finally {
      redis.disconnect();
    }
  });

  it('prints its configuration with the Redis password redacted and stops cleanly on SIGTERM', async () => {
    const s = service('redact', { n_procs: 1, memory_gb: 1 });
    const url = new URL(redisUrl());
    url.username = 'default';
    url.password = 's3cret-pw';
    // A Redis without a password accepts the login, so the service starts.
    const sched = s.start(['scheduler'], { REDIS_URL: url.toString() });
    await leading(sched);
    expect(sched.stderr()).toContain('redis_url=redis://default:***@');
    expect(sched.stderr()).not.toContain('s3cret-pw');
    sched.child.kill('SIGTERM');
    expect((await sched.done).code).toBe(0);
    // The lease is handed back at once, not left to expire.
    expect((await keysUnder(s.prefix)).filter((k) => k.endsWith(':fg:leader'))).toEqual([]);
  });
});

async function waitForRun(s: Service, runId: string): Promise<RunSummary> {
  const redis = new Redis(redisUrl());
  try {
    const raw = await waitFor(() => redis.hget(`${s.prefix}:fg:run:${runId}:meta`, 'summary'), 40_000, `run ${runId} to finish`);
    const summary = await loadRunSummary(redis, s.prefix, runId, raw);
    if (summary === undefined) throw new Error(`run ${runId}: malformed summary ${raw}`);
    return summary;
  } finally {
    redis.disconnect();
  }
}
