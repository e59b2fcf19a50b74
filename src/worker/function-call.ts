/**
 * Runs function nodes one at a time where it is loaded: in a realm (a worker
 * thread of an executor process, for JavaScript modules) or in the executor
 * process itself (for TypeScript modules). It loads nothing but the node
 * modules it runs and two small modules of its own (output encoding, error
 * description).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExecutorReply, ExecutorRequest, FunctionContext } from './executor-protocol.js';
import { encodeOutputs } from './output-encoding.js';
import { describeThrown, showValue, type ThrownDescription } from './thrown.js';

/** A node's log file, opened on its first write: a function that prints nothing costs nothing. */
class NodeLog {
  private fd: number | undefined;
  private broken = false;

  constructor(private readonly path: string) {}

  write(chunk: string | Uint8Array): void {
    if (this.broken) return;
    try {
      this.fd ??= openSync(this.path, 'a');
      if (typeof chunk === 'string') writeSync(this.fd, chunk);
      else writeSync(this.fd, chunk);
    } catch {
      // The node directory may be gone: the node's output is lost, not the node.
      this.broken = true;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Nothing to do.
    }
    this.fd = undefined;
  }
}

/** An error that escaped the node's own call chain (an unhandled rejection, an uncaught exception). */
interface Stray {
  what: string;
  error: unknown;
}

interface Current {
  controller: AbortController;
  stdout: NodeLog;
  stderr: NodeLog;
  stray: (s: Stray) => void;
}

let current: Current | undefined;

/** Where replies go: the worker (IPC) or the executor hosting this realm. */
let send: (msg: ExecutorReply) => void = () => undefined;
/** Whether the node's directory is made the working directory here (a realm cannot: its host does). */
let chdirHere = true;

/**
 * While a node runs, whatever reaches process.stdout/stderr (console.log,
 * console.error, direct writes) goes to its stdout.log/stderr.log,
 * synchronously, so nothing is lost or lands in the next node's log.
 */
function redirect(stream: NodeJS.WriteStream, log: (c: Current) => NodeLog): void {
  const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  const write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const c = current;
    if (c === undefined) return original(chunk, encoding, cb);
    const data = typeof chunk === 'string' && typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding as BufferEncoding) : chunk;
    if (typeof data === 'string' || data instanceof Uint8Array) log(c).write(data);
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  };
  stream.write = write as typeof stream.write;
}

function onStray(what: string, error: unknown): void {
  const c = current;
  if (c !== undefined) {
    c.stray({ what, error });
    return;
  }
  // No node to blame: say so on the worker's stderr and end this process (or
  // realm); it is replaced.
  process.stderr.write(`flowgate executor ${process.pid}: ${what} outside any node: ${describeThrown(error).detail}\n`);
  process.exit(1);
}

function failed(req: { id: number }, c: Current, failure: 'threw' | 'outputs', d: ThrownDescription, recycle: boolean): void {
  c.stderr.write(`${d.detail}\n`);
  send({ type: 'done', id: req.id, ok: false, failure, reason: d.summary, error: d.detail, recycle });
}

function finish(c: Current): void {
  if (current === c) current = undefined;
  c.stdout.close();
  c.stderr.close();
}

async function run(req: Extract<ExecutorRequest, { type: 'run' }>): Promise<void> {
  // Set once the node has its reply: a stray error answers for it, and
  // whatever its function does afterwards is ignored (the pool replaces
  // this process). No race of promises per call.
  let answered = false;
  const c: Current = {
    controller: new AbortController(),
    stdout: new NodeLog(join(req.ctx.node_dir, 'stdout.log')),
    stderr: new NodeLog(join(req.ctx.node_dir, 'stderr.log')),
    stray: ({ what, error }) => {
      if (answered) return;
      answered = true;
      const d = describeThrown(error);
      failed(req, c, 'threw', { summary: `${what}: ${d.summary}`, detail: `${what} in the node's code:\n${d.detail}` }, true);
      finish(c);
    },
  };
  current = c;
  const ctx: FunctionContext = {
    ...req.ctx,
    signal: c.controller.signal,
    log: (...args: unknown[]) => c.stdout.write(`${args.map((a) => (typeof a === 'string' ? a : showValue(a))).join(' ')}\n`),
  };
  try {
    if (chdirHere) process.chdir(req.ctx.node_dir);
    const mod = (await import(pathToFileURL(req.module).href)) as Record<string, unknown>;
    const fn = mod[req.export];
    if (typeof fn !== 'function') {
      throw new TypeError(`module ${req.module} has no exported function "${req.export}" (exports: ${Object.keys(mod).join(', ') || 'none'})`);
    }
    const value: unknown = await (fn as (inputs: unknown, ctx: FunctionContext) => unknown)(req.inputs, ctx);
    if (answered) return;
    answered = true;
    const encoded = encodeOutputs(value, req.max_output_bytes);
    if (encoded.ok) send({ type: 'done', id: req.id, ok: true, json: encoded.json });
    else failed(req, c, 'outputs', { summary: encoded.reason, detail: `flowgate: node ${req.ctx.node_id}: ${encoded.reason}` }, false);
  } catch (err) {
    if (answered) return;
    answered = true;
    failed(req, c, 'threw', describeThrown(err), false);
  } finally {
    if (answered) finish(c);
  }
}

/**
 * Serves run and abort requests from `listen`, replying through `reply`;
 * `chdir`: whether to make each node's directory the working directory here.
 */
export function serveFunctions(listen: (on: (msg: ExecutorRequest) => void) => void, reply: (msg: ExecutorReply) => void, chdir: boolean): void {
  send = reply;
  chdirHere = chdir;
  redirect(process.stdout, (c) => c.stdout);
  redirect(process.stderr, (c) => c.stderr);
  // A rejection or exception that escapes a node's call chain fails that node
  // (with its stack) instead of ending the process or realm without a word.
  process.on('unhandledRejection', (reason) => onStray('unhandled promise rejection', reason));
  process.on('uncaughtException', (err) => onStray('uncaught exception', err));
  listen((msg) => {
    if (msg.type === 'run') void run(msg);
    else if (msg.type === 'abort') current?.controller.abort();
  });
}
