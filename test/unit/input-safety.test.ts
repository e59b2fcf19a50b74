/**
 * Inputs checked at the edge without services: Redis URLs (validated, never
 * echoed with their password), directories a run writes to, the environment
 * nodes start from, and the flags `run` hands to its workers.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flags, parseArgs } from '../../src/cli/args.js';
import { fleetArgs, RESUME_FLAGS, RUN_FLAGS } from '../../src/cli/run-flags.js';
import { withEnv } from '../../src/cli/settings.js';
import { WORKER_FLAGS, workerSettings } from '../../src/cli/worker-flags.js';
import { readEnv, redactUrl, redisUrlProblem } from '../../src/shared/config.js';
import { ValidationError } from '../../src/shared/errors.js';
import { writableDirProblem, writableDirProblems } from '../../src/shared/work-dir.js';
import { cleanEnv, nodeBaseEnv } from '../../src/worker/node-env.js';
import { catchError } from './support.js';

const SECRET = 'pw-9f3K';

describe('Redis URLs', () => {
  it('accepts the usual forms', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://h', `redis://:${SECRET}@h:1/0`, `redis://user:${SECRET}@[::1]:65535/15`, 'redis://h:6379/?family=6', 'redis://h/']) {
      expect(redisUrlProblem(url), url).toBeUndefined();
    }
  });

  it('names what is wrong: scheme, port, database path', () => {
    expect(redisUrlProblem('http://h:1')).toBe('must start with redis://, rediss:// or unix: (a socket path), received "http://h:1"');
    expect(redisUrlProblem('unix:/run/redis.sock')).toBeUndefined();
    expect(redisUrlProblem('unix:///run/redis.sock')).toBeUndefined();
    expect(redisUrlProblem('unix:relative.sock')).toBe('a socket URL is unix:/absolute/path/to/redis.sock, received "unix:relative.sock"');
    expect(redisUrlProblem('redis://host:notaport')).toBe('port must be a number from 1 to 65535, received "redis://host:notaport"');
    expect(redisUrlProblem('redis://host:70000')).toBe('port must be at most 65535, received "redis://host:70000"');
    expect(redisUrlProblem('redis://host:0')).toBe('port must be a number from 1 to 65535, received "redis://host:0"');
    expect(redisUrlProblem('redis://host/db1')).toBe('the path must be a database number (e.g. /0), received "redis://host/db1"');
    expect(redisUrlProblem('redis://ho st')).toMatch(/^is not a valid URL/);
  });

  it('never echoes a password, even from text that is not a URL', () => {
    const bad = [`redis://:${SECRET}@host:notaport`, `redis://u:${SECRET}@host:99999`, `http://u:${SECRET}@h`, `redis://u:${SECRET}@ho st`, `redis://u:${SECRET}@h/x`, `redis://u:a/${SECRET}@b@h:p`];
    for (const url of bad) {
      const problem = redisUrlProblem(url);
      expect(problem, url).toBeDefined();
      expect(problem).not.toContain(SECRET);
      expect(problem).toContain('***');
      expect(redactUrl(url)).not.toContain(SECRET);
    }
    expect(redactUrl(`redis://u:${SECRET}@h:1/0`)).toBe('redis://u:***@h:1/0');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
  });

  it('checks REDIS_URL the same way, naming the variable', () => {
    const err = catchError(() => readEnv({ REDIS_URL: `redis://:${SECRET}@h:notaport` }), ValidationError);
    expect(err.issues).toEqual([{ field: 'env REDIS_URL', message: 'port must be a number from 1 to 65535, received "redis://:***@h:notaport"' }]);
    expect(err.message).not.toContain(SECRET);
    expect(readEnv({ REDIS_URL: `redis://:${SECRET}@h:7` }).redisUrl).toBe(`redis://:${SECRET}@h:7`);
  });

  it('reads REDIS_URL_FILE (a secret file), naming the variable and never echoing the password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-url-file-'));
    try {
      const file = join(dir, 'redis_url');
      writeFileSync(file, `redis://:${SECRET}@redis:6379\n`);
      expect(readEnv({ REDIS_URL_FILE: file })).toMatchObject({ redisUrl: `redis://:${SECRET}@redis:6379`, redisUrlGiven: true });
      const both = catchError(() => readEnv({ REDIS_URL_FILE: file, REDIS_URL: 'redis://h' }), ValidationError);
      expect(both.issues).toEqual([{ field: 'env REDIS_URL_FILE', message: 'is set together with REDIS_URL; give one of them' }]);
      const missing = catchError(() => readEnv({ REDIS_URL_FILE: join(dir, 'absent') }), ValidationError);
      expect(missing.issues).toEqual([{ field: 'env REDIS_URL_FILE', message: `cannot read ${join(dir, 'absent')} (ENOENT)` }]);
      writeFileSync(file, ' \n');
      expect(catchError(() => readEnv({ REDIS_URL_FILE: file }), ValidationError).issues).toEqual([{ field: 'env REDIS_URL_FILE', message: `${file} is empty; it must hold the Redis URL` }]);
      writeFileSync(file, `redis://:${SECRET}@h:notaport`);
      const bad = catchError(() => readEnv({ REDIS_URL_FILE: file }), ValidationError);
      expect(bad.issues[0]?.field).toBe('env REDIS_URL_FILE');
      expect(bad.message).toContain(file);
      expect(bad.message).not.toContain(SECRET);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('writableDirProblem', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'flowgate-dirs-'));
    writeFileSync(join(tmp, 'file'), 'x');
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('accepts an existing directory and one that can be made, leaving nothing behind', () => {
    expect(writableDirProblem(tmp, '--work-dir')).toBeUndefined();
    expect(writableDirProblem(join(tmp, 'new', 'deeper'), '--work-dir')).toBeUndefined();
    expect(readdirSync(tmp)).toEqual(['file']);
  });

  it('refuses a file and a path below a file, naming the file', () => {
    expect(writableDirProblem(join(tmp, 'file'), '--work-dir')).toEqual({ field: '--work-dir', message: `${join(tmp, 'file')} is a file, not a directory` });
    expect(writableDirProblem(join(tmp, 'file', 'a', 'b'), '--crashdump-dir')).toEqual({
      field: '--crashdump-dir',
      message: `${join(tmp, 'file', 'a', 'b')} lies below ${join(tmp, 'file')}, which is a file, not a directory`,
    });
  });

  it('reports a directory inside one already found wrong once, by the outer one', () => {
    const file = join(tmp, 'file');
    expect(writableDirProblems([[file, '--work-dir'], [join(file, '_crashes'), '--work-dir'], [join(tmp, 'file-not'), 'config.crashdump_dir']])).toEqual([
      { field: '--work-dir', message: `${file} is a file, not a directory` },
    ]);
    expect(writableDirProblems([[join(tmp, 'ok'), '--work-dir'], [join(file, 'x'), '--crashdump-dir']]).map((i) => i.field)).toEqual(['--crashdump-dir']);
  });

  it('refuses a directory where nothing can be made (also for root: it is tried, not asked)', () => {
    expect(writableDirProblem('/proc/flowgate-work', 'work_dir')).toEqual({ field: 'work_dir', message: expect.stringMatching(/^cannot create \/proc\/flowgate-work: cannot write in \/proc/) as unknown });
    if (process.getuid?.() !== 0) {
      const ro = join(tmp, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      try {
        expect(writableDirProblem(join(ro, 'w'), '--work-dir')?.message).toBe(`cannot create ${join(ro, 'w')}: cannot write in ${ro} (permission denied)`);
      } finally {
        chmodSync(ro, 0o700);
      }
    }
  });
});

describe('the environment nodes start from', () => {
  const worker = { PATH: '/bin', HOME: '/h', LANG: 'C.UTF-8', LC_ALL: 'C', TZ: 'UTC', TMPDIR: '/t', REDIS_URL: `redis://:${SECRET}@h`, AWS_SECRET_ACCESS_KEY: 'k', FLOWGATE_BOARD_PASSWORD: 'b', FLOWGATE_PREFIX: 'p', USER: 'u' };

  it('clean: only PATH, HOME, LANG, LC_*, TZ and TMPDIR', () => {
    expect(cleanEnv(worker)).toEqual({ PATH: '/bin', HOME: '/h', LANG: 'C.UTF-8', LC_ALL: 'C', TZ: 'UTC', TMPDIR: '/t' });
    expect(nodeBaseEnv(worker, true)).toEqual(cleanEnv(worker));
  });

  it('default: a copy of the whole worker environment', () => {
    const base = nodeBaseEnv(worker, false);
    expect(base).toEqual(worker);
    expect(base).not.toBe(worker);
  });
});

describe('--clean-env reaches the fleet', () => {
  it('run and resume accept it and pass it to each worker inline', () => {
    expect(RUN_FLAGS.some((f) => f.name === 'clean-env')).toBe(true);
    expect(RESUME_FLAGS.some((f) => f.name === 'clean-env')).toBe(true);
    const args = fleetArgs(new Flags(parseArgs(['wf.yaml', '--clean-env', '--spawner', 'node'], RUN_FLAGS)));
    expect(args).toEqual(['--spawner', 'node', '--clean-env=true']);
    // What the worker parses back.
    const worker = new Flags(parseArgs(['worker', ...args].slice(1), WORKER_FLAGS));
    expect(worker.bool('clean-env', false)).toBe(true);
    expect(worker.positionals).toEqual([]);
    expect(fleetArgs(new Flags(parseArgs(['wf.yaml'], RUN_FLAGS)))).toEqual([]);
  });

  it('a standalone worker also takes it from FLOWGATE_CLEAN_ENV', () => {
    const flags = withEnv(new Flags(parseArgs([], WORKER_FLAGS)), workerSettings(), { FLOWGATE_CLEAN_ENV: '1' });
    expect(flags.bool('clean-env', false)).toBe(true);
  });
});
