/**
 * A script whose work is `await run(...)` ends as soon as run() resolved:
 * nothing flowgate opened (timers, sockets, worker processes) keeps its event
 * loop alive afterwards. Checked on a real script in its own process, on the
 * built package.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const ENTRY = pathToFileURL(resolve(import.meta.dirname, '../../dist/index.js')).href;
const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

it('a script that awaits run() exits by itself as soon as it resolved, with no timer left armed', async () => {
  const dir = tempDir('fg-api-exit');
  const prefix = uniquePrefix('apiexit');
  prefixes.push(prefix);
  const script = join(dir, 'script.mjs');
  writeFileSync(
    script,
    [
      `import { run, workflow } from ${JSON.stringify(ENTRY)};`,
      "const wf = workflow('exit');",
      "const a = wf.node('a', { command: ['true'] });",
      "wf.node('b', { command: 'echo b', needs: [a] });",
      `const summary = await run(wf, { n_procs: 2, memory_gb: 1, redis_url: ${JSON.stringify(redisUrl())}, prefix: ${JSON.stringify(prefix)}, work_dir: ${JSON.stringify(join(dir, 'work'))} });`,
      // What still keeps the loop alive at this instant (child processes may still be closing their pipes).
      'console.log(JSON.stringify({ status: summary.status, active: process.getActiveResourcesInfo() }));',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [script], { cwd: dir, env: { ...process.env, FLOWGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exit: number | null | undefined;
  child.on('exit', (code) => (exit = code));
  try {
    const line = await waitFor(() => stdout.split('\n').find((l) => l.startsWith('{')), 30_000, `run() to resolve; stderr: ${stderr}`);
    const report = JSON.parse(line) as { status: string; active: string[] };
    expect(report.status).toBe('succeeded');
    expect(report.active.filter((r) => r === 'Timeout')).toEqual([]);
    // It exits by itself: once run() resolved there is nothing left to wait for
    // (before, a 2 s timer of a Redis client closed twice held it).
    await waitFor(() => exit !== undefined, 1500, 'the script to exit by itself after run() resolved');
    expect(exit, stderr).toBe(0);
  } finally {
    if (exit === undefined) child.kill('SIGKILL');
  }
});
