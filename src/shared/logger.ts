/**
 * Structured logging. Components receive a logger; they never create one.
 */
import type { Logger } from 'pino';
import { requireCjs } from './cjs.js';

const { pino } = requireCjs('pino') as typeof import('pino');

export type { Logger };

/** Creates the root logger: JSON to stderr, level from config. */
export function createLogger(level: string, name = 'flowgate'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that discards everything (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
