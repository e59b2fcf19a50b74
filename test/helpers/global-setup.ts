/**
 * Provides a Redis URL to every test: REDIS_URL when set, otherwise a Redis
 * container started with testcontainers (only where a Docker engine exists).
 */
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let stop: (() => Promise<unknown>) | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env['REDIS_URL'];
  if (url === undefined || url === '') {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7.4-alpine').start();
    url = container.getConnectionUrl();
    stop = () => container.stop();
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await stop?.();
}
