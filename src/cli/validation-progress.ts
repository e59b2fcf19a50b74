/**
 * A progress line on stderr while a large workflow is validated and planned
 * (a million nodes take seconds): which phase, how many nodes, how long so
 * far. Small workflows print nothing. On a terminal one line is redrawn and
 * cleared at the end; otherwise one line per phase.
 */
import { statSync } from 'node:fs';
import type { ValidationPhase } from '../shared/workflow/max-nodes.js';

/** Workflows with at least this many nodes (as written) get a progress line. */
export const PROGRESS_MIN_NODES = 10_000;
/** Workflow files of at least this many bytes get one while they are parsed (before their nodes are counted). */
export const PROGRESS_MIN_BYTES = 2 * 1024 * 1024;

const PHASES: Readonly<Record<ValidationPhase | 'plan' | 'simulate', string>> = {
  parse: 'parsing',
  schema: 'checking fields',
  graph: 'checking ids, needs, connections, iterables',
  cycles: 'looking for cycles',
  expand: 'expanding iterables',
  files: 'scanning commands for untracked files',
  plan: 'planning (DAG, topological and admission order)',
  simulate: 'checking every node against its cache record (dry run)',
};

/** The phases a {@link ValidationProgress} reports. */
export type ProgressPhase = keyof typeof PHASES;

/** Reports phases of validating (and planning, storing) one workflow file. */
export class ValidationProgress {
  private readonly startedMs = Date.now();
  private nodes = 0;
  private active: boolean;
  private drawn = false;

  /**
   * @param file the workflow file, as named to the user
   * @param enabled false (`--quiet`, `--json`): never prints
   * @param stream where to print (default stderr)
   */
  constructor(
    private readonly file: string,
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.active = enabled && fileSize(file) >= PROGRESS_MIN_BYTES;
  }

  /** For `ValidateOptions.onPhase`: a phase starts, with the node count as written (0 before parsing). */
  readonly onPhase = (phase: ProgressPhase, nodes?: number): void => {
    if (nodes !== undefined && nodes > 0) this.nodes = nodes;
    if (this.enabled && this.nodes >= PROGRESS_MIN_NODES) this.active = true;
    if (!this.active) return;
    const seconds = ((Date.now() - this.startedMs) / 1000).toFixed(1);
    const count = this.nodes > 0 ? ` (${this.nodes.toLocaleString('en-US')} nodes)` : '';
    const line = `flowgate: ${this.file}${count}: ${PHASES[phase]}… [${seconds}s]`;
    if (this.stream.isTTY === true) {
      this.stream.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  };

  /** Clears the redrawn line (terminal), so what follows starts on a clean line. */
  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  } catch {
    return 0;
  }
}
