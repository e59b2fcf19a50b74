/**
 * Command-line flag parsing with commander, with precise errors: unknown
 * flags get a "did you mean", values are checked against their type, every
 * error names the flag. The flags of each command are declared once, as
 * {@link FlagSpec}s, which also give its help, its variables and its completion.
 */
import type { Option as OptionType } from 'commander';
import { requireCjs } from '../shared/cjs.js';
import { DURATION_HELP, parseDuration } from '../shared/duration.js';
import { ValidationError, didYouMean, type ValidationIssue } from '../shared/errors.js';

// `require` rather than `import`: half the load time, and every worker of a run parses its flags here.
const { Command, CommanderError, Option } = requireCjs('commander') as typeof import('commander');

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `n-procs`. */
  name: string;
  /** One-letter short form, e.g. `n` for `-n` (booleans only). */
  short?: string;
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
  /** For `string`: the flag may be given again; the values are joined with commas (`--resource gpu=1 --resource lic=2` is `gpu=1,lic=2`). */
  repeatable?: boolean;
  /** Value placeholder and description for help. */
  value?: string;
  help: string;
}

export type FlagValue = string | number | boolean;

/** A flag that may also be set from the environment (see env-flags.ts for the naming rule). */
export interface EnvFlag {
  flag: FlagSpec;
  /** The environment variable, e.g. `FLOWGATE_N_PROCS`. */
  env: string;
}

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

/** The commander attribute of a flag name (`n-procs` -> `nProcs`). */
function attributeOf(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The forms commander reads differently from flowgate, rewritten before it
 * parses: a boolean's inline value (`--json=true`, `--clean-env=false`) becomes
 * `--x` or `--no-x`, and a bare `--x` that may carry a number (`--enforce-memory`)
 * gets its bare value inline, so it never takes the next argument.
 */
function normalise(argv: readonly string[], byName: ReadonlyMap<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const negated = !byName.has(name) && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean';
    const spec = byName.get(negated ? name.slice(3) : name);
    if (spec?.type === 'boolean' && eq >= 0) {
      const inline = arg.slice(eq + 1);
      if (inline !== 'true' && inline !== 'false') {
        throw invalid([{ field: `--${spec.name}`, message: `expected true or false, received "${inline}"` }]);
      }
      out.push((inline === 'true') !== negated ? `--${spec.name}` : `--no-${spec.name}`);
    } else if (spec?.type === 'flag-or-number' && eq < 0 && !negated) {
      out.push(`--${spec.name}=${spec.bareValue ?? 0}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The commander error of a parse as a validation error naming the flag. */
function fromCommander(err: InstanceType<typeof CommanderError>, specs: readonly FlagSpec[]): ValidationError {
  const quoted = /'(-[^' ]*)/.exec(err.message)?.[1] ?? '';
  const flag = quoted.split('=')[0] as string;
  if (err.code === 'commander.unknownOption') {
    if (!flag.startsWith('--')) {
      const shorts = specs.flatMap((s) => (s.short !== undefined ? [`-${s.short} (--${s.name})`] : []));
      return invalid([{ field: flag, message: `unknown option (flowgate uses long options, e.g. --n-procs${shorts.length > 0 ? `; short: ${shorts.join(', ')}` : ''})` }]);
    }
    const names = specs.flatMap((s) => (s.type === 'boolean' ? [s.name, `no-${s.name}`] : [s.name]));
    const hint = didYouMean(flag.slice(2), names);
    return invalid([{ field: flag, message: `unknown option${hint !== undefined ? ` (did you mean --${hint}?)` : ''}` }]);
  }
  if (err.code === 'commander.optionMissingArgument') {
    const spec = specs.find((s) => s.name === flag.slice(2));
    return invalid([{ field: flag, message: `needs a value${spec?.value !== undefined ? ` (${spec.value})` : ''}` }]);
  }
  return invalid([{ message: err.message.replace(/^error: /, '') }]);
}

/**
 * The commander options of flag specs, converting and checking each value
 * with {@link convert}. Every boolean also has its `--no-` form, so a flag can
 * override a variable that set it.
 */
export function commanderOptions(specs: readonly FlagSpec[]): OptionType[] {
  return specs.flatMap((spec) => {
    if (spec.type === 'boolean') return [new Option(`${spec.short !== undefined ? `-${spec.short}, ` : ''}--${spec.name}`, spec.help), new Option(`--no-${spec.name}`).hideHelp()];
    const value = spec.value ?? 'VALUE';
    const option = new Option(spec.type === 'flag-or-number' ? `--${spec.name} [${value}]` : `--${spec.name} <${value}>`, spec.help);
    const typed: FlagSpec = spec.type === 'flag-or-number' ? { ...spec, type: 'number' } : spec;
    return [
      option.argParser((raw: string, previous: FlagValue | undefined) => {
        // `--work-dir --json`: the next flag is not a value.
        if (raw.startsWith('--') && raw.length > 2) throw invalid([{ field: `--${spec.name}`, message: `needs a value${spec.value !== undefined ? ` (${spec.value})` : ''}` }]);
        const value = convert(typed, raw);
        return spec.repeatable === true && previous !== undefined ? `${String(previous)},${String(value)}` : value;
      }),
    ];
  });
}

/** Parses `argv` (after the command name) against `specs`, with commander. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const command = new Command()
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .helpOption(false)
    .showSuggestionAfterError(false)
    .argument('[args...]')
    .allowExcessArguments(true);
  for (const option of commanderOptions(specs)) command.addOption(option);
  try {
    command.parse(normalise(argv, byName), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw fromCommander(err, specs);
    throw err;
  }
  const opts = command.opts<Record<string, FlagValue | undefined>>();
  const flags = new Map<string, FlagValue>();
  for (const spec of specs) {
    const key = attributeOf(spec.name);
    const v = opts[key];
    if (v !== undefined && command.getOptionValueSource(key) === 'cli') flags.set(spec.name, v);
  }
  return { flags, positionals: [...(command.processedArgs[0] as string[])] };
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
  /**
   * The flags given (and variables read), keyed as a component's options
   * (`--n-procs` is `n_procs`): the input of its zod schema, which applies
   * the defaults (src/shared/options/).
   */
  options(): Record<string, FlagValue> {
    const out: Record<string, FlagValue> = {};
    for (const [name, v] of this.parsed.flags) out[name.replace(/-/g, '_')] = v;
    return out;
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
    const left = `${s.short !== undefined ? `-${s.short}, ` : ''}--${s.name}${s.negatable === true ? `, --no-${s.name}` : ''}${value}`;
    return [left, s.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join('\n');
}
