/**
 * The container health check finds the container's own service from its
 * process table: `main.js <service>` as process 1, or as the child of an init
 * process (compose `init: true`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { containerService } from '../../src/cli/healthcheck.js';

const root = mkdtempSync(join(tmpdir(), 'fg-proc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function proc(dir: string, pid: number, ppid: number, argv: string[]): void {
  mkdirSync(join(dir, String(pid)), { recursive: true });
  writeFileSync(join(dir, String(pid), 'cmdline'), `${argv.join('\0')}\0`);
  writeFileSync(join(dir, String(pid), 'status'), `Name:\tx\nPid:\t${pid}\nPPid:\t${ppid}\n`);
}

it('finds the service under an init process, or as process 1, and nothing in another container', () => {
  const withInit = join(root, 'init');
  proc(withInit, 1, 0, ['/sbin/docker-init', '--', 'node', '/app/dist/cli/main.js', 'worker']);
  proc(withInit, 7, 1, ['node', '/app/dist/cli/main.js', 'worker']);
  proc(withInit, 9, 7, ['node', '/app/dist/worker/executor.js']);
  mkdirSync(join(withInit, 'self'));
  expect(containerService(withInit)).toBe('worker');

  const plain = join(root, 'plain');
  proc(plain, 1, 0, ['node', '/app/dist/cli/main.js', 'scheduler']);
  expect(containerService(plain)).toBe('scheduler');

  const other = join(root, 'other');
  proc(other, 1, 0, ['redis-server', '*:6379']);
  proc(other, 5, 1, ['sh']);
  proc(other, 6, 5, ['node', '/app/dist/cli/main.js', 'board']);
  expect(containerService(other)).toBeUndefined();
});
