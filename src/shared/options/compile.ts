/**
 * Compiling options through a component's zod schema: the schema's output
 * (every default applied) or one validation error listing every bad field by
 * the name its caller knows it by (`n_procs` for the API, `--n-procs` for a
 * flag), what was expected and what was received.
 */
import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors.js';

/** How a caller names an option key in messages (`n_procs` → `--n-procs`). */
export type FieldNamer = (key: string) => string;

/** Options named as given: the API's words. */
export const apiField: FieldNamer = (key) => key;

/** Options named as the CLI flags they come from (`max_tasks_per_child` → `--max-tasks-per-child`). */
export const flagField: FieldNamer = (key) => `--${key.replace(/_/g, '-')}`;

function shown(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'function') return 'a function';
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** One zod issue in flowgate's words: what was expected, and what was received. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  const received = `received ${shown(issue.input)}`;
  switch (issue.code) {
    case 'too_small':
      return `must be ${issue.inclusive === true ? 'at least' : 'greater than'} ${String(issue.minimum)}, ${received}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}, ${received}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => shown(v)).join(', ')}, ${received}`;
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'a whole number' : issue.expected}, ${received}`;
    case 'invalid_union': {
      // Every branch failed: the last one is the general rule (e.g. a whole number, besides Infinity).
      const last = issue.errors.at(-1)?.[0];
      return last !== undefined ? issueMessage({ ...last, input: issue.input } as z.core.$ZodIssue) : `invalid, ${received}`;
    }
    default:
      // Custom checks (the run-id rule, Redis URLs) say everything themselves.
      return issue.message;
  }
}

/**
 * `input` through `schema`: the compiled options, or a validation error
 * (`OPTIONS_INVALID`, exit 2) with one issue per bad field, named by `name`.
 */
export function compileOptions<S extends z.ZodType>(schema: S, input: unknown, name: FieldNamer = apiField): z.output<S> {
  const parsed = schema.safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i): ValidationIssue => {
    const [key, ...rest] = i.path.map(String);
    return { ...(key !== undefined ? { field: [name(key), ...rest].join('.') } : {}), message: issueMessage(i) };
  });
  throw new ValidationError('OPTIONS_INVALID', issues);
}
