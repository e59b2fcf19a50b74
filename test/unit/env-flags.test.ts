/**
 * One naming rule for variables: `--n-procs` is `FLOWGATE_N_PROCS` for every
 * command that has the flag; a flag beats its variable, a variable the default.
 */
import { describe, expect, it } from 'vitest';
import { Flags, parseArgs } from '../../src/cli/args.js';
import { envNameOf, envSettings, withEnvFlags } from '../../src/cli/env-flags.js';
import { RESUME_FLAGS, RUN_FLAGS } from '../../src/cli/run-flags.js';
import { SCHEDULER_SETTINGS } from '../../src/cli/scheduler-flags.js';
import { SUBMIT_FLAGS } from '../../src/cli/submit-flags.js';
import { workerSettings } from '../../src/cli/worker-flags.js';
import { ValidationError } from '../../src/shared/errors.js';

describe('variable names', () => {
  it('follow FLOWGATE_<FLAG> for run, resume, submit, scheduler and worker, with the documented exceptions', () => {
    expect(envNameOf('n-procs')).toBe('FLOWGATE_N_PROCS');
    expect(envNameOf('max-tasks-per-child')).toBe('FLOWGATE_MAX_TASKS_PER_CHILD');
    expect(envNameOf('redis-url')).toBe('REDIS_URL');
    expect(envNameOf('run-id')).toBeUndefined();
    for (const s of [...SCHEDULER_SETTINGS, ...workerSettings(), ...envSettings(RUN_FLAGS), ...envSettings(SUBMIT_FLAGS), ...envSettings(RESUME_FLAGS)]) {
      expect(s.env).toBe(envNameOf(s.flag.name));
    }
    const byFlag = new Map<string, string>();
    for (const s of [...SCHEDULER_SETTINGS, ...workerSettings(), ...envSettings(RUN_FLAGS), ...envSettings(SUBMIT_FLAGS)]) {
      expect(byFlag.get(s.flag.name) ?? s.env, s.flag.name).toBe(s.env);
      byFlag.set(s.flag.name, s.env);
    }
  });

  it('cover every run option but --run-id and the connection (read with REDIS_URL and FLOWGATE_PREFIX)', () => {
    const covered = new Set(envSettings(RUN_FLAGS).map((s) => s.flag.name));
    expect(RUN_FLAGS.map((f) => f.name).filter((n) => !covered.has(n))).toEqual(['redis-url', 'prefix', 'run-id']);
  });
});

describe('withEnvFlags', () => {
  const parse = (...argv: string[]): Flags => new Flags(parseArgs(argv, RUN_FLAGS));

  it('takes the flag over the variable and the variable over the default', async () => {
    const env = { FLOWGATE_N_PROCS: '3', FLOWGATE_WORK_DIR: '/from-env', FLOWGATE_CLEAN_ENV: 'yes' };
    const fromEnv = await withEnvFlags(parse('wf.yaml'), RUN_FLAGS, env);
    expect([fromEnv.num('n-procs'), fromEnv.str('work-dir'), fromEnv.bool('clean-env', false)]).toEqual([3, '/from-env', true]);
    const fromFlags = await withEnvFlags(parse('wf.yaml', '--n-procs', '5', '--work-dir', '/from-flag', '--no-clean-env'), RUN_FLAGS, env);
    expect([fromFlags.num('n-procs'), fromFlags.str('work-dir'), fromFlags.bool('clean-env', true)]).toEqual([5, '/from-flag', false]);
    const defaults = await withEnvFlags(parse('wf.yaml'), RUN_FLAGS, {});
    expect([defaults.num('n-procs'), defaults.str('work-dir')]).toEqual([undefined, undefined]);
  });

  it('names every bad variable, exit 2, and ignores FLOWGATE_RUN_ID (set in every node)', async () => {
    const err = await withEnvFlags(parse('wf.yaml'), RUN_FLAGS, { FLOWGATE_N_PROCS: 'many', FLOWGATE_SCHEDULER: 'fifo', FLOWGATE_RUN_ID: 'x:y' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).exitCode).toBe(2);
    expect((err as ValidationError).issues.map((i) => i.field)).toEqual(['env FLOWGATE_N_PROCS', 'env FLOWGATE_SCHEDULER']);
  });
});
