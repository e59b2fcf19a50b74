/**
 * The pre-run check over a fleet (`raise_insufficient` with per-host
 * placement): every node against the largest single live host that matches
 * it, never the fleet's sum (see {@link unplaceable}).
 */
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import type { Grant } from './ledger.js';
import { unplaceable, type HostSpec } from './placement.js';

/**
 * Throws a validation error listing every node no live host can ever hold.
 * With no live host at all nothing is refused: nodes wait ("no live host")
 * until hosts register.
 */
export function assertPlaceable(nodes: ReadonlyArray<{ id: string; request: Grant }>, hosts: readonly HostSpec[], file?: string): void {
  if (hosts.length === 0) return;
  const bad = unplaceable(
    nodes.map((n) => ({ id: n.id, request: n.request, ...(n.request.constraint !== undefined ? { constraint: n.request.constraint } : {}) })),
    hosts,
  );
  if (bad.length === 0) return;
  const issues = bad.map((b): ValidationIssue => ({ node: b.id, field: 'resources', message: `insufficient resources: ${b.message}`, ...(file !== undefined ? { file } : {}) }));
  issues.push({ message: `${bad.length} node(s) fit no live host (${hosts.map((h) => h.id).join(', ')}); give a host more --capacity, add a larger host, or pass --no-raise-insufficient to let them wait for one` });
  throw new ValidationError('NODE_EXCEEDS_BUDGET', issues);
}
