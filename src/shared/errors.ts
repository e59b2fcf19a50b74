/**
 * flowgate's error hierarchy. Every error that reaches a user carries a string
 * `code` and maps to one documented process exit code.
 */

/** Process exit codes, as documented in the README. */
export const ExitCode = {
  ok: 0,
  runFailed: 1,
  invalidInput: 2,
  infrastructure: 3,
  interrupted: 130,
} as const;

/** What an error code means to the process and to whoever might try again. */
export interface ErrorCodeSpec {
  /** The exit code of a CLI command that ends with this error. */
  exitCode: (typeof ExitCode)[keyof typeof ExitCode];
  /**
   * Whether the same request may succeed later, unchanged: Redis trouble, a
   * lease held or lost. The scheduler service retries a run that failed to
   * start with a retryable error, and rejects (fails) it otherwise.
   */
  retryable: boolean;
}

/**
 * Every error code, with its exit code and whether it is retryable: the one
 * table the CLI, the service and the README's error code table follow.
 */
export const ERROR_CODES = {
  /** A workflow file that does not validate. */
  WORKFLOW_INVALID: { exitCode: ExitCode.invalidInput, retryable: false },
  /** A dependency cycle in a workflow. */
  WORKFLOW_CYCLE: { exitCode: ExitCode.invalidInput, retryable: false },
  /** A workflow that would expand to more nodes than `--max-nodes` allows. */
  WORKFLOW_TOO_LARGE: { exitCode: ExitCode.invalidInput, retryable: false },
  /** Bad flags, environment or request. */
  OPTIONS_INVALID: { exitCode: ExitCode.invalidInput, retryable: false },
  /** A node asks for more than the whole budget (with `raise_insufficient`). */
  NODE_EXCEEDS_BUDGET: { exitCode: ExitCode.invalidInput, retryable: false },
  /** No run with that id. */
  RUN_NOT_FOUND: { exitCode: ExitCode.invalidInput, retryable: false },
  /** A run with that id exists already (`--run-id` reused). */
  RUN_EXISTS: { exitCode: ExitCode.invalidInput, retryable: false },
  /** Another live scheduler holds the run's lease (drives it, or is starting it). */
  RUN_CONFLICT: { exitCode: ExitCode.invalidInput, retryable: true },
  /** The scheduler service refused a submitted run. */
  RUN_REJECTED: { exitCode: ExitCode.invalidInput, retryable: false },
  /** Redis did not answer at start. */
  REDIS_UNREACHABLE: { exitCode: ExitCode.infrastructure, retryable: true },
  /** Redis or another service failed during a run (an outage longer than allowed, a dropped connection). */
  INFRASTRUCTURE: { exitCode: ExitCode.infrastructure, retryable: true },
  /** This scheduler's lease was taken by another one (it could not renew it in time); the run goes on there. */
  LEASE_LOST: { exitCode: ExitCode.infrastructure, retryable: true },
  /** A worker does not see the scheduler's work dir (its marker) at the same path: no shared volume there. */
  WORK_DIR_NOT_SHARED: { exitCode: ExitCode.invalidInput, retryable: false },
  /** A node's command failed. */
  COMMAND_FAILED: { exitCode: ExitCode.runFailed, retryable: false },
  /** The worker running a node was lost. */
  WORKER_LOST: { exitCode: ExitCode.runFailed, retryable: true },
  /** A bug: anything thrown that is none of the above (the CLI prints its stack). */
  INTERNAL: { exitCode: ExitCode.infrastructure, retryable: false },
} as const satisfies Record<string, ErrorCodeSpec>;

/** Machine-readable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class: a message for humans, a code for machines, the cause kept. */
export class FlowgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowgateError';
    this.code = code;
  }

  /** The exit code the CLI uses when this error ends the process ({@link ERROR_CODES}). */
  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }

  /** Whether trying the same again later may succeed ({@link ERROR_CODES}). */
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
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

/** Socket errors: the other end is unreachable or went away. */
const NETWORK_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);
/** Redis replies that mean "not now" (loading its data, busy script, failover, out of memory). */
const REDIS_TRANSIENT = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|READONLY|CLUSTERDOWN|OOM) /;
/** ioredis's own errors when a connection is gone or a command gave up waiting for one. */
const CLIENT_GONE = new Set(['Connection is closed.', "Stream isn't writeable and enableOfflineQueue options is false"]);

/** Whether `err` (or an error it was caused by) is Redis or the network failing, not a bug. */
function isInfrastructureTrouble(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const errno = (e as NodeJS.ErrnoException).code;
    if (typeof errno === 'string' && NETWORK_ERRNO.has(errno)) return true;
    if (e.name === 'MaxRetriesPerRequestError' || CLIENT_GONE.has(e.message)) return true;
    if (e.name === 'ReplyError' && REDIS_TRANSIENT.test(e.message)) return true;
  }
  return false;
}

/**
 * Normalises anything thrown into a FlowgateError, keeping the original as
 * `cause`: Redis or network trouble becomes `INFRASTRUCTURE` (retryable),
 * anything else `INTERNAL`.
 */
export function toFlowgateError(err: unknown): FlowgateError {
  if (err instanceof FlowgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FlowgateError(isInfrastructureTrouble(err) ? 'INFRASTRUCTURE' : 'INTERNAL', message, { cause: err });
}

/** Whether trying again later may succeed: the error's code says ({@link ERROR_CODES}). */
export function isRetryable(err: unknown): boolean {
  return toFlowgateError(err).retryable;
}

/**
 * The causes of an error, outermost first, one line each (`message`, or
 * `Name: message` for errors of other classes): what the CLI prints as
 * `caused by:` lines. A cause that only repeats its parent's message is
 * skipped; the errors of an AggregateError are listed; at most `max` lines.
 */
export function causeLines(err: unknown, max = 10): string[] {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let previous: string | undefined;
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && !seen.has(e) && lines.length < max; e = (e as { cause?: unknown }).cause, depth++) {
    seen.add(e);
    const message = e instanceof Error ? e.message : describeCause(e);
    if (depth > 0 && message !== previous) lines.push(describeCause(e));
    previous = message;
    if (e instanceof AggregateError) for (const inner of e.errors as unknown[]) lines.push(describeCause(inner));
    if (typeof e !== 'object') break;
  }
  return lines.slice(0, max);
}

function describeCause(e: unknown): string {
  if (e instanceof FlowgateError) return e.message;
  if (e instanceof Error) return e.name === 'Error' || e.message.startsWith(`${e.name}:`) ? e.message : `${e.name}: ${e.message}`;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
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
  const limit = Math.max(2, Math.floor(input.length / 3));
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // Lengths further apart than the limit cannot be within it.
    if (Math.abs(c.length - input.length) > limit) continue;
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  // A guess that shares nothing with the input (every character replaced) is no guess.
  return bestDistance <= limit && bestDistance < input.length ? best : undefined;
}

/** Candidates compared, in all, by one {@link Guesser} (about a second of work). */
const GUESS_WORK = 2_000_000;

/**
 * "Did you mean" over one list of candidates for many inputs, with a bound
 * on the work: each guess compares the input with every candidate, so 20,000
 * unknown references among 100,000 ids took minutes. Once the bound is
 * spent the rest get no guess.
 */
export class Guesser {
  private left = GUESS_WORK;

  constructor(private readonly candidates: readonly string[]) {}

  guess(input: string): string | undefined {
    if (this.left < this.candidates.length) return undefined;
    this.left -= this.candidates.length;
    return didYouMean(input, this.candidates);
  }
}
