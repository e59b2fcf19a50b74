/**
 * The entry point of an executor: a child process of a worker that runs
 * JavaScript/TypeScript function nodes one at a time, and is replaced after
 * `maxtasksperchild` of them. It loads nothing but the node modules it runs.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExecutorReply, ExecutorRequest, FunctionContext } from './executor-protocol.js';

let current: AbortController | undefined;

function send(msg: ExecutorReply): void {
  process.send?.(msg);
}

async function run(req: Extract<ExecutorRequest, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  current = controller;
  const stdout = join(req.ctx.node_dir, 'stdout.log');
  const stderr = join(req.ctx.node_dir, 'stderr.log');
  const ctx: FunctionContext = {
    ...req.ctx,
    signal: controller.signal,
    log: (...args: unknown[]) => appendFileSync(stdout, `${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`),
  };
  try {
    process.chdir(req.ctx.node_dir);
    const mod = (await import(pathToFileURL(req.module).href)) as Record<string, unknown>;
    const fn = mod[req.export];
    if (typeof fn !== 'function') {
      throw new TypeError(`module ${req.module} has no exported function "${req.export}" (exports: ${Object.keys(mod).join(', ') || 'none'})`);
    }
    const outputs: unknown = await (fn as (inputs: unknown, ctx: FunctionContext) => unknown)(req.inputs, ctx);
    // Outputs must survive JSON: they travel through the queue.
    const json = JSON.stringify(outputs ?? null);
    send({ type: 'done', id: req.id, ok: true, outputs: JSON.parse(json) as unknown });
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    try {
      appendFileSync(stderr, `${text}\n`);
    } catch {
      // The node directory may be gone; the error still travels back.
    }
    send({ type: 'done', id: req.id, ok: false, error: text });
  } finally {
    current = undefined;
  }
}

process.on('message', (msg: ExecutorRequest) => {
  if (msg.type === 'run') void run(msg);
  else if (msg.type === 'abort') current?.abort();
});
// Without a parent there is nothing to do.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', pid: process.pid });
