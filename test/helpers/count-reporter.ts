/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after
 * vitest's own report, so any log reader can tell what ran — preceded, when
 * tests were skipped because a system tool is missing, by a loud block that
 * counts them per tool and says how to install it.
 * Other skips with a reason (`ctx.skip(note)`) are counted by reason after it.
 */
import type { Reporter, TestModule } from 'vitest/node';
import { MISSING_TOOL_NOTE } from './tools.js';

export default class CountReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const missing = new Map<string, number>();
    const reasons = new Map<string, number>();
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const result = t.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          const note = result.state === 'skipped' ? result.note : undefined;
          if (note?.startsWith(MISSING_TOOL_NOTE) === true) missing.set(note, (missing.get(note) ?? 0) + 1);
          else if (note !== undefined) reasons.set(note, (reasons.get(note) ?? 0) + 1);
        }
      }
      // A file that failed outside its tests (import, beforeAll, afterAll) counts as one failure.
      if (m.state() === 'failed' && ![...m.children.allTests()].some((t) => t.result().state === 'failed')) failed++;
    }
    if (missing.size > 0) {
      const total = [...missing.values()].reduce((a, b) => a + b, 0);
      const lines = [...missing].map(([note, n]) => `!!   ${n} skipped: ${note.slice(MISSING_TOOL_NOTE.length).trim()}`);
      process.stdout.write(`\n!! ${total} tests were NOT RUN because system tools are missing:\n${lines.join('\n')}\n!! Run scripts/setup.sh to install them (CI=true runs every suite and fails instead).\n`);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    for (const [note, n] of reasons) process.stdout.write(`skipped ${n}: ${note}\n`);
  }
}
