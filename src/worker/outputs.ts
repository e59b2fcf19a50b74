/**
 * A command node's outputs after it succeeded: its declared output files
 * (each must exist) and, with `stdout_json`, the JSON object it printed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { DEFAULT_MAX_OUTPUT_BYTES, type NodeJobData } from '../shared/payloads.js';
import { sizeText } from './output-encoding.js';

/** The outputs, or why the node fails despite its exit code 0. */
export type CollectedOutputs = { ok: true; outputs: Record<string, unknown> | undefined } | { ok: false; reason: string };

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Collects what a succeeded command node produced. */
export function collectOutputs(data: NodeJobData, stdoutPath: string): CollectedOutputs {
  const declared = data.outputs ?? {};
  if (Object.keys(declared).length === 0 && data.stdout_json !== true) return { ok: true, outputs: undefined };
  const outputs: Record<string, unknown> = {};
  const missing = Object.entries(declared).filter(([, path]) => !existsSync(path));
  if (missing.length > 0) {
    return { ok: false, reason: `declared output${missing.length > 1 ? 's' : ''} not created: ${missing.map(([name, path]) => `${name} (${path})`).join(', ')}` };
  }
  const dirs = Object.entries(declared).filter(([, path]) => isDirectory(path));
  if (dirs.length > 0) {
    return { ok: false, reason: `declared output${dirs.length > 1 ? 's are directories' : ' is a directory'}, not ${dirs.length > 1 ? 'files' : 'a file'}: ${dirs.map(([name, path]) => `${name} (${path})`).join(', ')}` };
  }
  Object.assign(outputs, declared);
  if (data.stdout_json === true) {
    let text: string;
    try {
      // Outputs travel through Redis and must stay small: the same limit as a function's.
      const max = data.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES;
      const size = statSync(stdoutPath).size;
      if (size > max) {
        return {
          ok: false,
          reason:
            `stdout_json: stdout is ${sizeText(size)}, over the ${sizeText(max)} allowed for a node's outputs ` +
            `(--max-output-bytes, max_output_bytes); write large results to a file and declare it in outputs`,
        };
      }
      text = readFileSync(stdoutPath, 'utf8');
    } catch (err) {
      return { ok: false, reason: `stdout_json: cannot read stdout: ${err instanceof Error ? err.message : String(err)}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { ok: false, reason: `stdout_json: stdout is not JSON (${err instanceof Error ? err.message : String(err)})` };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { ok: false, reason: `stdout_json: stdout must be a JSON object of outputs, got ${Array.isArray(parsed) ? 'a list' : parsed === null ? 'null' : typeof parsed}` };
    }
    Object.assign(outputs, parsed);
  }
  return { ok: true, outputs };
}
