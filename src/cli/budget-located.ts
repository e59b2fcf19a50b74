/**
 * The budget check of `run` and `submit` with the line and column of each
 * node that does not fit: the check runs on the validated workflow, so the
 * file is read again (only when something does not fit, and only a regular
 * file) to locate them; a file changed in between is located as it is now.
 */
import { readFileSync, statSync } from 'node:fs';
import { ValidationError } from '../shared/errors.js';
import { STDIN_FILE } from '../shared/workflow/parse.js';
import { locateNodeIssues } from '../shared/workflow/source-text.js';

/** Runs `check`; a budget refusal is thrown again with its nodes located in `file`. */
export function withNodesLocated(file: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof ValidationError) || err.code !== 'NODE_EXCEEDS_BUDGET' || file === STDIN_FILE) throw err;
    let text: string;
    try {
      // Only a regular file reads the same twice: a pipe (`<(...)`) would read
      // empty, and a FIFO would wait for another writer.
      if (!statSync(file).isFile()) throw err;
      text = readFileSync(file, 'utf8');
    } catch {
      throw err;
    }
    // A byte-order mark is not part of the document (as when the file was first read).
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    throw new ValidationError(err.code, locateNodeIssues(text, file, err.issues), { cause: err.cause });
  }
}
