/**
 * `flowgate validate WORKFLOW`: checks a workflow file as `run` would
 * (expansion limits included) and prints its size. Touches nothing.
 */
import { ExitCode } from '../shared/errors.js';
import { loadWorkflowFile } from '../shared/workflow/parse.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { MAX_NODES_FLAG } from './run-flags.js';
import { ValidationProgress } from './validation-progress.js';
import { ValidationError } from '../shared/errors.js';

/** Flags of `flowgate validate`. */
export const VALIDATE_FLAGS: readonly FlagSpec[] = [MAX_NODES_FLAG, { name: 'quiet', type: 'boolean', help: 'no progress line on stderr (large workflows print one)' }];

/** Validates one workflow file; returns the exit code (errors are thrown). */
export function validateCommand(argv: readonly string[]): number {
  const flags = new Flags(parseArgs(argv, VALIDATE_FLAGS));
  if (flags.positionals.length !== 1) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate validate WORKFLOW [--max-nodes N]' }]);
  const file = flags.positionals[0] as string;
  const progress = new ValidationProgress(file, !flags.bool('quiet', false));
  const maxNodes = flags.num('max-nodes');
  let wf;
  try {
    wf = loadWorkflowFile(file, { onPhase: progress.onPhase, ...(maxNodes !== undefined ? { maxNodes } : {}) });
  } finally {
    progress.done();
  }
  for (const w of wf.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  let edges = 0;
  for (const n of wf.nodes) edges += n.needs.length;
  process.stdout.write(`${file}: workflow "${wf.name}" is valid: ${wf.nodes.length} ${wf.nodes.length === 1 ? 'node' : 'nodes'}, ${edges} ${edges === 1 ? 'dependency' : 'dependencies'}\n`);
  return ExitCode.ok;
}
