/**
 * Per-test Redis helpers: a unique prefix per test and cleanup of every key
 * under it, so tests can share one Redis and never see each other's keys.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** The Redis URL provided by the global setup. */
export function redisUrl(): string {
  return inject('redisUrl');
}

const made: string[] = [];

/**
 * A prefix no other test uses: `fgtest-<run token>-<label>-<8 hex>`. Every
 * prefix is remembered, and whatever a test file left under its prefixes is
 * deleted after the file (test/helpers/test-hygiene.ts).
 */
export function uniquePrefix(label = 't'): string {
  const prefix = `fgtest-${inject('testRunToken')}-${label}-${randomBytes(4).toString('hex')}`;
  made.push(prefix);
  return prefix;
}

/** The prefixes made by {@link uniquePrefix} in this test file so far, forgotten. */
export function takePrefixes(): string[] {
  return made.splice(0);
}

/** Keys under `prefix` (SCAN, so it is safe on a shared Redis). */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = new Redis(redisUrl());
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length === 0) return;
  const client = new Redis(redisUrl());
  try {
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
  } finally {
    client.disconnect();
  }
}
