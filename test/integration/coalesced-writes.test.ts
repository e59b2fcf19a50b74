/**
 * Commands issued in one turn of the event loop leave in one system call
 * (coalesceWrites in src/shared/redis.ts), in order, transactions included,
 * and so do those of a socket the client opened again after losing one.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/shared/redis.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

type Counted = Socket & { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };

/** Counts the socket's calls down to the system: `_write` for one chunk, `_writev` for several at once. */
function countWrites(socket: Counted): { writes: number; writevs: number[] } {
  const seen = { writes: 0, writevs: [] as number[] };
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...a: unknown[]) => {
    seen.writes++;
    write(...a);
  };
  socket._writev = (chunks: unknown[], cb: unknown) => {
    seen.writevs.push(chunks.length);
    writev(chunks, cb);
  };
  return seen;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('coalesced writes', () => {
  it('sends one turn\'s commands and transactions in one write, in order, on every socket the client opens', async () => {
    const prefix = uniquePrefix('coalesce');
    const redis = createRedis(redisUrl(), { maxRetriesPerRequest: null });
    cleanups.push(async () => {
      redis.disconnect();
      await deletePrefix(prefix);
    });
    await redis.connect();
    const key = `${prefix}:list`;

    const turn = async (): Promise<unknown[]> => {
      const seen = countWrites((redis as unknown as { stream: Counted }).stream);
      const replies = await Promise.all([
        redis.rpush(key, 'a'),
        redis.multi().rpush(key, 'b').rpush(key, 'c').exec(),
        redis.rpush(key, 'd'),
        redis.lrange(key, 0, -1),
      ]);
      // Four chunks (the transaction is one), one system call.
      expect(seen).toEqual({ writes: 0, writevs: [4] });
      return replies;
    };
    const first = await turn();
    expect(first[3]).toEqual(['a', 'b', 'c', 'd']);

    // The connection is lost and made again: the new socket coalesces too.
    const before = (redis as unknown as { stream: Socket }).stream;
    before.destroy();
    await waitFor(() => redis.status === 'ready' && (redis as unknown as { stream: Socket }).stream !== before, 10_000, 'the client to reconnect');
    await redis.del(key);
    const again = await turn();
    expect(again[3]).toEqual(['a', 'b', 'c', 'd']);
  });
});
