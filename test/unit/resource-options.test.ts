/**
 * The named-resource budget and placement options: `--resource NAME=N`
 * (repeatable), `--n-gpu-procs N` (nipype's n_gpu_procs, `gpu=N`), the API's
 * `resources`/`n_gpu_procs`, the service's `--placement` and run's `--fleet`,
 * compiled once with errors naming the flag (or option, or variable).
 */
import { describe, expect, it } from 'vitest';
import { Flags, parseArgs } from '../../src/cli/args.js';
import { completionScript } from '../../src/cli/completion.js';
import { withEnvFlags } from '../../src/cli/env-flags.js';
import { RESUME_FLAGS, RUN_FLAGS } from '../../src/cli/run-flags.js';
import { SCHEDULER_FLAGS, SCHEDULER_SETTINGS } from '../../src/cli/scheduler-flags.js';
import { withEnv } from '../../src/cli/settings.js';
import { SUBMIT_FLAGS } from '../../src/cli/submit-flags.js';
import { ValidationError } from '../../src/shared/errors.js';
import { flagField } from '../../src/shared/options/compile.js';
import { FLEETS, PLACEMENTS } from '../../src/shared/options/defaults.js';
import { compileResumeOptions, compileRunOptions } from '../../src/shared/options/run.js';
import { compileSchedulerOptions } from '../../src/shared/options/scheduler.js';
import type { FlagSpec } from '../../src/cli/args.js';
import { catchError } from './support.js';

/** `flowgate run ARGV`'s compiled options. */
const runFlags = (argv: string[], specs: readonly FlagSpec[] = RUN_FLAGS) => compileRunOptions(new Flags(parseArgs(argv, specs)).options(), flagField);
/** The one issue of a bad `flowgate run ARGV`. */
const runIssue = (argv: string[]) => {
  const err = catchError(() => runFlags(argv), ValidationError);
  expect(err.code).toBe('OPTIONS_INVALID');
  expect(err.issues).toHaveLength(1);
  return err.issues[0];
};

describe('--resource and --n-gpu-procs', () => {
  it('compile to resources, {} when neither is given', () => {
    expect(runFlags([]).resources).toEqual({});
    expect(runFlags(['--resource', 'gpu=2']).resources).toEqual({ gpu: 2 });
  });

  it('take repeated flags and comma lists together, dropping zero counts', () => {
    expect(runFlags(['--resource', 'gpu=2', '--resource', 'licence_x=1,tpu=0']).resources).toEqual({ gpu: 2, licence_x: 1 });
    expect(runFlags(['--resource=gpu=1', '--resource', 'scratch=3']).resources).toEqual({ gpu: 1, scratch: 3 });
  });

  it('read --n-gpu-procs N as gpu=N, and agreeing counts given both ways', () => {
    expect(runFlags(['--n-gpu-procs', '2']).resources).toEqual({ gpu: 2 });
    expect(runFlags(['--n-gpu-procs', '2', '--resource', 'gpu=2,lic=1']).resources).toEqual({ gpu: 2, lic: 1 });
    expect(runFlags(['--n-gpu-procs', '0']).resources).toEqual({});
  });

  it('refuse different gpu counts from the two flags, naming both', () => {
    expect(runIssue(['--resource', 'gpu=1', '--n-gpu-procs', '2'])).toEqual({ field: '--n-gpu-procs', message: 'gives gpu=2, but --resource gives gpu=1; give each count once (--n-gpu-procs N is gpu=N)' });
    // A zero is a count too: `gpu=0` and `--n-gpu-procs 2` disagree.
    expect(runIssue(['--resource', 'gpu=0', '--n-gpu-procs', '2'])?.message).toContain('--resource gives gpu=0');
  });

  it('name the flag and the resource of a bad count, name or pair', () => {
    expect(runIssue(['--resource', 'gpu=x'])).toEqual({ field: '--resource', message: '"gpu" must be a whole number of slots from 0 to 4096, received "x"' });
    expect(runIssue(['--resource', 'gpu=1.5'])?.message).toBe('"gpu" must be a whole number of slots from 0 to 4096, received "1.5"');
    expect(runIssue(['--resource', 'gpu=4097'])?.message).toBe('"gpu" must be a whole number of slots from 0 to 4096, received "4097"');
    expect(runIssue(['--resource', 'gpu=-1'])?.message).toBe('"gpu" must be a whole number of slots from 0 to 4096, received "-1"');
    expect(runIssue(['--resource', 'GPU=1'])?.message).toBe('"GPU" is not a resource name (lower-case letters, digits and _, starting with a letter, at most 32)');
    expect(runIssue(['--resource', 'n_procs=4'])?.message).toBe('"n_procs" is not a named resource (threads and memory are budgeted as n_procs and mem_gb)');
    expect(runIssue(['--resource', 'gpu'])?.message).toBe('"gpu" is not KEY=VALUE');
    expect(runIssue(['--resource', 'gpu=1', '--resource', 'gpu=2'])?.message).toBe('"gpu" is given twice');
    expect(runIssue(['--n-gpu-procs', '4097'])).toEqual({ field: '--n-gpu-procs', message: 'must be at most 4096, received 4097' });
  });

  it('are flags of run, resume and submit, and come from FLOWGATE_RESOURCE and FLOWGATE_N_GPU_PROCS', async () => {
    for (const specs of [RUN_FLAGS, RESUME_FLAGS, SUBMIT_FLAGS]) expect(specs.map((f) => f.name)).toEqual(expect.arrayContaining(['resource', 'n-gpu-procs']));
    const resumed = compileResumeOptions(new Flags(parseArgs(['--resource', 'gpu=1'], RESUME_FLAGS)).options(), flagField);
    expect(resumed.resources).toEqual({ gpu: 1 });
    const fromEnv = await withEnvFlags(new Flags(parseArgs([], RUN_FLAGS)), RUN_FLAGS, { FLOWGATE_RESOURCE: 'gpu=2,lic=1' });
    expect(compileRunOptions(fromEnv.options(), flagField).resources).toEqual({ gpu: 2, lic: 1 });
    // The flag beats its variable.
    const both = await withEnvFlags(new Flags(parseArgs(['--resource', 'gpu=1'], RUN_FLAGS)), RUN_FLAGS, { FLOWGATE_RESOURCE: 'gpu=2' });
    expect(compileRunOptions(both.options(), flagField).resources).toEqual({ gpu: 1 });
    await expect(withEnvFlags(new Flags(parseArgs([], RUN_FLAGS)), RUN_FLAGS, { FLOWGATE_N_GPU_PROCS: 'two' })).rejects.toMatchObject({
      issues: [{ field: 'env FLOWGATE_N_GPU_PROCS', message: 'expected a whole number, received "two"' }],
    });
  });
});

