/**
 * The scheduler service as it publishes itself (`<prefix>:fg:service`).
 * Every field is optional: the hash may be partly written or from an older
 * version.
 */
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import { parseJsonOrUndefined } from '../shared/json.js';
import { namedField, parseNamed, type NamedAmounts } from '../shared/named-view.js';

/** `GET /api/service` when a scheduler service has published itself. */
export interface ServiceView {
  /** `host:pid` of the leading scheduler service. */
  holder?: string;
  /** The budget it admits against (per-host placement: the live hosts' sum), named resources in `resources` when it has any. */
  budget?: { n_procs: number; memory_gb: number; resources?: NamedAmounts };
  /** `pool` (one budget) or `hosts` (one ledger per registered host). */
  placement?: 'pool' | 'hosts';
  started_ms?: number;
  heartbeat_ms?: number;
  /** Ids of the runs it drives. */
  runs?: string[];
}


function ms(raw: string | undefined): number | undefined {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(n) ? n : undefined;
}

/** Parses the service hash; fields that are missing or malformed are left out. */
export function parseService(hash: Readonly<Record<string, string>>): ServiceView {
  const out: ServiceView = {};
  if (hash['holder'] !== undefined && hash['holder'] !== '') out.holder = hash['holder'];
  const b = parseJsonOrUndefined(hash['budget']) as { n_procs?: unknown; memory_gb?: unknown; resources?: unknown } | undefined;
  if (typeof b === 'object' && b !== null && typeof b.n_procs === 'number' && typeof b.memory_gb === 'number') out.budget = { n_procs: b.n_procs, memory_gb: b.memory_gb, ...namedField(parseNamed(b.resources)) };
  if (hash['placement'] === 'pool' || hash['placement'] === 'hosts') out.placement = hash['placement'];
  const started = ms(hash['started_ms']);
  if (started !== undefined) out.started_ms = started;
  const beat = ms(hash['heartbeat_ms']);
  if (beat !== undefined) out.heartbeat_ms = beat;
  const runs = parseJsonOrUndefined(hash['runs']);
  if (Array.isArray(runs)) out.runs = runs.map(String);
  return out;
}

/** The service hash parsed, or null when no service has published itself. */
export async function readService(redis: Redis, prefix: string): Promise<ServiceView | null> {
  const hash = await redis.hgetall(new Keys(prefix).service());
  return Object.keys(hash).length === 0 ? null : parseService(hash);
}
