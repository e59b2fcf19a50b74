/**
 * The error hierarchy: exit codes, issue formatting, normalisation and the
 * "did you mean" helper every validator uses.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ERROR_CODES,
  ExitCode,
  FlowgateError,
  ValidationError,
  causeLines,
  didYouMean,
  editDistance,
  Guesser,
  isRetryable,
  formatIssue,
  toFlowgateError,
  type ErrorCode,
} from '../../src/shared/errors.js';

/** The README's error code table: code -> exit code and retryability. */
function documentedCodes(): Map<string, { exitCode: number; retryable: boolean }> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = new Map<string, { exitCode: number; retryable: boolean }>();
  for (const m of readme.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (yes|no) \|/gm)) {
    rows.set(m[1] as string, { exitCode: Number(m[2]), retryable: m[3] === 'yes' });
  }
  return rows;
}

describe('FlowgateError', () => {
  it.each([
    ['WORKFLOW_INVALID', 2, false],
    ['WORKFLOW_CYCLE', 2, false],
    ['OPTIONS_INVALID', 2, false],
    ['NODE_EXCEEDS_BUDGET', 2, false],
    ['RUN_NOT_FOUND', 2, false],
    ['RUN_EXISTS', 2, false],
    ['RUN_CONFLICT', 2, true],
    ['RUN_REJECTED', 2, false],
    ['REDIS_UNREACHABLE', 3, true],
    ['INFRASTRUCTURE', 3, true],
    ['LEASE_LOST', 3, true],
    ['COMMAND_FAILED', 1, false],
    ['WORKER_LOST', 1, true],
    ['INTERNAL', 3, false],
  ] as Array<[ErrorCode, number, boolean]>)('%s exits with %i (retryable: %s)', (code, exit, retryable) => {
    const err = new FlowgateError(code, 'x');
    expect(err.exitCode).toBe(exit);
    expect(err.retryable).toBe(retryable);
    expect(new ValidationError(code, [{ message: 'x' }]).exitCode).toBe(exit);
  });

  it('has one table entry per code, each exit code a documented one, and the README lists exactly that table', () => {
    const exitCodes = new Set<number>(Object.values(ExitCode));
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(exitCodes.has(spec.exitCode), code).toBe(true);
      expect(typeof spec.retryable, code).toBe('boolean');
    }
    expect(Object.fromEntries(documentedCodes())).toEqual(ERROR_CODES);
  });

  it('documents the exit codes', () => {
    expect(ExitCode).toEqual({ ok: 0, runFailed: 1, invalidInput: 2, infrastructure: 3, interrupted: 130 });
  });

  it('keeps the cause', () => {
    const cause = new Error('low level');
    const err = new FlowgateError('INFRASTRUCTURE', 'high level', { cause });
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('FlowgateError');
    expect(err).toBeInstanceOf(Error);
  });

  it('normalises anything thrown', () => {
    const original = new FlowgateError('COMMAND_FAILED', 'x');
    expect(toFlowgateError(original)).toBe(original);
    const wrapped = toFlowgateError(new TypeError('bad'));
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).toBe('bad');
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    expect(toFlowgateError('a string').message).toBe('a string');
  });
});

