/**
 * The demo pipeline built in TypeScript and run from code.
 *
 *   npm run build && npx tsx examples/api.ts
 */
import { run, workflow } from 'flowgate';

const wf = workflow('api-example', { mem_gb: 0.25 });
const fetch = wf.node('fetch', { command: ['sh', '-c', 'seq 1 100000 > numbers.txt'] });
const parts = [0, 1, 2, 3].map((i) =>
  wf.node(`sum${i}`, {
    command: `awk 'NR % 4 == ${i} { s += $1 } END { print s }' ../fetch/numbers.txt > sum.txt`,
    needs: [fetch],
  }),
);
wf.node('total', { command: ['sh', '-c', 'cat ../sum*/sum.txt | paste -sd+ | bc'], needs: parts, mem_gb: 0.5 });

const summary = await run(wf, {
  n_procs: 2,
  memory_gb: 2,
  status_callback: (e) => process.stderr.write(`${e.type.padEnd(9)} ${e.node}${e.reason !== null ? ` (${e.reason})` : ''}\n`),
});
process.stdout.write(`${summary.workflow}: ${summary.status} in ${summary.wall_s.toFixed(2)} s\n`);
process.exitCode = summary.status === 'succeeded' ? 0 : 1;
