/**
 * Graceful worker shutdown under `flowgate run`: one SIGTERM to a worker lets
 * its running node finish before the worker exits; a second one kills the
 * node's process group and puts its job back for another worker, so the node
 * still succeeds. The built CLI runs as a process against the real Redis.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf as node, isAlive as alive } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
afterEach(async () => {
  // A failed assertion must not leave a run (and its fleet) behind.
  for (const p of started.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});



/** Reads a pid a node wrote into a file, once the file holds one. */
async function pidFrom(path: string, what: string): Promise<number> {
  const text = await waitFor(
    () => {
      const content = existsSync(path) ? readFileSync(path, 'utf8') : '';
      return /^\d+\n$/.test(content) ? content : undefined;
    },
    20_000,
    what,
  );
  return Number(text.trim());
}

/** Fast lost-job detection, so a job lost by mistake would show quickly. */
const FAST_LOSS = ['--lock-duration-ms', '1500', '--stalled-interval-ms', '500'];

/**
 * Starts `flowgate run --workers 2 --n-procs 2` (one node at a time per
 * worker) on `wf`, with the workers' info-level log on the run's stderr (the
 * log line of a worker that took a SIGTERM is the event the tests wait for).
 */
function startRun(wf: { name: string }): { run: CliProcess; dir: string; work: string } {
  const dir = tempDir('fg-shutdown');
  const prefix = uniquePrefix('shutdown');
  prefixes.push(prefix);
  const path = writeWorkflow(dir, 'wf.json', wf);
  const work = join(dir, 'work');
  const run = startCli(
    ['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', work, '--workers', '2', '--n-procs', '2', '--memory-gb', '2', ...FAST_LOSS],
    { env: { REDIS_URL: redisUrl(), FLOWGATE_LOG_LEVEL: 'info' } },
  );
  started.push(run);
  return { run, dir, work };
}

/** Info-level log lines (JSON) on `stderr` from the process `pid` whose msg contains `text`. */
function logLines(stderr: string, pid: number, text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec['pid'] === pid && typeof rec['msg'] === 'string' && rec['msg'].includes(text)) out.push(rec);
    } catch {
      // not a log line
    }
  }
  return out;
}

describe('a worker of `flowgate run` sent SIGTERM', () => {
  it('once: finishes its running node, then exits; the run succeeds', async () => {
    const wf = {
      name: 'graceful',
      nodes: [
        // Records its worker (our parent), runs ~1.5 s, then marks that it ran to the end.
        { id: 'long', command: 'echo run >> runs; echo $FLOWGATE_WORKER_PID > worker; sleep 1.5; echo done > finished' },
        { id: 'after', command: 'echo run >> runs', needs: ['long'] },
      ],
    };
    const { run, work } = startRun(wf);
    const longDir = join(work, 'graceful', 'long');
    const workerPid = await pidFrom(join(longDir, 'worker'), 'long to start');
    expect(alive(workerPid)).toBe(true);

    process.kill(workerPid, 'SIGTERM');
    await waitFor(() => !alive(workerPid), 20_000, 'the signalled worker to exit');
    // It exited only after its node had run to the end.
    expect(readFileSync(join(longDir, 'finished'), 'utf8')).toBe('done\n');
    expect(logLines(run.stderr(), workerPid, 'finishing running nodes')).toHaveLength(1);
    expect(logLines(run.stderr(), workerPid, 'killing running nodes')).toHaveLength(0);

    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(node(summary, 'long')).toMatchObject({ status: 'succeeded', attempts: 1, stalls: 0, exit_code: 0, signal: null });
    expect(node(summary, 'long').attempt_history.map((a) => a.status)).toEqual(['succeeded']);
    expect(node(summary, 'after').status).toBe('succeeded');
    for (const id of ['long', 'after']) expect(readFileSync(join(work, 'graceful', id, 'runs'), 'utf8'), `${id} runs`).toBe('run\n');
  });

  it('twice: kills the running node and requeues its job to another worker; the node succeeds there', async () => {
    const dir0 = tempDir('fg-shutdown-marker');
    const marker = join(dir0, 'second-sigterm-sent');
    const wf = {
      name: 'forced',
      nodes: [
        {
          id: 'long',
          // Every run appends to `runs`. The first run records its shell, a
          // sleeping child and its worker, then waits on the sleep (it is killed).
          // The run after the requeue sees the marker and finishes at once.
          command:
            `echo run >> runs; ` +
            `if [ -e ${marker} ]; then echo $FLOWGATE_WORKER_PID > worker2; exit 0; fi; ` +
            `echo $$ > shell; sleep 60 & echo $! > sleeper; echo $FLOWGATE_WORKER_PID > worker; wait`,
        },
        { id: 'after', command: 'echo run >> runs', needs: ['long'] },
      ],
    };
    const { run, work } = startRun(wf);
    const longDir = join(work, 'forced', 'long');
    const workerPid = await pidFrom(join(longDir, 'worker'), 'long to start');
    const shellPid = await pidFrom(join(longDir, 'shell'), 'the node shell pid');
    const sleeperPid = await pidFrom(join(longDir, 'sleeper'), 'the node sleeper pid');

    process.kill(workerPid, 'SIGTERM');
    // Two signals sent back to back may merge into one: send the second only
    // once the worker has acted on the first.
    await waitFor(() => logLines(run.stderr(), workerPid, 'finishing running nodes').length === 1, 20_000, 'the worker to take the first SIGTERM');
    expect(alive(workerPid)).toBe(true);
    writeFileSync(marker, '1');
    process.kill(workerPid, 'SIGTERM');

    await waitFor(() => !alive(shellPid) && !alive(sleeperPid), 20_000, 'the first run of long (its whole process group) to be killed');
    await waitFor(() => !alive(workerPid), 20_000, 'the signalled worker to exit');
    expect(logLines(run.stderr(), workerPid, 'killing running nodes')).toHaveLength(1);

    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    const long = node(summary, 'long');
    // Requeued by its worker, not failed and not found lost by stall
    // detection: one admission, no stall, no failed attempt — and the killed
    // execution is in its history and counted, so nothing ran twice unseen.
    expect(long).toMatchObject({ status: 'succeeded', attempts: 2, stalls: 0, exit_code: 0, crash_file: null });
    expect(long.attempt_history.map((a) => [a.attempt, a.status, a.reason])).toEqual([
      [1, 'killed', 'killed: shutdown'],
      [1, 'succeeded', null],
    ]);
    expect(node(summary, 'after').status).toBe('succeeded');
    expect(readFileSync(join(longDir, 'runs'), 'utf8')).toBe('run\nrun\n');
    // The second run was in a different worker process.
    const secondWorker = Number(readFileSync(join(longDir, 'worker2'), 'utf8').trim());
    expect(secondWorker).not.toBe(workerPid);
    expect(readFileSync(join(work, 'forced', 'after', 'runs'), 'utf8')).toBe('run\n');
    expect(existsSync(join(work, '_crashes'))).toBe(false);
  });
});
