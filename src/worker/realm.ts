/**
 * A realm: a worker thread of an executor process that runs JavaScript
 * function nodes, one at a time, for its host (realm-host.ts). Everything a
 * node leaves in its heap, globals or module state ends with the realm.
 */
import { parentPort } from 'node:worker_threads';
import type { ExecutorReply, ExecutorRequest } from './executor-protocol.js';
import { serveFunctions } from './function-call.js';

if (parentPort === null) throw new Error('realm.js runs in a worker thread of an executor');
const port = parentPort;
// The host makes each node's directory the process's working directory: a
// worker thread cannot, and it sees the host's.
serveFunctions((on: (msg: ExecutorRequest) => void) => port.on('message', on), (msg: ExecutorReply) => port.postMessage(msg), false);
port.postMessage({ type: 'ready', pid: process.pid } satisfies ExecutorReply);
