/**
 * An executor process that runs JavaScript function nodes in realms: worker
 * threads, each a V8 isolate of its own, with its own heap, globals and
 * module instances. A realm runs `tasksPerRealm` nodes (nipype's
 * `maxtasksperchild`) and ends, taking with it whatever those nodes left in
 * memory or module state, as a recycled process would (its memory is freed
 * before its last node's result is sent); this process runs
 * `realmsPerProcess` realms and is then replaced by the pool. The pool also
 * kills it, with its process group, whenever a node is aborted, ends its
 * realm (`process.exit`) or leaves an error behind.
 *
 * Why realms rather than a process per `maxtasksperchild` nodes: a Node
 * process costs about twice the CPU of a worker thread to start (80 against
 * 40 ms on a small 2-core machine), and at the default of 10 nodes per
 * process that start, not the calls, was the cost of a function node.
 *
 * Realms start ahead, as the pool's spare processes do: the next one once
 * the tasks left in the current realm would take no longer than two realm
 * starts, and a second one when a realm start takes longer than a whole
 * realm's tasks (quick functions), so starts overlap; none beyond what the
 * tasks this process has left need.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ExecutorReply, ExecutorRequest } from './executor-protocol.js';
import { describeThrown } from './thrown.js';

const REALM = fileURLToPath(new URL('./realm.js', import.meta.url));
/** Weight of the newest sample in the running timings. */
const TIMING_WEIGHT = 0.3;
/** The next realm starts when the tasks left would take no longer than this many realm starts. */
const START_MARGIN = 2;
/** Realms started ahead at most. */
const MAX_SPARES = 2;
/** How long a realm may take to end before the pool is told to kill the process instead. */
const END_MS = 2000;

type RunRequest = Extract<ExecutorRequest, { type: 'run' }>;
type Done = Extract<ExecutorReply, { type: 'done' }>;

interface Realm {
  readonly worker: Worker;
  readonly ready: Promise<Realm>;
  tasks: number;
  gone: boolean;
  /** What ended it, when its own handlers could not take an error (out of memory, say). */
  failure?: string;
}

/**
 * Serves run and abort requests from `listen` in realms, replying through
 * `send`; reports ready once its first realm is.
 */
