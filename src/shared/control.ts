/**
 * Control messages on the `<prefix>:fg:control` pub/sub channel (and
 * `dirs-released` on `<prefix>:fg:dirs-released`, which workers do not hear). Pub/sub is
 * fire-and-forget, so every message is backed by durable state that a sweep
 * also reads (the run's `cancel_requested` meta field).
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { connectionName, createRedis } from './redis.js';

/** Messages on the control channel. */
export type ControlMessage =
  /** Ask the scheduler driving `run_id` to cancel it. */
  | { type: 'cancel'; run_id: string; reason: string }
  /** Ask every worker to kill the running nodes of `run_id`. */
  | { type: 'abort'; run_id: string; reason: string }
  /** A run was submitted to the scheduler service (backed by the submitted list). */
  | { type: 'submitted'; run_id: string }
  /** A run of the scheduler service finished (backed by its meta status). */
  | { type: 'finished'; run_id: string; status: string }
  /** Node directory locks were released (backed by the locks' own expiry, which a sweep notices). */
  | { type: 'dirs-released' };

/** Parses a control message; undefined for anything else. */
export function parseControlMessage(raw: string): ControlMessage | undefined {
  try {
    const m = JSON.parse(raw) as Partial<ControlMessage>;
    if ((m.type === 'cancel' || m.type === 'abort') && typeof m.run_id === 'string' && typeof m.reason === 'string') {
      return { type: m.type, run_id: m.run_id, reason: m.reason };
    }
    if (m.type === 'submitted' && typeof m.run_id === 'string') return { type: 'submitted', run_id: m.run_id };
    if (m.type === 'finished' && typeof m.run_id === 'string' && typeof m.status === 'string') return { type: 'finished', run_id: m.run_id, status: m.status };
    if (m.type === 'dirs-released') return { type: 'dirs-released' };
  } catch {
    // Not ours.
  }
  return undefined;
}

/**
 * A connection subscribed to the control channel under `prefix`, and to its
 * dirs-released channel (see {@link Keys.dirsReleased}); every well-formed
 * message goes to `onMessage`. Errors are reported, never thrown
 * (the connection reconnects by itself).
 */
export async function subscribeControl(redisUrl: string, prefix: string, onMessage: (msg: ControlMessage) => void, onError: (err: unknown) => void): Promise<Redis> {
  const sub = createRedis(redisUrl, { maxRetriesPerRequest: null, connectionName: connectionName(prefix, 'control') });
  sub.on('error', onError);
  sub.on('message', (_channel: string, raw: string) => {
    const msg = parseControlMessage(raw);
    if (msg !== undefined) onMessage(msg);
  });
  try {
    await sub.connect();
    const keys = new Keys(prefix);
    await sub.subscribe(keys.control(), keys.dirsReleased());
  } catch (err) {
    // Nobody else holds the client yet: drop it here, or it would linger.
    sub.disconnect();
    throw err;
  }
  return sub;
}
