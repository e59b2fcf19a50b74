/**
 * The board's settings: closed by default, auth required beyond loopback and
 * for write mode, passwords from a variable or a file, never echoed.
 */
import { describe, expect, it } from 'vitest';
import { boardSettings, describeConfig, exposureWarning, isLoopbackHost, MIN_PASSWORD_LENGTH } from '../../src/board/config.js';

const PW = 'correct-horse-battery';
const noFile = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};
const fields = (r: ReturnType<typeof boardSettings>): string[] => r.issues.map((i) => i.field ?? '');

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])('%s is loopback', (h) => expect(isLoopbackHost(h)).toBe(true));
  it.each(['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.org', 'board', '128.0.0.1', '::2'])('%s is not', (h) => expect(isLoopbackHost(h)).toBe(false));
});

describe('boardSettings', () => {
  it('listens on 127.0.0.1:3000, read-only and without auth by default', () => {
    const r = boardSettings({}, {}, noFile);
    expect(r.issues).toEqual([]);
    expect(r.settings).toEqual({ host: '127.0.0.1', port: 3000, writable: false, insecure: false });
    expect(exposureWarning(r.settings)).toBeUndefined();
  });

  it('refuses a non-loopback address without auth, naming the flag or variable and the fixes', () => {
    const byFlag = boardSettings({ host: '0.0.0.0' }, {}, noFile);
    expect(fields(byFlag)).toEqual(['--host']);
    expect(byFlag.issues[0]?.message).toMatch(/FLOWGATE_BOARD_PASSWORD_FILE.*127\.0\.0\.1.*--insecure \(FLOWGATE_BOARD_INSECURE=1\)/);
    expect(fields(boardSettings({}, { FLOWGATE_BOARD_HOST: '::' }, noFile))).toEqual(['env FLOWGATE_BOARD_HOST']);
  });

  it('allows it with --insecure or FLOWGATE_BOARD_INSECURE=1, with a warning', () => {
    for (const r of [boardSettings({ host: '0.0.0.0', insecure: true }, {}, noFile), boardSettings({}, { FLOWGATE_BOARD_HOST: '0.0.0.0', FLOWGATE_BOARD_INSECURE: '1' }, noFile)]) {
      expect(r.issues).toEqual([]);
      expect(r.settings.insecure).toBe(true);
      expect(exposureWarning(r.settings)).toMatch(/WARNING: listening on 0\.0\.0\.0 without authentication/);
    }
    expect(fields(boardSettings({}, { FLOWGATE_BOARD_INSECURE: 'yes' }, noFile))).toEqual(['env FLOWGATE_BOARD_INSECURE']);
  });

  it('allows a non-loopback address with auth, without a warning', () => {
    const r = boardSettings({ host: '0.0.0.0' }, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: PW }, noFile);
    expect(r.issues).toEqual([]);
    expect(r.settings.auth).toEqual({ user: 'ada', password: PW });
    expect(exposureWarning(r.settings)).toBeUndefined();
  });

  it('refuses write mode without auth, even on loopback or with --insecure', () => {
    expect(fields(boardSettings({}, { FLOWGATE_BOARD_WRITE: '1' }, noFile))).toEqual(['env FLOWGATE_BOARD_WRITE']);
    expect(fields(boardSettings({ insecure: true }, { FLOWGATE_BOARD_WRITE: 'true' }, noFile))).toEqual(['env FLOWGATE_BOARD_WRITE']);
    expect(boardSettings({}, { FLOWGATE_BOARD_WRITE: '1', FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: PW }, noFile).settings.writable).toBe(true);
  });

  it(`refuses passwords shorter than ${MIN_PASSWORD_LENGTH} characters without echoing them`, () => {
    const r = boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: 'hunter2-xyz' }, noFile);
    expect(fields(r)).toEqual(['env FLOWGATE_BOARD_PASSWORD']);
    expect(JSON.stringify(r.issues)).not.toContain('hunter2');
    expect(boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: 'x'.repeat(MIN_PASSWORD_LENGTH) }, noFile).issues).toEqual([]);
  });

  it('reads the password from FLOWGATE_BOARD_PASSWORD_FILE, trailing newline stripped', () => {
    const read = (path: string): string => (path === '/run/secrets/board' ? `${PW}\r\n` : noFile(path));
    const r = boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD_FILE: '/run/secrets/board' }, read);
    expect(r.issues).toEqual([]);
    expect(r.settings.auth).toEqual({ user: 'ada', password: PW });
    expect(describeConfig(r.settings, 'redis://:redispw@h:6379', 'p')).not.toMatch(new RegExp(`${PW}|redispw`));
  });

  it('names the variable and path of an unreadable password file, a short one, and both sources at once', () => {
    const missing = boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD_FILE: '/no/such' }, noFile);
    expect(missing.issues).toEqual([{ field: 'env FLOWGATE_BOARD_PASSWORD_FILE', message: 'cannot read the password file "/no/such" (ENOENT)' }]);
    const short = boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD_FILE: '/f' }, () => 'tiny\n');
    expect(fields(short)).toEqual(['env FLOWGATE_BOARD_PASSWORD_FILE (/f)']);
    expect(JSON.stringify(short.issues)).not.toContain('tiny');
    const both = boardSettings({}, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: PW, FLOWGATE_BOARD_PASSWORD_FILE: '/f' }, () => PW);
    expect(both.issues[0]?.message).toMatch(/either FLOWGATE_BOARD_PASSWORD or FLOWGATE_BOARD_PASSWORD_FILE, not both/);
    expect(both.settings.auth).toBeUndefined();
  });

  it('needs both a user and a password', () => {
    expect(fields(boardSettings({}, { FLOWGATE_BOARD_USER: 'ada' }, noFile))).toEqual(['env FLOWGATE_BOARD_PASSWORD_FILE']);
    expect(fields(boardSettings({}, { FLOWGATE_BOARD_PASSWORD: PW }, noFile))).toEqual(['env FLOWGATE_BOARD_USER']);
    // Empty values mean unset.
    expect(boardSettings({}, { FLOWGATE_BOARD_USER: '', FLOWGATE_BOARD_PASSWORD: '' }, noFile).issues).toEqual([]);
  });
});
