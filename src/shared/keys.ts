import { createHash } from 'node:crypto';

/**
 * Every Redis key flowgate itself writes, in one place. BullMQ's own keys live
 * under `<prefix>:<queue>:`; flowgate's under `<prefix>:fg:`.
 */
import { NODE_QUEUE } from './payloads.js';

/** Typed builder for flowgate's keys under one prefix. */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Sorted set of run ids scored by start time. */
  runs(): string {
    return `${this.prefix}:fg:runs`;
  }
  /** Hash: run metadata (workflow, options, budget, status, summary, timestamps). */
  runMeta(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:meta`;
  }
  /** Hash: node index -> state. */
  runStates(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:states`;
  }
  /** Hash: node index -> number of predecessors not yet succeeded. */
  runRemaining(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:remaining`;
  }
  /** Hash: node index -> JSON record (times, outcome, crash file, ...). */
  runNodes(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:nodes`;
  }
  /** Hash: node index -> "procs mem_gb" held in the ledger. */
  runHolds(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:holds`;
  }
  /**
   * Hash: node index -> admission JSON `{attempt, token, spec}` written by the
   * scheduler before the node's job is added: what a worker may run, and the
   * token its job must carry.
   */
  runAdmits(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:admits`;
  }
  /** Hash: node index -> claim JSON `{attempt, worker, state, start_ms, end_ms?, history?}` written by workers. */
  runClaims(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:claims`;
  }
  /** Hash: node index -> outcome JSON of the attempt its claim names, recorded by the worker that ran it. */
  runOutcomes(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:outcomes`;
  }
  /**
   * Hash: a per-node table of a run being created (`states` or `remaining`),
   * written in chunks by one creator (`token`) and renamed into place when the
   * run is created; expires on its own if the creator dies first.
   */
  runStaging(runId: string, token: string, table: 'states' | 'remaining'): string {
    return `${this.prefix}:fg:run:${runId}:creating:${token}:${table}`;
  }
  /** Prefix of worker registration keys (`worker(name)` without the name). */
  workerPrefix(): string {
    return `${this.prefix}:fg:worker:`;
  }
  /** String: `host:pid` of the scheduler driving a run; expires unless renewed. */
  runLease(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:lease`;
  }
  /**
   * String: JSON snapshot of the run's ready queue, written by its scheduler
   * at most twice a second: `{at_ms, budget, free, waiting: [{id, reason}]}`.
   */
  runWaiting(runId: string): string {
    return `${this.prefix}:fg:run:${runId}:waiting`;
  }
  /** String: `host:pid` of the scheduler service that leads; expires unless renewed. */
  leader(): string {
    return `${this.prefix}:fg:leader`;
  }
  /** Hash: the leading scheduler service (holder, budget, started_ms, heartbeat_ms, runs). */
  service(): string {
    return `${this.prefix}:fg:service`;
  }
  /** List: ids of submitted runs not yet taken by the scheduler service (FIFO). */
  submitted(): string {
    return `${this.prefix}:fg:submitted`;
  }
  /** Pub/sub channel for control messages (cancel a run, abort its nodes). */
  control(): string {
    return `${this.prefix}:fg:control`;
  }
  /**
   * Pub/sub channel told when node directory locks are released (once per
   * finished node): only schedulers listen, so workers, which hear
   * {@link control}, are not woken for every node of the fleet.
   */
  dirsReleased(): string {
    return `${this.prefix}:fg:dirs-released`;
  }
  /** Sorted set of worker names scored by their last heartbeat (epoch ms). */
  workers(): string {
    return `${this.prefix}:fg:workers`;
  }
  /** Hash: one worker's registration and heartbeat (expires if it stops beating). */
  worker(name: string): string {
    return `${this.workerPrefix()}${name}`;
  }
  /**
   * String: the lock of a node directory (by a hash of its absolute path),
   * `<run id>|<node index>|<path>` while a run holds it; expires unless renewed.
   */
  dirLock(path: string): string {
    return `${this.prefix}:fg:dirlock:${createHash('sha256').update(path).digest('hex').slice(0, 40)}`;
  }
  /** String: the id of the latest run of workflow `workflow` in work dir `workDir` (by a hash of both). */
  workDirRun(workDir: string, workflow: string): string {
    return `${this.prefix}:fg:workdir:${createHash('sha256').update(`${workDir}\0${workflow}`).digest('hex').slice(0, 40)}`;
  }
  /**
   * Hash: BullMQ's meta hash of the node queue (BullMQ 6 keeps `paused` there
   * while the queue is paused). flowgate only reads it.
   */
  nodeQueueMeta(): string {
    return `${this.prefix}:${NODE_QUEUE}:meta`;
  }
  /** All keys of a run, for deletion. */
  runKeys(runId: string): string[] {
    return [this.runMeta(runId), this.runStates(runId), this.runRemaining(runId), this.runNodes(runId), this.runHolds(runId), this.runLease(runId), this.runWaiting(runId), this.runAdmits(runId), this.runClaims(runId), this.runOutcomes(runId)];
  }
}
