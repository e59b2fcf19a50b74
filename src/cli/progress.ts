/**
 * Live progress on stderr: counts, running nodes, free procs and memory.
 * On a terminal one line is redrawn; otherwise a line is printed when the
 * picture changed, at most once per interval.
 */
import type { RunProgress } from '../scheduler/scheduler.js';

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * One progress line. `total` counts every node of the run, map elements
 * included (they are nodes of their own once their map node expands), and
 * never less than the nodes counted; a budget not known yet (a submitted run
 * no scheduler has taken) is said so, not shown as 0/0.
 */
export function progressLine(p: RunProgress, elapsedMs: number, total: number): string {
  const c = p.counts;
  const done = (c['succeeded'] ?? 0) + (c['failed'] ?? 0) + (c['skipped'] ?? 0) + (c['cached'] ?? 0) + (c['cancelled'] ?? 0);
  const counted = Object.values(c).reduce((sum, n) => sum + n, 0);
  const parts = [
    `[${(elapsedMs / 1000).toFixed(1)}s] ${done}/${Math.max(total, counted)} done`,
    `${c['succeeded'] ?? 0} ok, ${c['cached'] ?? 0} cached, ${c['failed'] ?? 0} failed, ${c['skipped'] ?? 0} skipped${(c['cancelled'] ?? 0) > 0 ? `, ${c['cancelled'] ?? 0} cancelled` : ''}`,
    `${p.running.length} running, ${c['queued'] ?? 0} queued, ${c['ready'] ?? 0} ready, ${c['waiting'] ?? 0} waiting`,
    p.budget.n_procs > 0 ? `free ${p.free.n_procs}/${p.budget.n_procs} procs, ${round(p.free.mem_gb)}/${round(p.budget.mem_gb)} GB` : 'budget not known yet',
  ];
  if (p.workers.alive + p.workers.lost > 0) parts.push(`workers ${p.workers.alive}${p.workers.lost > 0 ? ` (+${p.workers.lost} lost)` : ''}`);
  let line = parts.join(' | ');
  if (p.running.length > 0) {
    const shown = p.running.slice(0, 6).join(', ');
    line += ` | running: ${shown}${p.running.length > 6 ? ', …' : ''}`;
  }
  return line;
}

/** Prints progress until stopped. */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private readonly tty: boolean;

  constructor(
    private readonly source: () => RunProgress,
    /** Nodes in the run (a function: map nodes add their elements as they expand). */
    private readonly total: number | (() => number),
    private readonly startedAt: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = stream.isTTY === true;
  }

  start(): void {
    const interval = this.tty ? 200 : 1000;
    this.timer = setInterval(() => this.render(false), interval);
    this.timer.unref();
  }

  private render(final: boolean): void {
    const p = this.source();
    const line = progressLine(p, Date.now() - this.startedAt, typeof this.total === 'number' ? this.total : this.total());
    const key = line.replace(/^\[[^\]]*\] /, '');
    if (this.tty) {
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[K${line.slice(0, width - 1)}${final ? '\n' : ''}`);
    } else if (key !== this.last || final) {
      this.stream.write(`${line}\n`);
    }
    this.last = key;
  }

  /** Prints the final line and stops. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.render(true);
  }
}
