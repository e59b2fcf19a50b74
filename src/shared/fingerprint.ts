/**
 * Fingerprints of files and directories for the node cache, shared by the
 * scheduler (input files) and the worker (output files of a finished node).
 *
 * A fingerprint is a string of space-separated `key:value` tokens. Timestamp
 * fingerprints are `size:<bytes> mtime:<ms>` (a directory: `listing:<sha256>`);
 * content fingerprints carry those tokens too plus `sha256:<hex>`, so a record
 * made with content hashing can be checked again with timestamps
 * ({@link projectFingerprint}) without running the node again.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** How input files are fingerprinted. */
export type HashMethod = 'timestamp' | 'content';

/** The fingerprint of a path that does not exist (or cannot be read). */
export const MISSING = 'missing';

/** Chunk size of content hashing: files of any size are hashed without being held in memory. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** sha256 of a string or buffer, hex. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of a file's content, read in chunks. Synchronous on purpose: the
 * cache check is a synchronous step of the scheduler's drain, and reading in
 * fixed chunks keeps memory flat for files of any size (a whole-file read
 * fails above 2 GiB).
 */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let n = readSync(fd, buf, 0, CHUNK_BYTES, null); n > 0; n = readSync(fd, buf, 0, CHUNK_BYTES, null)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function timestampOf(st: Stats): string {
  return `size:${st.size} mtime:${Math.round(st.mtimeMs)}`;
}

/**
 * A directory's listing, recursively: every entry's relative path, type,
 * size and mtime (content mode: the content hash of every file). Recursive
 * because a tool reading a directory usually reads its subdirectories too;
 * symbolic links are followed by stat.
 */
function listing(dir: string, method: HashMethod): { listing: string; content: string } {
  const lines: string[] = [];
  const contents: string[] = [];
  const walk = (rel: string): void => {
    const names = readdirSync(join(dir, rel)).sort();
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      let st: Stats;
      try {
        st = statSync(join(dir, relPath));
      } catch {
        lines.push(`${relPath} ${MISSING}`);
        continue;
      }
      if (st.isDirectory()) {
        lines.push(`${relPath}/`);
        contents.push(`${relPath}/`);
        walk(relPath);
      } else {
        lines.push(`${relPath} ${timestampOf(st)}`);
        if (method === 'content') contents.push(`${relPath} ${sha256File(join(dir, relPath))}`);
      }
    }
  };
  walk('');
  return { listing: sha256(lines.join('\n')), content: sha256(contents.join('\n')) };
}

/** The fingerprint of a file or directory under `method`; {@link MISSING} when it cannot be read. */
export function pathFingerprint(path: string, method: HashMethod): string {
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      const l = listing(path, method);
      return method === 'content' ? `listing:${l.listing} sha256:${l.content}` : `listing:${l.listing}`;
    }
    return method === 'content' ? `${timestampOf(st)} sha256:${sha256File(path)}` : timestampOf(st);
  } catch {
    return MISSING;
  }
}

/**
 * The part of a fingerprint that `method` compares: content → the `sha256:`
 * token, timestamp → the others. Undefined when the fingerprint was taken with
 * timestamps and content is asked for (it cannot tell whether content changed).
 */
export function projectFingerprint(fp: string, method: HashMethod): string | undefined {
  if (fp === MISSING) return fp;
  const tokens = fp.split(' ');
  if (method === 'content') return tokens.find((t) => t.startsWith('sha256:'));
  return tokens.filter((t) => !t.startsWith('sha256:')).join(' ');
}
