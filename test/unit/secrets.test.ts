import { describe, expect, it } from 'vitest';
import { isSecretName, maskEnvDeep, maskSecretEnv, SECRET_MASK } from '../../src/shared/secrets.js';

describe('isSecretName', () => {
  it.each(['TOKEN', 'token', 'PASSWORD', 'Password', 'SECRET', 'GITHUB_TOKEN', 'db_password', 'AWS_SECRET', 'AWS_SECRET_ACCESS_KEY', 'API_KEY', 'api-key', 'smtp.password', 'x_Secret'])('%s looks secret', (name) => {
    expect(isSecretName(name)).toBe(true);
  });
  it.each(['KEY', 'HOME', 'PATH', 'TOKENIZER_MODE', 'PASSWORD_HINT_SHOWN', 'KEYBOARD', 'MONKEY', 'SECRETARY', 'NTOKEN', 'OMP_NUM_THREADS', ''])('%s does not', (name) => {
    expect(isSecretName(name)).toBe(false);
  });
});

describe('maskSecretEnv', () => {
  it('masks the values of secret-looking names and keeps the rest', () => {
    const env = { API_TOKEN: 'tok-123', db_password: 'hunter2hunter2', OMP_NUM_THREADS: '4', SECRET: 's', AWS_SECRET_ACCESS_KEY: 'abc', EMPTY_TOKEN: '' };
    expect(maskSecretEnv(env)).toEqual({ API_TOKEN: SECRET_MASK, db_password: SECRET_MASK, OMP_NUM_THREADS: '4', SECRET: SECRET_MASK, AWS_SECRET_ACCESS_KEY: SECRET_MASK, EMPTY_TOKEN: '' });
    expect(JSON.stringify(maskSecretEnv(env))).not.toMatch(/tok-123|hunter2|"abc"/);
  });

  it('does not change its argument', () => {
    const env = { MY_TOKEN: 'x' };
    maskSecretEnv(env);
    expect(env).toEqual({ MY_TOKEN: 'x' });
  });

  it('gives {} for anything but an object and drops non-string values', () => {
    for (const bad of [undefined, null, 'TOKEN=x', 42, ['a']]) expect(maskSecretEnv(bad)).toEqual({});
    expect(maskSecretEnv({ A: 1, B: 'b', C_TOKEN: { nested: 'x' } })).toEqual({ B: 'b' });
  });

  it('keeps a "__proto__" name as a plain entry', () => {
    const masked = maskSecretEnv(JSON.parse('{"__proto__": "v", "X_TOKEN": "t"}'));
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(Object.keys(masked).sort()).toEqual(['X_TOKEN', '__proto__']);
    expect(masked['X_TOKEN']).toBe(SECRET_MASK);
  });
});

describe('maskEnvDeep', () => {
  it('masks every env object at any depth and leaves everything else alone', () => {
    const data = { run_id: 'r', env: { API_TOKEN: 't1' }, cache: { parts: { definition: { env: { DB_PASSWORD: 'p1', MODE: 'fast' } } } }, list: [{ env: { SECRET: 's1' } }], n: 3, s: 'env' };
    const masked = maskEnvDeep(data);
    expect(masked).toEqual({ run_id: 'r', env: { API_TOKEN: SECRET_MASK }, cache: { parts: { definition: { env: { DB_PASSWORD: SECRET_MASK, MODE: 'fast' } } } }, list: [{ env: { SECRET: SECRET_MASK } }], n: 3, s: 'env' });
    expect(JSON.stringify(masked)).not.toMatch(/t1|p1|s1/);
    expect(data.env.API_TOKEN).toBe('t1');
    for (const v of [null, 'x', 5, undefined]) expect(maskEnvDeep(v)).toBe(v);
  });
});
