/**
 * The chaos soak: `npm run chaos -- [--episodes N] [--seed S]`. Runs N
 * independent episodes (each seeded from S and its index), prints one JSON
 * line per episode on stderr as it ends and the soak's report (faults by
 * kind, violations by kind, recovery times) as JSON on stdout. Exit code 1
 * when any episode found a violation.
 *
 *   --episodes N          episodes to run (default 10)
 *   --seed S              soak seed (default: the time)
 *   --episode-seed E      run the one episode seeded E (as printed for a failing episode)
 *   --minutes M           stop starting episodes after M minutes
 *   --mode run|service    only this mode
 *   --kinds a,b           only these fault kinds
 *   --fast-locks          2 s job lock, 0.5 s stalled check (default: flowgate's 30 s / 30 s)
 *   --keep                keep every episode's directory (failing ones are always kept)
 *
 * Needs the built CLI (`npm run build`) and /usr/bin/redis-server; every
 * episode runs its own redis-server on a free port and never touches another.
 */
import { parseArgs } from 'node:util';
import { runEpisode, type EpisodeResult } from './harness.js';
import { FAULT_KINDS, type FaultKind, type Mode } from './plan.js';
import { Random } from './random.js';
import { summarize } from './report.js';

const { values } = parseArgs({
  options: {
    episodes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    'episode-seed': { type: 'string' },
    minutes: { type: 'string' },
    mode: { type: 'string' },
    kinds: { type: 'string' },
    'fast-locks': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const episodes = Number(values.episodes);
if (!Number.isInteger(seed) || seed < 0) fail(`--seed: expected a whole number, got ${values.seed}`);
if (!Number.isInteger(episodes) || episodes < 1) fail(`--episodes: expected a whole number ≥ 1, got ${values.episodes}`);
const mode = values.mode as Mode | undefined;
if (mode !== undefined && mode !== 'run' && mode !== 'service') fail(`--mode: expected run or service, got ${mode}`);
const kinds = values.kinds?.split(',') as FaultKind[] | undefined;
for (const k of kinds ?? []) if (!FAULT_KINDS.includes(k)) fail(`--kinds: unknown kind ${k} (known: ${FAULT_KINDS.join(', ')})`);
const deadline = values.minutes !== undefined ? Date.now() + Number(values.minutes) * 60_000 : Infinity;

const seeds = values['episode-seed'] !== undefined ? [Number(values['episode-seed'])] : Array.from({ length: episodes }, (_, i) => Random.episodeSeed(seed, i));
// First SIGINT/SIGTERM: finish the episode under way (it cleans up after itself) and report; second: exit at once.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`chaos: ${signal}: finishing the current episode (again to exit at once)\n`);
  });
}
const started = Date.now();
const results: EpisodeResult[] = [];
for (const episodeSeed of seeds) {
  if (Date.now() > deadline || stopping) break;
  const result = await runEpisode(episodeSeed, {
    ...(mode !== undefined ? { mode } : {}),
    ...(kinds !== undefined ? { kinds } : {}),
    ...(values['fast-locks'] ? { limits: { lockDurationMs: 2000 }, stalledIntervalMs: 500 } : {}),
    keepDir: values.keep,
    log: (line) => process.stderr.write(`chaos ${line}\n`),
  });
  results.push(result);
  process.stderr.write(`${JSON.stringify({ episode: results.length, ...result })}\n`);
}
// An episode's plan depends on these options too: a repro passes them again.
const reproFlags = [
  ...(mode !== undefined ? [` --mode ${mode}`] : []),
  ...(kinds !== undefined ? [` --kinds ${kinds.join(',')}`] : []),
  ...(values['fast-locks'] ? [' --fast-locks'] : []),
].join('');
const report = summarize(seed, results, Date.now() - started, reproFlags);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(report.failing.length > 0 ? 1 : 0);
