/**
 * `flowgate dag WORKFLOW [--format dot|mermaid|json]`: prints the validated
 * workflow's graph (see graph-export.ts), e.g. `flowgate dag wf.yaml | dot -Tsvg > wf.svg`.
 */
import { ExitCode, ValidationError } from '../shared/errors.js';
import { exportGraph, GRAPH_FORMATS, type GraphFormat } from '../shared/workflow/graph-export.js';
import { loadWorkflowFile } from '../shared/workflow/parse.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';

export const DAG_FLAGS: readonly FlagSpec[] = [
  { name: 'format', type: 'enum', choices: GRAPH_FORMATS, value: GRAPH_FORMATS.join('|'), help: 'output format (default dot: Graphviz)' },
];

/** Prints a workflow's graph; returns the exit code. */
export function dagCommand(argv: readonly string[]): number {
  const flags = new Flags(parseArgs(argv, DAG_FLAGS));
  if (flags.positionals.length !== 1) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate dag WORKFLOW [--format dot|mermaid|json]' }]);
  const wf = loadWorkflowFile(flags.positionals[0] as string);
  process.stdout.write(exportGraph(wf, (flags.str('format') ?? 'dot') as GraphFormat));
  return ExitCode.ok;
}
