/**
 * What the "cannot reach Redis" error adds for the refusals a user can fix:
 * credentials, an untrusted certificate, protected mode, plain text sent to a
 * TLS port. (The first, second and last are also met for real in
 * test/integration/redis-tls.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { connectHint } from '../../src/shared/redis.js';

describe('connectHint', () => {
  it('names the fix for each refusal', () => {
    expect(connectHint('WRONGPASS invalid username-password pair', 'redis://:x@h:1')).toContain('refused the credentials');
    expect(connectHint('NOAUTH Authentication required.', 'redis://h:1')).toContain('give them in the URL');
    expect(connectHint('self-signed certificate in certificate chain', 'rediss://h:1')).toContain('NODE_EXTRA_CA_CERTS');
    expect(connectHint('DENIED Redis is running in protected mode because protected mode is enabled', 'redis://10.0.0.1:6379')).toContain('set requirepass');
    expect(connectHint('write ECONNRESET', 'redis://h:1')).toContain('use a rediss:// URL');
  });

  it('adds nothing where there is nothing to say', () => {
    expect(connectHint('connect ECONNREFUSED 127.0.0.1:6379', 'redis://127.0.0.1:6379')).toBe('');
    expect(connectHint('write ECONNRESET', 'rediss://h:1')).toBe('');
  });
});
