/**
 * `flowgate board` closed by default and hardened, as a process over real
 * HTTP: loopback by default, refusals of unsafe configurations, the password
 * file, the login lock-out, security headers, body errors, the cross-site
 * guard. (Cancelling a run and masked secrets: board.test.ts.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const prefix = uniquePrefix('boardsec');
const started: CliProcess[] = [];
const USER = 'ada';
const PASSWORD = 'correct-horse-battery';
/** Unset every board variable a developer's shell might carry. */
const CLEAN_ENV = { FLOWGATE_BOARD_HOST: '', FLOWGATE_BOARD_USER: '', FLOWGATE_BOARD_PASSWORD: '', FLOWGATE_BOARD_PASSWORD_FILE: '', FLOWGATE_BOARD_WRITE: '', FLOWGATE_BOARD_INSECURE: '' };

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
const AUTH = basic(USER, PASSWORD);

/** Starts a board on a free port; resolves once it listens. */
async function startBoard(env: NodeJS.ProcessEnv = {}, args: string[] = ['--host', '127.0.0.1']): Promise<{ proc: CliProcess; base: string }> {
  const proc = startCli(['board', '--port', '0', '--prefix', prefix, ...args], { env: { REDIS_URL: redisUrl(), ...CLEAN_ENV, ...env } });
  started.push(proc);
  const base = await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`board exited: ${proc.stderr()}`);
    return /board listening on (http:\/\/\S+)/.exec(proc.stderr())?.[1];
  }, 20_000, 'the board to listen');
  return { proc, base };
}

async function stop(proc: CliProcess): Promise<void> {
  proc.child.kill('SIGTERM');
  expect((await proc.done).code).toBe(0);
}

afterAll(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await deletePrefix(prefix);
});

describe('board configuration', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof runCli> => runCli(['board', '--port', '0', '--prefix', prefix, ...args], { env: { REDIS_URL: redisUrl(), ...CLEAN_ENV, ...env } });

  it('listens on 127.0.0.1 by default', async () => {
    const { proc, base } = await startBoard({}, []);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proc.stderr()).not.toContain('WARNING');
    await stop(proc);
  });

  it('refuses a non-loopback address without auth (exit 2, naming the flag and the fixes)', async () => {
    const res = await run(['--host', '0.0.0.0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--host');
    expect(res.stderr).toContain('FLOWGATE_BOARD_PASSWORD_FILE');
    expect(res.stderr).toContain('--insecure');
    expect(res.stderr).not.toContain('board listening');
  });

  it('with --insecure prints a warning at start (checked before it binds: Redis is unreachable here)', async () => {
    for (const [args, env] of [[['--host', '0.0.0.0', '--insecure'], {}], [['--host', '0.0.0.0'], { FLOWGATE_BOARD_INSECURE: '1' }]] as const) {
      const res = await run([...args, '--redis-url', 'redis://127.0.0.1:1'], env);
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(/WARNING: listening on 0\.0\.0\.0 without authentication/);
    }
  });

  it('refuses write mode without auth, and short passwords without echoing them', async () => {
    const write = await run([], { FLOWGATE_BOARD_WRITE: '1' });
    expect(write.code).toBe(2);
    expect(write.stderr).toContain('FLOWGATE_BOARD_WRITE');
    const short = await run([], { FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD: 'tooShort99' });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/FLOWGATE_BOARD_PASSWORD.*at least 12 characters/);
    expect(short.stderr).not.toContain('tooShort99');
  });

  it('reads the password from FLOWGATE_BOARD_PASSWORD_FILE; an unreadable file or both sources are refused', async () => {
    const dir = tempDir('fg-boardpw');
    const file = join(dir, 'board_password');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    const { proc, base } = await startBoard({ FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD_FILE: file });
    expect(proc.stderr()).not.toContain(PASSWORD);
    expect((await fetch(`${base}/api/runs`, { headers: AUTH })).status).toBe(200);
    expect((await fetch(`${base}/api/runs`, { headers: basic(USER, `${PASSWORD}\n`) })).status).toBe(401);
    await stop(proc);

    const missing = await run([], { FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD_FILE: join(dir, 'nope') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('FLOWGATE_BOARD_PASSWORD_FILE');
    expect(missing.stderr).toContain(join(dir, 'nope'));
    const both = await run([], { FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD_FILE: file, FLOWGATE_BOARD_PASSWORD: PASSWORD });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    expect(both.stderr).not.toContain(PASSWORD);
  });
});

