/**
 * `resource_monitor.json` for a run, in nipype's layout: parallel arrays with
 * one entry per sample of every executed node (time, name, rss_GiB, cpus,
 * ...), assembled from the samples each worker left in the node's directory.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileChunks } from '../shared/json-stream.js';
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
  writeResourceMonitor(join(dir, `${summary.run_id}.resource_monitor.json`), summary);
}

/** Writes the run's resource monitor file; nodes without samples are skipped. */
export function writeResourceMonitor(path: string, summary: RunSummary): void {
  const out = {
    time: [] as number[],
    name: [] as string[],
    interface: [] as string[],
    rss_GiB: [] as number[],
    vms_GiB: [] as Array<number | null>,
    cpus: [] as number[],
    mapnode: [] as number[],
    params: [] as string[],
  };
  for (const n of summary.nodes) {
    // A node without measurements (it ended before the first sample) has no samples file.
    if (n.start_ms === null || n.peak_rss_mb === null) continue;
    let samples: Sample[];
    try {
      samples = JSON.parse(readFileSync(join(n.node_dir, 'resource_samples.json'), 'utf8')) as Sample[];
    } catch {
      continue;
    }
    let prev = { t: 0, cpu: 0 };
    for (const s of samples) {
      const dt = (s.t_ms - prev.t) / 1000;
      out.time.push((n.start_ms + s.t_ms) / 1000);
      out.name.push(`${summary.workflow}.${n.id}`);
      out.interface.push('Command');
      out.rss_GiB.push(Math.round((s.rss_mb / 1024) * 1e6) / 1e6);
      out.vms_GiB.push(null);
      // CPU in "cores busy" over the last interval, like nipype's cpu_percent / 100.
      out.cpus.push(dt > 0 ? Math.round(((s.cpu_s - prev.cpu) / dt) * 1000) / 1000 : 0);
      out.mapnode.push(0);
      out.params.push('');
      prev = { t: s.t_ms, cpu: s.cpu_s };
    }
  }
  writeFileSync(path, `${JSON.stringify(out)}\n`);
}
