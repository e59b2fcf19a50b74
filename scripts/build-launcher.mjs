// Compiles the worker's process launcher (src/worker/launcher/flowgate-launcher.c)
// into dist/worker/flowgate-launcher. Without a C compiler the build goes on
// and workers start node processes with Node's own spawn (slower).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/worker/launcher/flowgate-launcher.c', import.meta.url));
const target = fileURLToPath(new URL('../dist/worker/flowgate-launcher', import.meta.url));
rmSync(target, { force: true });
if (process.platform !== 'linux') {
  process.stderr.write('build: the process launcher is Linux-only; workers will use Node spawn\n');
  process.exit(0);
}
mkdirSync(fileURLToPath(new URL('../dist/worker/', import.meta.url)), { recursive: true });
const cc = process.env.CC ?? 'cc';
const result = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-o', target, source], { stdio: 'inherit' });
if (result.error !== undefined || result.status !== 0) {
  const why = result.error !== undefined ? result.error.message : `exit code ${result.status}`;
  process.stderr.write(`build: cannot compile the process launcher with ${cc} (${why}); workers will use Node spawn\n`);
}
