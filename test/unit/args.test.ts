/**
 * The CLI flag parser: forms of flags, negation, value checks, and error
 * messages that name the flag.
 */
import { describe, expect, it } from 'vitest';
import { Flags, formatFlags, parseArgs, type FlagSpec } from '../../src/cli/args.js';
import { ValidationError } from '../../src/shared/errors.js';
import { catchError } from './support.js';

/** Specs shaped like `flowgate run`'s. */
const SPECS: readonly FlagSpec[] = [
  { name: 'n-procs', type: 'int', min: 1, value: 'N', help: 'thread budget' },
  { name: 'memory-gb', type: 'number', positive: true, value: 'G', help: 'memory budget in GB' },
  { name: 'raise-insufficient', type: 'boolean', negatable: true, help: 'refuse oversized nodes' },
  { name: 'scheduler', type: 'enum', choices: ['tsort', 'mem_thread'], value: 'tsort|mem_thread', help: 'ready-node order' },
  { name: 'json', type: 'boolean', help: 'print JSON' },
  { name: 'work-dir', type: 'string', value: 'DIR', help: 'node directories' },
  { name: 'interval-ms', type: 'int', min: 100, help: 'sweep period' },
  { name: 'ratio', type: 'number', min: 0.5, help: 'a ratio' },
  { name: 'big', type: 'int', min: 1, max: 1_000_000, help: 'bounded int' },
  { name: 'size-gb', type: 'number', positive: true, max: 1024, help: 'bounded number' },
];

const parse = (...argv: string[]): ReturnType<typeof parseArgs> => parseArgs(argv, SPECS);
const flags = (...argv: string[]): Record<string, unknown> => Object.fromEntries(parse(...argv).flags);

/** Parses, expects OPTIONS_INVALID with a single issue, and returns it as [field, message]. */
function failure(...argv: string[]): [string | undefined, string] {
  const err = catchError(() => parse(...argv), ValidationError);
  expect(err.code).toBe('OPTIONS_INVALID');
  expect(err.exitCode).toBe(2);
  expect(err.issues).toHaveLength(1);
  const issue = err.issues[0];
  expect(err.message).toBe(`field "${String(issue?.field)}": ${String(issue?.message)}`);
  return [issue?.field, issue?.message ?? ''];
}

describe('parseArgs: accepted forms', () => {
  it('parses every type in the --x value form, keeping positionals', () => {
    const r = parse('wf.yaml', '--n-procs', '4', '--memory-gb', '2.5', '--scheduler', 'mem_thread', '--work-dir', 'out', 'extra');
    expect(Object.fromEntries(r.flags)).toEqual({ 'n-procs': 4, 'memory-gb': 2.5, scheduler: 'mem_thread', 'work-dir': 'out' });
    expect(r.positionals).toEqual(['wf.yaml', 'extra']);
  });

  it('parses the --x=value form', () => {
    expect(flags('--n-procs=8', '--memory-gb=0.5', '--scheduler=tsort', '--work-dir=a=b')).toEqual({
      'n-procs': 8,
      'memory-gb': 0.5,
      scheduler: 'tsort',
      'work-dir': 'a=b',
    });
  });

  it('sets booleans, and --no-x negates a negatable one', () => {
    expect(flags('--json', '--raise-insufficient')).toEqual({ json: true, 'raise-insufficient': true });
    expect(flags('--no-raise-insufficient')).toEqual({ 'raise-insufficient': false });
    expect(flags('--raise-insufficient=false', '--json=true')).toEqual({ 'raise-insufficient': false, json: true });
    expect(flags('--no-raise-insufficient=false')).toEqual({ 'raise-insufficient': true });
  });

  it('lets the last occurrence win', () => {
    expect(flags('--raise-insufficient', '--no-raise-insufficient')).toEqual({ 'raise-insufficient': false });
    expect(flags('--n-procs', '2', '--n-procs=6')).toEqual({ 'n-procs': 6 });
  });

  it('treats everything after -- as positional, and a lone - as positional', () => {
    const r = parse('--json', '--', '--n-procs', 'x', '-v');
    expect(Object.fromEntries(r.flags)).toEqual({ json: true });
    expect(r.positionals).toEqual(['--n-procs', 'x', '-v']);
    expect(parse('-').positionals).toEqual(['-']);
  });

  it('accepts a negative-looking value for a flag that takes one, then checks it', () => {
    expect(failure('--memory-gb', '-1')).toEqual(['--memory-gb', 'must be greater than 0, received -1']);
  });

  it('accepts values at the minimum', () => {
    expect(flags('--n-procs', '1', '--interval-ms', '100', '--ratio', '0.5')).toEqual({ 'n-procs': 1, 'interval-ms': 100, ratio: 0.5 });
  });

  it('returns empty results for no arguments', () => {
    const r = parse();
    expect(r.flags.size).toBe(0);
    expect(r.positionals).toEqual([]);
  });
});

