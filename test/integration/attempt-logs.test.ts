/**
 * Logs belong to their run and attempt: a later run that reruns a node in the
 * same directory does not replace what an earlier run's attempt printed, and
 * `flowgate run` and `flowgate submit` on one work dir never interleave.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { stopGroup, runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
afterEach(async () => {
  // Each with its whole group, waited for: nothing outlives the test.
  await Promise.all(started.splice(0).map((p) => stopGroup(p)));
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

describe('logs per run and attempt', () => {
  it('flowgate logs shows each run its own output after a later run reran the node', async () => {
    const dir = tempDir('fg-alogs');
    const prefix = uniquePrefix('alogs');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl() };
    // V changes the node's definition, so the second run reruns it in the same directory.
    const wf = (v: string, fail: boolean) => ({ name: 'logs', nodes: [{ id: 'r', env: { V: v }, retries: fail ? 1 : 0, command: `echo "out $FLOWGATE_RUN_ID $V attempt-$(ls -d ../r 2>/dev/null | wc -l)"; echo "err $FLOWGATE_RUN_ID" >&2; ${fail ? `test -e ${join(dir, 'second-try')} || { touch ${join(dir, 'second-try')}; exit 3; }` : 'true'}` }] });
    const run = async (v: string, fail: boolean): Promise<RunSummary> => {
      const res = await runCli(['run', writeWorkflow(dir, `wf-${v}.json`, wf(v, fail)), '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')], { env });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as RunSummary;
    };
    // The first run fails its first attempt and succeeds on its retry.
    const a = await run('1', true);
    const b = await run('2', false);
    expect(nodeOf(a, 'r').attempts).toBe(2);

    const logsOf = (runId: string, ...extra: string[]) => runCli(['logs', runId, 'r', '--prefix', prefix, ...extra], { env });
    const la = await logsOf(a.run_id, '--stream', 'stdout');
    expect(la.code).toBe(0);
    expect(la.stdout).toContain(`out ${a.run_id} 1`);
    expect(la.stdout).not.toContain(b.run_id);
    const lb = await logsOf(b.run_id);
    expect(lb.stdout).toContain(`out ${b.run_id} 2`);
    expect(lb.stdout).toContain(`err ${b.run_id}`);
    const firstAttempt = await logsOf(a.run_id, '--attempt', '1', '--stream', 'stderr');
    expect(firstAttempt.stdout).toBe(`err ${a.run_id}\n`);
    const none = await logsOf(b.run_id, '--attempt', '2');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`node r of run ${b.run_id} has 1 attempt(s); there is no attempt 2`);

    // The summary points to each attempt's own files.
    const history = nodeOf(a, 'r').attempt_history;
    expect(history.map((h) => h.stdout_path)).toEqual([1, 2].map((n) => join(dir, 'work', '_runs', `${a.run_id}.logs`, `r.${n}.stdout.log`)));
    expect(readFileSync(history[0]?.stdout_path ?? '', 'utf8')).toContain(`out ${a.run_id} 1`);
    // The node's directory holds the latest run's output.
    expect(readFileSync(join(dir, 'work', 'logs', 'r', 'stdout.log'), 'utf8')).toContain(b.run_id);
  });

  it('flowgate run and flowgate submit on one work dir: the node runs once at a time, the second takes the first one\'s result', async () => {
    const dir = tempDir('fg-alogs');
    const prefix = uniquePrefix('alogs-svc');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix };
    const work = join(dir, 'work');
    const ledger = join(dir, 'ledger');
    const release = join(dir, 'release');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'both',
      nodes: [{ id: 'r', command: `echo "start $FLOWGATE_RUN_ID" >> ${ledger}; while [ ! -e ${release} ]; do sleep 0.05; done; echo "end $FLOWGATE_RUN_ID" >> ${ledger}` }],
    });
    const scheduler = startCli(['scheduler', '--work-dir', work, '--n-procs', '2', '--memory-gb', '2'], { env });
    const worker = startCli(['worker', '--concurrency', '2', '--heartbeat-ms', '500'], { env });
    started.push(scheduler, worker);
    await waitFor(() => scheduler.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
    const run = startCli(['run', path, '--json', '--quiet', '--work-dir', work, '--reconcile-interval-ms', '500'], { env });
    started.push(run);
    await waitFor(() => existsSync(ledger), 20_000, 'the run to start r');
    const submitted = startCli(['submit', path, '--work-dir', work, '--wait', '--json'], { env });
    started.push(submitted);
    // The service's run reaches r and waits for its directory, holding nothing.
    const runId = readFileSync(ledger, 'utf8').trim().split(' ')[1] ?? '';
    const redis = new Redis(redisUrl());
    try {
      await waitFor(async () => {
        const ids = await redis.zrange(`${prefix}:fg:runs`, 0, -1);
        const other = ids.find((id) => id !== runId);
        const raw = other === undefined ? null : await redis.get(`${prefix}:fg:run:${other}:waiting`);
        return raw !== null && raw.includes(`node directory held by run ${runId}`);
      }, 20_000, 'the submitted run to wait for r');
    } finally {
      redis.disconnect();
    }
    expect(readFileSync(ledger, 'utf8').trim().split('\n')).toHaveLength(1);
    writeWorkflow(dir, 'release', '1');
    const first = JSON.parse((await run.done).stdout) as RunSummary;
    const second = JSON.parse((await submitted.done).stdout) as RunSummary;
    expect(first.status).toBe('succeeded');
    expect(second.status).toBe('succeeded');
    expect(nodeOf(second, 'r').status).toBe('cached');
    expect(readFileSync(ledger, 'utf8').trim().split('\n')).toEqual([`start ${first.run_id}`, `end ${first.run_id}`]);
  });
});
