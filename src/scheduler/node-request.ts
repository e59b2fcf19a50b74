/**
 * What a node asks of the ledger: its threads, memory and named resources,
 * and the hosts it may be placed on.
 */
import type { WorkflowNode } from '../shared/workflow/model.js';
import type { Grant } from './ledger.js';

/** What a node asks for: threads, memory, named resources and where it may go. */
export function requestOf(node: WorkflowNode): Grant {
  const named = node.resources !== undefined && Object.keys(node.resources).length > 0 ? node.resources : undefined;
  const pinned = node.host !== undefined && node.host.length > 0;
  const labelled = node.host_labels !== undefined && Object.keys(node.host_labels).length > 0;
  if (named === undefined && !pinned && !labelled) return { n_procs: node.n_procs, mem_gb: node.mem_gb };
  return {
    n_procs: node.n_procs,
    mem_gb: node.mem_gb,
    ...(named !== undefined ? { resources: named } : {}),
    ...(pinned || labelled ? { constraint: { ...(pinned ? { hosts: node.host } : {}), ...(labelled ? { labels: node.host_labels } : {}) } } : {}),
  };
}
