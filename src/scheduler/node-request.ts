/**
 * What a node asks of the ledger: its threads, memory and named resources,
 * and the hosts it may be placed on.
 */
import type { WorkflowNode } from '../shared/workflow/model.js';
import type { Grant } from './ledger.js';
import { InternTable } from '../shared/intern.js';

/** What a node asks for: threads, memory, named resources and where it may go. */
export function requestOf(node: WorkflowNode): Grant {
  const named = node.resources !== undefined && Object.keys(node.resources).length > 0 ? node.resources : undefined;
  const pinned = node.host !== undefined && node.host.length > 0;
  const labelled = node.host_labels !== undefined && Object.keys(node.host_labels).length > 0;
  if (named === undefined && !pinned && !labelled) return plainRequest(node.n_procs, node.mem_gb);
  return {
    n_procs: node.n_procs,
    mem_gb: node.mem_gb,
    ...(named !== undefined ? { resources: named } : {}),
    ...(pinned || labelled ? { constraint: { ...(pinned ? { hosts: node.host } : {}), ...(labelled ? { labels: node.host_labels } : {}) } } : {}),
  };
}

/**
 * Plain requests (threads and memory only) are shared, frozen, one object
 * per distinct pair: a 100,000-node run's nodes mostly ask for the same few
 * amounts, and each request is kept (as its node's request, grant and
 * recorded grant) for the whole run.
 */
const plain = new InternTable<Grant>(4096);

function plainRequest(n_procs: number, mem_gb: number): Grant {
  return plain.get(`${n_procs}/${mem_gb}`, () => Object.freeze({ n_procs, mem_gb }));
}
