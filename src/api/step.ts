/**
 * Typed function steps: a function node given as its module and export, with
 * the function's input and output types carried along, so that the compiler
 * checks what a node is given (`inputs`) and which outputs other nodes take
 * from it (`ref.out(name)`). Only types: at run time a step is the module path
 * and the export name of the v1 `function` field.
 *
 * ```ts
 * import type * as steps from './steps.js';
 * const s = stepModule<typeof steps>(new URL('./steps.ts', import.meta.url));
 * const count = wf.node('count', { function: s.step('count'), inputs: { file: path('data.txt'), min: 2 } });
 * wf.node('report', { function: s.step('report'), inputs: { lines: count.out('lines') } });
 * ```
 */
import { fileURLToPath } from 'node:url';
import type { FunctionContext } from '../shared/function-context.js';

declare const STEP_TYPES: unique symbol;
declare const OUTPUT_TYPE: unique symbol;

/**
 * A function step taking inputs `I` and resolving to outputs `O`: the module
 * (an absolute path) and the name of the export. The types exist only for the
 * compiler.
 */
export interface Step<I, O> {
  readonly module: string;
  readonly export: string;
  /** Never present at run time (required for the compiler, so a step is never taken for an untyped function). */
  readonly [STEP_TYPES]: { readonly inputs: I; readonly outputs: O };
}

/** An untyped `function` field: a module (path or `file:` URL) and an export name (default `default`). */
export interface UntypedFunction {
  readonly module: string | URL;
  readonly export?: string;
  readonly [STEP_TYPES]?: never;
}

/** A function a step can name: `(inputs, ctx) => outputs` or a promise of them. */
export type StepFunction = (inputs: never, ctx: FunctionContext) => unknown;

/** The names of `M`'s exports that are functions. */
export type StepExports<M> = { [K in keyof M]: M[K] extends StepFunction ? K : never }[keyof M] & string;

/** The step of function `F`: its first parameter's type in, its resolved return type out. */
export type StepOf<F> = F extends (inputs: infer I, ...rest: never[]) => infer R ? Step<unknown extends I ? Record<string, unknown> : I, Awaited<R>> : never;

/**
 * A connection to another node's output carrying the output's type `T`
 * (`ref.out('name')`); a plain `{from: 'node.output'}` is unchecked.
 */
export interface Connection<T> {
  readonly from: string;
  /** Never present at run time. */
  readonly [OUTPUT_TYPE]?: T;
}

/**
 * What an input of type `T` may be given as: the value itself, a connection
 * to an output of that type, or, for a string input, a path input (the
 * function receives its absolute path).
 */
export type InputValue<T> = T | Connection<T> | (string extends T ? { readonly path: string } : never);

/** A module of steps, from {@link stepModule}. */
export interface StepModule<M> {
  /** The module's absolute path. */
  readonly module: string;
  /** The step of the exported function `name`, typed from its signature. */
  step<K extends StepExports<M>>(name: K): StepOf<M[K]>;
}

/**
 * A module of function steps, typed by `M` (`typeof import('./steps.js')`,
 * or `import type * as steps` and `typeof steps`): nothing is loaded here.
 * `module` is a `file:` URL (`new URL('./steps.ts', import.meta.url)`, which
 * resolves next to the calling module wherever the process starts) or an
 * absolute path. `build()` checks that the module exists and exports each
 * named function.
 */
export function stepModule<M>(module: URL | string): StepModule<M> {
  const path = modulePath(module);
  // A step is its module and export at run time; its type parameters exist
  // only for the compiler, hence the cast.
  return { module: path, step: (name) => ({ module: path, export: name }) as unknown as StepOf<M[typeof name]> };
}

/** A `function.module` as given (a `file:` URL or a path) as the path the v1 field holds. */
export function modulePath(module: URL | string): string {
  return module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
}

type Element<T> = T extends ReadonlyArray<infer E> ? E : unknown;
type Lists<O> = { [K in keyof O]: Array<O[K]> };

/**
 * The inputs of a step node: each input of the function by its type, except
 * those set by `iterables` (`It`); mapped inputs (`Mp`) take lists of their
 * type; joined inputs (`J`) take a connection to the joined node's output of
 * the list's element type.
 */
export type StepInputs<I, It extends PropertyKey = never, Mp extends PropertyKey = never, J extends PropertyKey = never> = {
  [K in keyof I as K extends It | Mp | J ? never : K]: InputValue<I[K]>;
} & { [K in keyof I as K extends Mp ? K : never]: InputValue<ReadonlyArray<I[K]>> } & {
  [K in keyof I as K extends J ? K : never]: Connection<Element<I[K]>>;
};

/** `inputs` is required when the function has a required input nobody else sets. */
export type InputsField<X> = Record<string, never> extends X ? { inputs?: X } : { inputs: X };

/** Outputs of a step node as other nodes see them: lists for a map node. */
export type StepOutputs<O, Mp> = [Mp] extends [never] ? O : Lists<O>;

/** A reference to a step node: `out(name)` accepts only the function's output names. */
export interface StepRef<O> {
  readonly id: string;
  /** A connection to output `name`, typed as the function returns it. */
  out<K extends keyof O & string>(name: K): Connection<O[K]>;
}
