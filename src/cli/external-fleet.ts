/**
 * `flowgate run --fleet external`: the run starts no workers of its own and
 * places its nodes per host on the workers already registered under its
 * prefix, as the scheduler service does with `--placement hosts` — one
 * ledger per live host, capped only by the budget flags given.
 */
import type { Redis } from 'ioredis';
import { FlowgateError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { closeRedis, createRedis } from '../shared/redis.js';
import { FleetLedger } from '../scheduler/fleet-ledger.js';
import { HostWatch } from '../scheduler/host-watch.js';
import type { RunScheduler } from '../scheduler/scheduler.js';
import { ServiceAdmission } from '../scheduler/shared-admission.js';

/** The per-host admission of one run over registered workers. */
export class ExternalFleet {
  readonly admission: ServiceAdmission;
  private readonly ledger: FleetLedger;
  private readonly redis: Redis;
  private readonly watch: HostWatch;
  private run: RunScheduler | undefined;

  constructor(redisUrl: string, private readonly prefix: string, cap: { n_procs?: number; mem_gb?: number }, log: Logger) {
    this.ledger = new FleetLedger(cap);
    this.admission = new ServiceAdmission(this.ledger);
    this.redis = createRedis(redisUrl, { maxRetriesPerRequest: null });
    this.redis.on('error', (err: unknown) => log.debug({ err }, 'redis error (host watch)'));
    this.watch = new HostWatch(
      this.redis,
      prefix,
      this.ledger,
      (c) => {
        for (const { host, keys } of c.lost) this.run?.hostLost(keys.map((k) => Number(k.slice(k.lastIndexOf('/') + 1))), host);
        this.admission.kickAll();
      },
      log,
    );
  }

  /** Reads the registered hosts; refuses (exit 2) when none is live. */
  async start(): Promise<void> {
    await this.redis.connect();
    await this.watch.start();
    if (this.ledger.hosts.length === 0) {
      throw new FlowgateError(
        'OPTIONS_INVALID',
        `--fleet external: no live host is registered under prefix "${this.prefix}"; start workers first (flowgate worker --host-id ID --capacity procs=N,mem_gb=G), or run with --fleet local`,
      );
    }
  }

  /** The run whose nodes are placed (its holds are keyed `<run id>/<index>`). */
  follow(run: RunScheduler): void {
    this.run = run;
    this.admission.add(run, 0);
  }

  async close(): Promise<void> {
    this.watch.stop();
    await closeRedis(this.redis);
  }
}
