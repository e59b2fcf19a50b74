/**
 * Templates in shell scripts: a table of hostile values × every position a
 * template can take, rendered and then really run by bash and by /bin/sh.
 * No value may run a command (a marker file is never created), and where a
 * position is accepted the value arrives verbatim. Positions that cannot be
 * made safe are refused, at validation with node, field and position.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/shared/errors.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { renderCommand, renderOutputs, shellScriptIndex, shellTemplateProblems, TemplateError } from '../../src/shared/workflow/template.js';
import { catchError } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'fg-shell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MARKER = join(dir, 'pwned');
const OUT = join(dir, 'out');

/** Values that would run `touch MARKER` if they were pasted into the script. */
const PAYLOADS: Record<string, string> = {
  'command substitution': `$(touch ${MARKER})`,
  backticks: `\`touch ${MARKER}\``,
  semicolon: `; touch ${MARKER}`,
  'single quote': `'; touch ${MARKER}; echo '`,
  'double quote': `"; touch ${MARKER}; echo "`,
  'both quotes': `'"$(touch ${MARKER})"'`,
  newline: `x\ntouch ${MARKER}\n`,
  variable: '$HOME ${HOME} $0',
  'trailing backslash': 'a\\',
  'escaped quote': `\\"; touch ${MARKER}; \\"`,
  'ansi-c quote': `$'\\x27; touch ${MARKER}'`,
  'heredoc delimiter': `x\nEOF\ntouch ${MARKER}\nEOF`,
  'tabbed delimiter': `x\n\tEOF\ntouch ${MARKER}`,
  glob: '* ~ {a,b} [a]',
  empty: '',
  'redirect and pipe': `> ${MARKER} | tee ${MARKER} &`,
};

/** Positions: the script (writing the value to OUT) and what OUT should hold. */
const POSITIONS: Record<string, { script: string; expect: (v: string) => string }> = {
  unquoted: { script: `printf %s {{inputs.v}} > ${OUT}`, expect: (v) => v },
  'unquoted, glued to text': { script: `printf %s a{{inputs.v}}b > ${OUT}`, expect: (v) => `a${v}b` },
  'inside "…"': { script: `printf %s "<{{inputs.v}}>" > ${OUT}`, expect: (v) => `<${v}>` },
  "inside '…'": { script: `printf %s '<{{inputs.v}}>' > ${OUT}`, expect: (v) => `<${v}>` },
  'heredoc, unquoted delimiter': { script: `cat > ${OUT} <<EOF\n<{{inputs.v}}>\nEOF\n`, expect: (v) => `<${v}>\n` },
  'heredoc, quoted delimiter': { script: `cat > ${OUT} <<'EOF'\n{{inputs.v}}\nEOF\n`, expect: (v) => `${v}\n` },
  'heredoc <<-': { script: `cat > ${OUT} <<-EOF\n\t{{inputs.v}}\n\tEOF\n`, expect: (v) => `${v}\n` },
  'inside $(…)': { script: `: "$(printf %s {{inputs.v}} > ${OUT})"`, expect: (v) => v },
  'inside "…" in $(…) in "…"': { script: `: "$(printf %s "[{{inputs.v}}]" > ${OUT})"`, expect: (v) => `[${v}]` },
  'after a comment': { script: `# {{inputs.v}}\nprintf %s {{inputs.v}} > ${OUT}`, expect: (v) => v },
};

