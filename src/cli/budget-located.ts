/**
 * The budget check of `run` and `submit` with the line and column of each
 * node that does not fit: the check runs on the validated workflow, so the
 * file is read again (only when something does not fit) to locate them.
 */
import { readFileSync } from 'node:fs';
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
      text = readFileSync(file, 'utf8');
    } catch {
      throw err;
    }
    // A byte-order mark is not part of the document (as when the file was first read).
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    throw new ValidationError(err.code, locateNodeIssues(text, file, err.issues), { cause: err.cause });
  }
}
