/**
 * The human-readable run summary printed by `flowgate run` without `--json`.
 */
import type { RunSummary } from '../scheduler/summary.js';

/** Formats a summary for people. */
export function summaryText(s: RunSummary): string {
  const c = s.counts;
  const lines = [
    `run ${s.run_id} (${s.workflow}) ${s.status} in ${s.wall_s.toFixed(2)} s: ` +
      `${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped, ${c.cached} cached, ${c.cancelled} cancelled`,
  ];
  for (const f of s.failures) {
    lines.push(`could not run node: ${s.workflow}.${f.node}: ${f.reason}`);
    // As Nextflow does: where to look, and the end of what the node said.
    // Summaries stored by older versions lack both fields.
    if (f.node_dir !== undefined) lines.push(`  node directory: ${f.node_dir}`);
    const tail = f.stderr_tail ?? '';
    if (tail !== '') {
      const shown = tail.split('\n');
      lines.push(`  stderr (last ${shown.length === 1 ? 'line' : `${shown.length} lines`}):`, ...shown.map((l) => `    ${l}`));
    }
    if (f.crash_file !== null) lines.push(`  crashfile: ${f.crash_file}`);
    if (f.skipped.length > 0) {
      const shown = f.skipped.slice(0, 20).join(', ');
      lines.push(`  skipped because of it: ${shown}${f.skipped.length > 20 ? `, … (${f.skipped.length} in all)` : ''}`);
    }
  }
  // Older summaries have no attempt history on some nodes.
  const lost = s.nodes.filter((n) => (n.attempt_history ?? []).some((a) => a.status === 'lost'));
  if (lost.length > 0) {
    lines.push(`placed again after their host was lost: ${lost.slice(0, 20).map((n) => `${n.id}${n.host !== undefined ? ` (now on ${n.host})` : ''}`).join(', ')}${lost.length > 20 ? `, … (${lost.length} in all)` : ''}`);
  }
  const cancelled = s.nodes.filter((n) => n.status === 'cancelled');
  if (cancelled.length > 0) {
    lines.push(`cancelled: ${cancelled.slice(0, 20).map((n) => n.id).join(', ')}${cancelled.length > 20 ? `, … (${cancelled.length} in all)` : ''}`);
    const reason = cancelled[0]?.reason;
    if (reason !== null && reason !== undefined) lines.push(`  because: ${reason}`);
  }
  return lines.join('\n');
}
