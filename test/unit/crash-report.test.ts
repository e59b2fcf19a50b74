/**
 * Crash records: one JSON and one text file per failure, named
 * crash-YYYYMMDD-HHMMSS-<user>-<node>-<uuid>, written into a temp dir.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crashText, writeCrashRecord, type CrashRecord } from '../../src/scheduler/crash-report.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function record(over: Partial<CrashRecord> = {}): CrashRecord {
  return {
    run_id: 'run-42',
    workflow: 'demo',
    node: 'count-a',
    command: ['sh', '-c', 'wc -l part-00 > counts.txt'],
    inputs: { part: 'part-00', n: 3 },
    reason: 'exit code 2',
    exit_code: 2,
    signal: null,
    stderr_tail: 'wc: part-00: No such file or directory\nsecond line',
    stdout_tail: 'counted 0\n',
    node_dir: '/tmp/x/demo/count-a',
    stdout_path: '/tmp/x/demo/count-a/_stdout.log',
    stderr_path: '/tmp/x/demo/count-a/_stderr.log',
    host: 'build-7',
    worker: 'build-7:1234',
    pid: 5678,
    attempt: 1,
    start_ms: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    end_ms: Date.UTC(2024, 0, 2, 3, 4, 6, 0),
    skipped_descendants: ['report'],
    attempt_history: [],
    ...over,
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowgate-crash-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('writeCrashRecord', () => {
  // Local time, as nipype names its crash files.
  const now = new Date(2024, 0, 2, 3, 4, 5);
  const user = userInfo().username;

  it('writes exactly one .json and one .txt with the crash-YYYYMMDD-HHMMSS-<user>-<node>-<uuid> name', () => {
    const path = writeCrashRecord(dir, record(), now);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    const pattern = new RegExp(`^crash-20240102-030405-${escape(user)}-count-a-${UUID}\\.(json|txt)$`);
    for (const f of files) expect(f).toMatch(pattern);
    const base = (files[0] as string).replace(/\.json$/, '');
    expect(files).toEqual([`${base}.json`, `${base}.txt`]);
    expect(path).toBe(join(dir, `${base}.json`));
    expect(dirname(path)).toBe(dir);
  });

  it('writes one file only with format json or txt (nipype writes one crash file per failure)', () => {
    const txt = writeCrashRecord(join(dir, 'txt'), record(), now, 'txt');
    expect(readdirSync(join(dir, 'txt'))).toEqual([basename(txt)]);
    expect(txt).toMatch(/\.txt$/);
    expect(readFileSync(txt, 'utf8')).toContain('Inputs:');
    const json = writeCrashRecord(join(dir, 'json'), record(), now, 'json');
    expect(readdirSync(join(dir, 'json'))).toEqual([basename(json)]);
    expect(json).toMatch(/\.json$/);
  });

  it('stores the whole record as JSON', () => {
    const r = record();
    const path = writeCrashRecord(dir, r, now);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(r);
    expect(readFileSync(path, 'utf8').endsWith('}\n')).toBe(true);
  });

  it('writes a text file with node, command, reason and the stderr tail', () => {
    const path = writeCrashRecord(dir, record(), now);
    const text = readFileSync(path.replace(/\.json$/, '.txt'), 'utf8');
    expect(text).toContain('Node: demo.count-a\n');
    expect(text).toContain('Run: run-42 (attempt 1)\n');
    expect(text).toContain('Command: "sh" "-c" "wc -l part-00 > counts.txt"\n');
    expect(text).toContain('Reason: exit code 2\n');
    expect(text).toContain('Exit code: 2\n');
    expect(text).toContain('Working directory: /tmp/x/demo/count-a\n');
    expect(text).toContain('Skipped descendants: report\n');
    expect(text).toContain('Started: 2024-01-02T03:04:05.678Z\n');
    expect(text.endsWith('Stderr (tail):\n\twc: part-00: No such file or directory\n\tsecond line\n')).toBe(true);
  });

  it('creates the directory and never reuses a name', () => {
    const nested = join(dir, 'a', 'b');
    const first = writeCrashRecord(nested, record(), now);
    const second = writeCrashRecord(nested, record(), now);
    expect(first).not.toBe(second);
    expect(readdirSync(nested)).toHaveLength(4);
    expect(basename(first).startsWith('crash-20240102-030405-')).toBe(true);
  });

  it('pads month, day and time fields to two digits', () => {
    const path = writeCrashRecord(dir, record({ node: 'n1' }), new Date(2025, 10, 23, 21, 9, 0));
    expect(basename(path)).toMatch(new RegExp(`^crash-20251123-210900-${escape(user)}-n1-${UUID}\\.json$`));
  });
});

describe('crashText', () => {
  it('shows a shell-string command as written and dashes for unknowns', () => {
    const text = crashText(
      record({
        command: 'echo hi | wc -c',
        exit_code: null,
        signal: 'SIGKILL',
        host: null,
        worker: null,
        pid: null,
        start_ms: null,
        end_ms: null,
        stdout_path: null,
        stderr_path: null,
        skipped_descendants: [],
        stderr_tail: '',
        stdout_tail: '',
        inputs: null,
      }),
    );
    expect(text.split('\n')).toEqual([
      'Node: demo.count-a',
      'Run: run-42 (attempt 1)',
      'Working directory: /tmp/x/demo/count-a',
      'Command: echo hi | wc -c',
      'Reason: exit code 2',
      'Exit code: -',
      'Signal: SIGKILL',
      'Host: -',
      'Worker: -',
      'PID: -',
      'Started: -',
      'Ended: -',
      'Stdout: -',
      'Stderr: -',
      'Skipped descendants: (none)',
      'Attempts: 1',
      '',
      'Inputs:',
      '\t(none)',
      '',
      'Stdout (tail):',
      '\t(empty)',
      '',
      'Stderr (tail):',
      '\t(empty)',
      '',
    ]);
  });

  it('shows the inputs and the tails of stdout and stderr', () => {
    expect(crashText(record())).toContain('\nInputs:\n\t{\n\t  "part": "part-00",\n\t  "n": 3\n\t}\n\nStdout (tail):\n\tcounted 0\n\nStderr (tail):\n\twc: part-00');
  });

  it('shows an exit code of 0 as 0, not as unknown', () => {
    expect(crashText(record({ exit_code: 0 }))).toContain('Exit code: 0\n');
  });
});
