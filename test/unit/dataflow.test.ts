/**
 * Data flow: inputs, connections and templates — validation with precise
 * errors, and the pure rendering used at admission (argv list expansion,
 * shell quoting, output paths, missing producer outputs).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/shared/errors.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { renderCommand, renderOutputs, resolveInputs, shellQuote, TemplateError } from '../../src/shared/workflow/template.js';
import { catchError } from './support.js';

const issues = (raw: unknown): Array<{ node?: string; field?: string; message: string }> => {
  const err = catchError(() => validateWorkflow(raw, { file: 'wf.json' }), ValidationError);
  return err.issues.map((i) => ({ ...(i.node !== undefined ? { node: i.node } : {}), ...(i.field !== undefined ? { field: i.field } : {}), message: i.message }));
};

describe('validation of inputs, outputs and templates', () => {
  it('turns connections into inputs and dependencies', () => {
    const wf = validateWorkflow({
      name: 'w',
      nodes: [
        { id: 'a.b', command: 'echo', outputs: { out: 'x.txt' } },
        { id: 'c', command: ['cat', '{{inputs.f}}'], inputs: { f: { from: 'a.b.out' }, k: 3, o: { from: 1 } }, needs: [] },
      ],
    });
    const c = wf.nodes[1];
    expect(c?.needs).toEqual(['a.b']);
    expect(c?.inputs).toEqual({ f: { kind: 'from', node: 'a.b', output: 'out' }, k: { kind: 'value', value: 3 }, o: { kind: 'value', value: { from: 1 } } });
    expect(wf.nodes[0]?.outputs).toEqual({ out: 'x.txt' });
  });

  it('names the node and field of every bad connection and template', () => {
    expect(
      issues({
        name: 'w',
        nodes: [
          { id: 'prod', command: 'true', outputs: { out_file: 'o' } },
          { id: 'json', command: 'true', stdout_json: true },
          { id: 'fn', function: { module: './m.mjs', export: 'f' }, outputs: { x: 'y' } },
          {
            id: 'use',
            inputs: { a: { from: 'prd.out_file' }, b: { from: 'prod.outfile' }, c: { from: 'json.anything' }, d: { from: 'use.x' } },
            command: 'echo {{inputs.a}} {{inputs.zz}} {{node.cwd}}',
          },
          { id: 'noins', command: ['echo', '{{ inputs.q }}'] },
        ],
      }),
    ).toEqual([
      { node: 'fn', field: 'nodes[2].outputs', message: 'function nodes return their outputs; "outputs" is for command nodes' },
    ]);
    expect(
      issues({
        name: 'w',
        nodes: [
          { id: 'prod', command: 'true', outputs: { out_file: 'o' } },
          { id: 'json', command: 'true', stdout_json: true },
          {
            id: 'use',
            inputs: { a: { from: 'prd.out_file' }, b: { from: 'prod.outfile' }, c: { from: 'json.anything' }, d: { from: 'use.x' } },
            command: 'echo {{inputs.a}} {{inputs.zz}} {{node.cwd}}',
          },
          { id: 'noins', command: ['echo', '{{ inputs.q }}'], outputs: { r: '{{inputs.q}}.txt' } },
        ],
      }),
    ).toEqual([
      { node: 'use', field: 'nodes[2].inputs.a.from', message: 'unknown node "prd" (did you mean "prod"?)' },
      { node: 'use', field: 'nodes[2].inputs.b.from', message: 'node "prod" has no output "outfile" (it declares: out_file; did you mean "out_file"?)' },
      { node: 'use', field: 'nodes[2].inputs.d.from', message: 'a node cannot take its own output' },
      { node: 'use', field: 'nodes[2].command', message: '{{inputs.zz}}: no input "zz" (inputs: a, b, c, d)' },
      { node: 'use', field: 'nodes[2].command', message: '{{node.cwd}}: unknown name (use inputs.<name>, node.id, node.dir, node.n_procs, node.mem_gb, workflow.dir)' },
      { node: 'noins', field: 'nodes[3].command[1]', message: '{{inputs.q}}: the node has no inputs' },
      { node: 'noins', field: 'nodes[3].outputs.r', message: '{{inputs.q}}: the node has no inputs' },
    ]);
  });

  it('finds cycles made by connections', () => {
    const err = catchError(
      () => validateWorkflow({ name: 'w', nodes: [{ id: 'a', command: 'true', stdout_json: true, inputs: { x: { from: 'b.y' } } }, { id: 'b', command: 'true', stdout_json: true, inputs: { x: { from: 'a.y' } } }] }),
      ValidationError,
    );
    expect(err.message).toMatch(/dependency cycle: (a -> b -> a|b -> a -> b)/);
  });

  it('rejects bad input names and malformed connections', () => {
    expect(issues({ name: 'w', nodes: [{ id: 'a', command: 'true', inputs: { 'bad-name': 1 } }] }).map((i) => i.field)).toEqual(['nodes[0].inputs.bad-name']);
    expect(issues({ name: 'w', nodes: [{ id: 'a', command: 'true', inputs: { ok: { from: 'nodot' } } }] })).toEqual([
      { node: 'a', field: 'nodes[0].inputs.ok.from', message: 'must be "<node>.<output>", received "nodot"' },
    ]);
  });
});

describe('rendering', () => {
  const ctx = { node: { id: 'n', n_procs: 4, mem_gb: 2 }, dir: '/work/w/n', inputs: { files: ['a b.txt', 'c.txt'], name: "it's; rm -rf /", n: 3, flag: true, obj: { k: 1 } } };

  it('expands a list input into arguments when it is a whole argv element', () => {
    expect(renderCommand(['tool', '-t', '{{node.n_procs}}', '{{ inputs.files }}', '--out={{node.dir}}/o', '{{inputs.n}}{{inputs.flag}}'], ctx)).toEqual(['tool', '-t', '4', 'a b.txt', 'c.txt', '--out=/work/w/n/o', '3true']);
    expect(() => renderCommand(['x-{{inputs.files}}'], ctx)).toThrow(TemplateError);
    expect(() => renderCommand(['{{inputs.obj}}'], ctx)).toThrow(/\{\{inputs.obj\}\} is an object/);
  });

  it('quotes every value as shell words in a shell string', () => {
    expect(renderCommand('cat {{inputs.files}} > {{inputs.name}}.out', ctx)).toBe(`cat 'a b.txt' c.txt > 'it'\\''s; rm -rf /'.out`);
    expect(shellQuote('plain-1.txt')).toBe('plain-1.txt');
    expect(shellQuote('')).toBe("''");
  });

  it('makes output paths absolute under the node directory', () => {
    expect(renderOutputs({ a: 'out/{{inputs.n}}.nii', b: '/abs/x' }, ctx)).toEqual({ a: '/work/w/n/out/3.nii', b: '/abs/x' });
  });

  it('resolves inputs from producers and says which output is missing', () => {
    const outputs = (id: string) => (id === 'p' ? { x: 1 } : undefined);
    expect(resolveInputs({ a: { kind: 'from', node: 'p', output: 'x' }, b: { kind: 'value', value: 'v' } }, outputs)).toEqual({ ok: true, values: { a: 1, b: 'v' } });
    expect(resolveInputs({ a: { kind: 'from', node: 'p', output: 'y' } }, outputs)).toEqual({ ok: false, reason: 'input "a": node "p" produced no output "y" (its outputs: x)' });
    expect(resolveInputs({ a: { kind: 'from', node: 'q', output: 'y' } }, outputs)).toEqual({ ok: false, reason: 'input "a": node "q" produced no output "y" (it produced no outputs)' });
  });
});
