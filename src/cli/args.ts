/**
 * Command-line flag parsing with precise errors: unknown flags get a "did you
 * mean", values are checked against their type, every error names the flag.
 */
import { DURATION_HELP, parseDuration } from '../shared/duration.js';
import { ValidationError, didYouMean, type ValidationIssue } from '../shared/errors.js';

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `n-procs`. */
  name: string;
  /** `flag-or-number`: `--x` alone means {@link bareValue}; `--x=N` gives N (inline form only). */
  type: 'boolean' | 'string' | 'int' | 'number' | 'enum' | 'flag-or-number' | 'duration';
  /** For `flag-or-number`: the value of the bare flag. */
  bareValue?: number;
  /** For `enum`. */
  choices?: readonly string[];
  /** For numbers: inclusive minimum. */
  min?: number;
  /** For numbers: inclusive maximum. */
  max?: number;
  /** For `number`: value must be > 0. */
  positive?: boolean;
  /** For `int` and `duration`: the word `off` is accepted and reads as 0 (so does `0` for a duration). */
  off?: boolean;
  /** Booleans: accept `--no-<name>`. */
  negatable?: boolean;
  /** Value placeholder and description for help. */
  value?: string;
  help: string;
}

export type FlagValue = string | number | boolean;

/** Parsed flags and positionals. */
export interface ParsedArgs {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

/** Decimal numbers, optionally with an exponent (`1.5`, `.5`, `2e3`). */
export const NUMBER_TEXT = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function invalid(issues: ValidationIssue[]): ValidationError {
  return new ValidationError('OPTIONS_INVALID', issues);
}

/**
 * A flag's `off` or duration text as its value; throws what was expected
 * (naming neither the flag nor the text) when it is not one. Shared by flags and their environment variables.
 */
export function convertValue(spec: FlagSpec, raw: string): FlagValue {
  if (spec.off === true && raw === 'off') return 0;
  if (spec.type === 'duration') {
    if (spec.off === true && raw === '0') return 0;
    const ms = parseDuration(raw);
    if (ms === undefined) throw new Error(`expected ${DURATION_HELP}${spec.off === true ? ', or off' : ''}`);
    return ms;
  }
  return raw;
}

/** A flag's text as its value; a bad one is a validation error (exit 2) naming `field`. */
export function convert(spec: FlagSpec, raw: string, field = `--${spec.name}`): FlagValue {
  if (spec.off === true && raw === 'off') return 0;
  switch (spec.type) {
    case 'duration':
      try {
        return convertValue(spec, raw);
      } catch (err) {
        throw invalid([{ field, message: `${(err as Error).message}, received "${raw}"` }]);
      }
    case 'int': {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw)) throw invalid([{ field, message: `expected a whole number, received "${raw}"` }]);
      if (spec.max !== undefined && n > spec.max) throw invalid([{ field, message: `must be at most ${spec.max}, received ${raw}` }]);
      if (!Number.isSafeInteger(n)) throw invalid([{ field, message: `expected a whole number of at most 15 digits, received "${raw}"` }]);
      if (spec.min !== undefined && n < spec.min) throw invalid([{ field, message: `must be at least ${spec.min}, received ${n}` }]);
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (!NUMBER_TEXT.test(raw)) throw invalid([{ field, message: `expected a number, received "${raw}"` }]);
      if (spec.max !== undefined && n > spec.max) throw invalid([{ field, message: `must be at most ${spec.max}, received ${raw}` }]);
      if (!Number.isFinite(n)) throw invalid([{ field, message: `expected a finite number, received "${raw}"` }]);
      if (spec.positive === true && !(n > 0)) throw invalid([{ field, message: `must be greater than 0, received ${n}` }]);
      if (spec.min !== undefined && n < spec.min) throw invalid([{ field, message: `must be at least ${spec.min}, received ${n}` }]);
      return n;
    }
    case 'enum': {
      const choices = spec.choices ?? [];
      if (!choices.includes(raw)) {
        throw invalid([{ field, message: `expected one of ${choices.join(', ')}, received "${raw}"` }]);
      }
      return raw;
    }
    case 'string':
      if (raw === '') throw invalid([{ field, message: 'must not be empty' }]);
      return raw;
    default:
      return raw;
  }
}

/** Parses `argv` (after the command name) against `specs`. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg !== '-') {
        throw invalid([{ field: arg, message: 'unknown option (flowgate uses long options, e.g. --n-procs)' }]);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec = byName.get(name);
    let negated = false;
    if (spec === undefined && name.startsWith('no-')) {
      const base = byName.get(name.slice(3));
      if (base?.type === 'boolean' && base.negatable === true) {
        spec = base;
        negated = true;
        name = base.name;
      }
    }
    if (spec === undefined) {
      const names = specs.flatMap((s) => (s.negatable === true ? [s.name, `no-${s.name}`] : [s.name]));
      const hint = didYouMean(name, names);
      throw invalid([{ field: `--${name}`, message: `unknown option${hint !== undefined ? ` (did you mean --${hint}?)` : ''}` }]);
    }
    if (spec.type === 'flag-or-number') {
      flags.set(name, inline === undefined ? (spec.bareValue ?? 0) : convert({ ...spec, type: 'number' }, inline));
      continue;
    }
    if (spec.type === 'boolean') {
      if (inline !== undefined) {
        if (inline !== 'true' && inline !== 'false') {
          throw invalid([{ field: `--${name}`, message: `expected true or false, received "${inline}"` }]);
        }
        flags.set(name, negated ? inline !== 'true' : inline === 'true');
      } else {
        flags.set(name, !negated);
      }
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw invalid([{ field: `--${name}`, message: `needs a value${spec.value !== undefined ? ` (${spec.value})` : ''}` }]);
      }
      raw = next;
      i++;
    }
    flags.set(name, convert(spec, raw));
  }
  return { flags, positionals };
}

/** Typed accessors over parsed flags. */
export class Flags {
  constructor(private readonly parsed: ParsedArgs) {}
  get positionals(): string[] {
    return this.parsed.positionals;
  }
  has(name: string): boolean {
    return this.parsed.flags.has(name);
  }
  /** The value as parsed, whatever its type. */
  raw(name: string): FlagValue | undefined {
    return this.parsed.flags.get(name);
  }
  /** These flags plus `extra` for flags not given. */
  withDefaults(extra: ReadonlyMap<string, FlagValue>): Flags {
    const merged = new Map(extra);
    for (const [k, v] of this.parsed.flags) merged.set(k, v);
    return new Flags({ flags: merged, positionals: this.parsed.positionals });
  }
  bool(name: string, fallback: boolean): boolean {
    const v = this.parsed.flags.get(name);
    return typeof v === 'boolean' ? v : fallback;
  }
  num(name: string): number | undefined {
    const v = this.parsed.flags.get(name);
    return typeof v === 'number' ? v : undefined;
  }
  str(name: string): string | undefined {
    const v = this.parsed.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  }
}

/** Formats flag help lines. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const value = s.value === undefined ? '' : s.type === 'flag-or-number' ? `[=${s.value}]` : ` ${s.value}`;
    const left = `--${s.name}${s.negatable === true ? `, --no-${s.name}` : ''}${value}`;
    return [left, s.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join('\n');
}
