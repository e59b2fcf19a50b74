/**
 * `resource_monitor.json` for a run, in nipype's layout: parallel arrays with
 * one entry per sample of every executed node (time, name, rss_GiB, cpus,
 * ...), assembled from the samples each worker left in the node's directory.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileChunks } from '../shared/json-stream.js';
import { FIRST_SAMPLE_MS } from '../shared/options/defaults.js';
import { summaryJsonChunks, type RunSummary } from './summary.js';

interface Sample {
  t_ms: number;
  rss_mb: number;
  cpu_s: number;
  processes: number;
}

/**
 * Writes `<workDir>/_runs/<run>.json` (the summary, pretty-printed, streamed
 * node by node) and `<run>.resource_monitor.json`.
 */
export async function writeRunFiles(workDir: string, summary: RunSummary): Promise<void> {
  const dir = join(workDir, '_runs');
  mkdirSync(dir, { recursive: true });
  await writeFileChunks(join(dir, `${summary.run_id}.json`), summaryJsonChunks(summary, 2));
  await writeResourceMonitor(join(dir, `${summary.run_id}.resource_monitor.json`), summary);
}

/** The monitor's arrays, in nipype's order. */
const COLUMNS = ['time', 'name', 'interface', 'rss_GiB', 'vms_GiB', 'cpus', 'mapnode', 'params'] as const;
/** Entries of one array written per chunk. */
const ENTRIES_PER_CHUNK = 10_000;

/**
 * Writes the run's resource monitor file; nodes without samples are skipped.
 * Each node's samples file is read without blocking the event loop (a
 * service's other runs go on), and the arrays are written a chunk at a time:
 * built as one string, 8,000,000 samples exceeded V8's longest string.
 */
export async function writeResourceMonitor(path: string, summary: RunSummary): Promise<void> {
  const cols: Record<(typeof COLUMNS)[number], unknown[]> = { time: [], name: [], interface: [], rss_GiB: [], vms_GiB: [], cpus: [], mapnode: [], params: [] };
  for (const n of summary.nodes) {
    // A node that ended before its first sample has no samples file: not looked for
    // (its cpu_s and peak_rss_mb may still be the kernel's, from its exit).
    if (n.start_ms === null || n.end_ms === null || n.end_ms - n.start_ms < FIRST_SAMPLE_MS || n.peak_rss_mb === null) continue;
    let samples: Sample[];
    try {
      samples = JSON.parse(await readFile(join(n.node_dir, 'resource_samples.json'), 'utf8')) as Sample[];
    } catch {
      continue;
    }
    const name = `${summary.workflow}.${n.id}`;
    let prev = { t: 0, cpu: 0 };
    for (const s of samples) {
      const dt = (s.t_ms - prev.t) / 1000;
      cols.time.push((n.start_ms + s.t_ms) / 1000);
      cols.name.push(name);
      cols.interface.push('Command');
      cols.rss_GiB.push(Math.round((s.rss_mb / 1024) * 1e6) / 1e6);
      cols.vms_GiB.push(null);
      // CPU in "cores busy" over the last interval, like nipype's cpu_percent / 100.
      cols.cpus.push(dt > 0 ? Math.round(((s.cpu_s - prev.cpu) / dt) * 1000) / 1000 : 0);
      cols.mapnode.push(0);
      cols.params.push('');
      prev = { t: s.t_ms, cpu: s.cpu_s };
    }
  }
  await writeFileChunks(path, monitorChunks(cols));
}

/** `{"time":[...],"name":[...],...}` and a newline, the same text as JSON.stringify, in chunks. */
async function* monitorChunks(cols: Record<(typeof COLUMNS)[number], unknown[]>): AsyncGenerator<string> {
  for (const [k, key] of COLUMNS.entries()) {
    yield `${k === 0 ? '{' : ','}${JSON.stringify(key)}:[`;
    const values = cols[key];
    for (let at = 0; at < values.length; at += ENTRIES_PER_CHUNK) {
      yield `${at === 0 ? '' : ','}${JSON.stringify(values.slice(at, at + ENTRIES_PER_CHUNK)).slice(1, -1)}`;
    }
    yield ']';
  }
  yield '}\n';
}
