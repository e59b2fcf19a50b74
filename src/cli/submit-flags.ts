/**
 * Flags of `flowgate submit`.
 */
import type { FlagSpec } from './args.js';
import { RUN_FLAGS } from './run-flags.js';

export const SUBMIT_FLAGS: readonly FlagSpec[] = [
  { name: 'wait', type: 'boolean', help: 'follow the run to its end (progress on stderr, exit code as for run)' },
  ...RUN_FLAGS.filter((f) => ['resource', 'n-gpu-procs', 'raise-insufficient', 'scheduler', 'stop-on-first-crash', 'work-dir', 'crashdump-dir', 'crashfile-format', 'json', 'quiet', 'redis-url', 'prefix', 'run-id', 'enforce-memory', 'max-output-bytes', 'max-nodes', 'hash-method', 'update-hash'].includes(f.name)).map(
    (f) => (f.name === 'work-dir' ? { ...f, help: 'node directories, logs, summaries (default: the scheduler service\'s work dir)' } : f),
  ),
];

