/**
 * Workflow files: loading JSON/YAML, schema validation, graph checks, defaults,
 * and the precision of every error (file, node, field, line, column, message).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, type ValidationIssue } from '../../src/shared/errors.js';
import { loadWorkflowFile, validateWorkflow } from '../../src/shared/workflow/parse.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { DEFAULT_MEM_GB, DEFAULT_N_PROCS, DEFAULT_SHELL } from '../../src/shared/workflow/schema.js';
import { catchError } from './support.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/workflows');
const INVALID = join(FIXTURES, 'invalid');
/** The shared benchmark workloads; override with FLOWGATE_WORKLOADS_DIR. */
// The benchmark workloads live in shared/ beside the repository.
const WORKLOADS =
  process.env['FLOWGATE_WORKLOADS_DIR'] ??
  [resolve(import.meta.dirname, '../../../shared/workloads'), '/work/shared/workloads'].find((d) => existsSync(d)) ??
  resolve(import.meta.dirname, '../../../shared/workloads');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'flowgate-parse-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Writes `text` to a fresh file in the temp dir and returns its path. */
function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** 1-based line and column of the first occurrence of `needle` in `text` (independent of src). */
function position(text: string, needle: string, from = 0): { line: number; column: number } {
  const at = text.indexOf(needle, from);
  if (at < 0) throw new Error(`fixture does not contain ${needle}`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

/** Loads a file that must be invalid and returns the error. */
function loadInvalid(path: string): ValidationError {
  return catchError(() => loadWorkflowFile(path), ValidationError);
}

/** The one issue with this field (fails if there is not exactly one). */
function issueFor(err: ValidationError, field: string): ValidationIssue {
  const matches = err.issues.filter((i) => i.field === field);
  expect(matches, `issues for field ${field}: ${JSON.stringify(err.issues)}`).toHaveLength(1);
  return matches[0] as ValidationIssue;
}

describe('loadWorkflowFile: valid files', () => {
  const expected: Workflow = {
    name: 'fixture-valid',
    nodes: [
      { id: 'fetch', index: 0, command: ['sh', '-c', 'echo fetch'], needs: [], n_procs: 2, mem_gb: 0.2, resources: {}, env: {}, shell: null, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'fetch' },
      { id: 'align', index: 1, command: 'echo align', needs: ['fetch'], n_procs: 2, mem_gb: 3, resources: {}, env: {}, shell: DEFAULT_SHELL, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'align' },
      { id: 'stats', index: 2, command: ['true'], needs: ['fetch'], n_procs: 1, mem_gb: 0.2, resources: {}, env: { MODE: 'fast' }, shell: null, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'stats' },
      { id: 'report', index: 3, command: 'echo report', needs: ['align', 'stats'], n_procs: 2, mem_gb: 0.2, resources: {}, env: {}, shell: DEFAULT_SHELL, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'report' },
    ],
  };

  it('loads a YAML file and applies defaults', () => {
    expect(loadWorkflowFile(join(FIXTURES, 'valid.yaml'))).toEqual(expected);
  });

  it('loads the same workflow written as JSON to the identical result', () => {
    expect(loadWorkflowFile(join(FIXTURES, 'valid.json'))).toEqual(expected);
  });

  it('accepts .yml and upper-case extensions', () => {
    const text = readFileSync(join(FIXTURES, 'valid.yaml'), 'utf8');
    expect(loadWorkflowFile(file('copy.yml', text))).toEqual(expected);
    expect(loadWorkflowFile(file('COPY.YAML', text))).toEqual(expected);
    expect(loadWorkflowFile(file('COPY.JSON', readFileSync(join(FIXTURES, 'valid.json'), 'utf8')))).toEqual(expected);
  });

  it('loads the repository demo workflow', () => {
    const wf = loadWorkflowFile(resolve(import.meta.dirname, '../../examples/demo.yaml'));
    expect(wf.name).toBe('demo');
    expect(wf.nodes.map((n) => n.id)).toEqual(['fetch', 'split', 'count-a', 'count-b', 'checksum', 'report']);
    expect(wf.nodes[5]?.needs).toEqual(['count-a', 'count-b', 'checksum']);
    expect(wf.nodes[2]).toMatchObject({ n_procs: 2, mem_gb: 0.5 });
    expect(wf.nodes[5]?.env).toEqual({ REPORT_TITLE: 'flowgate demo' });
  });

  it('uses n_procs 1 and mem_gb 0.2 (the default in the code of nipype) when neither node nor defaults set them', () => {
    expect(DEFAULT_N_PROCS).toBe(1);
    expect(DEFAULT_MEM_GB).toBe(0.2);
    const wf = loadWorkflowFile(file('plain.yaml', 'name: plain\nnodes:\n  - id: a\n    command: "true"\n'));
    expect(wf.nodes[0]).toEqual({ id: 'a', index: 0, command: 'true', needs: [], n_procs: 1, mem_gb: 0.2, resources: {}, env: {}, shell: DEFAULT_SHELL, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'a' });
  });

  it('lets `defaults:` override both defaults, and a node override `defaults:`', () => {
    const wf = validateWorkflow({
      name: 'd',
      defaults: { n_procs: 3, mem_gb: 1.5 },
      nodes: [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true', n_procs: 1 },
        { id: 'c', command: 'true', mem_gb: 6 },
      ],
    });
    expect(wf.nodes.map((n) => [n.id, n.n_procs, n.mem_gb])).toEqual([
      ['a', 3, 1.5],
      ['b', 1, 1.5],
      ['c', 3, 6],
    ]);
  });

  it('accepts version 1 explicitly', () => {
    expect(validateWorkflow({ version: 1, name: 'v', nodes: [{ id: 'a', command: 'x' }] }).name).toBe('v');
  });
});

describe('loadWorkflowFile: the shared workloads', () => {
  const names = ['chain-100', 'diamond-500', 'fanout-200', 'fanout-2000', 'membound-60', 'mixed-150'];

  it('has all six workload files (set FLOWGATE_WORKLOADS_DIR to relocate them)', () => {
    for (const name of names) expect(existsSync(join(WORKLOADS, `${name}.json`)), `${name}.json`).toBe(true);
  });

  it.each(names)('%s loads unchanged', (name) => {
    const path = join(WORKLOADS, `${name}.json`);
    const raw = JSON.parse(readFileSync(path, 'utf8')) as {
      name: string;
      nodes: Array<{ id: string; command: string[]; needs: string[]; n_procs: number; mem_gb: number }>;
    };
    const meta = JSON.parse(readFileSync(join(WORKLOADS, `${name}.meta.json`), 'utf8')) as { nodes: number };
    const wf = loadWorkflowFile(path);
    expect(wf.name).toBe(name);
    expect(wf.nodes).toHaveLength(meta.nodes);
    expect(wf.nodes).toEqual(raw.nodes.map((n, index) => ({ ...n, index, resources: {}, env: {}, shell: null, function: null, code_version: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: n.id })));
  });
});

describe('loadWorkflowFile: reading the file', () => {
  it('reports a missing file by name', () => {
    const path = join(tmp, 'does-not-exist.yaml');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toEqual([{ file: path, message: 'cannot read workflow file: no such file' }]);
    expect(err.message).toBe(`${path}: cannot read workflow file: no such file`);
    expect(err.exitCode).toBe(2);
  });

  it('reports a directory given as the workflow file', () => {
    const path = join(tmp, 'a-directory.json');
    mkdirSync(path);
    const err = loadInvalid(path);
    expect(err.issues).toEqual([{ file: path, message: 'cannot read workflow file: is a directory' }]);
  });

  it.skipIf(process.getuid?.() === 0)('reports a file it may not read', () => {
    const path = file('secret.yaml', 'name: x\n');
    chmodSync(path, 0o000);
    const err = loadInvalid(path);
    expect(err.issues).toEqual([{ file: path, message: 'cannot read workflow file: permission denied' }]);
  });

  it('reads a file without a known extension as YAML (a superset of JSON)', () => {
    const toml = file('workflow.toml', 'name: x\nnodes:\n  - id: a\n    command: ["true"]\n');
    expect(loadWorkflowFile(toml).nodes.map((n) => n.id)).toEqual(['a']);
    const none = file('Workflowfile', JSON.stringify({ name: 'x', nodes: [{ id: 'b', command: ['true'] }] }));
    expect(loadWorkflowFile(none).nodes.map((n) => n.id)).toEqual(['b']);
    const missing = loadInvalid(join(tmp, 'missing.toml'));
    expect(missing.issues).toEqual([{ file: join(tmp, 'missing.toml'), message: 'cannot read workflow file: no such file' }]);
  });

  it('reports a JSON syntax error with its line and column', () => {
    const path = join(INVALID, 'json-syntax.json');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(1);
    const issue = err.issues[0] as ValidationIssue;
    // The stray `}` after the trailing comma on line 4.
    const where = position(text, '}', text.indexOf('"true",'));
    expect(where.line).toBe(4);
    expect(issue).toMatchObject({ file: path, line: where.line, column: where.column });
    expect(issue.message).toMatch(/^JSON syntax error: /);
    expect(err.message.startsWith(`${path}:4:${where.column}: JSON syntax error: `)).toBe(true);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('reports a JSON syntax error on the first line', () => {
    const path = file('truncated.json', '{"name": "x", ');
    const issue = loadInvalid(path).issues[0];
    expect(issue).toMatchObject({ file: path, line: 1, column: 15 });
  });

  it('ignores a UTF-8 byte-order mark in JSON and YAML', () => {
    const json = file('bom.json', `\ufeff${JSON.stringify({ name: 'bom', nodes: [{ id: 'a', command: 'true' }] })}`);
    expect(loadWorkflowFile(json).nodes.map((n) => n.id)).toEqual(['a']);
    const yaml = file('bom.yaml', '\ufeffname: bom\nnodes:\n  - id: a\n    command: "true"\n');
    expect(loadWorkflowFile(yaml).name).toBe('bom');
    // Positions still count from the first real character.
    const bad = file('bom-bad.json', '\ufeff{\n  "name": "x",\n}');
    expect(loadInvalid(bad).issues[0]).toMatchObject({ line: 3, column: 1 });
  });

  it('says an empty JSON file is empty', () => {
    const path = file('empty.json', '  \n');
    expect(loadInvalid(path).issues).toEqual([{ file: path, message: 'JSON syntax error: the file is empty' }]);
  });

  it('reports a YAML syntax error with its line and column', () => {
    const path = join(INVALID, 'yaml-syntax.yaml');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues.length).toBeGreaterThanOrEqual(1);
    const issue = err.issues[0] as ValidationIssue;
    expect(issue.file).toBe(path);
    expect(issue.line).toBe(4); // the mis-indented `command:` line
    expect(issue.column).toEqual(expect.any(Number));
    expect(issue.message).toMatch(/^YAML syntax error: \S/);
    expect(err.message.startsWith(`${path}:4:${String(issue.column)}: YAML syntax error: `)).toBe(true);
  });

  it('reports an unclosed YAML flow sequence', () => {
    const path = file('unclosed.yaml', 'name: x\nnodes:\n  - id: a\n    command: [true\n  - id: b\n');
    const issue = loadInvalid(path).issues[0];
    expect(issue?.file).toBe(path);
    expect(issue?.message).toMatch(/^YAML syntax error: /);
    expect(issue?.line).toBeGreaterThanOrEqual(4);
  });

  it('rejects a duplicate YAML key as a syntax error on its line', () => {
    const path = file('dupkey.yaml', 'name: x\nname: y\nnodes:\n  - id: a\n    command: "true"\n');
    const issue = loadInvalid(path).issues[0];
    expect(issue).toMatchObject({ file: path, line: 2, column: 1 });
    expect(issue?.message).toMatch(/^YAML syntax error: .*unique/);
  });

  // BUG (src/shared/workflow/parse.ts, parseJson): JSON.parse keeps the last of
  // duplicate keys silently, while parseYaml rejects them (uniqueKeys: true), so
  // the same mistake is an error in YAML but quietly changes n_procs in JSON.
  it('rejects a duplicate JSON key as YAML does, at its line', () => {
    const text = '{\n  "name": "x",\n  "nodes": [\n    { "id": "a", "command": "true", "n_procs": 2, "n_procs": 64 }\n  ]\n}\n';
    const path = file('dupkey.json', text);
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues[0]).toMatchObject({ file: path, line: 4 });
    expect(err.issues[0]?.message).toMatch(/unique|duplicate/i);
  });

  it.each([
    ['array.json', '[]'],
    ['null.json', 'null'],
    ['string.yaml', 'just a string\n'],
    ['empty.yaml', ''],
  ])('rejects a document that is not an object (%s)', (name, text) => {
    const path = file(name, text);
    expect(loadInvalid(path).issues).toEqual([{ file: path, message: 'a workflow must be an object with "name" and "nodes"' }]);
  });
});

describe('validation: missing and mistyped fields', () => {
  it('names the missing workflow name, node id and command', () => {
    const path = join(INVALID, 'missing-fields.yaml');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(3);
    expect(issueFor(err, 'name')).toEqual({
      file: path,
      field: 'name',
      line: 1,
      column: 1,
      message: 'expected string, received nothing (field is required)',
    });
    // A node without an id is named by its position.
    expect(issueFor(err, 'nodes[0].id')).toEqual({
      file: path,
      node: '#0',
      field: 'nodes[0].id',
      line: 2,
      column: 5,
      message: 'expected string, received nothing (field is required)',
    });
    expect(issueFor(err, 'nodes[1].command')).toMatchObject({
      file: path,
      node: 'no-command',
      line: 3,
      column: 5,
      message: 'needs a "command" (argv array or shell string) or a "function"',
    });
    expect(err.message).toContain(`${path}:1:1: field "name": expected string`);
    expect(err.message).toContain(`${path}:3:5: node "no-command", field "nodes[1].command": `);
  });

  it('requires the nodes list and at least one node', () => {
    const noNodes = loadInvalid(file('no-nodes.yaml', 'name: x\n'));
    expect(noNodes.issues).toEqual([
      expect.objectContaining({ field: 'nodes', message: 'expected array, received nothing (field is required)' }),
    ]);
    const path = file('zero-nodes.yaml', 'name: x\nnodes: []\n');
    expect(loadInvalid(path).issues).toEqual([
      { file: path, field: 'nodes', line: 2, column: 8, message: 'a workflow needs at least one node, received an array' },
    ]);
  });

  it('locates wrong types in JSON by node and field', () => {
    const path = join(INVALID, 'wrong-types.json');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(3);
    expect(issueFor(err, 'nodes[0].n_procs')).toMatchObject({ file: path, node: 'threads', ...position(text, '"4"') });
    expect(issueFor(err, 'nodes[1].mem_gb')).toMatchObject({ file: path, node: 'memory', ...position(text, '"2GB"') });
    expect(issueFor(err, 'nodes[2].command')).toMatchObject({
      file: path,
      node: 'numeric',
      ...position(text, '42'),
      message: 'expected an argv array of strings or a shell command string',
    });
  });

  // zod 4 leaves `input` off issues unless safeParse gets `{ reportInput: true }`;
  // without it a present value was described as "nothing (field is required)".
  it('says what it received for a wrong type, not "field is required"', () => {
    const err = loadInvalid(join(INVALID, 'wrong-types.json'));
    expect(issueFor(err, 'nodes[0].n_procs').message).toBe('expected number, received "4"');
    expect(issueFor(err, 'nodes[1].mem_gb').message).toBe('expected number, received "2GB"');
  });

  it('says what it received for a wrong version (not "undefined undefined")', () => {
    const err = catchError(() => validateWorkflow({ version: 2, name: 'v', nodes: [{ id: 'a', command: 'x' }] }), ValidationError);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.field).toBe('version');
    expect(err.issues[0]?.message).not.toContain('undefined');
    expect(err.issues[0]?.message).toContain('received number 2');
  });

  it('rejects empty commands and malformed ids', () => {
    const err = catchError(
      () =>
        validateWorkflow({
          name: 'bad name!',
          nodes: [
            { id: 'a', command: '' },
            { id: 'b', command: [] },
            { id: '-c', command: 'x' },
            { id: 'd', command: ['ok', 3] },
          ],
        }),
      ValidationError,
    );
    expect(err.issues.map((i) => [i.node, i.field])).toEqual([
      [undefined, 'name'],
      ['a', 'nodes[0].command'],
      ['b', 'nodes[1].command'],
      ['-c', 'nodes[2].id'],
      ['d', 'nodes[3].command'],
    ]);
    expect(issueFor(err, 'name').message).toMatch(/^must start with a letter or digit.*, received "bad name!"$/);
    expect(issueFor(err, 'nodes[0].command').message).toBe('must not be empty, received ""');
    expect(issueFor(err, 'nodes[1].command').message).toBe('must name a program, received an array');
    expect(issueFor(err, 'nodes[2].id').message).toMatch(/^must start with a letter or digit.*, received "-c"$/);
    // Without a source there is no file and no position.
    for (const issue of err.issues) {
      expect(issue.file).toBeUndefined();
      expect(issue.line).toBeUndefined();
    }
  });
});

describe('validation: resources must be positive', () => {
  it('rejects n_procs 0, mem_gb 0, mem_gb -1 and n_procs 1.5, each at its line', () => {
    const path = join(INVALID, 'non-positive.yaml');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(4);
    expect(issueFor(err, 'nodes[0].n_procs')).toEqual({
      file: path,
      node: 'zero-procs',
      field: 'nodes[0].n_procs',
      ...position(text, '0', text.indexOf('n_procs: 0')),
      message: 'must be at least 1, received number 0',
    });
    expect(issueFor(err, 'nodes[1].mem_gb')).toEqual({
      file: path,
      node: 'zero-mem',
      field: 'nodes[1].mem_gb',
      ...position(text, '0', text.indexOf('mem_gb: 0')),
      message: 'must be greater than 0, received number 0',
    });
    expect(issueFor(err, 'nodes[2].mem_gb')).toEqual({
      file: path,
      node: 'negative-mem',
      field: 'nodes[2].mem_gb',
      ...position(text, '-1'),
      message: 'must be greater than 0, received number -1',
    });
    expect(issueFor(err, 'nodes[3].n_procs')).toMatchObject({ file: path, node: 'fractional-procs', ...position(text, '1.5') });
    expect(issueFor(err, 'nodes[3].n_procs').message).toMatch(/^must be a whole number, received 1\.5$/);
  });

  it('explains a fractional n_procs instead of "received nothing (field is required)"', () => {
    const err = catchError(() => validateWorkflow({ name: 'f', nodes: [{ id: 'a', command: 'x', n_procs: 1.5 }] }), ValidationError);
    expect(err.issues[0]?.message).not.toContain('field is required');
    expect(err.issues[0]?.message).toContain('1.5');
  });

  it('checks `defaults:` values too', () => {
    const err = catchError(
      () => validateWorkflow({ name: 'd', defaults: { n_procs: 0, mem_gb: -2 }, nodes: [{ id: 'a', command: 'x' }] }, { file: 'wf.json' }),
      ValidationError,
    );
    expect(err.issues).toEqual([
      { file: 'wf.json', field: 'defaults.n_procs', message: 'must be at least 1, received number 0' },
      { file: 'wf.json', field: 'defaults.mem_gb', message: 'must be greater than 0, received number -2' },
    ]);
  });

  it('accepts a tiny positive memory request', () => {
    expect(validateWorkflow({ name: 'm', nodes: [{ id: 'a', command: 'x', mem_gb: 0.001 }] }).nodes[0]?.mem_gb).toBe(0.001);
  });
});

describe('validation: unknown keys', () => {
  it('reports unknown keys at every level with a "did you mean" hint', () => {
    const path = join(INVALID, 'unknown-keys.yaml');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(4);
    expect(issueFor(err, 'nodez')).toMatchObject({
      file: path,
      ...position(text, 'nodez'),
      message: 'unknown key "nodez" (did you mean "nodes"?)',
    });
    expect(issueFor(err, 'nodez').node).toBeUndefined();
    expect(issueFor(err, 'defaults.memgb')).toMatchObject({
      file: path,
      ...position(text, 'memgb'),
      message: 'unknown key "memgb" (did you mean "mem_gb"?)',
    });
    expect(issueFor(err, 'nodes[0].nprocs')).toMatchObject({
      file: path,
      node: 'first',
      ...position(text, 'nprocs'),
      message: 'unknown key "nprocs" (did you mean "n_procs"?)',
    });
    expect(issueFor(err, 'nodes[1].need')).toMatchObject({
      file: path,
      node: 'second',
      ...position(text, 'need:'),
      message: 'unknown key "need" (did you mean "needs"?)',
    });
    expect(err.message).toContain(`node "first", field "nodes[0].nprocs": unknown key "nprocs" (did you mean "n_procs"?)`);
  });

  it('locates every one of 2000 issues in a large file, and lists the first 50 in the message', () => {
    const lines = ['name: big', 'nodes:'];
    for (let k = 0; k < 2000; k++) lines.push(`  - id: n${k}`, '    command: "true"', '    nprocs: 1');
    const path = file('big.yaml', `${lines.join('\n')}\n`);
    const err = loadInvalid(path);
    expect(err.issues).toHaveLength(2000);
    err.issues.forEach((issue, k) => {
      if (issue.line !== 5 + 3 * k || issue.column !== 5 || issue.node !== `n${k}` || issue.field !== `nodes[${k}].nprocs`) {
        expect.fail(`issue ${k}: ${JSON.stringify(issue)}`);
      }
    });
    const messageLines = err.message.split('\n');
    expect(messageLines).toHaveLength(51);
    expect(messageLines[0]).toBe(`${path}:5:5: node "n0", field "nodes[0].nprocs": unknown key "nprocs" (did you mean "n_procs"?)`);
    expect(messageLines[50]).toBe('… and 1950 more problems');
  });

  it('gives no hint when nothing is close', () => {
    const err = catchError(() => validateWorkflow({ name: 'x', nodes: [{ id: 'a', command: 'x', zzzzzzzz: 1 }] }), ValidationError);
    expect(err.issues).toEqual([{ node: 'a', field: 'nodes[0].zzzzzzzz', message: 'unknown key "zzzzzzzz"' }]);
  });

  it('reports every unknown key of one object separately', () => {
    const err = catchError(() => validateWorkflow({ name: 'x', nodes: [{ id: 'a', command: 'x', memgb: 1, envv: {} }] }), ValidationError);
    expect(err.issues.map((i) => i.message)).toEqual([
      'unknown key "memgb" (did you mean "mem_gb"?)',
      'unknown key "envv" (did you mean "env"?)',
    ]);
  });
});

describe('validation: graph checks', () => {
  it('rejects duplicate ids, pointing at the second one', () => {
    const path = join(INVALID, 'duplicate-ids.yaml');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toEqual([
      {
        file: path,
        node: 'a',
        field: 'nodes[2].id',
        ...position(text, 'a', text.lastIndexOf('- id: a') + 6),
        message: 'duplicate id "a" (first used by nodes[0])',
      },
    ]);
    expect(err.issues[0]?.line).toBe(7);
  });

  it('rejects unknown `needs` with a hint for a near miss', () => {
    const path = join(INVALID, 'unknown-needs.yaml');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toEqual([
      {
        file: path,
        node: 'smooth',
        field: 'nodes[1].needs[0]',
        ...position(text, 'alig,'),
        message: 'unknown node "alig" (did you mean "align"?)',
      },
      {
        file: path,
        node: 'smooth',
        field: 'nodes[1].needs[1]',
        ...position(text, 'nothing-like-it'),
        message: 'unknown node "nothing-like-it"',
      },
    ]);
    expect(err.message.split('\n')[0]).toBe(
      `${path}:7:13: node "smooth", field "nodes[1].needs[0]": unknown node "alig" (did you mean "align"?)`,
    );
  });

  it('reports misspelt keys and wrong types together with unknown needs and duplicate ids, in file order', () => {
    const path = join(INVALID, 'keys-and-needs.yaml');
    const text = readFileSync(path, 'utf8');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    const shown = err.issues.map((i) => `${i.line ?? '?'}: ${i.field ?? ''}: ${i.message}`);
    expect(shown).toEqual([
      `${position(text, 'nprocs').line}: nodes[0].nprocs: unknown key "nprocs" (did you mean "n_procs"?)`,
      `${position(text, 'alig,').line}: nodes[1].needs[0]: unknown node "alig" (did you mean "align"?)`,
      `${position(text, 'alig,').line}: nodes[1].needs[1]: ${err.issues[2]?.message ?? ''}`,
      `${position(text, 'smooth', text.lastIndexOf('- id: smooth')).line}: nodes[2].id: duplicate id "smooth" (first used by nodes[1])`,
      `${position(text, '1.5').line}: nodes[2].n_procs: must be a whole number, received 1.5`,
      `${position(text, '- command', text.lastIndexOf('- command')).line}: nodes[3].id: ${err.issues[5]?.message ?? ''}`,
    ]);
    // The entry that is not a string and the node without an id are the schema's to report, not unknown nodes.
    expect(err.issues[2]?.message).not.toContain('unknown node');
    expect(err.issues[5]?.message).not.toContain('unknown node');
  });

  it('rejects a node that needs itself', () => {
    const path = join(INVALID, 'self-dependency.yaml');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toEqual([
      { file: path, node: 'loop', field: 'nodes[0].needs[0]', line: 5, column: 13, message: 'a node cannot need itself' },
    ]);
  });

  it('rejects a dependency listed twice', () => {
    const err = catchError(
      () =>
        validateWorkflow({
          name: 'x',
          nodes: [
            { id: 'a', command: 'x' },
            { id: 'b', command: 'x', needs: ['a', 'a'] },
          ],
        }),
      ValidationError,
    );
    expect(err.issues).toEqual([{ node: 'b', field: 'nodes[1].needs[1]', message: '"a" is listed twice' }]);
  });

  it('rejects a cycle with code WORKFLOW_CYCLE and prints its path', () => {
    const path = join(INVALID, 'cycle.yaml');
    const err = loadInvalid(path);
    expect(err.code).toBe('WORKFLOW_CYCLE');
    expect(err.exitCode).toBe(2);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ file: path, node: 'a', message: 'dependency cycle: a -> b -> c -> a' });
    expect(err.message).toContain(`${path}`);
    expect(err.message).toContain('node "a"');
    expect(err.message).toContain('dependency cycle: a -> b -> c -> a');
  });

  // GAP (src/shared/workflow/parse.ts, checkGraph): the cycle issue has field
  // "needs" (not a path like every other issue) and no line/column, although the
  // offending `needs` entry is easy to locate.
  it('locates a cycle at the `needs` entry that closes it', () => {
    const path = join(INVALID, 'cycle.yaml');
    const err = loadInvalid(path);
    expect(err.issues[0]).toMatchObject({ file: path, node: 'a', field: 'nodes[1].needs[1]', line: 7 });
  });

  it('reports a two-node cycle in code without a file', () => {
    const err = catchError(
      () =>
        validateWorkflow({
          name: 'x',
          nodes: [
            { id: 'p', command: 'x', needs: ['q'] },
            { id: 'q', command: 'x', needs: ['p'] },
          ],
        }),
      ValidationError,
    );
    expect(err.code).toBe('WORKFLOW_CYCLE');
    expect(err.issues[0]?.message).toBe('dependency cycle: p -> q -> p');
    expect(err.issues[0]?.file).toBeUndefined();
  });

  it('allows a node to need a node listed after it', () => {
    const wf = validateWorkflow({
      name: 'x',
      nodes: [
        { id: 'late', command: 'x', needs: ['early'] },
        { id: 'early', command: 'x' },
      ],
    });
    expect(wf.nodes.map((n) => [n.id, n.index, n.needs])).toEqual([
      ['late', 0, ['early']],
      ['early', 1, []],
    ]);
  });

  it('names the file in every issue of every kind', () => {
    const invalid = [
      'json-syntax.json',
      'yaml-syntax.yaml',
      'wrong-types.json',
      'non-positive.yaml',
      'unknown-keys.yaml',
      'missing-fields.yaml',
      'duplicate-ids.yaml',
      'unknown-needs.yaml',
      'self-dependency.yaml',
      'cycle.yaml',
    ];
    for (const name of invalid) {
      const path = join(INVALID, name);
      const err = loadInvalid(path);
      expect(err.issues.length, name).toBeGreaterThan(0);
      for (const issue of err.issues) expect(issue.file, `${name}: ${issue.message}`).toBe(path);
      for (const line of err.message.split('\n')) expect(line.startsWith(path), line).toBe(true);
    }
  });
});

