/**
 * Retrying a finished run's failed nodes: the chosen nodes (by default every
 * failed, cancelled or skipped node) and every descendant that did not
 * succeed go back to `waiting`, and the run is `running` again, ready to be
 * continued by a scheduler (`flowgate retry` drives it like `resume`). Their
 * attempt numbers go on from where they were, so the new attempts are new
 * jobs and new admissions; earlier attempts stay in their history.
 */
import type { Redis } from 'ioredis';
import { FlowgateError, ValidationError, didYouMean } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import type { NodeSummary } from './summary.js';
import { definitionFromMeta } from './run-definition.js';
import { RunGraph } from './run-graph.js';
import { reach } from '../shared/dag.js';
import { SATISFIED, type NodeState } from './node-state.js';

/** Node states a retry may reset. */
const RETRYABLE = new Set(['failed', 'cancelled', 'skipped']);

/** What a retry reset. */
export interface RetryPlan {
  /** Ids of the nodes set back to waiting, in index order. */
  reset: string[];
}

/** Nodes reset per HSET of a retry. */
const RESET_FIELDS_PER_HSET = 1000;

/**
 * Resets the nodes of finished run `runId` for a retry and marks it running.
 * Refuses (exit 2) a run that is not finished, unknown node ids, nodes that
 * did not fail, and nodes that would still need a failed, cancelled or
 * skipped node that is not retried with them; refuses a run whose status
 * changed meanwhile (another retry, a scheduler) without writing anything.
 */
export async function prepareRetry(redis: Redis, prefix: string, runId: string, nodeIds: readonly string[], now = Date.now()): Promise<RetryPlan> {
  const k = new Keys(prefix);
  const metaKey = k.runMeta(runId);
  await redis.watch(metaKey, k.runLease(runId), k.runStates(runId));
  try {
    const [meta, states, records, lease] = await Promise.all([redis.hgetall(metaKey), redis.hgetall(k.runStates(runId)), redis.hgetall(k.runNodes(runId)), redis.get(k.runLease(runId))]);
    if (meta['run_id'] === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}"`);
    const status = meta['status'] ?? '';
    if (status !== 'failed' && status !== 'cancelled') {
      const hint = status === 'running' || status === 'submitted' ? ' (wait for it to end, or cancel it first)' : '';
      throw new ValidationError('OPTIONS_INVALID', [{ field: 'RUN_ID', message: `run ${runId} is ${status}; only a failed or cancelled run can be retried${hint}` }]);
    }
    if (lease !== null) throw new ValidationError('RUN_CONFLICT', [{ field: 'RUN_ID', message: `run ${runId} is still held by scheduler ${lease}` }]);

    const definition = definitionFromMeta(runId, meta);
    const graph = new RunGraph({ workflow: definition.workflow, budget: definition.budget, order: definition.order, raiseInsufficient: false, workDir: definition.workDir, clock: () => now });
    const stateMap = new Map(Object.entries(states).map(([f, v]) => [Number(f), v]));
    graph.restore(stateMap, new Map(Object.entries(records).map(([f, v]) => [Number(f), v])));
    const stateOf = (i: number): string => stateMap.get(i) ?? 'waiting';

    const chosen: number[] = [];
    if (nodeIds.length === 0) {
      for (const n of graph.nodes) if (RETRYABLE.has(stateOf(n.index))) chosen.push(n.index);
    } else {
      for (const id of nodeIds) {
        const index = graph.dag.indexOf(id);
        if (index === undefined) {
          const hint = didYouMean(id, graph.nodes.map((n) => n.node.id));
          throw new ValidationError('OPTIONS_INVALID', [{ field: 'NODE', message: `run ${runId} has no node "${id}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}` }]);
        }
        if (!RETRYABLE.has(stateOf(index))) throw new ValidationError('OPTIONS_INVALID', [{ field: 'NODE', message: `node "${id}" of run ${runId} ${stateOf(index)}; only failed, cancelled or skipped nodes are retried` }]);
        chosen.push(index);
      }
    }
    if (chosen.length === 0) throw new ValidationError('OPTIONS_INVALID', [{ field: 'RUN_ID', message: `run ${runId} has no failed, cancelled or skipped node to retry` }]);

    // The chosen nodes and every descendant that did not succeed.
    const reset = reach(chosen, (i) => (graph.dag.succs[i] ?? []).filter((s) => RETRYABLE.has(stateOf(s))));
    const order = [...reset].sort((a, b) => a - b);
    // A node whose predecessor stays failed, cancelled or skipped could never run again.
    const unsatisfied = (i: number): number[] => (graph.dag.preds[i] ?? []).filter((p) => !SATISFIED.has(stateOf(p) as NodeState));
    const blocked = order.map((i) => ({ index: i, stuck: unsatisfied(i).filter((p) => !reset.has(p)) })).filter((b) => b.stuck.length > 0);
    if (blocked.length > 0) {
      const idOf = (i: number): string => graph.node(i).node.id;
      // What to retry: walking up through predecessors that did not succeed, the ones with none of their own (their descendants come with them).
      const roots = [...reach(blocked.flatMap((b) => b.stuck), unsatisfied)].filter((i) => unsatisfied(i).length === 0).sort((a, b) => a - b);
      const retryToo = [...new Set([...chosen, ...roots])].map(idOf);
      throw new ValidationError(
        'OPTIONS_INVALID',
        blocked.map((b) => ({
          field: 'NODE',
          message: `node "${idOf(b.index)}" of run ${runId} cannot run again while it needs ${b.stuck.map((p) => `"${idOf(p)}" (${stateOf(p)})`).join(', ')}: retry that too (flowgate retry ${runId} ${retryToo.join(' ')})`,
        })),
      );
    }
    // One transaction (the WATCH above), its writes in HSETs of a bounded
    // number of fields: two commands a node made a million-node retry queue
    // two million commands.
    const multi = redis.multi();
    for (let at = 0; at < order.length; at += RESET_FIELDS_PER_HSET) {
      const states: Record<string, string> = {};
      const fresh: Record<string, string> = {};
      for (const i of order.slice(at, at + RESET_FIELDS_PER_HSET)) {
        const record = JSON.parse(records[String(i)] ?? '{}') as Partial<NodeSummary>;
        states[String(i)] = 'waiting';
        fresh[String(i)] = JSON.stringify({ ...record, status: 'waiting', reason: null, skipped_because: null, crash_file: null, exit_code: null, signal: null, released_ms: null, admitted_ms: null } satisfies Partial<NodeSummary>);
      }
      multi.hset(k.runStates(runId), states).hset(k.runNodes(runId), fresh);
    }
    multi.hset(metaKey, { status: 'running', retried_ms: String(now) }).hdel(metaKey, 'summary', 'finished_ms', 'cancel_requested', 'stop_reason', 'retry_requested', 'retry_refused');
    const result = await multi.exec();
    if (result === null) throw new ValidationError('RUN_CONFLICT', [{ field: 'RUN_ID', message: `run ${runId} changed while the retry was prepared (another retry or scheduler); nothing was changed` }]);
    for (const [err] of result) if (err) throw err;
    return { reset: order.map((i) => graph.node(i).node.id) };
  } finally {
    await redis.unwatch().catch(() => undefined);
  }
}
