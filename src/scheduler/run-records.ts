/**
 * A run's records at its two ends. When its scheduler starts: creating it in
 * Redis (refusing to start next to an unfinished run of the same workflow and
 * work dir), or restoring it from its durable state (resume). When it ends:
 * its summary, in Redis and in the work dir.
 */
import { FlowgateError, ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { metaFields } from './run-definition.js';
import { takeRunLease, type RunConnections } from './run-connections.js';
import type { RunGraph } from './run-graph.js';
import { loadStoredRun, unfinishedPreviousRun } from './run-store.js';
import type { Logger } from '../shared/logger.js';
import { writeRunFiles } from './resource-monitor.js';
import type { SchedulerOptions } from './scheduler-types.js';
import { buildSummary, type RunSummary } from './summary.js';
import { ensureMarker, WORK_DIR_CHECK_FIELD } from '../shared/work-dir-marker.js';
import type { Redis } from 'ioredis';

/**
 * Marks the work dir as this owner's (its marker file, made when missing)
 * and records path and token under `key` (a run's meta, the service record),
 * for workers to check that they see the same directory. A work dir that
 * cannot be marked is logged and left unrecorded: workers then check nothing
 * there, and the nodes report what is wrong with the directory themselves.
 */
export async function recordWorkDir(redis: Redis, key: string, workDir: string, log: Logger): Promise<void> {
  let token: string;
  try {
    token = ensureMarker(workDir);
  } catch (err) {
    log.warn({ err, workDir }, 'cannot write the work dir marker; workers will not check that they share this work dir');
    await redis.hdel(key, WORK_DIR_CHECK_FIELD);
    return;
  }
  await redis.hset(key, WORK_DIR_CHECK_FIELD, JSON.stringify({ path: workDir, token }));
}

/** Creates the run in Redis under its lease; returns its start time. */
export async function createRun(o: SchedulerOptions, c: RunConnections, graph: RunGraph, nowMs: number): Promise<number> {
  const workDirKey = new Keys(o.prefix).workDirRun(o.workDir, o.workflow.name);
  if (o.refuseWhilePreviousRun === true) await refuseIfPreviousRun(o, c, workDirKey);
  // The lease first: a run stored as running without a lease reads as orphaned.
  await takeRunLease(c.lease, o.runId, false);
  // The budget stored is the ledger's: the run's own, the service's, or (per-host placement) the live hosts' sum now, with named resources.
  const budget = { ...graph.ledger.budget, resources: graph.ledger.namedBudget() };
  await c.store.create(metaFields({ ...o, budget }, nowMs), graph.nodes.map(() => 'waiting'), graph.nodes.map((n) => n.remaining), nowMs, workDirKey);
  graph.start();
  return nowMs;
}

/** Refuses to start next to an unfinished run of the same workflow and work dir (exit 2, nothing written). */
async function refuseIfPreviousRun(o: SchedulerOptions, c: RunConnections, workDirKey: string): Promise<void> {
  const previous = await unfinishedPreviousRun(c.redis, o.prefix, workDirKey);
  if (previous === undefined) return;
  const where = `workflow "${o.workflow.name}" in work dir ${o.workDir}`;
  const message =
    previous.state === 'running'
      ? `run ${previous.runId} of ${where} is still running (driven by ${previous.holder ?? 'another scheduler'}); wait for it, cancel it (flowgate cancel ${previous.runId}), or start another run that waits for its node directories with --force`
      : `run ${previous.runId} of ${where} ended without finishing (its scheduler is gone); continue it with \`flowgate resume ${previous.runId}\`, or start a new run with --force`;
  throw new ValidationError('OPTIONS_INVALID', [{ field: 'WORKFLOW', message }]);
}

/** Loads the run's durable state (resume); returns its start time. Refuses a run another live scheduler drives. */
export async function restoreRun(o: SchedulerOptions, c: RunConnections, graph: RunGraph, nowMs: number): Promise<number> {
  const stored = await loadStoredRun(c.redis, o.prefix, o.runId);
  if (stored === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${o.runId}" under prefix "${o.prefix}"`);
  await takeRunLease(c.lease, o.runId, true);
  const startedMs = Number(stored.meta['started_ms'] ?? nowMs);
  graph.restore(stored.states, stored.records);
  const stopped = stored.meta['stop_reason'];
  if (stopped !== undefined) graph.stopAdmitting(stopped);
  c.store.setMeta('resumed_ms', String(nowMs));
  return startedMs;
}

/** Builds the run's summary and stores it in Redis and in the work dir; a failure to store is logged, not thrown. */
export async function recordRunEnd(o: SchedulerOptions, c: RunConnections, graph: RunGraph, run: { cancelled: boolean; startedMs: number; finishedMs: number }, log: Logger): Promise<RunSummary> {
  const summary = buildSummary({
    runId: o.runId,
    workflow: o.workflow.name,
    cancelled: run.cancelled,
    // The ledger's budget: the run's own, the service's, or (per-host
    // placement) the live hosts' sum when the run ended; with its named resources.
    budget: { ...graph.ledger.budget, resources: graph.ledger.namedBudget() },
    order: o.order,
    startedMs: run.startedMs,
    finishedMs: run.finishedMs,
    nodes: graph.nodes.map((n) => ({ ...n.record })),
  });
  try {
    await c.store.recordEnd(summary);
  } catch (err) {
    log.error({ err }, 'cannot store the run summary in Redis');
  }
  try {
    await writeRunFiles(o.workDir, summary);
  } catch (err) {
    log.error({ err }, 'cannot write the run summary file');
  }
  return summary;
}
