/**
 * HTTP Basic authentication for the board, compared in constant time, with a
 * lock-out after repeated failures.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { authWithLockout } from './security.js';

/** Credentials the board requires. */
export interface BasicCredentials {
  user: string;
  password: string;
}

function digest(s: string): Buffer {
  // Hashing first gives equal lengths, so the comparison leaks nothing about them.
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Whether an `Authorization` header carries exactly these credentials. */
export function checkBasic(header: string | undefined, expected: BasicCredentials): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  const decoded = m?.[1] !== undefined ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : '';
  const password = colon >= 0 ? decoded.slice(colon + 1) : '';
  // Both compared every time: no early exit on a wrong user.
  const userOk = timingSafeEqual(digest(user), digest(expected.user));
  const passwordOk = timingSafeEqual(digest(password), digest(expected.password));
  return colon >= 0 && userOk && passwordOk;
}

/**
 * Middleware: 401 with a Basic challenge unless the request carries the
 * credentials; 429 once an address failed too often ({@link authWithLockout}).
 */
export function basicAuth(expected: BasicCredentials): RequestHandler {
  return authWithLockout((req: Request) => checkBasic(req.headers.authorization, expected));
}
