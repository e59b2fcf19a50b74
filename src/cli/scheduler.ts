/**
 * `flowgate scheduler`: the long-running scheduler service. Every setting
 * comes from a flag or its `FLOWGATE_*` variable; the configuration is printed
 * at start (secrets redacted).
 */
import { resolve } from 'node:path';
import { ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { SchedulerService } from '../scheduler/service.js';
import { Flags, parseArgs } from './args.js';
import { connectionFrom } from './connection.js';
import { formatDuration } from '../shared/duration.js';
import { compileSchedulerOptions } from '../shared/options/scheduler.js';
import { retentionFrom } from './retention-flags.js';
import { SCHEDULER_FLAGS, SCHEDULER_SETTINGS } from './scheduler-flags.js';
import { describeConfig, withEnv } from './settings.js';

/** Runs the service until SIGINT/SIGTERM; returns the exit code. */
export async function schedulerCommand(argv: readonly string[]): Promise<number> {
  const flags = withEnv(new Flags(parseArgs(argv, SCHEDULER_FLAGS)), SCHEDULER_SETTINGS);
  if (flags.positionals.length > 0) throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"` }]);
  const { redisUrl, prefix, logLevel } = connectionFrom(flags);
  const retention = retentionFrom(flags);
  const given = flags.options();
  const o = compileSchedulerOptions(given);
  const hosts = o.placement === 'hosts';
  // Per-host placement: the budget is the live hosts' sum, capped only by what was given.
  const capFleet = { n_procs: given['n_procs'] !== undefined, mem_gb: given['memory_gb'] !== undefined };
  const config = {
    redis_url: redisUrl,
    prefix,
    n_procs: hosts && !capFleet.n_procs ? 'the live hosts\' sum' : o.n_procs,
    memory_gb: hosts && !capFleet.mem_gb ? 'the live hosts\' sum' : o.memory_gb,
    resources: hosts ? 'the live hosts\' sum' : Object.entries(o.resources).map(([k, n]) => `${k}=${n}`).join(',') || 'none',
    placement: o.placement,
    work_dir: resolve(o.work_dir),
    leader_ttl_ms: o.leader_ttl_ms,
    reconcile_interval_ms: o.reconcile_interval_ms,
    retain_runs: retention.maxRuns === 0 ? 'off' : retention.maxRuns,
    retain_for: retention.maxAgeMs === 0 ? 'off' : formatDuration(retention.maxAgeMs),
    retention_interval_ms: o.retention_interval_ms,
    log_level: logLevel,
  };
  process.stderr.write(`${describeConfig('scheduler', config)}\n`);
  const logger = createLogger(logLevel).child({ component: 'scheduler-service' });
  await checkRedis(redisUrl);
  const service = new SchedulerService({
    redisUrl,
    prefix,
    budget: { n_procs: o.n_procs, mem_gb: o.memory_gb, resources: o.resources },
    placement: o.placement,
    capFleet,
    workDir: config.work_dir,
    leaderTtlMs: config.leader_ttl_ms,
    reconcileIntervalMs: config.reconcile_interval_ms,
    retention,
    retentionIntervalMs: config.retention_interval_ms,
    logger,
  });
  service.on('leading', ({ holder }) => process.stderr.write(`flowgate scheduler: leading as ${holder}\n`));
  service.on('passive', ({ leader }) => process.stderr.write(`flowgate scheduler: standby; ${leader} leads\n`));
  service.on('run:started', ({ runId, resumed }) => process.stderr.write(`flowgate scheduler: run ${runId} ${resumed ? 'resumed' : 'started'}\n`));
  service.on('run:finished', (s) => process.stderr.write(`flowgate scheduler: run ${s.run_id} ${s.status} in ${s.wall_s.toFixed(1)} s\n`));
  service.on('run:rejected', ({ runId, error }) => process.stderr.write(`flowgate scheduler: run ${runId} rejected: ${error}\n`));
  const stopped = new Promise<NodeJS.Signals>((resolveStop) => {
    process.once('SIGINT', () => resolveStop('SIGINT'));
    process.once('SIGTERM', () => resolveStop('SIGTERM'));
  });
  await service.start();
  const signal = await stopped;
  process.stderr.write(`flowgate scheduler: ${signal} received; stopping (runs keep their state and are resumed by the next leader)\n`);
  await service.stop();
  return 0;
}
