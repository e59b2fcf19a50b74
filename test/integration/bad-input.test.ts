/**
 * Bad input never runs anything: exit code 2, an error naming the file, node
 * and field, no key under the prefix and no work directory. An unreachable
 * Redis is exit code 3 with a clear message.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

const ok = { name: 'fine', nodes: [{ id: 'a', command: ['true'] }] };

interface Case {
  name: string;
  file: string;
  content: object | string | null;
  flags?: string[];
  expect: RegExp[];
}

const cases: Case[] = [
  { name: 'missing file', file: 'absent.json', content: null, expect: [/absent\.json: cannot read workflow file: no such file/] },
  { name: 'unknown extension read as YAML', file: 'wf.txt', content: '{}', expect: [/wf\.txt:1:1: field "name": expected string/] },
  { name: 'JSON syntax error with line and column', file: 'wf.json', content: '{\n  "name": "x",\n  "nodes": [\n    {"id": "a",, "command": ["true"]}\n  ]\n}\n', expect: [/wf\.json:4:\d+: JSON syntax error/] },
  { name: 'YAML syntax error with line and column', file: 'wf.yaml', content: 'name: x\nnodes:\n  - id: a\n    command: [true\n', expect: [/wf\.yaml:\d+:\d+: YAML syntax error/] },
  { name: 'missing name', file: 'wf.json', content: { nodes: [{ id: 'a', command: ['true'] }] }, expect: [/wf\.json:1:1: field "name": expected string, received nothing/] },
  { name: 'unknown key with hint', file: 'wf.yaml', content: 'name: x\nnodes:\n  - id: a\n    command: ["true"]\n    nprocs: 2\n', expect: [/wf\.yaml:5:5: node "a", field "nodes\[0\]\.nprocs": unknown key "nprocs" \(did you mean "n_procs"\?\)/] },
  { name: 'wrong type', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['true'], mem_gb: '4' }] }, expect: [/node "a", field "nodes\[0\]\.mem_gb": expected number, received "4"/] },
  { name: 'non-positive resources', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['true'], n_procs: 0, mem_gb: -1 }] }, expect: [/node "a", field "nodes\[0\]\.n_procs": must be at least 1/, /node "a", field "nodes\[0\]\.mem_gb": must be greater than 0/] },
  { name: 'duplicate ids', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['true'] }, { id: 'a', command: ['true'] }] }, expect: [/node "a", field "nodes\[1\]\.id": duplicate id "a"/] },
  { name: 'unknown needs with hint', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'align', command: ['true'] }, { id: 'b', command: ['true'], needs: ['aling'] }] }, expect: [/node "b", field "nodes\[1\]\.needs\[0\]": unknown node "aling" \(did you mean "align"\?\)/] },
  { name: 'cycle with its path', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['true'], needs: ['c'] }, { id: 'b', command: ['true'], needs: ['a'] }, { id: 'c', command: ['true'], needs: ['b'] }] }, expect: [/dependency cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)/] },
  { name: 'node over budget', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'huge', command: ['true'], n_procs: 16, mem_gb: 100 }, { id: 'ok', command: ['true'] }] }, flags: ['--n-procs', '4', '--memory-gb', '8'], expect: [/node "huge".*needs 16 procs but the budget is 4 \(over by 12\); needs 100 GB but the budget is 8 GB \(over by 92 GB\)/] },
  { name: 'node over budget, located in the file', file: 'wf.yaml', content: 'name: x\ndefaults:\n  mem_gb: 1\nnodes:\n  - id: ok\n    command: ["true"]\n  - id: huge\n    command: ["true"]\n    n_procs: 16\n', flags: ['--n-procs', '4', '--memory-gb', '8'], expect: [/wf\.yaml:9:14: node "huge", field "n_procs": insufficient resources: needs 16 procs but the budget is 4 \(over by 12\)/] },
  { name: 'timeout beyond what timers can hold', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['true'], timeout_s: 2_500_000 }] }, expect: [/node "a", field "nodes\[0\]\.timeout_s": must be at most 2147483/] },
  { name: 'empty program', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: [''] }] }, expect: [/node "a", field "nodes\[0\]\.command": the program \(first element\) must not be empty/] },
  { name: 'NUL in an argument', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: ['echo', 'a\u0000b'] }] }, expect: [/node "a", field "nodes\[0\]\.command\[1\]": must not contain NUL characters/] },
  {
    name: 'YAML alias bomb',
    file: 'wf.yaml',
    content: `name: x\nnodes:\n  - id: a\n    command: ["true"]\n    inputs:\n      v:\n        a: &a ["x","x","x","x","x","x","x","x","x","x"]\n${'bcdefghi'.split('').map((c, i) => `        ${c}: &${c} [${Array.from({ length: 10 }, () => `*${'abcdefghi'[i] ?? ''}`).join(',')}]`).join('\n')}\n`,
    expect: [/wf\.yaml:\d+:\d+: YAML aliases expand the document by more than 1,000,000 values/],
  },
  { name: 'YAML alias without anchor', file: 'wf.yaml', content: 'name: x\nnodes:\n  - id: a\n    command: *cmd\n', expect: [/wf\.yaml:4:14: YAML alias "\*cmd" has no anchor "&cmd" before it/] },
  { name: 'whitespace-only command', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: '  \t ' }] }, expect: [/node "a", field "nodes\[0\]\.command": must not be only whitespace/] },
  { name: 'blank program in an argv', file: 'wf.json', content: { name: 'x', nodes: [{ id: 'a', command: [' ', 'x'] }] }, expect: [/node "a", field "nodes\[0\]\.command": the program \(first element\) must not be empty or only whitespace/] },
  {
    name: 'n_procs and mem_gb 1e308',
    file: 'wf.yaml',
    content: 'name: x\nnodes:\n  - id: a\n    command: ["true"]\n    n_procs: 1e308\n    mem_gb: 1e308\n',
    expect: [/wf\.yaml:5:14: node "a", field "nodes\[0\]\.n_procs": must be at most 1000000, received number 1e\+308/, /wf\.yaml:6:13: node "a", field "nodes\[0\]\.mem_gb": must be at most 1048576/],
  },
  { name: '--n-procs above the maximum', file: 'wf.json', content: ok, flags: ['--n-procs', '100000000000000000000'], expect: [/--n-procs.*must be at most 1000000, received 100000000000000000000/] },
  { name: '--memory-gb 1e308', file: 'wf.json', content: ok, flags: ['--memory-gb', '1e308'], expect: [/--memory-gb.*must be at most 1048576, received 1e308/] },
  { name: 'input named __proto__', file: 'wf.json', content: '{"name": "x", "nodes": [{"id": "a", "command": ["true"], "inputs": {"__proto__": {"x": 1}}}]}', expect: [/wf\.json:1:\d+: node "a", field "nodes\[0\]\.inputs\.__proto__": the key "__proto__" is not allowed/] },
  { name: 'Redis URL with a port that is not a number', file: 'wf.json', content: ok, flags: ['--redis-url', 'redis://:hunter2@127.0.0.1:notaport'], expect: [/field "--redis-url": port must be a number from 1 to 65535, received "redis:\/\/:\*\*\*@127\.0\.0\.1:notaport"/] },
  { name: 'Redis URL with a port out of range', file: 'wf.json', content: ok, flags: ['--redis-url', 'redis://u:hunter2@127.0.0.1:65536'], expect: [/field "--redis-url": port must be at most 65535, received "redis:\/\/u:\*\*\*@/] },
  { name: 'Redis URL with a bad scheme', file: 'wf.json', content: ok, flags: ['--redis-url', 'http://u:hunter2@127.0.0.1:6379'], expect: [/field "--redis-url": must start with redis:\/\/, rediss:\/\/ or unix: \(a socket path\), received "http:\/\/u:\*\*\*@127\.0\.0\.1:6379\/"/] },
  { name: 'unknown flag with hint', file: 'wf.json', content: ok, flags: ['--nprocs', '2'], expect: [/--nprocs.*unknown option \(did you mean --n-procs\?\)/] },
  { name: 'bad flag value', file: 'wf.json', content: ok, flags: ['--n-procs', '0'], expect: [/--n-procs.*must be at least 1, received 0/] },
  { name: 'bad scheduler', file: 'wf.json', content: ok, flags: ['--scheduler', 'fifo'], expect: [/--scheduler.*expected one of tsort, mem_thread, received "fifo"/] },
  { name: 'bad memory', file: 'wf.json', content: ok, flags: ['--memory-gb', 'lots'], expect: [/--memory-gb.*expected a number, received "lots"/] },
  { name: 'bad spawner', file: 'wf.json', content: ok, flags: ['--spawner', 'fork'], expect: [/--spawner.*expected one of auto, launcher, node, received "fork"/] },
];

describe('bad input', () => {
  for (const c of cases) {
    it(`${c.name}: exit 2, clear error, nothing written`, async () => {
      const dir = tempDir('fg-bad');
      const prefix = uniquePrefix('bad');
      prefixes.push(prefix);
      const path = c.content === null ? join(dir, c.file) : writeWorkflow(dir, c.file, c.content);
      const work = join(dir, 'work');
      const res = await runCli(['run', path, '--prefix', prefix, '--work-dir', work, ...(c.flags ?? [])], {
        env: { REDIS_URL: redisUrl() },
        cwd: dir,
      });
      expect(res.code, res.stderr).toBe(2);
      for (const re of c.expect) expect(res.stderr).toMatch(re);
      expect(res.stderr).not.toContain('hunter2');
      expect(res.stderr).not.toMatch(/\n\s+at /);
      expect(res.stdout).toBe('');
      expect(await keysUnder(prefix)).toEqual([]);
      expect(existsSync(work)).toBe(false);
    });
  }

  it('a node over the budget in a workflow read from a FIFO is refused without reading it again (no hang)', async () => {
    const dir = tempDir('fg-bad');
    const prefix = uniquePrefix('bad');
    prefixes.push(prefix);
    const fifo = join(dir, 'wf.yaml');
    execFileSync('mkfifo', [fifo]);
    const p = startCli(['run', fifo, '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2'], { env: { REDIS_URL: redisUrl() }, cwd: dir });
    // Written once the CLI opens the FIFO (off the event loop, so a CLI that never opens it fails the test, not hangs it).
    const written = writeFile(fifo, 'name: x\nnodes:\n  - id: huge\n    command: ["true"]\n    n_procs: 8\n');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
    const res = await p.done;
    clearTimeout(timer);
    await written;
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/node "huge", field "n_procs": insufficient resources: needs 8 procs but the budget is 2/);
  });

  it('bad environment: exit 2 naming the variable', async () => {
    const dir = tempDir('fg-bad');
    const path = writeWorkflow(dir, 'wf.json', ok);
    const res = await runCli(['run', path, '--work-dir', join(dir, 'work')], { env: { REDIS_URL: 'http://nope' }, cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/env REDIS_URL.*must start with redis:\/\/, rediss:\/\/ or unix: \(a socket path\), received "http:\/\/nope"/);
  });

  it('malformed REDIS_URL: exit 2 naming the variable, without its password', async () => {
    const dir = tempDir('fg-bad');
    const path = writeWorkflow(dir, 'wf.json', ok);
    for (const [url, re] of [
      ['redis://:hunter2@127.0.0.1:notaport', /env REDIS_URL.*port must be a number from 1 to 65535, received "redis:\/\/:\*\*\*@127\.0\.0\.1:notaport"/],
      ['redis://:hunter2@127.0.0.1:99999', /env REDIS_URL.*port must be at most 65535/],
      ['redis://:hunter2@127.0.0.1:6379/zero', /env REDIS_URL.*the path must be a database number/],
    ] as const) {
      const res = await runCli(['run', path, '--work-dir', join(dir, 'work')], { env: { REDIS_URL: url }, cwd: dir });
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(re);
      expect(res.stderr).not.toContain('hunter2');
    }
    expect(readdirSync(dir)).toEqual(['wf.json']);
  });

  describe('a work dir that cannot be written: exit 2 before anything is written', () => {
    /** Runs `ok` with `--work-dir workDir`, expects exit 2 and `re`, and checks Redis and `dir` are untouched. */
    async function refused(dir: string, workDir: string, re: RegExp, extra: string[] = []): Promise<void> {
      const prefix = uniquePrefix('bad');
      prefixes.push(prefix);
      const path = writeWorkflow(dir, 'wf.json', ok);
      const before = readdirSync(dir).sort();
      const res = await runCli(['run', path, '--prefix', prefix, '--work-dir', workDir, ...extra], { env: { REDIS_URL: redisUrl() }, cwd: dir });
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(re);
      expect(await keysUnder(prefix)).toEqual([]);
      expect(readdirSync(dir).sort()).toEqual(before);
    }

    it('a file', async () => {
      const dir = tempDir('fg-bad');
      writeFileSync(join(dir, 'taken'), 'x');
      await refused(dir, join(dir, 'taken'), /field "--work-dir": \S+\/taken is a file, not a directory/);
    });

    it('below a file', async () => {
      const dir = tempDir('fg-bad');
      writeFileSync(join(dir, 'taken'), 'x');
      await refused(dir, join(dir, 'taken', 'work'), /field "--work-dir": \S+\/taken\/work lies below \S+\/taken, which is a file, not a directory/);
    });

    it('a crash dump dir below a file', async () => {
      const dir = tempDir('fg-bad');
      writeFileSync(join(dir, 'taken'), 'x');
      await refused(dir, join(dir, 'work'), /field "--crashdump-dir": \S+ lies below \S+\/taken/, ['--crashdump-dir', join(dir, 'taken', 'crashes')]);
    });

    it('a directory nobody may write in', async () => {
      const dir = tempDir('fg-bad');
      const ro = join(dir, 'ro');
      mkdirSync(ro);
      // root writes through permission bits: make the directory immutable instead.
      const root = process.getuid?.() === 0;
      if (root) execFileSync('chattr', ['+i', ro]);
      else chmodSync(ro, 0o500);
      try {
        await refused(dir, join(ro, 'work'), /field "--work-dir": cannot create \S+\/ro\/work: cannot write in \S+\/ro \(permission denied\)/);
        expect(readdirSync(ro)).toEqual([]);
      } finally {
        if (root) execFileSync('chattr', ['-i', ro]);
        else chmodSync(ro, 0o700);
      }
    });
  });

  it('YAML that reuses one anchor 150 times runs (merge keys and plain aliases)', async () => {
    const dir = tempDir('fg-alias');
    const prefix = uniquePrefix('alias');
    prefixes.push(prefix);
    const nodes = ['  - &d {id: n0, command: ["true"], mem_gb: 0.01, inputs: {res: &res {cpu: 1}}}'];
    for (let i = 1; i < 150; i++) nodes.push(`  - <<: *d\n    id: n${i}\n    inputs: {res: *res}`);
    const path = writeWorkflow(dir, 'wf.yaml', `name: many\nnodes:\n${nodes.join('\n')}\n`);
    const res = await runCli(['run', path, '--prefix', prefix, '--work-dir', join(dir, 'work'), '--json', '--quiet'], { env: { REDIS_URL: redisUrl() }, cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as { counts: { succeeded: number } };
    expect(summary.counts.succeeded).toBe(150);
  });

  it('Redis unreachable: exit 3 with a clear message, nothing on disk', async () => {
    const dir = tempDir('fg-noredis');
    const path = writeWorkflow(dir, 'wf.json', ok);
    const work = join(dir, 'work');
    // The 8 s kill bound is the requirement: the CLI must give up well within it.
    const res = await runCli(['run', path, '--redis-url', 'redis://127.0.0.1:1', '--work-dir', work], { cwd: dir, timeoutMs: 8000 });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    // The error underneath is printed as its cause.
    expect(res.stderr).toMatch(/\n {2}caused by: connect ECONNREFUSED 127\.0\.0\.1:1\n/);
    expect(existsSync(work)).toBe(false);
  });

  it('validate: exit 0 for a good file, 2 for a bad one', async () => {
    const dir = tempDir('fg-validate');
    const good = await runCli(['validate', writeWorkflow(dir, 'good.json', ok)]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/workflow "fine" is valid: 1 node, 0 dependencies/);
    const bad = await runCli(['validate', writeWorkflow(dir, 'bad.json', { name: 'x', nodes: [] })]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.json.*field "nodes": a workflow needs at least one node/);
  });
});
