/**
 * Benchmark clean-up: every run has its own key prefix, deleted afterwards.
 */
import type { Redis } from 'ioredis';

/** Deletes every key under `prefix:` (SCAN, safe on a shared Redis); returns how many. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}
