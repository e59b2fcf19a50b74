/**
 * A run's nodes one page at a time (`GET /api/runs/:id/nodes`), each shown
 * as every view shows it ({@link nodeView}). A page of all states reads the
 * number of the run's states and the states, records and claims of its own
 * nodes; a page filtered by state reads every node's state (one small field
 * per node) and, to decide the shown state of in-flight nodes, the records
 * and claims of those only (bounded by the budget): never every node's
 * record. Both need the run's definition, one field of its meta holding the
 * whole workflow; a caller that pages often keeps it ({@link DefinitionMemory}).
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { isObject, num, parseJsonOrUndefined, str } from './json.js';
import { effectiveNodeState, recordTimes, type NodeStateName } from './effective-state.js';
import { definitionNodes, nodeView, type DefinitionNode, type NodePage } from './run-view.js';

/** Nodes per page at most. */
export const MAX_NODE_PAGE = 1000;
/** Nodes per page when `limit` is not given. */
export const DEFAULT_NODE_PAGE = 100;

/** What page to read. */
export interface NodePageQuery {
  offset: number;
  limit: number;
  /** Only nodes shown in this state; undefined for all. */
  state?: NodeStateName;
}

/** The definitions of a run by id, made once per parsed definition (a page of elements looked each parent up in the whole list). */
const byIdOf = new WeakMap<readonly DefinitionNode[], Map<string, DefinitionNode>>();

function definitionById(defs: readonly DefinitionNode[], id: string | null): DefinitionNode | undefined {
  let byId = byIdOf.get(defs);
  if (byId === undefined) {
    byId = new Map();
    // The first of an id, as a search from the start would find it.
    for (const d of defs) if (!byId.has(d.id)) byId.set(d.id, d);
    byIdOf.set(defs, byId);
  }
  return id === null ? undefined : byId.get(id);
}

/** Map nodes' elements follow the definition's nodes: their definition comes from their record and their map node's. */
function elementDefinition(index: number, record: Record<string, unknown>, defs: readonly DefinitionNode[]): DefinitionNode {
  const parent = definitionById(defs, str(record['element_of']));
  // An element runs with its map node's environment (already masked).
  return { id: str(record['id']) ?? `#${index}`, needs: [], n_procs: num(record['n_procs']) ?? 1, mem_gb: num(record['mem_gb']) ?? 0, env: parent?.env ?? {} };
}

/**
 * Parsed definitions a caller keeps between pages, by run id and creation
 * time: a run's definition is written once, when it is created (a run
 * deleted and created again under its id has another creation time).
 */
export interface DefinitionMemory {
  get(key: string): DefinitionNode[] | undefined;
  set(key: string, nodes: DefinitionNode[]): void;
}

/** The nodes of run `runId`'s definition, from `kept` when it has them. */
async function readDefinition(redis: Redis, keys: Keys, runId: string, createdMs: string | null, kept: DefinitionMemory | undefined): Promise<DefinitionNode[]> {
  if (kept === undefined) return definitionNodes(await redis.hget(keys.runMeta(runId), 'definition'));
  const known = createdMs === null ? undefined : kept.get(`${runId} ${createdMs}`);
  if (known !== undefined) return known;
  // Kept under the creation time read with it; a submitted run (not created yet) is not kept.
  const [created, definition] = await redis.hmget(keys.runMeta(runId), 'created_ms', 'definition');
  const defs = definitionNodes(definition);
  if (typeof created === 'string') kept.set(`${runId} ${created}`, defs);
  return defs;
}

/** Reads one page of run `runId`'s nodes; undefined when there is no such run. */
export async function readRunNodes(redis: Redis, prefix: string, runId: string, q: NodePageQuery, kept?: DefinitionMemory): Promise<NodePage | undefined> {
  const keys = new Keys(prefix);
  const [[runIdField, createdMs], stateCount] = await Promise.all([redis.hmget(keys.runMeta(runId), 'run_id', 'created_ms'), redis.hlen(keys.runStates(runId))]);
  if (runIdField === null || runIdField === undefined) return undefined;
  const defs = await readDefinition(redis, keys, runId, createdMs ?? null, kept);
  const count = Math.max(defs.length, stateCount);
  if (q.state === undefined) {
    const indexes = Array.from({ length: Math.max(0, Math.min(q.limit, count - q.offset)) }, (_, i) => q.offset + i);
    return { run_id: runId, total: count, offset: q.offset, limit: q.limit, state: null, nodes: await readNodes(redis, keys, runId, indexes, defs) };
  }
  const shown = await shownStates(redis, keys, runId, await redis.hgetall(keys.runStates(runId)), count);
  const matching: number[] = [];
  for (let i = 0; i < count; i++) if (shown[i] === q.state) matching.push(i);
  const indexes = matching.slice(q.offset, q.offset + q.limit);
  // A node may change state between the two reads (reading every state of a
  // 100,000-node run takes long enough for fast nodes to end): the page keeps
  // only the nodes still in the state asked for, so `?state=running` never
  // lists a node that has ended, and the total drops by those left out.
  const nodes = await readNodes(redis, keys, runId, indexes, defs);
  const still = nodes.filter((n) => n.state === q.state);
  return { run_id: runId, total: matching.length - (nodes.length - still.length), offset: q.offset, limit: q.limit, state: q.state, nodes: still };
}

/** The shown state of every node: stored states, corrected for in-flight nodes by their records and claims. */
async function shownStates(redis: Redis, keys: Keys, runId: string, states: Record<string, string>, count: number): Promise<string[]> {
  const shown = Array.from({ length: count }, (_, i) => states[String(i)] ?? 'waiting');
  const inFlight = shown.flatMap((s, i) => (s === 'queued' || s === 'running' ? [String(i)] : []));
  if (inFlight.length === 0) return shown;
  const [records, claims] = await Promise.all([redis.hmget(keys.runNodes(runId), ...inFlight), redis.hmget(keys.runClaims(runId), ...inFlight)]);
  inFlight.forEach((f, j) => (shown[Number(f)] = effectiveNodeState(states[f], recordTimes(records[j]), claims[j]).state));
  return shown;
}

/** The views of the nodes at `indexes`. */
async function readNodes(redis: Redis, keys: Keys, runId: string, indexes: readonly number[], defs: readonly DefinitionNode[]): Promise<NodePage['nodes']> {
  if (indexes.length === 0) return [];
  const fields = indexes.map(String);
  const [states, records, claims] = await Promise.all([redis.hmget(keys.runStates(runId), ...fields), redis.hmget(keys.runNodes(runId), ...fields), redis.hmget(keys.runClaims(runId), ...fields)]);
  return indexes.map((index, j) => {
    const raw = records[j] ?? undefined;
    const parsed = parseJsonOrUndefined(raw);
    const record = isObject(parsed) ? parsed : {};
    const def = defs[index] ?? elementDefinition(index, record, defs);
    const view = nodeView(def, states[j] ?? undefined, raw, claims[j] ?? undefined);
    // A map node needs its elements (as readRun shows it).
    const map = record['map'];
    if (isObject(map) && Array.isArray(map['elements'])) view.needs = [...view.needs, ...map['elements'].filter(isObject).map((e) => String(e['id']))];
    return view;
  });
}
