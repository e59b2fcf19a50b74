/**
 * After each integration or browser test file: stops every `flowgate`
 * process the file started and left running (SIGTERM to its process group,
 * SIGKILL after 5 s), then deletes whatever keys the file left under its
 * prefixes — saying so on stderr, since a test should clean up after itself.
 * Keys written later still (by a process nobody stopped) fail the run in the
 * global teardown.
 */
import { afterAll, expect } from 'vitest';
import { stopGroup, takeStarted, type CliProcess } from './cli.js';
import { deletePrefix, keysUnder, takePrefixes } from './redis.js';

function running(p: CliProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function stopLeftovers(procs: CliProcess[]): Promise<string[]> {
  const left = procs.filter(running);
  // Its workers are in its group too: they go with it.
  await Promise.all(left.map((p) => stopGroup(p)));
  return left.map((p) => p.child.spawnargs.slice(2, 4).join(' '));
}

afterAll(async () => {
  const stopped = await stopLeftovers(takeStarted());
  const leaks: string[] = [];
  for (const prefix of takePrefixes()) {
    const keys = await keysUnder(prefix);
    if (keys.length === 0) continue;
    leaks.push(`${prefix} (${keys.length} keys)`);
    await deletePrefix(prefix);
  }
  const file = expect.getState().testPath ?? 'a test file';
  if (stopped.length > 0) process.stderr.write(`test hygiene: ${file} left ${stopped.length} flowgate process(es) running (${stopped.join('; ')}); stopped them\n`);
  if (leaks.length > 0) process.stderr.write(`test hygiene: ${file} left Redis keys under ${leaks.join(', ')}; deleted them\n`);
}, 30_000);
