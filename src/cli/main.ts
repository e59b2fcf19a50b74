#!/usr/bin/env node
/**
 * The `flowgate` command: dispatches to subcommands, turns errors into clear
 * messages and documented exit codes.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { ExitCode, FlowgateError, ValidationError, causeLines, toFlowgateError } from '../shared/errors.js';
import { didYouMean } from '../shared/errors.js';

const COMMANDS = ['run', 'resume', 'retry', 'cancel', 'scheduler', 'submit', 'status', 'prune', 'logs', 'worker', 'workers', 'hosts', 'queue', 'board', 'validate', 'dag', 'schema', 'completion', 'help', 'version'] as const;

/** Whether `-h` or `--help` comes before any `--`. */
function asksHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help');
}

async function printCommandHelp(name: string): Promise<boolean> {
  const { commandInfo } = await import('./commands.js');
  const info = commandInfo(name);
  if (info === undefined) return false;
  process.stdout.write(await (await import('./help.js')).commandHelp(info));
  return true;
}

// Subcommands are imported on demand: a worker process should not pay for
// the scheduler's modules, nor `flowgate version` for anything.
async function usage(): Promise<string> {
  const { formatFlags } = await import('./args.js');
  const { RUN_FLAGS } = await import('./run-flags.js');
  const { WORKER_FLAGS } = await import('./worker-flags.js');
  const { SCHEDULER_FLAGS, SCHEDULER_SETTINGS } = await import('./scheduler-flags.js');
  const { SUBMIT_FLAGS } = await import('./submit-flags.js');
  const { BOARD_FLAGS } = await import('./board.js');
  const { PRUNE_FLAGS } = await import('./prune-flags.js');
  const { VALIDATE_FLAGS } = await import('./validate.js');
  return [
    'usage: flowgate <command> [options]',
    '',
    'commands:',
    '  run WORKFLOW       run a workflow with an embedded scheduler and a local worker fleet',
    '  resume RUN_ID      continue a run whose scheduler died (state comes from Redis)',
    '  retry RUN_ID [NODE...]  run a failed run\'s failed nodes again (and what they skipped)',
    '  cancel RUN_ID      cancel a run: running nodes are killed, the rest never start',
    '  scheduler          run the scheduler service: drives submitted runs, one shared budget',
    '  submit WORKFLOW    submit a run to the scheduler service; --wait follows it',
    '  status [RUN_ID]    list runs, or show one run with its nodes',
    '  prune              remove finished runs from Redis (and, on request, their node directories)',
    '  logs RUN_ID NODE   print a node\'s stdout and stderr',
    '  worker             run a long-lived worker process',
    '  workers            list registered workers with their heartbeats',
    '  queue pause|resume|status  pause or resume the node queue (admitted nodes wait while paused)',
    '  board              serve the web board: runs, workers, metrics, Bull Board',
    '  validate WORKFLOW  check a workflow file and print its summary',
    '  dag WORKFLOW       print its graph: --format dot (Graphviz, default), mermaid or json',
    '  schema             print the JSON Schema of the workflow format',
    '  completion bash|zsh|fish  print a shell completion script',
    '  version            print the version (also -V, --version)',
    '',
    'flowgate <command> --help (or -h, or flowgate help <command>) prints a command\'s options with their',
    'defaults, variables and examples. Options of run, resume, retry, submit, scheduler and worker also',
    'come from variables named by one rule: --n-procs is FLOWGATE_N_PROCS; a flag beats its variable,',
    'a variable beats the default.',
    '',
    'run options:',
    formatFlags(RUN_FLAGS),
    '',
    'scheduler options (env in brackets):',
    formatFlags(SCHEDULER_FLAGS),
    '  [' + SCHEDULER_SETTINGS.map((x) => x.env).join(', ') + ']',
    '',
    'submit options:',
    formatFlags(SUBMIT_FLAGS),
    '',
    'prune options:',
    formatFlags(PRUNE_FLAGS),
    '',
    'validate options:',
    formatFlags(VALIDATE_FLAGS),
    '',
    'worker options:',
    formatFlags(WORKER_FLAGS),
    '',
    'board options:',
    formatFlags(BOARD_FLAGS),
    '  (env FLOWGATE_BOARD_PORT, FLOWGATE_BOARD_HOST, FLOWGATE_BOARD_INSECURE=1;',
    '   FLOWGATE_BOARD_USER + FLOWGATE_BOARD_PASSWORD_FILE (or _PASSWORD, 12+ characters) for Basic auth;',
    '   FLOWGATE_BOARD_WRITE=1 (needs auth) to cancel runs and allow Bull Board write actions)',
    '',
    'exit codes: 0 success, 1 run finished with failed nodes, 2 invalid workflow or options (or a run id',
    '            in use), 3 infrastructure error (e.g. Redis unreachable) or internal error, 130 interrupted',
  ].join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Commands whose process holds runs' node tables in memory (an embedded or a service scheduler). */
const SCHEDULING = new Set(['run', 'resume', 'retry', 'scheduler']);
/** Heap growth over the live data after a full collection, in per cent (V8's own goes up to 300). */
const SCHEDULER_HEAP_GROWING_PERCENT = 60;

/**
 * A scheduler keeps every node's record for its run's whole length, so most
 * of its heap after a full collection is live. V8 sets the next collection's
 * threshold at up to 4x that: a 100,000-node chain's scheduler went from
 * ~300 MB after start-up to 560 MB resident before its first full
 * collection. Bounded to 1.6x, the peak follows the live data; at 1.3x a
 * wide run's scheduler spent ~20 % more CPU on collections, at 1.6x about
 * what it spends at V8's default (BENCHMARKS.md, "The scheduler's memory").
 * A `--heap-growing-percent` given to node itself is kept. V8 reads the flag
 * at every collection, so setting it now takes effect.
 */
function boundHeapGrowth(): void {
  // V8 takes its flags with `-` or `_`.
  if (process.execArgv.some((a) => a.replace(/_/g, '-').startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${SCHEDULER_HEAP_GROWING_PERCENT}`);
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && SCHEDULING.has(command)) boundHeapGrowth();
  if (command !== undefined && asksHelp(rest) && (await printCommandHelp(command))) return ExitCode.ok;
  if (command === 'help' && rest[0] !== undefined && (await printCommandHelp(rest[0]))) return ExitCode.ok;
  switch (command) {
    case 'run':
      return (await import('./run.js')).runCommand(rest);
    case 'resume':
      return (await import('./resume.js')).resumeCommand(rest);
    case 'retry':
      return (await import('./resume.js')).retryCommand(rest);
    case 'cancel':
      return (await import('./cancel.js')).cancelCommand(rest);
    case 'scheduler':
      return (await import('./scheduler.js')).schedulerCommand(rest);
    case 'submit':
      return (await import('./submit.js')).submitCommand(rest);
    case 'status':
      return (await import('./status.js')).statusCommand(rest);
    case 'prune':
      return (await import('./prune.js')).pruneCommand(rest);
    case 'logs':
      return (await import('./logs.js')).logsCommand(rest);
    case 'worker':
      return (await import('./worker.js')).workerCommand(rest);
    case 'workers':
      return (await import('./workers.js')).workersCommand(rest);
    case 'hosts':
      return (await import('./workers.js')).hostsCommand(rest);
    case 'queue':
      return (await import('./queue.js')).queueCommand(rest);
    case 'board':
      return (await import('./board.js')).boardCommand(rest);
    case 'validate':
      return (await import('./validate.js')).validateCommand(rest);
    case 'dag':
      return (await import('./dag.js')).dagCommand(rest);
    case 'schema':
      process.stdout.write(`${JSON.stringify((await import('../shared/workflow/schema.js')).workflowJsonSchema(), null, 2)}\n`);
      return ExitCode.ok;
    case 'completion':
      process.stdout.write(await (await import('./completion.js')).completionScript(rest[0]));
      return ExitCode.ok;
    case 'version':
    case '--version':
    case '-V':
      process.stdout.write(`flowgate ${version()}\n`);
      return ExitCode.ok;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${await usage()}\n`);
      return command === undefined ? ExitCode.invalidInput : ExitCode.ok;
    default: {
      const hint = didYouMean(command, COMMANDS);
      throw new ValidationError('OPTIONS_INVALID', [
        { message: `unknown command "${command}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}; see flowgate help` },
      ]);
    }
  }
}

async function main(): Promise<void> {
  // A reader that went away (`flowgate run --json | head`) is not a crash:
  // the command finishes and exits with its own code; what it writes is lost.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  let code: number;
  try {
    code = await dispatch(process.argv.slice(2));
  } catch (err) {
    const e: FlowgateError = toFlowgateError(err);
    const lines = e instanceof ValidationError ? e.issues.length : 1;
    process.stderr.write(`flowgate: error${lines > 1 ? 's' : ''}:${lines > 1 ? '\n' : ' '}${e.message}\n`);
    for (const line of causeLines(e)) process.stderr.write(`  caused by: ${line}\n`);
    if (e.code === 'INTERNAL' && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
    code = e.exitCode;
  }
  process.exitCode = code;
  // A finished command exits now: sockets still being torn down must not keep
  // it alive. stdout/stderr are synchronous for files and pipes on Linux; wait
  // for a drain where they are not.
  const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  if (pending.length === 0) process.exit(code);
  let left = pending.length;
  for (const s of pending) s.once('drain', () => --left === 0 && process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

void main();