describe('parseArgs: errors name the flag', () => {
  it('rejects an unknown flag with a did-you-mean hint', () => {
    expect(failure('--nprocs', '4')).toEqual(['--nprocs', 'unknown option (did you mean --n-procs?)']);
    expect(failure('--memroy-gb=4')).toEqual(['--memroy-gb', 'unknown option (did you mean --memory-gb?)']);
    expect(failure('--raise-insuficient')).toEqual(['--raise-insuficient', 'unknown option (did you mean --raise-insufficient?)']);
  });

  it('suggests the negated form of a negatable flag', () => {
    expect(failure('--no-raise-insuficient')).toEqual(['--no-raise-insuficient', 'unknown option (did you mean --no-raise-insufficient?)']);
  });

  it('gives no hint when nothing is close', () => {
    expect(failure('--frobnicate')).toEqual(['--frobnicate', 'unknown option']);
  });

  it('accepts --no-x for every boolean, so a flag can override the variable that set it', () => {
    expect(flags('--no-json')).toEqual({ json: false });
    expect(failure('--no-jsn')).toEqual(['--no-jsn', 'unknown option (did you mean --no-json?)']);
  });

  it('takes a flag-or-number value inline only, never from the next argument', () => {
    const specs: FlagSpec[] = [{ name: 'enforce-memory', type: 'flag-or-number', bareValue: 0.1, min: 0, value: 'MARGIN', help: 'margin' }];
    expect(Object.fromEntries(parseArgs(['--enforce-memory', 'wf.yaml'], specs).flags)).toEqual({ 'enforce-memory': 0.1 });
    expect(parseArgs(['--enforce-memory', 'wf.yaml'], specs).positionals).toEqual(['wf.yaml']);
    expect(Object.fromEntries(parseArgs(['--enforce-memory=0.5'], specs).flags)).toEqual({ 'enforce-memory': 0.5 });
  });

  it('rejects short options', () => {
    expect(failure('-n', '4')).toEqual(['-n', 'unknown option (flowgate uses long options, e.g. --n-procs)']);
  });

  it('reports a missing value, at the end or before another flag', () => {
    expect(failure('--n-procs')).toEqual(['--n-procs', 'needs a value (N)']);
    expect(failure('--work-dir', '--json')).toEqual(['--work-dir', 'needs a value (DIR)']);
    expect(failure('--interval-ms')).toEqual(['--interval-ms', 'needs a value']);
  });

  it('validates whole numbers', () => {
    expect(failure('--n-procs', 'four')).toEqual(['--n-procs', 'expected a whole number, received "four"']);
    expect(failure('--n-procs', '2.5')).toEqual(['--n-procs', 'expected a whole number, received "2.5"']);
    expect(failure('--n-procs=')).toEqual(['--n-procs', 'expected a whole number, received ""']);
    expect(failure('--n-procs', ' ')).toEqual(['--n-procs', 'expected a whole number, received " "']);
    expect(failure('--n-procs', '0')).toEqual(['--n-procs', 'must be at least 1, received 0']);
    expect(failure('--interval-ms', '50')).toEqual(['--interval-ms', 'must be at least 100, received 50']);
  });

  it('validates numbers', () => {
    expect(failure('--memory-gb', 'lots')).toEqual(['--memory-gb', 'expected a number, received "lots"']);
    expect(failure('--memory-gb', 'Infinity')).toEqual(['--memory-gb', 'expected a number, received "Infinity"']);
    expect(failure('--memory-gb=0')).toEqual(['--memory-gb', 'must be greater than 0, received 0']);
    expect(failure('--ratio', '0.25')).toEqual(['--ratio', 'must be at least 0.5, received 0.25']);
  });

  it('validates maxima, naming the limit, also for numbers too large to be exact', () => {
    expect(flags('--big', '1000000', '--size-gb', '1024')).toEqual({ big: 1_000_000, 'size-gb': 1024 });
    expect(failure('--big', '1000001')).toEqual(['--big', 'must be at most 1000000, received 1000001']);
    expect(failure('--big', '1'.repeat(40))).toEqual(['--big', `must be at most 1000000, received ${'1'.repeat(40)}`]);
    expect(failure('--n-procs', '1'.repeat(40))).toEqual(['--n-procs', `expected a whole number of at most 15 digits, received "${'1'.repeat(40)}"`]);
    expect(failure('--size-gb', '1e308')).toEqual(['--size-gb', 'must be at most 1024, received 1e308']);
    expect(failure('--size-gb', '1e999')).toEqual(['--size-gb', 'must be at most 1024, received 1e999']);
    expect(failure('--memory-gb', '1e999')).toEqual(['--memory-gb', 'expected a finite number, received "1e999"']);
    expect(flags('--memory-gb', '2e3')).toEqual({ 'memory-gb': 2000 });
  });

  it('bounds the budgets of run and scheduler: n-procs at most 1000000, memory-gb at most 1048576', async () => {
    const { RUN_FLAGS } = await import('../../src/cli/run-flags.js');
    const { SCHEDULER_FLAGS } = await import('../../src/cli/scheduler-flags.js');
    for (const specs of [RUN_FLAGS, SCHEDULER_FLAGS]) {
      const err = catchError(() => parseArgs(['--n-procs', '1000001'], specs), ValidationError);
      expect(err.issues[0]?.message).toBe('must be at most 1000000, received 1000001');
      const mem = catchError(() => parseArgs(['--memory-gb', '1e308'], specs), ValidationError);
      expect(mem.issues[0]?.message).toBe('must be at most 1048576, received 1e308');
    }
  });

  it('validates enums, listing the choices', () => {
    expect(failure('--scheduler', 'fifo')).toEqual(['--scheduler', 'expected one of tsort, mem_thread, received "fifo"']);
    expect(failure('--scheduler=TSORT')).toEqual(['--scheduler', 'expected one of tsort, mem_thread, received "TSORT"']);
  });

  it('rejects an empty string value and a non-boolean boolean', () => {
    expect(failure('--work-dir=')).toEqual(['--work-dir', 'must not be empty']);
    expect(failure('--json=yes')).toEqual(['--json', 'expected true or false, received "yes"']);
    expect(failure('--no-raise-insufficient=1')).toEqual(['--raise-insufficient', 'expected true or false, received "1"']);
  });
});

