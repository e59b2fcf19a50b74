/**
 * The entry point of an executor: a child process of a worker that runs
 * function nodes one at a time.
 *
 * - `executor.js --realms TASKS REALMS`: JavaScript modules run in realms,
 *   worker threads of this process, each with its own heap, globals and
 *   module instances; a realm runs TASKS nodes, this process REALMS realms
 *   (see realm-host.ts).
 * - `executor.js`: the nodes run in this process itself, which is replaced
 *   after `maxtasksperchild` of them. TypeScript modules run so: the
 *   TypeScript loader's hooks do not reach worker threads on Node 20, and
 *   registering them in each realm costs more than a process start.
 */
import type { ExecutorReply, ExecutorRequest } from './executor-protocol.js';
import { serveFunctions } from './function-call.js';
import { hostRealms } from './realm-host.js';

const [mode, tasks, realms] = process.argv.slice(2);
const send = (msg: ExecutorReply): void => {
  process.send?.(msg);
};
// Without a parent there is nothing to do.
process.on('disconnect', () => process.exit(0));
if (mode === '--realms') {
  hostRealms(Number(tasks), Number(realms), (on) => process.on('message', on), send);
} else {
  serveFunctions((on: (msg: ExecutorRequest) => void) => process.on('message', on), send, true);
  send({ type: 'ready', pid: process.pid });
}
