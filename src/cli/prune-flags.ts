/**
 * Flags of `flowgate prune` (kept apart so help output loads nothing heavy).
 */
import { DURATION_HELP } from '../shared/duration.js';
import type { FlagSpec } from './args.js';
import { CONNECTION_FLAGS } from './connection.js';

/** Flags of `flowgate prune`. */
export const PRUNE_FLAGS: readonly FlagSpec[] = [
  { name: 'older-than', type: 'duration', value: 'DURATION', help: `remove finished runs that finished longer ago than this: ${DURATION_HELP}` },
  { name: 'keep', type: 'int', min: 0, value: 'N', help: 'keep the newest N finished runs whatever their age (default 0)' },
  { name: 'work-dirs', type: 'boolean', help: 'also remove their node directories that no remaining run uses, and their summary and crash files' },
  { name: 'dry-run', type: 'boolean', help: 'list what would be removed; change nothing' },
  { name: 'json', type: 'boolean', help: 'print the report as JSON' },
  ...CONNECTION_FLAGS,
];
