/**
 * `flowgate dag`: the built CLI prints the graph; Graphviz renders the dot
 * output (Debian's graphviz; CI installs it).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const hasDot = spawnSync('dot', ['-V']).status === 0;
if (!hasDot && process.env['CI'] !== 'true') console.warn('SKIPPED the Graphviz rendering test: `dot` is not installed (apt-get install graphviz)');
const example = resolve(import.meta.dirname, '../../examples/dataflow.yaml');

describe('flowgate dag', () => {
  it.skipIf(!hasDot && process.env['CI'] !== 'true')('prints dot that Graphviz renders, with the iterable copies in clusters', async () => {
    const res = await runCli(['dag', example]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('subgraph "cluster_');
    const svg = spawnSync('dot', ['-Tsvg'], { input: res.stdout, encoding: 'utf8' });
    expect(svg.status, svg.stderr).toBe(0);
    expect(svg.stdout).toContain('<svg');
    expect(svg.stdout).toContain('partial._part_0_scale_1');
  });

  it('prints Mermaid and JSON, and refuses an unknown format naming the choices (exit 2)', async () => {
    const mermaid = await runCli(['dag', example, '--format', 'mermaid']);
    expect(mermaid.code).toBe(0);
    expect(mermaid.stdout.startsWith('flowchart TD\n')).toBe(true);
    const json = await runCli(['dag', example, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'dataflow' });
    const bad = await runCli(['dag', example, '--format', 'png']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format');
    expect(bad.stderr).toContain('dot, mermaid, json');
  });
});
