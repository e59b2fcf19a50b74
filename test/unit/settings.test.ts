/**
 * Service settings: flags win over FLOWGATE_* variables, which are validated
 * with zod against the flag's type; configuration lines redact secrets.
 */
import { describe, expect, it } from 'vitest';
import { Flags, parseArgs } from '../../src/cli/args.js';
import { SCHEDULER_FLAGS, SCHEDULER_SETTINGS } from '../../src/cli/scheduler-flags.js';
import { describeConfig, envSchema, withEnv } from '../../src/cli/settings.js';
import { ValidationError } from '../../src/shared/errors.js';

const flags = (argv: string[]): Flags => new Flags(parseArgs(argv, SCHEDULER_FLAGS));

describe('withEnv', () => {
  it('takes variables for flags not given, and flags over variables', () => {
    const f = withEnv(flags(['--n-procs', '3']), SCHEDULER_SETTINGS, { FLOWGATE_N_PROCS: '7', FLOWGATE_MEMORY_GB: '2.5', FLOWGATE_WORK_DIR: '/w' });
    expect(f.num('n-procs')).toBe(3);
    expect(f.num('memory-gb')).toBe(2.5);
    expect(f.str('work-dir')).toBe('/w');
    expect(f.num('leader-ttl-ms')).toBeUndefined();
  });

  it('treats empty variables as unset', () => {
    expect(withEnv(flags([]), SCHEDULER_SETTINGS, { FLOWGATE_N_PROCS: '' }).num('n-procs')).toBeUndefined();
  });

  it('lists every bad variable by name', () => {
    let err: unknown;
    try {
      withEnv(flags([]), SCHEDULER_SETTINGS, { FLOWGATE_N_PROCS: '2.5', FLOWGATE_MEMORY_GB: '-1', FLOWGATE_LEADER_TTL_MS: '10' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const fields = (err as ValidationError).issues.map((i) => i.field);
    expect(fields).toEqual(['env FLOWGATE_N_PROCS', 'env FLOWGATE_MEMORY_GB', 'env FLOWGATE_LEADER_TTL_MS']);
    expect((err as ValidationError).message).toContain('received "2.5"');
  });
});

describe('envSchema', () => {
  it('parses booleans and enums the way users write them', () => {
    const bool = envSchema({ name: 'x', type: 'boolean', help: '' });
    expect(bool.parse('YES')).toBe(true);
    expect(bool.parse('0')).toBe(false);
    expect(bool.safeParse('maybe').success).toBe(false);
    const order = envSchema({ name: 's', type: 'enum', choices: ['tsort', 'mem_thread'], help: '' });
    expect(order.parse('mem_thread')).toBe('mem_thread');
    expect(order.safeParse('fifo').success).toBe(false);
  });
});

describe('describeConfig', () => {
  it('redacts passwords and credentials in Redis URLs', () => {
    const line = describeConfig('board', { redis_url: 'redis://user:hunter2@redis:6379/0', board_password: 'hunter2', port: 3000, user: undefined });
    expect(line).not.toContain('hunter2');
    expect(line).toContain('board_password=***');
    expect(line).toContain('port=3000');
    expect(line).toContain('user=-');
  });
});