export function hostRealms(tasksPerRealm: number, realmsPerProcess: number, listen: (on: (msg: ExecutorRequest) => void) => void, send: (msg: ExecutorReply) => void): void {
  if (!(Number.isInteger(tasksPerRealm) && tasksPerRealm >= 1 && Number.isInteger(realmsPerProcess) && realmsPerProcess >= 1)) {
    throw new RangeError(`executor: --realms needs two whole numbers >= 1, received ${String(tasksPerRealm)} and ${String(realmsPerProcess)}`);
  }
  let current: Realm | undefined;
  const spares: Realm[] = [];
  /** Tasks handed to realms so far. */
  let served = 0;
  let running: Realm | undefined;
  /** Running timings: a realm start (creation to ready) and a cycle (one task handed over to the next). */
  let startMs: number | undefined;
  let cycleMs: number | undefined;
  /** When the last task was handed over (performance.now() ms). */
  let assignedAt: number | undefined;
  const time = (before: number | undefined, ms: number): number => (before === undefined ? ms : before + TIMING_WEIGHT * (ms - before));

  function startRealm(): Realm {
    const createdAt = performance.now();
    const worker = new Worker(REALM);
    const ready = new Promise<Realm>((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`a realm ended during start-up (exit code ${String(code)})`));
      worker.once('exit', onExit);
      worker.once('message', () => {
        worker.off('exit', onExit);
        startMs = time(startMs, performance.now() - createdAt);
        resolve(realm);
      });
    });
    // Whoever takes the realm learns why it failed.
    ready.catch(() => undefined);
    const realm: Realm = { worker, ready, tasks: 0, gone: false };
    // An error its own handlers could not take (ERR_WORKER_OUT_OF_MEMORY, say): the realm ends.
    worker.on('error', (err) => {
      const d = describeThrown(err);
      realm.failure = d.summary;
      process.stderr.write(`flowgate executor ${process.pid}: a realm failed: ${d.detail}\n`);
    });
    worker.once('exit', () => {
      realm.gone = true;
      const at = spares.indexOf(realm);
      if (at >= 0) spares.splice(at, 1);
      if (current === realm) current = undefined;
    });
    return realm;
  }

  /** The realm for the next task: the current one, the next spare, or one started now. */
  async function take(): Promise<Realm> {
    for (let tries = 1; ; tries++) {
      if (current !== undefined && !current.gone) return current;
      const next = spares.shift() ?? startRealm();
      try {
        current = await next.ready;
      } catch (err) {
        if (tries >= 3) throw err;
      }
    }
  }

  /** Starts realms ahead for `realm`, just handed a task (see the module comment). */
  function topUp(realm: Realm): void {
    const left = tasksPerRealm - realm.tasks;
    const [start, cycle] = [startMs, cycleMs];
    const timed = start !== undefined && cycle !== undefined;
    const due = left <= 0 || (timed && (left + 1) * cycle <= START_MARGIN * start);
    // Quick tasks: a realm's start outlasts all its tasks, so two starts overlap.
    const want = !due ? 0 : timed && start > tasksPerRealm * cycle ? MAX_SPARES : 1;
    // Realms this process will still need after the current one.
    const needed = Math.ceil(Math.max(0, tasksPerRealm * realmsPerProcess - served - left) / tasksPerRealm);
    for (let n = spares.length; n < Math.min(want, needed); n++) spares.push(startRealm());
  }

  /** Ends a realm; false if it did not end within {@link END_MS} (the pool then kills this process). */
  async function ended(realm: Realm): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), END_MS)));
    try {
      return await Promise.race([realm.worker.terminate().then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function run(req: RunRequest): Promise<void> {
    try {
      // The realm works in the node's directory: a worker thread cannot
      // change directory, but sees this process's.
      process.chdir(req.ctx.node_dir);
    } catch (err) {
      const d = describeThrown(err);
      send({ type: 'done', id: req.id, ok: false, failure: 'threw', reason: d.summary, error: d.detail, recycle: false });
      return;
    }
    let realm: Realm;
    try {
      realm = await take();
    } catch (err) {
      const why = `cannot start a realm for the node: ${describeThrown(err).summary}`;
      send({ type: 'done', id: req.id, ok: false, failure: 'died', reason: why, error: why, recycle: true });
      return;
    }
    realm.tasks++;
    served++;
    const now = performance.now();
    // Timed across realms, so one task per realm is timed too.
    if (assignedAt !== undefined) cycleMs = time(cycleMs, now - assignedAt);
    assignedAt = now;
    topUp(realm);
    running = realm;
    const reply = await new Promise<Done>((resolve) => {
      const onMessage = (msg: ExecutorReply): void => {
        if (msg.type === 'done' && msg.id === req.id) finish(msg);
      };
      const onExit = (code: number): void => {
        // process.exit() in node code, this node's or a late call of the previous one's.
        const why = realm.failure !== undefined ? `the realm running the node failed: ${realm.failure}` : `the realm running the node ended (exit code ${String(code)}: process.exit() ends a realm)`;
        finish({ type: 'done', id: req.id, ok: false, failure: 'died', reason: why, error: why, recycle: true });
      };
      const finish = (msg: Done): void => {
        realm.worker.off('message', onMessage);
        realm.worker.off('exit', onExit);
        resolve(msg);
      };
      realm.worker.on('message', onMessage);
      realm.worker.once('exit', onExit);
      realm.worker.postMessage(req);
    });
    running = undefined;
    const retire = realm.tasks >= tasksPerRealm || (!reply.ok && reply.recycle);
    if (retire && current === realm) current = undefined;
    // A retired realm's heap is freed before the reply: the next node's
    // memory is measured on this process, and must not include it.
    send(retire && !(await ended(realm)) ? { ...reply, recycle: true } : reply);
  }

  listen((msg) => {
    if (msg.type === 'run') void run(msg);
    else if (msg.type === 'abort') running?.worker.postMessage(msg);
  });
  take().then(
    () => send({ type: 'ready', pid: process.pid }),
    (err: unknown) => {
      process.stderr.write(`flowgate executor ${process.pid}: cannot start a realm: ${describeThrown(err).detail}\n`);
      process.exit(1);
    },
  );
}
