/**
 * The scheduler's reading of the queue events stream, against a real Redis:
 * entries are routed to the run whose job they name, and the next read waits
 * until the runs that received a batch have applied it.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobChannel } from '../../src/scheduler/job-channel.js';
import type { Incoming } from '../../src/scheduler/incoming.js';
import { silentLogger } from '../../src/shared/logger.js';
import { NODE_QUEUE, nodeJobId } from '../../src/shared/payloads.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

describe('JobChannel', () => {
  let prefix: string;
  let redis: Redis;
  let channel: JobChannel;
  let stream: string;

  beforeEach(async () => {
    prefix = uniquePrefix('channel');
    redis = new Redis(redisUrl());
    stream = `${prefix}:${NODE_QUEUE}:events`;
    // An entry from before the channel opened is not the channel's to read.
    await redis.xadd(stream, '*', 'event', 'completed', 'jobId', nodeJobId('run-a', 9, 1), 'returnvalue', '{}');
    channel = new JobChannel(redisUrl(), prefix, silentLogger());
  });

  afterEach(async () => {
    await channel.close(false);
    await deletePrefix(prefix);
    redis.disconnect();
  });

  const add = (...fields: string[]): Promise<unknown> => redis.xadd(stream, '*', ...fields);

  it("routes each event to the run whose job it names, and skips other runs' and unreadable entries", async () => {
    const a: Incoming[] = [];
    const b: Incoming[] = [];
    channel.subscribe('run-a', { incoming: (ev) => a.push(ev) });
    channel.subscribe('run-b', { incoming: (ev) => b.push(ev) });
    await channel.open(redis);
    const outcome = { ok: true, exit_code: 0 };
    await add('event', 'added', 'jobId', nodeJobId('run-a', 0, 1), 'name', 'n0');
    await add('event', 'active', 'jobId', nodeJobId('run-a', 0, 1), 'prev', 'waiting');
    await add('event', 'completed', 'jobId', nodeJobId('run-a', 0, 1), 'returnvalue', JSON.stringify(outcome));
    await add('event', 'completed', 'jobId', nodeJobId('run-a', 1, 1), 'returnvalue', '{not json');
    await add('event', 'failed', 'jobId', nodeJobId('run-b', 3, 2), 'failedReason', 'exit code 1');
    await add('event', 'stalled', 'jobId', nodeJobId('run-b', 4, 1));
    await add('event', 'completed', 'jobId', nodeJobId('run-c', 0, 1), 'returnvalue', '{}');
    await add('event', 'drained', 'id', '1');
    await waitFor(() => a.length === 2 && b.length === 2, 5000, 'four events');
    expect(a).toEqual([
      { kind: 'active', index: 0, attempt: 1 },
      { kind: 'completed', index: 0, attempt: 1, outcome },
    ]);
    expect(b).toEqual([
      { kind: 'failed', index: 3, attempt: 2, reason: 'exit code 1' },
      { kind: 'stalled', index: 4, attempt: 1 },
    ]);
  });

  it('reads the next batch only after the runs that got the last one have settled', async () => {
    const got: Incoming[] = [];
    let settle: () => void = () => undefined;
    let waiting = 0;
    channel.subscribe('run-a', {
      incoming: (ev) => got.push(ev),
      settled: () => {
        waiting++;
        return new Promise<void>((resolve) => {
          settle = resolve;
        });
      },
    });
    await channel.open(redis);
    // A second reader of the same stream that never waits: it shows when
    // entries have been readable for a while.
    const witness = new JobChannel(redisUrl(), prefix, silentLogger());
    const seen: Incoming[] = [];
    witness.subscribe('run-a', { incoming: (ev) => seen.push(ev) });
    await witness.open(redis);
    try {
      await add('event', 'active', 'jobId', nodeJobId('run-a', 0, 1));
      await waitFor(() => waiting === 1, 5000, 'the first batch');
      expect(got).toHaveLength(1);
      // Written while the run is still applying the first batch.
      await add('event', 'active', 'jobId', nodeJobId('run-a', 1, 1));
      await add('event', 'active', 'jobId', nodeJobId('run-a', 2, 1));
      await waitFor(() => seen.length === 3, 5000, 'the witness to read all three');
      expect(got).toHaveLength(1);
    } finally {
      await witness.close(false);
    }
    settle();
    // Both arrive in one read, and the run is asked once more to settle.
    await waitFor(() => waiting === 2, 5000, 'the second batch');
    expect(got.map((e) => e.index)).toEqual([0, 1, 2]);
  });
});
