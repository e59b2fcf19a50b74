/**
 * What each `flowgate` command is: its arguments, one line about it, its
 * flags (loaded on demand), whether they fall back to variables, and
 * examples. Help and shell completion are generated from this list.
 */
import type { FlagSpec } from './args.js';

/** One subcommand. */
export interface CommandInfo {
  name: string;
  /** Positional arguments, e.g. `WORKFLOW`. */
  args: string;
  summary: string;
  /** Its flags; imported only when asked for. */
  flags: () => Promise<readonly FlagSpec[]>;
  /** Whether its flags fall back to `FLOWGATE_<FLAG>` variables. */
  env: boolean;
  examples: readonly string[];
}

const none = (): Promise<readonly FlagSpec[]> => Promise.resolve([]);

export const COMMAND_INFO: readonly CommandInfo[] = [
  {
    name: 'run',
    args: 'WORKFLOW',
    summary: 'run a workflow with an embedded scheduler and a local worker fleet (WORKFLOW may be - for stdin)',
    flags: async () => (await import('./run-flags.js')).RUN_FLAGS,
    env: true,
    examples: ['flowgate run examples/demo.yaml --n-procs 4 --memory-gb 8', 'FLOWGATE_WORK_DIR=/scratch/fg flowgate run - < workflow.yaml'],
  },
  {
    name: 'resume',
    args: 'RUN_ID',
    summary: 'continue a run whose scheduler died (state comes from Redis)',
    flags: async () => (await import('./run-flags.js')).RESUME_FLAGS,
    env: true,
    examples: ['flowgate resume 20250101-120000-abc123'],
  },
  {
    name: 'retry',
    args: 'RUN_ID [NODE...]',
    summary: "run a failed run's failed nodes again (and what they skipped)",
    flags: async () => (await import('./run-flags.js')).RESUME_FLAGS,
    env: true,
    examples: ['flowgate retry 20250101-120000-abc123', 'flowgate retry 20250101-120000-abc123 align smooth'],
  },
  { name: 'cancel', args: 'RUN_ID', summary: 'cancel a run: running nodes are killed, the rest never start', flags: async () => (await import('./cancel.js')).CANCEL_FLAGS, env: false, examples: ['flowgate cancel 20250101-120000-abc123'] },
  {
    name: 'scheduler',
    args: '',
    summary: 'run the scheduler service: drives submitted runs, one shared budget',
    flags: async () => (await import('./scheduler-flags.js')).SCHEDULER_FLAGS,
    env: true,
    examples: ['flowgate scheduler --n-procs 32 --memory-gb 128', 'FLOWGATE_N_PROCS=32 REDIS_URL=redis://queue:6379 flowgate scheduler'],
  },
  {
    name: 'submit',
    args: 'WORKFLOW',
    summary: 'submit a run to the scheduler service; --wait follows it (WORKFLOW may be - for stdin)',
    flags: async () => (await import('./submit-flags.js')).SUBMIT_FLAGS,
    env: true,
    examples: ['flowgate submit examples/demo.yaml --wait', 'flowgate submit - --run-id nightly < workflow.json'],
  },
  { name: 'status', args: '[RUN_ID]', summary: 'list runs, or show one run with its nodes', flags: async () => (await import('./status.js')).STATUS_FLAGS, env: false, examples: ['flowgate status', 'flowgate status 20250101-120000-abc123 --json'] },
  { name: 'prune', args: '', summary: 'remove finished runs from Redis (and, on request, their node directories)', flags: async () => (await import('./prune-flags.js')).PRUNE_FLAGS, env: false, examples: ['flowgate prune --older-than 7d --dry-run', 'flowgate prune --keep 10 --work-dirs'] },
  { name: 'logs', args: 'RUN_ID NODE', summary: "print a node's stdout and stderr", flags: async () => (await import('./logs.js')).LOGS_FLAGS, env: false, examples: ['flowgate logs 20250101-120000-abc123 align'] },
  {
    name: 'worker',
    args: '',
    summary: 'run a long-lived worker process',
    flags: async () => (await import('./worker-flags.js')).WORKER_FLAGS,
    env: true,
    examples: ['flowgate worker --concurrency 8', 'REDIS_URL=redis://queue:6379 FLOWGATE_WORKER_CONCURRENCY=8 flowgate worker'],
  },
  { name: 'workers', args: '', summary: 'list registered workers with their heartbeats', flags: async () => (await import('./workers.js')).WORKERS_FLAGS, env: false, examples: ['flowgate workers --json'] },
  { name: 'hosts', args: '', summary: 'list hosts (workers grouped by --host-id) with their declared capacity, labels, liveness, and what nodes placed on them hold and leave free', flags: async () => (await import('./workers.js')).HOSTS_FLAGS, env: false, examples: ['flowgate hosts', 'flowgate hosts --json'] },
  { name: 'queue', args: 'pause|resume|status', summary: 'pause or resume the node queue (admitted nodes wait while paused)', flags: async () => (await import('./queue.js')).QUEUE_FLAGS, env: false, examples: ['flowgate queue pause', 'flowgate queue status'] },
  { name: 'board', args: '', summary: 'serve the web board: runs, workers, metrics, Bull Board', flags: async () => (await import('./board.js')).BOARD_FLAGS, env: false, examples: ['flowgate board --port 3000'] },
  { name: 'validate', args: 'WORKFLOW', summary: 'check a workflow file and print its summary (WORKFLOW may be - for stdin)', flags: async () => (await import('./validate.js')).VALIDATE_FLAGS, env: false, examples: ['flowgate validate examples/demo.yaml', 'cat wf.json | flowgate validate -'] },
  { name: 'dag', args: 'WORKFLOW', summary: 'print its graph: --format dot (Graphviz, default), mermaid or json', flags: async () => (await import('./dag.js')).DAG_FLAGS, env: false, examples: ['flowgate dag examples/demo.yaml | dot -Tsvg > dag.svg'] },
  { name: 'schema', args: '', summary: 'print the JSON Schema of the workflow format', flags: none, env: false, examples: ['flowgate schema > workflow.schema.json'] },
  { name: 'completion', args: 'bash|zsh|fish', summary: 'print a shell completion script', flags: none, env: false, examples: ['source <(flowgate completion bash)', 'flowgate completion fish > ~/.config/fish/completions/flowgate.fish'] },
  { name: 'version', args: '', summary: 'print the version (also -V, --version)', flags: none, env: false, examples: ['flowgate --version'] },
];

/** The command called `name`, if any. */
export function commandInfo(name: string): CommandInfo | undefined {
  return COMMAND_INFO.find((c) => c.name === name);
}
