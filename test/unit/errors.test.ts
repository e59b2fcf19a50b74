/**
 * The error hierarchy: exit codes, issue formatting, normalisation and the
 * "did you mean" helper every validator uses.
 */
import { describe, expect, it } from 'vitest';
import {
  ExitCode,
  FlowgateError,
  ValidationError,
  didYouMean,
  editDistance,
  formatIssue,
  toFlowgateError,
  type ErrorCode,
} from '../../src/shared/errors.js';

describe('FlowgateError', () => {
  it.each([
    ['WORKFLOW_INVALID', 2],
    ['WORKFLOW_CYCLE', 2],
    ['OPTIONS_INVALID', 2],
    ['NODE_EXCEEDS_BUDGET', 2],
    ['RUN_NOT_FOUND', 2],
    ['REDIS_UNREACHABLE', 3],
    ['INFRASTRUCTURE', 3],
    ['COMMAND_FAILED', 1],
    ['WORKER_LOST', 1],
    ['INTERNAL', 1],
  ] as Array<[ErrorCode, number]>)('%s exits with %i', (code, exit) => {
    expect(new FlowgateError(code, 'x').exitCode).toBe(exit);
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
  });

  it('rejects 3 edits on a short word but allows a third of the length on long ones', () => {
    expect(didYouMean('abc', ['xyz'])).toBeUndefined();
    expect(didYouMean('raise-insuficent', ['raise-insufficient'])).toBe('raise-insufficient');
  });
});