describe('Flags and formatFlags', () => {
  it('reads typed values with fallbacks', () => {
    const f = new Flags(parse('wf.yaml', '--n-procs', '3', '--no-raise-insufficient', '--scheduler', 'mem_thread'));
    expect(f.positionals).toEqual(['wf.yaml']);
    expect(f.num('n-procs')).toBe(3);
    expect(f.num('scheduler')).toBeUndefined();
    expect(f.str('scheduler')).toBe('mem_thread');
    expect(f.str('n-procs')).toBeUndefined();
    expect(f.bool('raise-insufficient', true)).toBe(false);
    expect(f.bool('json', true)).toBe(true);
    expect(f.bool('json', false)).toBe(false);
    expect(f.has('n-procs')).toBe(true);
    expect(f.has('memory-gb')).toBe(false);
  });

  it('formats help with aligned columns and the --no- form', () => {
    const text = formatFlags([
      { name: 'n-procs', type: 'int', value: 'N', help: 'thread budget' },
      { name: 'raise-insufficient', type: 'boolean', negatable: true, help: 'refuse oversized nodes' },
    ]);
    const long = '--raise-insufficient, --no-raise-insufficient';
    expect(long).toHaveLength(45);
    expect(text).toBe(`  ${'--n-procs N'.padEnd(45)}  thread budget\n  ${long}  refuse oversized nodes`);
    expect(text.split('\n').map((l) => l.search(/ {2}(thread|refuse)/))).toEqual([47, 47]);
  });
});
