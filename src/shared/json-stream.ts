/**
 * JSON documents written piece by piece: an object one of whose fields is a
 * long array (a run's nodes) is serialised item by item, so no single string
 * ever holds the whole document. The text is exactly what `JSON.stringify`
 * gives for the same object and indentation, so streamed output keeps the
 * format it always had.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** Characters gathered before a chunk is handed on. */
const CHUNK_CHARS = 64 * 1024;

/**
 * The JSON text of `doc`, whose field `arrayKey` holds `items` (any iterable,
 * sync or async) instead of an array, in chunks of about 64 KB. With `indent`
 * > 0 it is pretty-printed as `JSON.stringify(doc, null, indent)` would be.
 * Fields whose value is `undefined` are left out, as `JSON.stringify` does.
 */
export async function* jsonChunks(doc: Readonly<Record<string, unknown>>, arrayKey: string, items: Iterable<unknown> | AsyncIterable<unknown>, indent = 0): AsyncGenerator<string> {
  const pad = ' '.repeat(indent);
  const nl = indent > 0 ? '\n' : '';
  const colon = indent > 0 ? ': ' : ':';
  // A value nested `depth` levels deep: JSON.stringify's text with every line after the first indented.
  const nested = (value: unknown, depth: number): string => {
    const text = JSON.stringify(value, null, indent);
    // JSON text holds no raw newline but its own line breaks (strings escape theirs).
    return indent > 0 ? text.replace(/\n/g, `\n${pad.repeat(depth)}`) : text;
  };
  let buf = '{';
  let firstField = true;
  for (const [key, value] of Object.entries(doc)) {
    if (key !== arrayKey && (value === undefined || typeof value === 'function')) continue;
    buf += `${firstField ? '' : ','}${nl}${pad}${JSON.stringify(key)}${colon}`;
    firstField = false;
    if (key !== arrayKey) {
      buf += nested(value, 1);
      continue;
    }
    let firstItem = true;
    buf += '[';
    for await (const item of items) {
      // As in an array JSON.stringify writes: undefined and functions become null.
      const shown = item === undefined || typeof item === 'function' ? null : item;
      buf += `${firstItem ? '' : ','}${nl}${pad}${pad}${nested(shown, 2)}`;
      firstItem = false;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
    buf += firstItem ? ']' : `${nl}${pad}]`;
  }
  buf += firstField ? '}' : `${nl}}`;
  yield buf;
}

/**
 * Writes chunks to a stream (stdout), waiting whenever it asks to
 * (backpressure). A reader that went away (EPIPE, a destroyed stream:
 * `flowgate run --json | head`) ends the writing quietly: the rest is lost,
 * as it would be with one write.
 */
export async function writeChunks(out: Writable, chunks: AsyncIterable<string>): Promise<void> {
  for await (const chunk of chunks) {
    if (out.destroyed || out.writableEnded) return;
    if (!out.write(chunk) && !(await drained(out))) return;
  }
}

/** Resolves true once `out` drained, false when it closed or its reader went away; rejects on other errors. */
function drained(out: Writable): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const done = (result: boolean, err?: Error): void => {
      out.off('drain', onDrain).off('close', onClose).off('error', onError);
      if (err !== undefined) reject(err);
      else resolve(result);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    const onError = (err: NodeJS.ErrnoException): void => (err.code === 'EPIPE' ? done(false) : done(false, err));
    out.on('drain', onDrain).on('close', onClose).on('error', onError);
  });
}

/** Characters written between turns of the event loop by {@link writeFileChunks}. */
const YIELD_EVERY_CHARS = 4 * 1024 * 1024;

/**
 * Writes chunks to `path` through a temporary file renamed into place, so a
 * reader never sees half a document (and a failed write leaves the old one).
 */

export async function writeFileChunks(path: string, chunks: AsyncIterable<string>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    try {
      // Written synchronously, but the event loop gets a turn every few MB:
      // a 100,000-node summary (~140 MB) does not stall everything else.
      let since = 0;
      for await (const chunk of chunks) {
        writeSync(fd, chunk);
        since += chunk.length;
        if (since >= YIELD_EVERY_CHARS) {
          since = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