describe('board HTTP hardening', () => {
  it('locks an address out with 429 after 10 failed logins, even for the right password; /healthz stays open', async () => {
    const { proc, base } = await startBoard({ FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD: PASSWORD });
    // A request without credentials is a browser's first try, not an attempt.
    for (let i = 0; i < 12; i++) expect((await fetch(`${base}/api/runs`)).status).toBe(401);
    expect((await fetch(`${base}/api/runs`, { headers: AUTH })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/api/runs`, { headers: basic(USER, `wrong-${i}`) })).status, `attempt ${i + 1}`).toBe(401);
    const locked = await fetch(`${base}/api/runs`, { headers: basic(USER, 'wrong-again') });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await locked.json()) as { error: string }).error).toMatch(/too many failed logins/);
    expect((await fetch(`${base}/api/runs`, { headers: AUTH })).status).toBe(429);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await stop(proc);
  });

  it('sends security headers everywhere (a CSP per mount) and never X-Powered-By', async () => {
    const { proc, base } = await startBoard();
    for (const path of ['/', '/app.js', '/api/runs', '/api/nothing', '/metrics', '/healthz', '/queues/', '/queues/api/queues', '/no/such/file']) {
      const res = await fetch(`${base}${path}`);
      expect(res.headers.get('x-powered-by'), path).toBeNull();
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
      expect(res.headers.get('content-security-policy'), path).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
      expect(res.headers.get('strict-transport-security'), path).toBeNull();
    }
    const dashboard = (await fetch(`${base}/`)).headers.get('content-security-policy') ?? '';
    expect(dashboard).toMatch(/style-src 'self'(;|$)/);
    expect(dashboard).not.toContain('unsafe-inline');
    const bull = await fetch(`${base}/queues/`);
    expect(bull.headers.get('content-security-policy')).toContain("style-src 'self' 'unsafe-inline'");
    const asset = /src="(static\/js\/main\.[^"]+\.js)"/.exec(await bull.text())?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${base}/queues/${asset ?? ''}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('x-powered-by')).toBeNull();
    await stop(proc);
  });

  it('answers 400 for malformed JSON and 413 for a huge body, as JSON without a stack', async () => {
    const { proc, base } = await startBoard({ FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD: PASSWORD, FLOWGATE_BOARD_WRITE: '1' });
    const post = (body: string): Promise<Response> => fetch(`${base}/api/runs/x/cancel`, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' }, body });
    const malformed = await post('{"reason": ');
    expect(malformed.status).toBe(400);
    const text = await malformed.text();
    expect(JSON.parse(text)).toEqual({ error: 'malformed JSON body' });
    expect(text).not.toMatch(/at .*\.js|node_modules|SyntaxError/);
    const huge = await post(JSON.stringify({ reason: 'x'.repeat(2_000_000) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ error: 'request body too large (at most 64kb)' });
    // Bull Board's API shares the parser.
    const bull = await fetch(`${base}/queues/api/queues/nodes/add`, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' }, body: '{nope' });
    expect(bull.status).toBe(400);
    expect(await bull.json()).toEqual({ error: 'malformed JSON body' });
    await stop(proc);
  });

  it('refuses cross-site and non-JSON writes, including Bull Board\'s write API', async () => {
    const { proc, base } = await startBoard({ FLOWGATE_BOARD_USER: USER, FLOWGATE_BOARD_PASSWORD: PASSWORD, FLOWGATE_BOARD_WRITE: '1' });
    const cancel = `${base}/api/runs/no-such-run/cancel`;
    // What an HTML form on another site sends: a simple POST, text/plain.
    const form = await fetch(cancel, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'text/plain' }, body: '{"reason":"x"}' });
    expect(form.status).toBe(415);
    const urlencoded = await fetch(cancel, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=b' });
    expect(urlencoded.status).toBe(415);
    const bare = await fetch(cancel, { method: 'POST', headers: AUTH });
    expect(bare.status).toBe(415);
    const json = { ...AUTH, 'Content-Type': 'application/json' };
    const fromElsewhere = await fetch(cancel, { method: 'POST', headers: { ...json, Origin: 'http://evil.example' }, body: '{}' });
    expect(fromElsewhere.status).toBe(403);
    expect(((await fromElsewhere.json()) as { error: string }).error).toMatch(/cross-site/);
    expect((await fetch(cancel, { method: 'POST', headers: { ...json, 'Sec-Fetch-Site': 'cross-site' }, body: '{}' })).status).toBe(403);
    expect((await fetch(cancel, { method: 'POST', headers: { ...json, 'Sec-Fetch-Site': 'same-site' }, body: '{}' })).status).toBe(403);
    expect((await fetch(cancel, { method: 'POST', headers: { ...json, Origin: 'null' }, body: '{}' })).status).toBe(403);
    // The same request from the board's own page gets through (to a 404: no such run).
    const own = await fetch(cancel, { method: 'POST', headers: { ...json, Origin: base, 'Sec-Fetch-Site': 'same-origin' }, body: '{}' });
    expect(own.status).toBe(404);
    const clean = `${base}/queues/api/queues/nodes/clean/completed`;
    expect((await fetch(clean, { method: 'PUT', headers: { ...AUTH, Origin: 'http://evil.example' } })).status).toBe(403);
    expect((await fetch(clean, { method: 'PUT', headers: { ...AUTH, 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(415);
    expect((await fetch(clean, { method: 'PUT', headers: { ...AUTH, Origin: base } })).status).toBe(200);
    await stop(proc);
  });
});
