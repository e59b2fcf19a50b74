/**
 * The end of a node's log file, for failure outcomes and crash records (the
 * whole log stays on disk).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Bytes of stdout/stderr kept in a failure outcome. */
export const LOG_TAIL_BYTES = 4096;

/** The last `bytes` bytes of a file ('' if it cannot be read). */
export function readTail(path: string, bytes = LOG_TAIL_BYTES): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * What a shell printed when it could not find a command (`sh: 1: samtoolz:
 * not found`, `bash: line 1: samtoolz: command not found`): the last such
 * line of a stderr tail, else its last non-empty line; undefined if empty.
 */
export function notFoundLine(stderrTail: string): string | undefined {
  const lines = stderrTail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines.findLast((l) => /not found|No such file or directory/.test(l)) ?? lines.at(-1);
  return line === undefined ? undefined : line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
