/**
 * The command line: per-command help with defaults, variables and examples,
 * the version flag, variables for every run option under one naming rule
 * (flag > variable > default), workflows from stdin, and shell completion.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { Redis } from 'ioredis';
import { Keys } from '../../src/shared/keys.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

const ONE_NODE = 'name: one\nnodes:\n  - id: a\n    command: ["true"]\n';

describe('flowgate <command> --help', () => {
  it.each(['run', 'submit', 'scheduler', 'worker'])('%s --help and -h print its usage, options with defaults and variables, and examples', async (command) => {
    for (const flag of ['--help', '-h']) {
      const res = await runCli([command, flag]);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Usage: flowgate ${command}`);
      expect(res.stdout).toContain('Examples:');
      expect(res.stdout).toMatch(/\(env:\s+REDIS_URL\)/);
      expect(res.stdout).toMatch(/\(default[ :]/);
      if (command !== 'submit') expect(res.stdout).toMatch(/\(env:\s+FLOWGATE_N_PROCS\)|\(env:\s+FLOWGATE_WORKER_CONCURRENCY\)/);
    }
  });

  it('run --help names the variable of every option but --run-id', async () => {
    const res = await runCli(['run', '--help', 'wf.yaml']);
    expect(res.code).toBe(0);
    for (const env of ['FLOWGATE_N_PROCS', 'FLOWGATE_MEMORY_GB', 'FLOWGATE_WORK_DIR', 'FLOWGATE_SCHEDULER', 'FLOWGATE_RETAIN_RUNS']) expect(res.stdout).toContain(env);
    expect(res.stdout).not.toContain('FLOWGATE_RUN_ID');
  });

  it('help <command> is the same as <command> --help; -V and --version print the version', async () => {
    const [a, b] = await Promise.all([runCli(['help', 'prune']), runCli(['prune', '--help'])]);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toContain('--older-than');
    for (const flag of ['-V', '--version']) expect((await runCli([flag])).stdout).toMatch(/^flowgate \d+\.\d+\.\d+\n$/);
  });

  it('-n is run --dry-run: in its help, and it runs nothing', async () => {
    const help = await runCli(['run', '--help']);
    expect(help.stdout).toMatch(/-n, --dry-run\s/);
    const dir = tempDir('fg-n');
    const wf = writeWorkflow(dir, 'wf.yaml', ONE_NODE);
    const res = await runCli(['run', wf, '-n', '--json', '--n-procs', '1', '--memory-gb', '1'], { env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ counts: { would_run: 1, cached: 0, total: 1 } });
    expect(existsSync(join(dir, 'flowgate-work'))).toBe(false);
    const unknown = await runCli(['run', wf, '-x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('short: -n (--dry-run)');
  });

  it('still names an unknown flag with a did-you-mean, exit 2', async () => {
    const res = await runCli(['run', 'wf.yaml', '--nprocs', '2']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('field "--nprocs": unknown option (did you mean --n-procs?)');
  });
});

describe('run options from variables: FLOWGATE_<FLAG>', () => {
  it('a bad variable is an error naming it (exit 2); a flag given instead wins without reading it', async () => {
    const dir = tempDir('fg-env');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: x\nnodes: []\n');
    const bad = await runCli(['run', wf], { env: { FLOWGATE_MAX_TASKS_PER_CHILD: '0', FLOWGATE_SCHEDULER: 'fifo' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('env FLOWGATE_MAX_TASKS_PER_CHILD');
    expect(bad.stderr).toContain('env FLOWGATE_SCHEDULER');
    const flagged = await runCli(['run', join(dir, 'missing.yaml'), '--max-tasks-per-child', '3', '--scheduler', 'tsort'], { env: { FLOWGATE_MAX_TASKS_PER_CHILD: '0', FLOWGATE_SCHEDULER: 'fifo' } });
    expect(flagged.code).toBe(2);
    expect(flagged.stderr).not.toContain('env FLOWGATE_');
    expect(flagged.stderr).toContain('no such file');
  });

  it('takes the work dir from FLOWGATE_WORK_DIR unless --work-dir is given, and reads the workflow from stdin', () => {
    const dir = tempDir('fg-env');
    const prefix = uniquePrefix('env');
    prefixes.push(prefix);
    const run = (args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [CLI, 'run', '-', '--quiet', '--prefix', prefix, '--redis-url', redisUrl(), ...args], {
        input: ONE_NODE,
        env: { ...process.env, FLOWGATE_LOG_LEVEL: 'warn', FLOWGATE_WORK_DIR: join(dir, 'from-env') },
        encoding: 'utf8',
        timeout: 50_000,
      });
    const fromEnv = run([]);
    expect(fromEnv.status, String(fromEnv.stderr)).toBe(0);
    expect(readdirSync(join(dir, 'from-env')).length).toBeGreaterThan(0);
    const fromFlag = run(['--work-dir', join(dir, 'from-flag')]);
    expect(fromFlag.status, String(fromFlag.stderr)).toBe(0);
    expect(existsSync(join(dir, 'from-flag'))).toBe(true);
  });

  it('validate - reads the workflow from stdin', () => {
    const res = spawnSync(process.execPath, [CLI, 'validate', '-'], { input: ONE_NODE, encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('workflow "one" is valid');
  });
});

describe('flowgate submit', () => {
  it("names what raises a node's budget: the scheduler service's, not flags submit lacks", async () => {
    const prefix = uniquePrefix('submit');
    prefixes.push(prefix);
    const redis = new Redis(redisUrl());
    try {
      await redis.hset(new Keys(prefix).service(), 'budget', JSON.stringify({ n_procs: 2, memory_gb: 4 }));
    } finally {
      await redis.quit();
    }
    const dir = tempDir('fg-submit');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: big\nnodes:\n  - id: a\n    command: ["true"]\n    n_procs: 8\n');
    const res = await runCli(['submit', wf, '--prefix', prefix, '--redis-url', redisUrl()]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("raise the scheduler service's budget (flowgate scheduler --n-procs/--memory-gb, or FLOWGATE_N_PROCS/FLOWGATE_MEMORY_GB) or pass --no-raise-insufficient");
  });

  it('a run no scheduler service has taken yet shows whose budget it will get, not a budget of nothing', async () => {
    const prefix = uniquePrefix('submit');
    prefixes.push(prefix);
    const dir = tempDir('fg-submit');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: small\nnodes:\n  - id: a\n    command: ["true"]\n');
    const res = await runCli(['submit', wf, '--prefix', prefix, '--redis-url', redisUrl(), '--run-id', 'not-taken']);
    expect(res.code, res.stderr).toBe(0);
    const status = await runCli(['status', 'not-taken', '--prefix', prefix, '--redis-url', redisUrl()]);
    expect(status.stdout.split('\n')[0]).toBe("run not-taken of small: submitted (0/1 done, -), budget the scheduler service's, once it takes the run, scheduler tsort");
  });
});

describe('flowgate completion', () => {
  it('prints a bash script that bash accepts, with every command and its flags', () => {
    const res = spawnSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('complete -o filenames -F _flowgate flowgate');
    expect(res.stdout).toContain('--n-procs');
    expect(spawnSync('bash', ['-n'], { input: res.stdout }).status).toBe(0);
    const fish = spawnSync(process.execPath, [CLI, 'completion', 'fish'], { encoding: 'utf8' });
    expect(fish.stdout).toContain("-n '__fish_seen_subcommand_from run' -l n-procs");
    // Short forms, and the values of options with choices (the same lists the flags check).
    expect(res.stdout).toContain('--scheduler) COMPREPLY=($(compgen -W "tsort mem_thread" -- "$cur")); return ;;');
    expect(res.stdout).toMatch(/run\) opts="[^"]*-n --dry-run/);
    expect(fish.stdout).toContain("-n '__fish_seen_subcommand_from run' -s n");
    expect(fish.stdout).toContain("-n '__fish_seen_subcommand_from run' -l spawner -xa 'auto launcher node'");
    expect(spawnSync(process.execPath, [CLI, 'completion', 'tcsh']).status).toBe(2);
  });
});
