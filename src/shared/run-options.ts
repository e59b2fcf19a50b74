/**
 * Defaults and choices of run options shared by every component that takes
 * them (`flowgate run`, `resume`, `submit`, `worker`, the API's `run()`), each
 * written once.
 */

/** Ready-node orderings: nipype's `tsort` and `mem_thread`. */
export const SCHEDULER_ORDERS = ['tsort', 'mem_thread'] as const;
export type SchedulerOrder = (typeof SCHEDULER_ORDERS)[number];
/** The default ready-node order. */
export const DEFAULT_SCHEDULER_ORDER: SchedulerOrder = 'tsort';

/** nipype's `maxtasksperchild`: nodes a worker's child runs before it is replaced. */
export const DEFAULT_MAX_TASKS_PER_CHILD = 10;

/** Crash files per failure: a JSON record, its text twin, or both. */
export const CRASHFILE_FORMATS = ['json', 'txt', 'both'] as const;

/** How input files are fingerprinted for the cache: size + mtime, or content. */
export const HASH_METHODS = ['timestamp', 'content'] as const;
