/**
 * Measures a node's process tree from /proc: CPU seconds and resident memory
 * of every process in the node's process group (children and grandchildren
 * included, even when re-parented), sampled at an interval. Peak memory also
 * takes the kernel's own high-water mark (VmHWM) of each process. Failures to
 * read /proc never affect the node: a vanished process is simply skipped.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const PAGE_BYTES = 4096;
/** Whether this kernel lists children in /proc (CONFIG_PROC_CHILDREN). */
const CHILDREN_SUPPORTED = (() => {
  try {
    readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    return true;
  } catch {
    return false;
  }
})();
const TICKS_PER_S = 100;
import { FIRST_SAMPLE_MS } from '../shared/options/defaults.js';

export { FIRST_SAMPLE_MS };
const MB = 1024 * 1024;

/** One sample of the tree. */
export interface ResourceSample {
  /** ms since the node started. */
  t_ms: number;
  rss_mb: number;
  /** Cumulative CPU seconds of the tree so far. */
  cpu_s: number;
  processes: number;
}

/** What was measured for one node. */
export interface ResourceUsage {
  /** User + system CPU seconds of the tree (null if the node ended before the first sample). */
  cpu_s: number | null;
  /** Peak resident memory of the tree in MB (null if never sampled). */
  peak_rss_mb: number | null;
  samples: ResourceSample[];
}

interface ProcStat {
  /** R, S, D, Z (zombie: exited, not yet reaped), ... */
  state: string;
  pgrp: number;
  cpuTicks: number;
  childTicks: number;
  rssPages: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, cutime 16, cstime 17, rss 24.
    return {
      state: fields[0] ?? '',
      pgrp: Number(fields[2]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      childTicks: Number(fields[13]) + Number(fields[14]),
      rssPages: Number(fields[21]),
    };
  } catch {
    return undefined;
  }
}

function readHwmKb(pid: string): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Samples one process group until stopped. */
export class TreeSampler {
  private readonly samples: ResourceSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private peakRssBytes = 0;
  private peakHwmBytes = 0;
  private cpuTicks = 0;
  private cpuBaselineTicks = 0;
  private readonly startedAt = Date.now();
  private readonly available: boolean;

  /**
   * @param pgid the node's process group (its root pid)
   * @param intervalMs sampling period; the first sample is taken after
   *   `firstMs`, the next ones at doubling gaps until they reach `intervalMs`
   */
  constructor(
    private readonly pgid: number,
    private readonly intervalMs: number,
    firstMs = FIRST_SAMPLE_MS,
    /** Called after each sample with the peak RSS so far, in GB. */
    private readonly onSample?: (peakRssGb: number) => void,
    /**
     * The root is a reused process (a function-node executor): what it used
     * before this node is not the node's. Its peak RSS is reset (clear_refs)
     * and its CPU so far is subtracted.
     */
    reusedRoot = false,
  ) {
    if (reusedRoot) {
      try {
        writeFileSync(`/proc/${pgid}/clear_refs`, '5');
      } catch {
        // Not permitted or not supported: the peak may include earlier nodes.
      }
      const st = readStat(String(pgid));
      this.cpuBaselineTicks = st === undefined ? 0 : st.cpuTicks + st.childTicks;
    }
    this.available = process.platform === 'linux';
    if (!this.available) return;
    this.rampUp(Math.min(firstMs, intervalMs));
  }

  /** Samples after `gapMs`, then again after twice that, until the gap is the interval. */
  private rampUp(gapMs: number): void {
    this.timer = setTimeout(() => {
      if (gapMs >= this.intervalMs) {
        this.sample();
        this.timer = setInterval(() => this.sample(), this.intervalMs);
        this.timer.unref();
        return;
      }
      // Ramp samples are all cheap: full /proc scans are paced by the interval.
      this.sample(false);
      this.rampUp(Math.min(gapMs * 2, this.intervalMs));
    }, gapMs);
    this.timer.unref();
  }

  private count = 0;

  /**
   * The tree's pids. Usually by walking /proc/<pid>/task/<tid>/children from
   * the root (cheap: a few files); with `full`, by scanning all of /proc for
   * the process group, which also finds re-parented grandchildren.
   */
  private members(full: boolean): string[] {
    if (full) {
      try {
        return readdirSync('/proc').filter((p) => {
          const c = p.charCodeAt(0);
          return c >= 48 && c <= 57;
        });
      } catch {
        return [];
      }
    }
    const out: string[] = [];
    const queue = [String(this.pgid)];
    for (const seen = new Set<string>(); queue.length > 0; ) {
      const pid = queue.pop() as string;
      if (seen.has(pid)) continue;
      seen.add(pid);
      out.push(pid);
      let tasks: string[] = [];
      try {
        tasks = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tasks) {
        try {
          for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (child !== '' && child !== '\n') queue.push(child.trim());
        } catch {
          // Gone meanwhile.
        }
      }
    }
    for (const pid of this.extra) if (!out.includes(pid)) out.push(pid);
    return out;
  }

  /** Re-parented members found by the last full scan, rechecked on cheap samples. */
  private extra = new Set<string>();

  /**
   * Takes one sample now. `scan`: whether this one may scan all of /proc
   * (by default every fifth sample does).
   */
  sample(scan = true): void {
    const full = !CHILDREN_SUPPORTED || (scan && this.count++ % 5 === 4);
    // A short node has often exited (its root a zombie, its children gone to
    // init) by the first sample: its stat is all there is to read, and the
    // walk of its tasks and children would find nothing more.
    const root = String(this.pgid);
    const rootStat = full ? undefined : readStat(root);
    const exited = rootStat?.state === 'Z' && this.extra.size === 0;
    const candidates = exited ? [root] : this.members(full);
    const fullScan = full && candidates.length > 0;
    let rss = 0;
    let processes = 0;
    let ticks = 0;
    for (const pid of candidates) {
      const st = pid === root && rootStat !== undefined ? rootStat : readStat(pid);
      if (st === undefined || st.pgrp !== this.pgid) continue;
      if (fullScan) this.extra.add(pid);
      processes++;
      rss += st.rssPages * PAGE_BYTES;
      // Own CPU plus that of the descendants it already reaped (the kernel's
      // figures), so a finished child still counts through its parent.
      ticks += st.cpuTicks + st.childTicks;
      // A zombie has no memory figures left.
      if (st.state !== 'Z') this.peakHwmBytes = Math.max(this.peakHwmBytes, readHwmKb(pid) * 1024);
    }
    if (processes === 0) return;
    this.cpuTicks = Math.max(this.cpuTicks, ticks - this.cpuBaselineTicks);
    this.peakRssBytes = Math.max(this.peakRssBytes, rss);
    this.samples.push({ t_ms: Date.now() - this.startedAt, rss_mb: round(rss / MB), cpu_s: this.cpuTicks / TICKS_PER_S, processes });
    this.onSample?.(this.peakRssGb);
  }

  /** Stops sampling and reports. */
  stop(): ResourceUsage {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    if (this.samples.length === 0) return { cpu_s: null, peak_rss_mb: null, samples: [] };
    return {
      cpu_s: this.cpuTicks / TICKS_PER_S,
      peak_rss_mb: round(Math.max(this.peakRssBytes, this.peakHwmBytes) / MB),
      samples: this.samples,
    };
  }

  /** Latest peak RSS of the tree in GB (for enforcement). */
  get peakRssGb(): number {
    return Math.max(this.peakRssBytes, this.peakHwmBytes) / (1024 * MB);
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
