/**
 * The checks of a run's nodes before it is scheduled: with
 * `raise_insufficient`, every node's request against the run's budget or,
 * under per-host placement, against the live hosts; and a warning for nodes
 * that name hosts when no per-host placement is there to honour them.
 */
import type { Logger } from '../shared/logger.js';
import { assertFitsBudget } from './admission.js';
import { FleetLedger } from './fleet-ledger.js';
import { requestOf } from './node-request.js';
import { assertPlaceable } from './placement-check.js';
import type { SchedulerOptions } from './scheduler-types.js';

/** Throws a validation error naming the nodes that could never be admitted; warns about host constraints that take no effect. */
export function checkRunRequests(options: SchedulerOptions, log: Logger): void {
  const fleet = options.admission?.ledger instanceof FleetLedger ? options.admission.ledger : undefined;
  if (options.raiseInsufficient) {
    const nodes = options.workflow.nodes.map((n) => ({ id: n.id, request: requestOf(n) }));
    // A resumed run was checked when it started; the hosts known right after a takeover may be only some of them.
    if (fleet !== undefined) {
      if (options.resume !== true) assertPlaceable(nodes, fleet.hosts, options.workflowFile);
    }
    else assertFitsBudget(nodes, options.budget, options.workflowFile, options.budgetHint);
  }
  if (fleet === undefined) {
    const pinned = options.workflow.nodes.filter((n) => (n.host?.length ?? 0) > 0 || Object.keys(n.host_labels ?? {}).length > 0).map((n) => n.id);
    if (pinned.length > 0) log.warn({ nodes: pinned.slice(0, 20) }, 'host and host_labels take effect only with per-host placement (flowgate scheduler --placement hosts, flowgate run --fleet external); here every node runs on this budget');
  }
}
