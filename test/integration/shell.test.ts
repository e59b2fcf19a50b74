/**
 * Shell-string commands end to end (the CLI as a process): hostile values
 * from a producer's stdout JSON reach a consumer's script in every quoting
 * position without running anything; string commands run in bash strict mode
 * (a failing pipe or an unset variable fails the node) unless `shell` says
 * otherwise; the shell is part of the cache key; output paths stay in the
 * node directory and a directory is not an output file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeSummary, RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Flow {
  dir: string;
  run: (wf: object, ...flags: string[]) => Promise<{ code: number | null; stderr: string; summary: RunSummary; node: (id: string) => NodeSummary }>;
}

function flow(label: string): Flow {
  const dir = tempDir(label);
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return {
    dir,
    run: async (wf, ...flags) => {
      const path = writeWorkflow(dir, 'wf.json', wf);
      const res = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2', ...flags], { env: { REDIS_URL: redisUrl() } });
      const summary = JSON.parse(res.stdout) as RunSummary;
      const node = (id: string): NodeSummary => {
        const n = summary.nodes.find((x) => x.id === id);
        if (n === undefined) throw new Error(`no node ${id}`);
        return n;
      };
      return { code: res.code, stderr: res.stderr, summary, node };
    },
  };
}

describe('templates in shell commands', () => {
  it('a malicious stdout_json value reaches every quoting position verbatim and runs nothing', async () => {
    const f = flow('fg-inject');
    const marker = join(f.dir, 'pwned');
    const evil = `$(touch ${marker})\`touch ${marker}\`'"; touch ${marker}; echo "'\nEOF\ntouch ${marker} $HOME \\`;
    writeFileSync(join(f.dir, 'evil.json'), JSON.stringify({ v: evil }));
    const { code, node } = await f.run({
      name: 'inject',
      nodes: [
        { id: 'make', command: `cat ${join(f.dir, 'evil.json')}`, stdout_json: true },
        {
          id: 'use',
          inputs: { v: { from: 'make.v' } },
          command: [
            'printf %s {{inputs.v}} > unquoted.txt',
            'printf %s "got: {{inputs.v}}" > double.txt',
            "printf %s 'got: {{inputs.v}}' > single.txt",
            'cat > heredoc.txt <<END\n{{inputs.v}}\nEND',
            ': "$(printf %s {{inputs.v}} > subst.txt)"',
          ].join('\n'),
        },
        { id: 'argv', inputs: { v: { from: 'make.v' } }, command: ['bash', '-c', 'printf %s "got: {{inputs.v}}" > argv.txt'] },
        { id: 'heredoc', inputs: { v: { from: 'make.v' } }, command: 'cat <<EOF\n{{inputs.v}}\nEOF' },
      ],
    });
    expect(existsSync(marker)).toBe(false);
    expect(code).toBe(1);
    const dir = (id: string): string => node(id).node_dir;
    expect(node('use').status).toBe('succeeded');
    expect(readFileSync(join(dir('use'), 'unquoted.txt'), 'utf8')).toBe(evil);
    expect(readFileSync(join(dir('use'), 'double.txt'), 'utf8')).toBe(`got: ${evil}`);
    expect(readFileSync(join(dir('use'), 'single.txt'), 'utf8')).toBe(`got: ${evil}`);
    expect(readFileSync(join(dir('use'), 'heredoc.txt'), 'utf8')).toBe(`${evil}\n`);
    expect(readFileSync(join(dir('use'), 'subst.txt'), 'utf8')).toBe(evil);
    expect(readFileSync(join(dir('argv'), 'argv.txt'), 'utf8')).toBe(`got: ${evil}`);
    // A line "EOF" in the value would end that here-document: the node fails without running.
    expect(node('heredoc')).toMatchObject({ status: 'failed', start_ms: expect.any(Number), exit_code: null });
    expect(node('heredoc').reason).toBe('{{inputs.v}}: a line of the value would read "EOF" and end the here-document early; use a delimiter that cannot occur in the value');
  });

  it('refuses a template in backticks before anything runs (exit 2, node, field, position)', async () => {
    const f = flow('fg-refuse');
    const path = writeWorkflow(f.dir, 'wf.json', { name: 'refuse', nodes: [{ id: 'n', inputs: { v: 'x' }, command: 'echo `echo {{inputs.v}}`' }] });
    const res = await runCli(['validate', path]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('node "n", field "nodes[0].command": {{inputs.v}} at line 1, column 12 is inside `…` (backticks), where a value cannot be quoted safely; write $(…) instead of backticks');
  });
});

describe('the shell of string commands', () => {
  it('runs bash strict mode by default: a failing pipe and an unset variable fail the node; /bin/sh restores the old behaviour', async () => {
    const f = flow('fg-strict');
    const nodes = [
      { id: 'pipe', command: 'false | true' },
      { id: 'unset', command: 'echo "[$NOPE_UNSET]"' },
      { id: 'bashism', command: '[[ -n x ]] && echo "${BASH_VERSION:+bash}"' },
    ];
    const strict = await f.run({ name: 'strict', nodes });
    expect(strict.code).toBe(1);
    expect(strict.node('pipe')).toMatchObject({ status: 'failed', exit_code: 1, reason: 'exit code 1' });
    expect(strict.node('unset')).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(readFileSync(join(strict.node('unset').node_dir, 'stderr.log'), 'utf8')).toMatch(/NOPE_UNSET: unbound variable/);
    expect(strict.node('bashism').status).toBe('succeeded');
    expect(readFileSync(join(strict.node('bashism').node_dir, 'stdout.log'), 'utf8')).toBe('bash\n');

    const sh = await f.run({ name: 'strict', defaults: { shell: '/bin/sh' }, nodes: nodes.slice(0, 2) });
    expect(sh.code).toBe(0);
    expect(readFileSync(join(sh.node('unset').node_dir, 'stdout.log'), 'utf8')).toBe('[]\n');
  });

  it('puts the shell in the cache key, and fails with a spawn reason when the shell is missing', async () => {
    const f = flow('fg-shellcache');
    const wf = (shell?: unknown, node?: object): object => ({ name: 'sc', ...(shell !== undefined ? { defaults: { shell } } : {}), nodes: [{ id: 'a', command: 'echo a', ...node }] });
    expect((await f.run(wf())).node('a').cache).toMatchObject({ hit: false });
    expect((await f.run(wf())).node('a').status).toBe('cached');
    const changed = await f.run(wf({ path: '/bin/bash', flags: ['-e'] }));
    expect(changed.node('a').status).toBe('succeeded');
    expect(changed.node('a').cache?.reasons.join('\n')).toMatch(/^definition changed: shell was \{"flags":\["-e","-u","-o","pipefail"\],"path":"\/bin\/bash"\}, now \{"flags":\["-e"\],"path":"\/bin\/bash"\}$/);
    // A node's own shell wins over the defaults.
    const own = await f.run(wf({ path: '/bin/bash', flags: ['-e'] }, { shell: '/no/such/bash' }));
    expect(own.code).toBe(1);
    expect(own.node('a')).toMatchObject({ status: 'failed', reason: 'shell not found: /no/such/bash (it runs string commands; choose another with "shell" in the node or in defaults)' });
  });

  it('refuses a bad shell option with a clear message (exit 2)', async () => {
    const f = flow('fg-badshell');
    const bad = writeWorkflow(f.dir, 'bad.json', {
      name: 'bad',
      defaults: { shell: { path: 'bin/bash', flag: [] } },
      nodes: [
        { id: 'a', command: ['true'], shell: '/bin/sh' },
        { id: 'b', command: 'true', shell: { path: '/bin/sh', flags: ['-c'] } },
        { id: 'c', command: 'true', shell: 'relative/sh' },
      ],
    });
    const res = await runCli(['validate', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('field "defaults.shell.path": must be an absolute path, or a program name looked up in PATH');
    expect(res.stderr).toContain('field "defaults.shell.flag": unknown key "flag" (did you mean "flags"?)');
    expect(res.stderr).toContain('node "a", field "nodes[0].shell": "shell" is for string commands; this node has an argv command, run without a shell');
    expect(res.stderr).toContain('node "b", field "nodes[1].shell.flags[0]": flowgate adds "-c SCRIPT" itself');
    expect(res.stderr).toContain('node "c", field "nodes[2].shell": must be an absolute path, or a program name looked up in PATH');
  });
});

describe('output paths', () => {
  it('fails a node whose filled-in output path leaves its directory, and one whose output is a directory', async () => {
    const f = flow('fg-outpath');
    mkdirSync(join(f.dir, 'work'), { recursive: true });
    const { code, node } = await f.run({
      name: 'outs',
      nodes: [
        { id: 'make', command: `echo '{"name": "../../escaped"}'`, stdout_json: true },
        { id: 'escape', inputs: { name: { from: 'make.name' } }, command: 'touch x', outputs: { out: 'sub/{{inputs.name}}' } },
        { id: 'dir', command: 'mkdir -p d', outputs: { d: 'd' } },
      ],
    });
    expect(code).toBe(1);
    expect(node('escape')).toMatchObject({ status: 'failed', reason: 'output "out": the path "sub/../../escaped" (from "sub/{{inputs.name}}") leaves the node directory' });
    expect(existsSync(join(node('escape').node_dir, 'x'))).toBe(false);
    expect(node('dir')).toMatchObject({ status: 'failed', exit_code: 0, reason: `declared output is a directory, not a file: d (${join(node('dir').node_dir, 'd')})` });
  });
});
