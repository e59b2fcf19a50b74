/**
 * Configuration of the long-running services (`scheduler`, `worker`): each
 * setting comes from its flag, else its `FLOWGATE_*` variable, else its
 * default. Variables are validated with zod from the same flag specs, so a
 * bad value names the variable; the resolved configuration is printed once
 * at start with secrets redacted.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import { redactUrl } from '../shared/redis.js';
import { convertValue, NUMBER_TEXT, type EnvFlag, type FlagSpec, type FlagValue, type Flags } from './args.js';

export type { EnvFlag } from './args.js';

const BOOL_TRUE = ['1', 'true', 'yes', 'on'];
const BOOL_FALSE = ['0', 'false', 'no', 'off'];

/** The zod schema of a variable's text for a flag of this type. */
export function envSchema(spec: FlagSpec): z.ZodType<FlagValue> {
  if (spec.off === true || spec.type === 'duration') {
    // `off` and durations are read by the flag's own converter; the rest as below.
    const rest = envSchema({ ...spec, off: false, type: spec.type === 'duration' ? 'string' : spec.type });
    return z.string().transform((v, ctx) => {
      if (v === 'off' || spec.type === 'duration') {
        try {
          return convertValue(spec, v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }
      const parsed = rest.safeParse(v);
      if (!parsed.success) {
        for (const i of parsed.error.issues) ctx.addIssue({ code: 'custom', message: i.message });
        return z.NEVER;
      }
      return parsed.data;
    });
  }
  switch (spec.type) {
    case 'int': {
      let n = z.number().int();
      if (spec.min !== undefined) n = n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      return z.string().regex(/^-?\d+$/, 'expected a whole number').transform(Number).pipe(n);
    }
    case 'number':
    case 'flag-or-number': {
      let n = z.number();
      if (spec.positive === true) n = n.positive();
      if (spec.min !== undefined) n = n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      return z.string().regex(NUMBER_TEXT, 'expected a number').transform(Number).pipe(n);
    }
    case 'enum':
      return z.enum(spec.choices as [string, ...string[]]);
    case 'boolean':
      return z
        .string()
        .transform((v) => v.toLowerCase())
        .refine((v) => BOOL_TRUE.includes(v) || BOOL_FALSE.includes(v), `expected one of ${[...BOOL_TRUE, ...BOOL_FALSE].join(', ')}`)
        .transform((v) => BOOL_TRUE.includes(v));
    default:
      return z.string().min(1);
  }
}

/**
 * Flag values with environment fallbacks: the flags a user gave win; for the
 * others, a non-empty variable is validated and used. Throws one validation
 * error (exit 2) listing every bad variable.
 */
export function withEnv(flags: Flags, settings: readonly EnvFlag[], env: NodeJS.ProcessEnv = process.env): Flags {
  const out = new Map<string, FlagValue>();
  const issues: ValidationIssue[] = [];
  for (const { flag, env: name } of settings) {
    const given = flags.raw(flag.name);
    if (given !== undefined) {
      out.set(flag.name, given);
      continue;
    }
    const text = env[name];
    if (text === undefined || text === '') continue;
    const parsed = envSchema(flag).safeParse(text);
    if (parsed.success) out.set(flag.name, parsed.data);
    else issues.push({ field: `env ${name}`, message: `${parsed.error.issues.map((i) => i.message).join('; ')}, received "${text}"` });
  }
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  return flags.withDefaults(out);
}

/** Settings whose values are secrets: printed as `***`. */
const SECRET = /pass(word)?|secret|token/i;

/** One line describing a service's configuration, with secrets redacted. */
export function describeConfig(service: string, config: Readonly<Record<string, unknown>>): string {
  const parts = Object.entries(config).map(([key, value]) => {
    if (value === undefined) return `${key}=-`;
    if (SECRET.test(key)) return `${key}=***`;
    if (typeof value === 'string' && /^rediss?:\/\//.test(value)) return `${key}=${redactUrl(value)}`;
    return `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
  });
  return `flowgate ${service}: ${parts.join(' ')}`;
}