describe('normalisation and retryability', () => {
  it('takes Redis and network trouble for infrastructure (retryable), anything else for a bug', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(toFlowgateError(refused).code).toBe('INFRASTRUCTURE');
    expect(toFlowgateError(new Error('Connection is closed.')).code).toBe('INFRASTRUCTURE');
    expect(toFlowgateError(Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' })).code).toBe('INFRASTRUCTURE');
    expect(toFlowgateError(Object.assign(new Error('LOADING Redis is loading the dataset in memory'), { name: 'ReplyError' })).code).toBe('INFRASTRUCTURE');
    expect(toFlowgateError(new Error('step failed', { cause: refused })).code).toBe('INFRASTRUCTURE');
    expect(toFlowgateError(Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' })).code).toBe('INTERNAL');
    expect(toFlowgateError(new TypeError('x is undefined')).code).toBe('INTERNAL');
    expect(isRetryable(refused)).toBe(true);
    expect(isRetryable(new TypeError('x'))).toBe(false);
    expect(isRetryable(new FlowgateError('RUN_CONFLICT', 'held'))).toBe(true);
    expect(isRetryable(new ValidationError('RUN_EXISTS', [{ message: 'exists' }]))).toBe(false);
  });
});

describe('causeLines', () => {
  it('lists the causes outermost first, skipping one that only repeats its parent', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const mid = new TypeError('cannot open the queue', { cause: root });
    const top = new FlowgateError('INFRASTRUCTURE', 'the run stops here', { cause: mid });
    expect(causeLines(top)).toEqual(['TypeError: cannot open the queue', 'connect ECONNREFUSED 127.0.0.1:1']);
    expect(causeLines(toFlowgateError(root))).toEqual([]);
    expect(causeLines(new FlowgateError('INTERNAL', 'x'))).toEqual([]);
    expect(causeLines(new FlowgateError('INTERNAL', 'x', { cause: { code: 'E_BAD' } }))).toEqual(['{"code":"E_BAD"}']);
    expect(causeLines(new FlowgateError('INTERNAL', 'x', { cause: 'plain words' }))).toEqual(['plain words']);
  });

  it('lists the errors of an AggregateError, survives a cycle and stops at max', () => {
    const agg = new AggregateError([new Error('one'), new Error('two')], 'errors while closing');
    expect(causeLines(toFlowgateError(agg))).toEqual(['one', 'two']);
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(causeLines(new FlowgateError('INTERNAL', 'top', { cause: a }))).toEqual(['a', 'b']);
    let deep: Error = new Error('0');
    for (let i = 1; i < 30; i++) deep = new Error(String(i), { cause: deep });
    expect(causeLines(new FlowgateError('INTERNAL', 'top', { cause: deep }), 5)).toHaveLength(5);
  });
});

describe('ValidationError and formatIssue', () => {
  it('formats file:line:col, node, field and message', () => {
    expect(formatIssue({ file: 'wf.yaml', line: 3, column: 7, node: 'a', field: 'nodes[0].mem_gb', message: 'bad' })).toBe(
      'wf.yaml:3:7: node "a", field "nodes[0].mem_gb": bad',
    );
    expect(formatIssue({ file: 'wf.yaml', line: 3, message: 'bad' })).toBe('wf.yaml:3: bad');
    expect(formatIssue({ file: 'wf.yaml', message: 'bad' })).toBe('wf.yaml: bad');
    expect(formatIssue({ field: '--n-procs', message: 'bad' })).toBe('field "--n-procs": bad');
    expect(formatIssue({ node: 'a', message: 'bad' })).toBe('node "a": bad');
    expect(formatIssue({ message: 'bad' })).toBe('bad');
    // A line without a file is not printed on its own.
    expect(formatIssue({ line: 3, column: 1, message: 'bad' })).toBe('bad');
  });

  it('lists at most SHOWN issues in the message but keeps them all', () => {
    const issues = Array.from({ length: ValidationError.SHOWN + 3 }, (_, i) => ({ message: `problem ${i}` }));
    const err = new ValidationError('WORKFLOW_INVALID', issues);
    expect(err.issues).toHaveLength(ValidationError.SHOWN + 3);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(ValidationError.SHOWN + 1);
    expect(lines[ValidationError.SHOWN - 1]).toBe(`problem ${ValidationError.SHOWN - 1}`);
    expect(lines[ValidationError.SHOWN]).toBe('… and 3 more problems');
    const exact = new ValidationError('WORKFLOW_INVALID', issues.slice(0, ValidationError.SHOWN));
    expect(exact.message.split('\n')).toHaveLength(ValidationError.SHOWN);
  });

  it('joins one line per issue', () => {
    const err = new ValidationError('WORKFLOW_INVALID', [
      { file: 'a.json', message: 'one' },
      { file: 'a.json', node: 'n', message: 'two' },
    ]);
    expect(err.message).toBe('a.json: one\na.json: node "n": two');
    expect(err.name).toBe('ValidationError');
    expect(err).toBeInstanceOf(FlowgateError);
    expect(err.issues).toHaveLength(2);
  });
});

describe('didYouMean / editDistance', () => {
  it('computes Levenshtein distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', '')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
    expect(editDistance('nprocs', 'n_procs')).toBe(1);
  });

  it('suggests the closest candidate within the typo limit', () => {
    expect(didYouMean('nprocs', ['id', 'command', 'needs', 'n_procs', 'mem_gb', 'env'])).toBe('n_procs');
    expect(didYouMean('need', ['id', 'command', 'needs', 'n_procs', 'mem_gb', 'env'])).toBe('needs');
    expect(didYouMean('MEM_GB', ['n_procs', 'mem_gb'])).toBe('mem_gb');
    expect(didYouMean('zzzzzzzz', ['n_procs', 'mem_gb'])).toBeUndefined();
    expect(didYouMean('x', [])).toBeUndefined();
    // A guess that keeps nothing of the input is not made.
    expect(didYouMean('zz', ['a', 'b'])).toBeUndefined();
    expect(didYouMean('b', ['a'])).toBeUndefined();
    expect(didYouMean('ab', ['a', 'c'])).toBe('a');
  });

  it('guesses over many inputs within a bound on the work, then not at all', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `node${i}`);
    const g = new Guesser(ids);
    const inputs = Array.from({ length: 25 }, (_, i) => `nodee${i * 7}`);
    const guesses = inputs.map((x) => g.guess(x));
    // 2,000,000 comparisons: 20 guesses over 100,000 ids, each what didYouMean says.
    expect(guesses.slice(0, 20)).toEqual(inputs.slice(0, 20).map((x) => didYouMean(x, ids)));
    expect(guesses.slice(0, 20).every((x) => x !== undefined)).toBe(true);
    expect(guesses.slice(20)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    // A short list is never exhausted in practice.
    const small = new Guesser(['n_procs', 'mem_gb']);
    expect(Array.from({ length: 1_000 }, () => small.guess('nprocs')).every((x) => x === 'n_procs')).toBe(true);
  });

  it('rejects 3 edits on a short word but allows a third of the length on long ones', () => {
    expect(didYouMean('abc', ['xyz'])).toBeUndefined();
    expect(didYouMean('raise-insuficent', ['raise-insufficient'])).toBe('raise-insufficient');
  });
});
