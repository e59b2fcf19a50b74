/**
 * System tools some tests need (redis-server, a headless Chromium,
 * docker-compose). A test file calls {@link needTool}: when the tool is
 * missing its tests are skipped with a note naming the tool, and the count
 * reporter prints how many were skipped for what. Under `CI=true` a missing
 * tool fails the file instead: CI runs every suite.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeEach } from 'vitest';

/** Tools a test file may need, with how `scripts/setup.sh` installs them. */
export const TOOLS = {
  'redis-server': 'apt-get install redis-server (brew install redis)',
  chromium: 'apt-get install chromium, or set FLOWGATE_CHROMIUM to a Chromium or Chrome binary',
  'docker-compose': 'apt-get install docker-compose (brew install docker-compose)',
  openssl: 'apt-get install openssl (brew install openssl)',
} as const;

/** A tool tests may need. */
export type Tool = keyof typeof TOOLS;

/** Marks the notes of tests skipped for a missing tool; the count reporter groups them. */
export const MISSING_TOOL_NOTE = 'missing tool:';

/** The full path of `name` on PATH, or undefined. */
export function onPath(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The Chromium binary: `FLOWGATE_CHROMIUM`, else `chromium` (or `chromium-browser`) on PATH. */
export function chromiumPath(): string | undefined {
  const chosen = process.env['FLOWGATE_CHROMIUM'];
  if (chosen !== undefined && chosen !== '') return existsSync(chosen) ? chosen : undefined;
  return onPath('chromium') ?? onPath('chromium-browser');
}

/** A compose CLI that works: docker-compose v1, or the `docker compose` plugin. */
export function composeCli(): string[] | undefined {
  for (const cli of [['docker-compose'], ['docker', 'compose']]) {
    const [bin, ...rest] = cli as [string, ...string[]];
    if (onPath(bin) === undefined) continue;
    const r = spawnSync(bin, [...rest, 'version'], { encoding: 'utf8' });
    if (r.status === 0) return cli;
  }
  return undefined;
}

/** Whether `tool` can be used here. */
export function haveTool(tool: Tool): boolean {
  if (tool === 'chromium') return chromiumPath() !== undefined;
  if (tool === 'docker-compose') return composeCli() !== undefined;
  return onPath(tool) !== undefined;
}

/**
 * Declares that the calling test file (or describe block) needs `tool`.
 * Returns true when it is there. When it is missing, every test in scope is
 * skipped with a note naming it — unless `CI=true`, where this throws, so the
 * file fails: CI must run every suite. File-level hooks that would use the
 * tool should return early when this returned false.
 */
export function needTool(tool: Tool, env: NodeJS.ProcessEnv = process.env): boolean {
  if (haveTool(tool)) return true;
  const note = `${MISSING_TOOL_NOTE} ${tool} not found (install: ${TOOLS[tool]}; scripts/setup.sh installs it)`;
  if (env['CI'] === 'true') throw new Error(`CI=true and ${note}`);
  beforeEach((ctx) => ctx.skip(note));
  return false;
}

/**
 * Declares that the calling test file needs root (network namespaces, veth
 * pairs): like {@link needTool}, skipped with a counted note when not root,
 * and a failure under `CI=true`.
 */
export function needRoot(what: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.getuid?.() === 0) return true;
  const note = `${MISSING_TOOL_NOTE} root privileges not available (needed for ${what}; run the tests as root)`;
  if (env['CI'] === 'true') throw new Error(`CI=true and ${note}`);
  beforeEach((ctx) => ctx.skip(note));
  return false;
}
