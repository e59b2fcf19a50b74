/**
 * Both ways of starting a node process (the compiled launcher and Node's
 * spawn) behave the same from the node's point of view: its directory, log
 * files, stdin, environment, PATH lookup, own process group, exit status and
 * start failures.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeJobData } from '../../src/shared/payloads.js';
import { Launcher, LAUNCHER_PATH, createSpawner, nodeSpawner, type Spawner } from '../../src/worker/launcher.js';
import { runCommand } from '../../src/worker/run-command.js';
import { waitFor } from '../helpers/wait-for.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fg-launch-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function job(command: NodeJobData['command'], extra: Partial<NodeJobData> = {}): NodeJobData {
  seq++;
  return {
    run_id: 'r1',
    workflow: 'wf',
    node_id: `n${seq}`,
    attempt: 1,
    command,
    function: null,
    env: {},
    n_procs: 3,
    mem_gb: 1,
    granted_procs: 3,
    granted_mem_gb: 1,
    node_dir: join(root, `n${seq}`),
    timeout_s: null,
    memory_margin: null,
    ...extra,
  };
}

/** The pid a node started as `sleep 60 & echo $! > grandchild; wait` wrote. */
function grandchildOf(data: NodeJobData): Promise<number> {
  return waitFor(() => {
    const text = readFileSync(join(data.node_dir, 'grandchild'), 'utf8').trim();
    return text === '' ? undefined : Number(text);
  }, 10_000, 'the grandchild pid');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('the build made the launcher, and auto picks it', () => {
  expect(readFileSync(LAUNCHER_PATH).subarray(1, 4).toString()).toBe('ELF');
  const spawner = createSpawner('auto');
  expect(spawner.kind).toBe('launcher');
  spawner.close();
  expect(createSpawner('node').kind).toBe('node');
});

describe.each([
  ['launcher', () => new Launcher(LAUNCHER_PATH)],
  ['node', () => nodeSpawner()],
] as const)('%s spawner', (_kind, make) => {
  let spawner: Spawner;
  beforeAll(() => {
    spawner = make();
  });
  afterAll(() => spawner.close());
  const run = (data: NodeJobData, signal?: AbortSignal) => runCommand(data, { worker: 'w', spawner, ...(signal !== undefined ? { signal } : {}) });

  it('runs in the node directory with logs there, stdin empty and the node environment', async () => {
    const data = job('pwd; cat; echo "$OMP_NUM_THREADS $FLOWGATE_NODE_ID $FLOWGATE_WORKER_PID $MINE"; echo oops >&2', { env: { MINE: 'x y' } });
    const out = await run(data);
    expect(out).toMatchObject({ ok: true, exit_code: 0, signal: null, failure: null });
    expect(readFileSync(join(data.node_dir, 'stdout.log'), 'utf8')).toBe(`${data.node_dir}\n3 ${data.node_id} ${process.pid} x y\n`);
    expect(readFileSync(join(data.node_dir, 'stderr.log'), 'utf8')).toBe('oops\n');
  });

  it('the node env wins over OMP_NUM_THREADS; argv runs without a shell', async () => {
    const data = job(['/bin/sh', '-c', 'echo "$OMP_NUM_THREADS" "$0"', 'a b'], { env: { OMP_NUM_THREADS: '1' } });
    expect((await run(data)).ok).toBe(true);
    expect(readFileSync(join(data.node_dir, 'stdout.log'), 'utf8')).toBe('1 a b\n');
  });

  it('looks the command up in the node PATH', async () => {
    const bin = join(root, `bin-${_kind}`);
    mkdirSync(bin);
    writeFileSync(join(bin, 'fg-tool'), '#!/bin/sh\necho tool "$@"\n');
    chmodSync(join(bin, 'fg-tool'), 0o755);
    writeFileSync(join(bin, 'fg-plain'), 'not executable\n');
    const data = job(['fg-tool', '1'], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect((await run(data)).ok).toBe(true);
    expect(readFileSync(join(data.node_dir, 'stdout.log'), 'utf8')).toBe('tool 1\n');
    const missing = await run(job(['fg-no-such-tool'], { env: { PATH: `${bin}:/usr/bin:/bin` } }));
    expect(missing).toMatchObject({ ok: false, failure: 'spawn', reason: 'command not found: fg-no-such-tool', pid: null });
    const plain = await run(job(['fg-plain'], { env: { PATH: bin } }));
    expect(plain).toMatchObject({ ok: false, failure: 'spawn', reason: 'command not executable: fg-plain' });
  });

  it('refuses a NUL byte in an argument', async () => {
    const out = await run(job(['echo', 'a\0b']));
    expect(out).toMatchObject({ ok: false, failure: 'spawn', pid: null });
  });

  it('reports exit codes and signals, with the stderr tail', async () => {
    const failed = await run(job('echo bad >&2; exit 3'));
    expect(failed).toMatchObject({ ok: false, exit_code: 3, signal: null, failure: 'exit', reason: 'exit code 3', stderr_tail: 'bad\n' });
    const killed = await run(job('kill -TERM $$'));
    expect(killed).toMatchObject({ ok: false, exit_code: null, signal: 'SIGTERM', failure: 'signal' });
  });

  it('starts the node as the leader of its own session and process group', async () => {
    const data = job('ps -o pid=,pgid=,sid= -p $$');
    const out = await run(data);
    const [pid, pgid, sid] = readFileSync(join(data.node_dir, 'stdout.log'), 'utf8').trim().split(/\s+/).map(Number);
    expect(pid).toBe(out.pid);
    expect(pgid).toBe(pid);
    expect(sid).toBe(pid);
  });

  it('an abort kills the whole process group, grandchildren included', async () => {
    const data = job('sleep 60 & echo $! > grandchild; wait');
    const controller = new AbortController();
    const done = run(data, controller.signal);
    const grandchild = await grandchildOf(data);
    controller.abort();
    const out = await done;
    expect(out).toMatchObject({ ok: false, failure: 'stopped' });
    await waitFor(() => !isAlive(grandchild), 5000, 'the grandchild to die');
  });

  it('a node directory that cannot be used fails as "prepare"', async () => {
    const file = join(root, `not-a-dir-${_kind}`);
    writeFileSync(file, '');
    const out = await run(job(['true'], { node_dir: join(file, 'sub') }));
    expect(out).toMatchObject({ ok: false, failure: 'prepare', pid: null });
    expect(out.reason).toContain('cannot prepare node directory');
  });
});

describe('launcher', () => {
  it('kills the process groups it started when its worker goes away', async () => {
    const launcher = new Launcher(LAUNCHER_PATH);
    const data = job('sleep 60 & echo $! > grandchild; wait');
    const done = runCommand(data, { worker: 'w', spawner: launcher });
    const grandchild = await grandchildOf(data);
    // The worker's end of the pipe closes, as when the worker dies.
    launcher.close();
    await waitFor(() => !isAlive(grandchild), 5000, 'the grandchild to die');
    expect((await done).ok).toBe(false);
  });

  it('measures a node that ended before its first sample, and the CPU of the children it waited for', async () => {
    const launcher = new Launcher(LAUNCHER_PATH);
    try {
      // `true` ends in a millisecond or two, long before the first sample at 10 ms.
      const data = job(['true']);
      const quick = await runCommand(data, { worker: 'w', spawner: launcher });
      expect(quick.cpu_s).toBeGreaterThanOrEqual(0);
      expect(quick.peak_rss_mb).toBeGreaterThan(0);
      expect(existsSync(join(data.node_dir, 'resource_samples.json'))).toBe(false);
      // A child that burns CPU and is waited for: its time is the node's.
      const busy = await runCommand(job(['/bin/sh', '-c', "/bin/sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'"]), { worker: 'w', spawner: launcher, sampleIntervalMs: 60_000 });
      expect(busy.ok).toBe(true);
      expect(busy.cpu_s).toBeGreaterThan(0.05);
    } finally {
      launcher.close();
    }
  });

  it('a launcher that dies takes its nodes down with a reason, and the next node gets a new one', async () => {
    const launcher = new Launcher(LAUNCHER_PATH);
    const data = job('sleep 60');
    let nodePid: number | undefined;
    const done = runCommand(data, { worker: 'w', spawner: launcher, onSpawn: (p) => (nodePid = p) });
    await waitFor(() => nodePid, 5000, 'the node to start');
    const first = launcher.pid as number;
    process.kill(first, 'SIGKILL');
    expect(await done).toMatchObject({ ok: false, signal: 'SIGKILL', failure: 'signal' });
    await waitFor(() => !isAlive(nodePid as number), 5000, 'the node to be killed');
    const again = job(['true']);
    expect((await runCommand(again, { worker: 'w', spawner: launcher })).ok).toBe(true);
    expect(launcher.pid).not.toBe(first);
    launcher.close();
  });
});