describe('YAML aliases: bounded by expanded size, not by alias count', () => {
  /** A node per line, all using one anchor; `use` is the YAML after `id`. */
  function manyUses(count: number, anchor: string, use: string): string {
    const lines = ['name: many', anchor, 'nodes:'];
    for (let i = 0; i < count; i++) lines.push(`  - id: n${i}`, `    ${use}`);
    return `${lines.join('\n')}\n`;
  }

  it('accepts one anchor merged into 150 nodes with <<: *d', () => {
    const text = `name: many\nx-defaults: &d {command: ["true"], n_procs: 2, mem_gb: 0.5}\nnodes:\n${Array.from({ length: 150 }, (_, i) => `  - <<: *d\n    id: n${i}\n`).join('')}`;
    // The top-level anchor holder is not a workflow key: keep the anchor on the first node instead.
    const valid = text.replace('x-defaults: &d {command: ["true"], n_procs: 2, mem_gb: 0.5}\n', '').replace('  - <<: *d\n    id: n0\n', '  - &d {id: n0, command: ["true"], n_procs: 2, mem_gb: 0.5}\n');
    const wf = loadWorkflowFile(file('merge150.yaml', valid));
    expect(wf.nodes).toHaveLength(150);
    expect(wf.nodes.every((n) => n.n_procs === 2 && n.mem_gb === 0.5 && JSON.stringify(n.command) === '["true"]')).toBe(true);
    expect(new Set(wf.nodes.map((n) => n.id)).size).toBe(150);
  });

  it('accepts an anchor used 150 times (*res), each node getting its own copy', () => {
    const text = manyUses(150, 'defaults: {n_procs: 1}', 'command: ["echo", "{{inputs.res}}"]\n    inputs: {res: *res}').replace(
      '  - id: n0\n    command: ["echo", "{{inputs.res}}"]\n    inputs: {res: *res}',
      '  - id: n0\n    command: ["echo", "{{inputs.res}}"]\n    inputs: {res: &res {cpu: 2, list: [1, 2, 3]}}',
    );
    const wf = loadWorkflowFile(file('res150.yaml', text));
    expect(wf.nodes).toHaveLength(150);
    expect(wf.nodes[149]?.inputs['res']).toEqual({ kind: 'value', value: { cpu: 2, list: [1, 2, 3] } });
  });

  it('refuses a billion-laughs alias bomb quickly, at the alias that crosses the bound', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array.from({ length: 10 }, () => `*${prev}`).join(',')}]`);
    }
    const text = `name: bomb\nnodes:\n  - id: a\n    command: ["true"]\n    inputs:\n      v:\n${levels.map((l) => `        ${l}`).join('\n')}\n`;
    const path = file('bomb.yaml', text);
    const started = Date.now();
    const err = loadInvalid(path);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues).toHaveLength(1);
    const issue = err.issues[0] as ValidationIssue;
    expect(issue.file).toBe(path);
    expect(issue.message).toMatch(/YAML aliases expand the document by more than 1,000,000 values \(at "\*[a-i]"\)/);
    expect(issue.line).toBeGreaterThanOrEqual(7);
  });

  it('refuses an alias with no anchor before it, and an alias inside its own anchor, with their lines', () => {
    const noAnchor = 'name: x\nnodes:\n  - id: a\n    command: *nope\n';
    expect(loadInvalid(file('noanchor.yaml', noAnchor)).issues[0]).toMatchObject({ ...position(noAnchor, '*nope'), message: 'YAML alias "*nope" has no anchor "&nope" before it' });
    const loop = 'name: x\nnodes:\n  - id: a\n    command: ["true"]\n    inputs:\n      v: &v [1, *v]\n';
    expect(loadInvalid(file('loop.yaml', loop)).issues[0]).toMatchObject({ ...position(loop, '*v'), message: expect.stringMatching(/inside the value it refers to/) as unknown });
  });

  it('refuses nesting deeper than 100 levels, also when reached through aliases', () => {
    const deep = `name: x\nnodes:\n  - id: a\n    command: ["true"]\n    inputs:\n      v: ${'['.repeat(150)}${']'.repeat(150)}\n`;
    expect(loadInvalid(file('deep.yaml', deep)).issues[0]?.message).toMatch(/nest more than 100 levels deep/);
    const a = `&a ${'['.repeat(60)}${']'.repeat(60)}`;
    const viaAlias = `name: x\nnodes:\n  - id: a\n    command: ["true"]\n    inputs:\n      v: ${a}\n      w: ${'['.repeat(60)}*a${']'.repeat(60)}\n`;
    expect(loadInvalid(file('deep-alias.yaml', viaAlias)).issues[0]?.message).toMatch(/nest more than 100 levels deep once "\*a" is expanded/);
    const json = `{"name": "x", "nodes": [{"id": "a", "command": ["true"], "inputs": {"v": ${'['.repeat(20_000)}${']'.repeat(20_000)}}}]}`;
    const err = loadInvalid(file('deep.json', json));
    expect(err.issues[0]).toMatchObject({ node: 'a', message: 'maps and lists nest more than 100 levels deep' });
    expect(err.issues[0]?.field?.startsWith('nodes[0].inputs.v[0]')).toBe(true);
  });
});

describe('validation: names that a JavaScript object cannot hold', () => {
  it('refuses the key __proto__ anywhere (inputs, env, literal values), from files and from code', () => {
    const text = '{"name": "x", "nodes": [{"id": "a", "command": ["true"], "inputs": {"__proto__": {"polluted": 1}}}]}';
    const err = loadInvalid(file('proto.json', text));
    expect(err.issues).toEqual([
      { file: join(tmp, 'proto.json'), ...position(text, '"__proto__"'), node: 'a', field: 'nodes[0].inputs.__proto__', message: 'the key "__proto__" is not allowed (it cannot be stored as a plain value)' },
    ]);
    const yaml = 'name: x\nnodes:\n  - id: a\n    command: ["true"]\n    env:\n      __proto__: x\n';
    expect(loadInvalid(file('proto.yaml', yaml)).issues[0]).toMatchObject({ field: 'nodes[0].env.__proto__', ...position(yaml, '__proto__') });
    const raw = JSON.parse('{"name": "x", "nodes": [{"id": "a", "command": ["true"], "inputs": {"v": {"deep": {"__proto__": 1}}}}]}') as unknown;
    expect(catchError(() => validateWorkflow(raw), ValidationError).issues[0]?.field).toBe('nodes[0].inputs.v.deep.__proto__');
  });

  it('keeps inputs, outputs and node ids named after Object.prototype members as ordinary names', () => {
    const wf = validateWorkflow({
      name: 'constructor',
      nodes: [
        { id: 'constructor', command: ['sh', '-c', 'echo x > f'], outputs: { toString: 'f', prototype: 'f' } },
        { id: 'prototype', command: ['cat', '{{inputs.constructor}}'], inputs: { constructor: { from: 'constructor.toString' }, hasOwnProperty: 1 } },
      ],
    });
    expect(wf.nodes[1]?.needs).toEqual(['constructor']);
    expect(Object.keys(wf.nodes[1]?.inputs ?? {})).toEqual(['constructor', 'hasOwnProperty']);
    expect(Object.keys(wf.nodes[0]?.outputs ?? {})).toEqual(['toString', 'prototype']);
    // A name that is not declared is not found on Object.prototype either.
    const err = catchError(() => validateWorkflow({ name: 'x', nodes: [{ id: 'a', command: ['echo', '{{inputs.constructor}}'], inputs: { v: 1 } }] }), ValidationError);
    expect(err.issues[0]?.message).toMatch(/no input "constructor"/);
  });
});

describe('validation: commands and resource bounds', () => {
  it('refuses a whitespace-only command string and an argv whose program is blank', () => {
    const err = catchError(
      () => validateWorkflow({ name: 'x', nodes: [{ id: 'a', command: ' \t\n' }, { id: 'b', command: ['  ', 'x'] }, { id: 'c', command: [''] }] }),
      ValidationError,
    );
    expect(err.issues.map((i) => [i.field, i.message])).toEqual([
      ['nodes[0].command', 'must not be only whitespace'],
      ['nodes[1].command', 'the program (first element) must not be empty or only whitespace'],
      ['nodes[2].command', 'the program (first element) must not be empty or only whitespace'],
    ]);
  });

  it('refuses n_procs above 1000000 and mem_gb above 1048576 with the limit in the message, once per field', () => {
    const text = 'name: x\ndefaults:\n  mem_gb: 2e6\nnodes:\n  - id: a\n    command: ["true"]\n    n_procs: 1e308\n    mem_gb: 1e308\n    retry_delay_s: 1e308\n';
    const err = loadInvalid(file('huge.yaml', text));
    expect(err.issues.map((i) => [i.field, i.message, i.line])).toEqual([
      ['defaults.mem_gb', 'must be at most 1048576 (1 PiB in GB), received number 2000000', 3],
      ['nodes[0].n_procs', 'must be at most 1000000, received number 1e+308', 7],
      ['nodes[0].mem_gb', 'must be at most 1048576 (1 PiB in GB), received number 1e+308', 8],
      ['nodes[0].retry_delay_s', 'must be at most 2147483 (about 24.8 days), received number 1e+308', 9],
    ]);
    expect(validateWorkflow({ name: 'x', nodes: [{ id: 'a', command: ['true'], n_procs: 1_000_000, mem_gb: 1_048_576 }] }).nodes[0]).toMatchObject({ n_procs: 1_000_000, mem_gb: 1_048_576 });
  });
});
