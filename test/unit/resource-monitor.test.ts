/**
 * The run's resource_monitor.json in nipype's layout, written in chunks: the
 * same text JSON.stringify gives, for arrays longer than one chunk, with
 * nodes without samples left out.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeResourceMonitor } from '../../src/scheduler/resource-monitor.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { tempDir } from '../helpers/cli.js';

describe('writeResourceMonitor', () => {
  it('writes the parallel arrays of every sample, as one JSON document, across chunks', async () => {
    const dir = tempDir('fg-monitor');
    const node = (id: string, samples: number | null, start = 1_000_000) => {
      const nodeDir = join(dir, id);
      mkdirSync(nodeDir, { recursive: true });
      if (samples !== null) {
        const list = Array.from({ length: samples }, (_, i) => ({ t_ms: 10 * (i + 1), rss_mb: 512 + i, cpu_s: 0.005 * (i + 1), processes: 1 }));
        writeFileSync(join(nodeDir, 'resource_samples.json'), JSON.stringify(list));
      }
      return { id, node_dir: nodeDir, start_ms: start, end_ms: start + 10 * ((samples ?? 0) + 1), peak_rss_mb: samples === null ? null : 600 };
    };
    const nodes = [node('big', 25_000), node('none', null), node('small', 2, 2_000_000)];
    const summary = { run_id: 'r', workflow: 'wf', nodes } as unknown as RunSummary;
    const path = join(dir, 'monitor.json');
    await writeResourceMonitor(path, summary);
    const text = readFileSync(path, 'utf8');
    const doc = JSON.parse(text) as Record<string, unknown[]>;
    expect(Object.keys(doc)).toEqual(['time', 'name', 'interface', 'rss_GiB', 'vms_GiB', 'cpus', 'mapnode', 'params']);
    for (const column of Object.values(doc)) expect(column).toHaveLength(25_002);
    expect(doc['name']?.slice(24_999)).toEqual(['wf.big', 'wf.small', 'wf.small']);
    expect(doc['time']?.[0]).toBe(1000.01);
    expect(doc['time']?.[25_000]).toBe(2000.01);
    expect(doc['rss_GiB']?.[0]).toBe(0.5);
    expect(doc['cpus']?.[1]).toBe(0.5);
    expect(text).toBe(`${JSON.stringify(doc)}\n`);
  });
});