describe('the API: resources and n_gpu_procs', () => {
  it('compile to the same resources', () => {
    expect(compileRunOptions({ resources: { gpu: 2, licence_x: 0 } }).resources).toEqual({ gpu: 2 });
    expect(compileRunOptions({ n_gpu_procs: 1 }).resources).toEqual({ gpu: 1 });
    expect(compileResumeOptions({ resources: { gpu: 1 } }).resources).toEqual({ gpu: 1 });
  });

  it('name the option and the resource of a bad entry, and both options when they disagree', () => {
    const bad = catchError(() => compileRunOptions({ resources: { gpu: 1.5, GPU: 1 }, n_gpu_procs: -1 }), ValidationError);
    expect(bad.issues).toEqual([
      { field: 'resources.gpu', message: '"gpu" must be a whole number of slots from 0 to 4096, received 1.5' },
      { field: 'resources.GPU', message: '"GPU" is not a resource name (lower-case letters, digits and _, starting with a letter, at most 32)' },
      { field: 'n_gpu_procs', message: 'must be at least 0, received -1' },
    ]);
    expect(catchError(() => compileRunOptions({ resources: { gpu: 1 }, n_gpu_procs: 3 }), ValidationError).issues).toEqual([
      { field: 'n_gpu_procs', message: 'gives gpu=3, but resources gives gpu=1; give each count once (n_gpu_procs N is gpu=N)' },
    ]);
  });
});

describe('flowgate run --fleet', () => {
  it('is local by default, external when asked, and nothing else', () => {
    expect(runFlags([]).fleet).toBe('local');
    expect(runFlags(['--fleet', 'external']).fleet).toBe('external');
    expect(runIssue(['--fleet', 'remote'])).toEqual({ field: '--fleet', message: 'expected one of local, external, received "remote"' });
    expect(RUN_FLAGS.find((f) => f.name === 'fleet')?.choices).toBe(FLEETS);
    expect(RUN_FLAGS.find((f) => f.name === 'fleet')?.help).toBe('external: start no workers; use the workers already registered on this Redis and place nodes per host (default local)');
  });
});

describe('flowgate scheduler: --resource, --n-gpu-procs and --placement', () => {
  const compile = (argv: string[], env: NodeJS.ProcessEnv = {}) => compileSchedulerOptions(withEnv(new Flags(parseArgs(argv, SCHEDULER_FLAGS)), SCHEDULER_SETTINGS, env).options());

  it('compile resources and placement, pool and {} by default', () => {
    expect(compile([])).toMatchObject({ resources: {}, placement: 'pool' });
    expect(compile(['--placement', 'hosts', '--resource', 'gpu=4', '--n-gpu-procs', '4'])).toMatchObject({ resources: { gpu: 4 }, placement: 'hosts' });
    expect(compile([], { FLOWGATE_PLACEMENT: 'hosts', FLOWGATE_RESOURCE: 'gpu=2', FLOWGATE_N_GPU_PROCS: '2' })).toMatchObject({ resources: { gpu: 2 }, placement: 'hosts' });
  });

  it('name the flag or the variable of a bad value', () => {
    expect(catchError(() => compile(['--placement', 'cluster']), ValidationError).issues).toEqual([{ field: '--placement', message: 'expected one of pool, hosts, received "cluster"' }]);
    expect(catchError(() => compile([], { FLOWGATE_PLACEMENT: 'cluster' }), ValidationError).issues[0]?.field).toBe('env FLOWGATE_PLACEMENT');
    expect(catchError(() => compile(['--resource', 'gpu=1', '--n-gpu-procs', '2']), ValidationError).issues).toEqual([
      { field: '--n-gpu-procs', message: 'gives gpu=2, but --resource gives gpu=1; give each count once (--n-gpu-procs N is gpu=N)' },
    ]);
  });

  it('say what each placement means in --help, and complete its choices', async () => {
    const placement = SCHEDULER_FLAGS.find((f) => f.name === 'placement');
    expect(placement?.choices).toBe(PLACEMENTS);
    expect(placement?.help).toContain("pool: one budget for every worker (one host); hosts: one ledger per registered host, each node placed on one host (see the README's multi-host section)");
    const bash = await completionScript('bash');
    expect(bash).toContain('--placement) COMPREPLY=($(compgen -W "pool hosts"');
    expect(bash).toContain('--fleet) COMPREPLY=($(compgen -W "local external"');
    expect(bash).toMatch(/scheduler\) opts="[^"]*--resource --n-gpu-procs --placement/);
  });
});
