/**
 * HTTP hardening of the board: security headers (helmet), a lock-out after
 * repeated failed logins (express-rate-limit), and a guard that keeps other
 * sites from making a signed-in browser change anything.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import helmet from 'helmet';

/** Failed Basic-auth attempts allowed per client address and window; the next is answered 429. */
export const LOGIN_FAILURE_LIMIT = 10;
/** The window of {@link LOGIN_FAILURE_LIMIT}. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Largest request body the board reads (it only ever takes small JSON). */
export const BODY_LIMIT = '64kb';

const COMMON_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  // The board speaks plain HTTP behind a TLS proxy or on loopback; upgrading
  // is the proxy's decision, as is HSTS.
  upgradeInsecureRequests: null,
};

/**
 * Security headers for everything the board serves: a strict CSP (the
 * dashboard loads only its own scripts and styles and sets no inline
 * styles), no framing, no referrer, no MIME sniffing. No HSTS: the TLS
 * proxy in front of the board knows whether HTTPS is in use.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...COMMON_CSP, baseUri: ["'none'"], styleSrc: ["'self'"] } },
    strictTransportSecurity: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/**
 * The CSP of Bull Board (under `/queues`), replacing the dashboard's: its
 * page uses `<base href>` and inline styles (a loading placeholder) and links
 * a web font from a CDN, which stays blocked (the UI falls back to local fonts).
 */
export function bullBoardCsp(): RequestHandler {
  return helmet.contentSecurityPolicy({ useDefaults: false, directives: { ...COMMON_CSP, baseUri: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"] } });
}

/** Checks credentials; true lets the request through. */
export type CredentialCheck = (req: Request) => boolean;

/**
 * Basic authentication with a lock-out: after {@link LOGIN_FAILURE_LIMIT}
 * failed attempts from one address within {@link LOGIN_WINDOW_MS}, every
 * request from it is answered 429 until the window passes — even one with
 * the right password, or the lock-out would not stop guessing. A request
 * without credentials (a browser's first try) is not an attempt.
 */
export function authWithLockout(check: CredentialCheck): RequestHandler {
  const retryAfterS = Math.ceil(LOGIN_WINDOW_MS / 1000);
  const tooMany = (res: Response, resetTime: Date | undefined): void => {
    const wait = resetTime !== undefined ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : retryAfterS;
    res.set('Retry-After', String(wait)).status(429).json({ error: `too many failed logins from this address; try again in ${wait} s` });
  };
  // The limiter counts failures only: it runs after a failed check.
  const failures = rateLimit({
    windowMs: LOGIN_WINDOW_MS,
    limit: LOGIN_FAILURE_LIMIT,
    standardHeaders: false,
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? ''),
    handler: (req, res) => tooMany(res, (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime),
    // Behind a proxy every client shares the proxy's address (see the README); no warning per request.
    validate: { xForwardedForHeader: false },
  });
  const challenge = (res: Response): void => {
    res.set('WWW-Authenticate', 'Basic realm="flowgate", charset="UTF-8"').status(401).json({ error: 'authentication required' });
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    void (async () => {
      const seen = await failures.getKey(ipKeyGenerator(req.ip ?? ''));
      if (seen !== undefined && seen.totalHits >= LOGIN_FAILURE_LIMIT && (seen.resetTime === undefined || seen.resetTime.getTime() > Date.now())) {
        tooMany(res, seen.resetTime);
        return;
      }
      if (check(req)) {
        next();
        return;
      }
      if (req.headers.authorization === undefined) {
        challenge(res);
        return;
      }
      await failures(req, res, () => challenge(res));
    })().catch(next);
  };
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The host (with port) of an `Origin` header; undefined for `null` or anything unparsable. */
function originHost(origin: string): string | undefined {
  try {
    return origin === 'null' ? undefined : new URL(origin).host;
  } catch {
    return undefined;
  }
}

function forbidden(res: Response, why: string): void {
  res.status(403).json({ error: `cross-site request refused: ${why}` });
}

/**
 * Refuses state-changing requests (POST, PUT, PATCH, DELETE) that another
 * site could make a signed-in browser send. Browsers attach cached Basic
 * credentials to such requests, and a form or `no-cors` fetch needs no
 * preflight, so: a `Sec-Fetch-Site` other than `same-origin`/`none` or an
 * `Origin` whose host is not this `Host` is refused (403); a POST must be
 * `application/json` (a type no form can send without a preflight), and
 * any other method may carry a body only as JSON (415). PUT, PATCH and
 * DELETE are never "simple" requests, so a browser sends them across
 * origins only after a preflight, which the board never approves.
 */
export function sameOriginWrites(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!UNSAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    const site = req.get('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      forbidden(res, `Sec-Fetch-Site is "${site}"`);
      return;
    }
    const origin = req.get('origin');
    if (origin !== undefined && originHost(origin) !== req.get('host')) {
      forbidden(res, 'its Origin is not this board');
      return;
    }
    const json = req.is('application/json') === 'application/json';
    const hasBody = req.get('content-length') !== undefined ? req.get('content-length') !== '0' : req.get('transfer-encoding') !== undefined;
    if (!json && (req.method === 'POST' || hasBody)) {
      res.status(415).json({ error: `${req.method} requests must send Content-Type: application/json` });
      return;
    }
    next();
  };
}

/** A body parser's error (`type` as set by body-parser), as a status and a message without details. */
export function bodyError(err: unknown): { status: number; message: string } | undefined {
  const type = (err as { type?: unknown }).type;
  switch (type) {
    case 'entity.parse.failed':
      return { status: 400, message: 'malformed JSON body' };
    case 'entity.too.large':
      return { status: 413, message: `request body too large (at most ${BODY_LIMIT})` };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, message: 'unsupported body encoding' };
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return { status: 400, message: 'malformed request body' };
    default:
      return undefined;
  }
}
