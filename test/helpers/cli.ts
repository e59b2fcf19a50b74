/**
 * Runs the built `flowgate` binary as a user would: a real process, with its
 * exit code, stdout and stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { removeAfterFile } from './temp-dirs.js';

/** Path of the built CLI entry point. */
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

/** What a finished CLI process produced. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started CLI process. */
export interface CliProcess {
  child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr: () => string;
  stdout: () => string;
  done: Promise<CliResult>;
}

const started: CliProcess[] = [];

/** The CLI processes started in this test file so far, forgotten (see test-hygiene.ts). */
export function takeStarted(): CliProcess[] {
  return started.splice(0);
}

/** Signals a started process's whole group (it and the workers and launchers it started); nothing when it is gone. */
export function killGroup(p: CliProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(p.child.pid as number), signal);
  } catch {
    // already gone
  }
}

/**
 * Stops `p` and its whole process group (its workers and node launchers):
 * SIGTERM, SIGKILL if it has not exited within `graceMs`, then SIGKILL to
 * whatever of the group outlived it. Resolves once `p` has exited.
 */
export async function stopGroup(p: CliProcess, graceMs = 5000): Promise<void> {
  killGroup(p, 'SIGTERM');
  const timer = setTimeout(() => killGroup(p, 'SIGKILL'), graceMs);
  await p.done;
  clearTimeout(timer);
  killGroup(p, 'SIGKILL');
}

/**
 * Starts `flowgate ...args` in a process group of its own, so that whatever
 * it started (its worker fleet, their node processes) can be stopped with it
 * if the test leaves it running (see test-hygiene.ts).
 */
export function startCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, FLOWGATE_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolvePromise) => {
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
  const p = { child, stderr: () => stderr, stdout: () => stdout, done };
  started.push(p);
  return p;
}

/** Runs `flowgate ...args` to completion (killed after `timeoutMs`). */
export async function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const p = startCli(args, options);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh temporary directory. */
export function tempDir(label = 'flowgate'): string {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  removeAfterFile(dir);
  return dir;
}

/** Writes a workflow object as JSON (or text as-is) into `dir`; returns the path. */
export function writeWorkflow(dir: string, name: string, content: object | string): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}
