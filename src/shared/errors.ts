/**
 * flowgate's error hierarchy. Every error that reaches a user carries a string
 * `code` and maps to one documented process exit code.
 */

/** Machine-readable error codes. */
export type ErrorCode =
  | 'WORKFLOW_INVALID'
  | 'WORKFLOW_CYCLE'
  | 'WORKFLOW_TOO_LARGE'
  | 'OPTIONS_INVALID'
  | 'NODE_EXCEEDS_BUDGET'
  | 'REDIS_UNREACHABLE'
  | 'INFRASTRUCTURE'
  | 'RUN_NOT_FOUND'
  | 'RUN_REJECTED'
  | 'COMMAND_FAILED'
  | 'WORKER_LOST'
  | 'INTERNAL';

/** Process exit codes, as documented in the README. */
export const ExitCode = {
  ok: 0,
  runFailed: 1,
  invalidInput: 2,
  infrastructure: 3,
  interrupted: 130,
} as const;

/** Base class: a message for humans, a code for machines, the cause kept. */
export class FlowgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowgateError';
    this.code = code;
  }

  /** The exit code the CLI uses when this error ends the process. */
  get exitCode(): number {
    switch (this.code) {
      case 'WORKFLOW_INVALID':
      case 'WORKFLOW_CYCLE':
      case 'WORKFLOW_TOO_LARGE':
      case 'OPTIONS_INVALID':
      case 'NODE_EXCEEDS_BUDGET':
      case 'RUN_NOT_FOUND':
      case 'RUN_REJECTED':
        return ExitCode.invalidInput;
      case 'REDIS_UNREACHABLE':
      case 'INFRASTRUCTURE':
        return ExitCode.infrastructure;
      default:
        return ExitCode.runFailed;
    }
  }
}

/** One problem found while validating input: where it is and what is wrong. */
export interface ValidationIssue {
  /** The file the problem is in, when it came from a file. */
  file?: string;
  /** `line:column` (1-based) when known. */
  line?: number;
  column?: number;
  /** The node id, when the problem is inside a node. */
  node?: string;
  /** Dotted path of the offending field, e.g. `nodes[3].mem_gb`. */
  field?: string;
  message: string;
}

/** Formats an issue as `file:line:col: node "x", field "y": message`. */
export function formatIssue(issue: ValidationIssue): string {
  let where = issue.file ?? '';
  if (issue.file !== undefined && issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  const parts: string[] = [];
  if (issue.node !== undefined) parts.push(`node "${issue.node}"`);
  if (issue.field !== undefined) parts.push(`field "${issue.field}"`);
  const subject = parts.join(', ');
  const prefix = [where, subject].filter((s) => s.length > 0).join(': ');
  return prefix.length > 0 ? `${prefix}: ${issue.message}` : issue.message;
}

/** Invalid input: a workflow file, CLI flags or environment. Exit code 2. */
export class ValidationError extends FlowgateError {
  readonly issues: readonly ValidationIssue[];
  /** Issues listed in the message; the rest are counted. All stay in `issues`. */
  static readonly SHOWN = 50;

  private static describe(issues: readonly ValidationIssue[]): string {
    const lines = issues.slice(0, ValidationError.SHOWN).map(formatIssue);
    if (issues.length > ValidationError.SHOWN) lines.push(`… and ${issues.length - ValidationError.SHOWN} more problems`);
    return lines.join('\n');
  }

  constructor(code: ErrorCode, issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    super(code, ValidationError.describe(issues), options);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/** Normalises anything thrown into a FlowgateError, keeping the original as `cause`. */
export function toFlowgateError(err: unknown): FlowgateError {
  if (err instanceof FlowgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FlowgateError('INTERNAL', message, { cause: err });
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const left = prev[j - 1] ?? 0;
      prev[j] = Math.min(up + 1, left + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** Suggests the closest candidate when it is close enough to be a typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(input.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return bestDistance <= limit ? best : undefined;
}
