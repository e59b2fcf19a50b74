/**
 * Loads CommonJS packages with `require`. `import` of a CommonJS package from
 * an ES module makes Node scan the source of every file the package
 * re-exports to find its export names; for bullmq, ioredis and pino that is
 * 50-80 ms of start-up in every process, and a worker's start-up is on the
 * path of every `flowgate run`. `require` gives the same module instance an
 * `import` would, so both can be mixed safely.
 */
import { createRequire } from 'node:module';

export const requireCjs = createRequire(import.meta.url);