function run(argv: readonly string[]): { status: number | null; out: string | undefined } {
  rmSync(OUT, { force: true });
  const res = spawnSync(argv[0] ?? '', argv.slice(1), { cwd: dir, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent-home' } });
  return { status: res.status, out: existsSync(OUT) ? readFileSync(OUT, 'utf8') : undefined };
}

const ctx = (v: unknown) => ({ node: { id: 'n', n_procs: 1, mem_gb: 1 }, dir, inputs: { v } });

describe('templates in shell scripts cannot inject shell syntax', () => {
  for (const [position, { script, expect: expected }] of Object.entries(POSITIONS)) {
    for (const [payload, value] of Object.entries(PAYLOADS)) {
      it(`${payload} ${position}`, () => {
        rmSync(MARKER, { force: true });
        let rendered: string;
        try {
          rendered = renderCommand(script, ctx(value)) as string;
        } catch (err) {
          // Refused: only a value that would end a here-document (or lose its tabs) may be.
          expect(err).toBeInstanceOf(TemplateError);
          expect(position).toMatch(/heredoc/);
          expect(value).toMatch(/\n\t?EOF|\n\t/);
          expect((err as Error).message).toMatch(/end the here-document early|tabs/);
          return;
        }
        for (const shell of [['/bin/bash', '-euo', 'pipefail', '-c'], ['/bin/sh', '-c']]) {
          const res = run([...shell, rendered]);
          expect(existsSync(MARKER), `${shell[0]} ran the payload: ${rendered}`).toBe(false);
          expect(res.status, `${shell[0]} failed on: ${rendered}`).toBe(0);
          expect(res.out, `${shell[0]} on: ${rendered}`).toBe(expected(value));
        }
        // The same script as `bash -c SCRIPT` in an argv.
        const argv = renderCommand(['bash', '-c', script, 'name', '{{inputs.v}}'], ctx(value)) as string[];
        expect(argv[4]).toBe(value);
        run(argv);
        expect(existsSync(MARKER)).toBe(false);
        expect(run(argv).out).toBe(expected(value));
      });
    }
  }

  it('renders a list as one word per item where unquoted, and refuses it inside quotes', () => {
    expect(renderCommand('printf "<%s>" {{inputs.v}}', ctx(['a b', "it's", '$(x)']))).toBe(`printf "<%s>" 'a b' 'it'\\''s' '$(x)'`);
    expect(() => renderCommand('echo "{{inputs.v}}"', ctx(['a']))).toThrow(/is a list; inside "…" only a string, number or boolean fits/);
    expect(() => renderCommand("echo '{{inputs.v}}'", ctx(['a']))).toThrow(/is a list; inside '…'/);
    expect(() => renderCommand('cat <<E\n{{inputs.v}}\nE', ctx(['a']))).toThrow(/is a list; in a here-document/);
  });

  it('quotes a value that looks like an assignment, and refuses NUL', () => {
    expect(renderCommand('{{inputs.v}} true', ctx('PATH=/tmp'))).toBe("'PATH=/tmp' true");
    expect(() => renderCommand('echo {{inputs.v}}', ctx('a\0b'))).toThrow(/NUL character/);
  });

  it('leaves templates in comments as written', () => {
    expect(renderCommand('echo hi # was {{inputs.v}}\necho {{inputs.v}}', ctx('a\nb'))).toBe("echo hi # was {{inputs.v}}\necho 'a\nb'");
  });
});

describe('positions where no value can be made safe', () => {
  const refused: Record<string, [string, RegExp]> = {
    backticks: ['echo `echo {{inputs.v}}`', /inside `…` \(backticks\).*write \$\(…\) instead/],
    'parameter expansion': ['echo "${X:-{{inputs.v}}}"', /inside \$\{…\}.*assign it to a variable first/],
    arithmetic: ['echo $(( {{inputs.v}} + 1 ))', /arithmetic expression/],
    'arithmetic command': ['(( {{inputs.v}} > 1 ))', /arithmetic expression/],
    'ansi-c quote': ["echo $'{{inputs.v}}'", /inside \$'…'/],
    'locale quote': ['echo $"{{inputs.v}}"', /inside \$"…"/],
    'after a backslash': ['echo \\{{inputs.v}}', /right after a backslash/],
    'after a backslash in "…"': ['echo "\\{{inputs.v}}"', /right after a backslash/],
    'after $': ['echo ${{inputs.v}}', /right after \$/],
    'heredoc delimiter': ['cat <<{{inputs.v}}\nx\n', /here-document delimiter/],
    'unterminated quote': ['echo "{{inputs.v}}', /unterminated "…" opened at line 1, column 6.*fix the quoting/],
  };
  for (const [name, [script, why]] of Object.entries(refused)) {
    it(`refuses a template ${name}`, () => {
      expect(shellTemplateProblems(script).join('; ')).toMatch(why);
      expect(() => renderCommand(script, ctx('1'))).toThrow(TemplateError);
    });
  }

  it('tells quoting apart in case statements inside $(…)', () => {
    expect(shellTemplateProblems('x="$(case a in a) echo {{inputs.v}};; esac)"; echo "$(echo case) {{inputs.v}}"')).toEqual([]);
    expect(renderCommand('x="$(case a in a) echo {{inputs.v}};; esac) {{inputs.v}}"', ctx('$y z'))).toBe(`x="$(case a in a) echo '$y z';; esac) \\$y z"`);
  });

  it('reports refusals at validation with node, field and position', () => {
    const err = catchError(
      () =>
        validateWorkflow({
          name: 'w',
          nodes: [
            { id: 'a', inputs: { v: 1 }, command: 'echo ok\necho `cat {{inputs.v}}`' },
            { id: 'b', inputs: { v: 1 }, command: ['bash', '-e', '-c', 'echo ${X:-{{inputs.v}}}', '{{inputs.v}}'] },
            { id: 'c', inputs: { v: 1 }, command: ['printf', '`{{inputs.v}}`'] },
          ],
        }),
      ValidationError,
    );
    expect(err.exitCode).toBe(2);
    expect(err.issues.map((i) => [i.node, i.field, i.message])).toEqual([
      ['a', 'nodes[0].command', '{{inputs.v}} at line 2, column 11 is inside `…` (backticks), where a value cannot be quoted safely; write $(…) instead of backticks'],
      ['b', 'nodes[1].command[3]', '{{inputs.v}} at line 1, column 11 is inside ${…}, where a value cannot be quoted safely; assign it to a variable first (v={{…}}) and use ${v…}'],
    ]);
  });
});

describe('argv commands that run a shell script', () => {
  it('finds the script of sh -c and its variants', () => {
    expect(shellScriptIndex(['sh', '-c', 's'])).toBe(2);
    expect(shellScriptIndex(['/bin/bash', '-e', '-o', 'pipefail', '-c', 's', 'a'])).toBe(5);
    expect(shellScriptIndex(['bash', '-euc', 's'])).toBe(2);
    expect(shellScriptIndex(['bash', '-c', '--', 's'])).toBe(3);
    expect(shellScriptIndex(['sh', 'script.sh'])).toBe(-1);
    expect(shellScriptIndex(['printf', '-c', 's'])).toBe(-1);
  });
});

describe('output paths', () => {
  it('refuses paths that leave the node directory, at validation and once filled in', () => {
    const err = catchError(
      () =>
        validateWorkflow({
          name: 'w',
          nodes: [{ id: 'a', inputs: { v: 'x' }, command: 'true', outputs: { up: '../x', deep: 'a/../../x', dir: '{{node.dir}}/../x', self: '.', abs: '/tmp/x', ok: 'a/../b', t: '{{inputs.v}}.txt' } }],
        }),
      ValidationError,
    );
    expect(err.issues.map((i) => [i.field, i.message])).toEqual([
      ['nodes[0].outputs.up', '"../x" leaves the node directory through ".."; write an absolute path for a file outside it'],
      ['nodes[0].outputs.deep', '"a/../../x" leaves the node directory through ".."; write an absolute path for a file outside it'],
      ['nodes[0].outputs.dir', '"{{node.dir}}/../x" leaves the node directory through ".."; write an absolute path for a file outside it'],
      ['nodes[0].outputs.self', '"." names the node directory itself; an output is a file in it'],
    ]);
    expect(renderOutputs({ t: '{{inputs.v}}.txt', abs: '{{inputs.v}}' }, ctx('/data/y'))).toEqual({ t: '/data/y.txt', abs: '/data/y' });
    expect(() => renderOutputs({ t: 'sub/{{inputs.v}}' }, ctx('../../etc/x'))).toThrow('output "t": the path "sub/../../etc/x" (from "sub/{{inputs.v}}") leaves the node directory');
  });
});

describe('the shell option', () => {
  it('defaults string commands to bash strict mode; a node overrides defaults; argv and functions have none', () => {
    const wf = validateWorkflow({
      name: 'w',
      defaults: { shell: { path: '/bin/bash', flags: ['-e'] } },
      nodes: [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true', shell: '/bin/sh' },
        { id: 'c', command: ['true'] },
      ],
    });
    expect(wf.nodes.map((n) => n.shell)).toEqual([{ path: '/bin/bash', flags: ['-e'] }, { path: '/bin/sh', flags: [] }, null]);
    expect(validateWorkflow({ name: 'w', nodes: [{ id: 'a', command: 'true' }] }).nodes[0]?.shell).toEqual({ path: '/bin/bash', flags: ['-e', '-u', '-o', 'pipefail'] });
  });

  it('says what a bad shell is', () => {
    const messages = (shell: unknown): string[] => catchError(() => validateWorkflow({ name: 'w', defaults: { shell }, nodes: [{ id: 'a', command: 'true' }] }), ValidationError).issues.map((i) => `${i.field}: ${i.message}`);
    expect(messages(3)).toEqual(['defaults.shell: expected a shell path (string) or {path, flags}, received number 3']);
    expect(messages('./sh')).toEqual(['defaults.shell: must be an absolute path, or a program name looked up in PATH']);
    expect(messages({ path: '/bin/sh', flags: ['-c'] })).toEqual(['defaults.shell.flags[0]: flowgate adds "-c SCRIPT" itself']);
    expect(messages({ path: '/bin/sh', flag: [] })).toEqual(['defaults.shell.flag: unknown key "flag" (did you mean "flags"?)']);
  });
});
