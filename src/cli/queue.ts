/**
 * `flowgate queue pause|resume|status`: the node queue's pause switch. While
 * the queue is paused the scheduler still admits nodes (their resources are
 * reserved) but no worker takes their jobs; `flowgate status` and the board
 * say so.
 */
import { ExitCode, ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { NODE_QUEUE } from '../shared/payloads.js';
import { bullConnection, checkRedis, createRedis } from '../shared/redis.js';
import { requireCjs } from '../shared/cjs.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { connectionFrom, CONNECTION_FLAGS } from './connection.js';

export const QUEUE_FLAGS: readonly FlagSpec[] = [
  ...CONNECTION_FLAGS,
];

const ACTIONS = ['pause', 'resume', 'status'] as const;

/** Pauses or resumes the node queue, or says whether it is paused; returns the exit code. */
export async function queueCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, QUEUE_FLAGS));
  const action = flags.positionals[0];
  if (flags.positionals.length !== 1 || !(ACTIONS as readonly string[]).includes(action ?? '')) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: `usage: flowgate queue pause|resume|status [options]${action !== undefined ? `, received "${flags.positionals.join(' ')}"` : ''}` }]);
  }
  const { redisUrl, prefix } = connectionFrom(flags);
  await checkRedis(redisUrl);
  if (action !== 'status') {
    const { Queue } = requireCjs('bullmq') as typeof import('bullmq');
    const queue = new Queue(NODE_QUEUE, { connection: bullConnection(redisUrl), prefix });
    try {
      await (action === 'pause' ? queue.pause() : queue.resume());
    } finally {
      await queue.close();
    }
  }
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const paused = (await redis.hexists(new Keys(prefix).nodeQueueMeta(), 'paused')) === 1;
    process.stdout.write(`node queue of prefix ${prefix}: ${paused ? 'paused (admitted nodes wait; `flowgate queue resume` resumes it)' : 'running'}\n`);
    return ExitCode.ok;
  } finally {
    redis.disconnect();
  }
}
