/**
 * The scheduler's side of the worker claim path (see shared/node-claim.ts):
 * the admissions it stores for admitted attempts — what to run, the node
 * directory's lock and a random token per attempt — with the pointer jobs
 * that carry the tokens, and the claims it reads back when reconciling.
 */
import { readPendingOutcome } from '../shared/attempt-logs.js';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DIR_LOCK_TTL_MS, type DirLock } from '../shared/dir-lock.js';
import { readClaims, workerAlive, type Admission } from '../shared/node-claim.js';
import type { ChannelEntry } from './job-channel.js';
import { queueEntry, type NodeJob } from './node-job.js';
import type { ClaimView } from './reconcile.js';
import type { NodeRuntime } from './run-graph.js';

/** Bytes of one admission token. */
const TOKEN_BYTES = 12;
/** Tokens drawn per call to the system's random source. */
const TOKENS_PER_DRAW = 256;

/**
 * Random admission tokens, drawn from the system's random source in blocks:
 * one `randomBytes` call costs tens of microseconds, about as much for 3 KB
 * as for 12 bytes, and an admission needs one token per node.
 */
class TokenSource {
  private block = Buffer.alloc(0);
  private at = 0;

  next(): string {
    if (this.at + TOKEN_BYTES > this.block.length) {
      this.block = randomBytes(TOKEN_BYTES * TOKENS_PER_DRAW);
      this.at = 0;
    }
    const token = this.block.toString('base64url', this.at, this.at + TOKEN_BYTES);
    this.at += TOKEN_BYTES;
    return token;
  }
}

/** Admissions of one run's attempts. */
export class RunAdmissions {
  private readonly source = new TokenSource();
  /** Tokens by node index: one per attempt, so a job added again (reconciling) keeps its token. */
  private readonly tokens = new Map<number, { attempt: number; token: string }>();

  private tokenFor(index: number, attempt: number): string {
    const known = this.tokens.get(index);
    if (known !== undefined && known.attempt === attempt) return known.token;
    const token = this.source.next();
    this.tokens.set(index, { attempt, token });
    return token;
  }

  /** The node's attempt has ended: its token is not needed again (a retry is a new attempt, with a token of its own). */
  forget(index: number): void {
    this.tokens.delete(index);
  }

  /**
   * The queue entries of `jobs` and the admissions to store with them (hash
   * fields by node index), each attempt's token in both.
   */
  admit(
    jobs: readonly NodeJob[],
    lockOf: (index: number) => DirLock,
    /** Where each node was placed: its host (per-host placement) and named slots. */
    placeOf: (index: number) => { host?: string; slots?: Record<string, number[]> } = () => ({}),
  ): { entries: ChannelEntry[]; fields: Record<string, string> } {
    const fields: Record<string, string> = {};
    const entries = jobs.map((job): ChannelEntry => {
      const token = this.tokenFor(job.index, job.data.attempt);
      const { host, slots } = placeOf(job.index);
      const admission: Admission = {
        attempt: job.data.attempt,
        token,
        lock: { ...lockOf(job.index), ttl_ms: DIR_LOCK_TTL_MS },
        spec: job.data,
        ...(host !== undefined ? { host } : {}),
        ...(slots !== undefined && Object.keys(slots).length > 0 ? { slots } : {}),
      };
      fields[String(job.index)] = JSON.stringify(admission);
      const entry = queueEntry(job, token);
      return host !== undefined ? { ...entry, host } : entry;
    });
    return { entries, fields };
  }
}

/** The run store's claims of some nodes, with the liveness of the worker instances holding them (each looked up once). */
export async function claimViewOf(redis: Redis, prefix: string, runId: string, nodes: readonly NodeRuntime[], now: number, logsDir: string | undefined): Promise<ClaimView> {
  const claims = await readClaims(redis, prefix, runId, nodes.map((n) => n.index));
  const known = new Map<string, Promise<boolean>>();
  return {
    claims,
    pending: (n) => (logsDir === undefined ? undefined : readPendingOutcome(logsDir, n.node.id, n.attempt)),
    alive: (claim) => {
      const id = `${claim.worker}#${claim.instance}`;
      let p = known.get(id);
      if (p === undefined) {
        p = workerAlive(redis, prefix, claim, now);
        known.set(id, p);
      }
      return p;
    },
  };
}
