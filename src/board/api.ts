/**
 * The board's JSON API: runs, one run, workers, hosts, the scheduler service, and
 * (write mode only) cancelling a run and retrying a failed service run's nodes. Every answer is JSON, errors as `{error}`.
 */
import { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { requestCancel, type CancelRequest } from '../shared/cancel-run.js';
import { requestRetry, type RetryRequest } from '../shared/retry-request.js';
import type { Logger } from '../shared/logger.js';
import { listRuns } from '../shared/run-reader.js';
import { DEFAULT_NODE_PAGE, MAX_NODE_PAGE, readRunNodes, type NodePageQuery } from '../shared/run-nodes.js';
import type { DefinitionNode } from '../shared/run-view.js';
import { NODE_STATE_NAMES, type NodeStateName } from '../shared/effective-state.js';
import { groupHosts, listWorkers } from '../shared/worker-registry.js';
import { readHeld, runningRunIds, withUsage } from '../shared/held-resources.js';
import { readService } from './service.js';
import { OverviewCache } from './overview-cache.js';
import { LruMap } from './lru-map.js';

/** Run ids the API accepts: letters, digits, `.`, `_`, `-`. */
export const RUN_ID_PARAM = /^[A-Za-z0-9._-]{1,128}$/;

/** Parses `?limit=`; undefined when absent, an error message when invalid. */
export function parseLimit(raw: unknown): number | undefined | string {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000) return 'limit must be a whole number from 1 to 1000';
  return Number(raw);
}

/** Largest `?offset=` accepted. */
const MAX_OFFSET = 10_000_000;

/**
 * Parses the node page query `?offset=&limit=&state=`; an error message
 * naming the parameter, what it must be and what it got, when invalid.
 */
export function parseNodePageQuery(query: Record<string, unknown>): NodePageQuery | string {
  const whole = (name: string, raw: unknown, min: number, max: number, fallback: number): number | string => {
    if (raw === undefined) return fallback;
    if (typeof raw !== 'string' || !/^\d{1,8}$/.test(raw) || Number(raw) < min || Number(raw) > max) return `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`;
    return Number(raw);
  };
  const offset = whole('offset', query['offset'], 0, MAX_OFFSET, 0);
  if (typeof offset === 'string') return offset;
  const limit = whole('limit', query['limit'], 1, MAX_NODE_PAGE, DEFAULT_NODE_PAGE);
  if (typeof limit === 'string') return limit;
  const state = query['state'];
  if (state === undefined) return { offset, limit };
  if (typeof state !== 'string' || !(NODE_STATE_NAMES as readonly string[]).includes(state)) return `state must be one of ${NODE_STATE_NAMES.join(', ')}, got ${JSON.stringify(state)}`;
  return { offset, limit, state: state as NodeStateName };
}

/** What the API may do. */
export interface ApiOptions {
  /** Write mode (`FLOWGATE_BOARD_WRITE=1`): runs may be cancelled. */
  writable: boolean;
  /** Whether Basic auth guards the board; writes need it too. */
  authenticated: boolean;
  log: Logger;
}

/**
 * Runs whose parsed definition the node pages keep: parsing a definition
 * takes about a second for 100,000 nodes (and 30 MB kept), and the page
 * asks for its nodes every second.
 */
const DEFINITION_RUNS = 4;

/** Longest cancel reason accepted. */
const MAX_REASON_LENGTH = 500;

/** The `/api` router. */
export function apiRouter(redis: Redis, prefix: string, options: ApiOptions): Router {
  const router = Router();
  const canWrite = options.writable && options.authenticated;
  const overviews = new OverviewCache(redis, prefix);
  const definitions = new LruMap<string, DefinitionNode[]>(DEFINITION_RUNS);
  router.get('/board', (_req: Request, res: Response) => {
    res.json({ writable: canWrite });
  });
  router.get('/runs', async (req: Request, res: Response) => {
    const limit = parseLimit(req.query['limit']);
    if (typeof limit === 'string') {
      res.status(400).json({ error: limit });
      return;
    }
    res.json(await listRuns(redis, prefix, limit === undefined ? {} : { limit }));
  });
  router.get('/runs/:id', async (req: Request, res: Response) => {
    const id = req.params['id'] ?? '';
    if (typeof id !== 'string' || !RUN_ID_PARAM.test(id)) {
      res.status(400).json({ error: 'invalid run id: use letters, digits, ".", "_" or "-"' });
      return;
    }
    const run = await overviews.get(id);
    if (run === undefined) {
      res.status(404).json({ error: `no run "${id}" under prefix ${prefix}` });
      return;
    }
    res.json(run);
  });
  router.get('/runs/:id/nodes', async (req: Request, res: Response) => {
    const id = req.params['id'] ?? '';
    if (typeof id !== 'string' || !RUN_ID_PARAM.test(id)) {
      res.status(400).json({ error: 'invalid run id: use letters, digits, ".", "_" or "-"' });
      return;
    }
    const query = parseNodePageQuery(req.query);
    if (typeof query === 'string') {
      res.status(400).json({ error: query });
      return;
    }
    const page = await readRunNodes(redis, prefix, id, query, definitions);
    if (page === undefined) {
      res.status(404).json({ error: `no run "${id}" under prefix ${prefix}` });
      return;
    }
    res.json(page);
  });
  /**
   * A run action (write mode only): the run id is checked, the body parsed by
   * `parse`, then `act` answers with a status and a JSON body.
   */
  const runAction = <T>(action: string, doing: string, parse: (body: unknown) => { value: T; error?: undefined } | { error: string }, act: (id: string, value: T) => Promise<{ status: number; body: Record<string, unknown>; outcome: string }>) =>
    router.post(`/runs/:id/${action}`, async (req: Request, res: Response) => {
      if (!canWrite) {
        res.status(403).json({ error: `the board is read-only: ${doing} runs needs FLOWGATE_BOARD_WRITE=1 and authentication` });
        return;
      }
      const id = req.params['id'] ?? '';
      if (typeof id !== 'string' || !RUN_ID_PARAM.test(id)) {
        res.status(400).json({ error: 'invalid run id: use letters, digits, ".", "_" or "-"' });
        return;
      }
      const parsed = parse(req.body);
      if (parsed.error !== undefined) {
        res.status(400).json({ error: parsed.error });
        return;
      }
      const { status, body, outcome } = await act(id, parsed.value);
      options.log.info({ runId: id, outcome, client: req.ip }, `board: ${action} requested`);
      res.status(status).json(body);
    });
  runAction('cancel', 'cancelling', parseReason, async (id, reason) => {
    const outcome = await requestCancel(redis, prefix, id, reason);
    return { ...cancelAnswer(id, prefix, outcome), outcome: outcome.kind };
  });
  runAction('retry', 'retrying', parseRetryBody, async (id, nodes) => {
    const outcome = await requestRetry(redis, prefix, id, nodes);
    return { ...retryAnswer(id, outcome), outcome: outcome.kind };
  });
  router.get('/workers', async (_req: Request, res: Response) => {
    res.json(await listWorkers(redis, prefix));
  });
  // The hosts as `flowgate hosts --json` lists them: capacity, liveness, and what nodes placed on each hold.
  router.get('/hosts', async (_req: Request, res: Response) => {
    const [workers, held] = await Promise.all([listWorkers(redis, prefix), runningRunIds(redis, prefix).then((ids) => readHeld(redis, prefix, ids))]);
    res.json(withUsage(groupHosts(workers), held));
  });
  router.get('/service', async (_req: Request, res: Response) => {
    res.json(await readService(redis, prefix));
  });
  router.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'no such API route' });
  });
  return router;
}

/** The body of a retry request: `{}` or `{"nodes": ["id", ...]}`. */
function parseRetryBody(body: unknown): { value: string[]; error?: undefined } | { error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'the body must be a JSON object, e.g. {} or {"nodes": ["align"]}' };
  const nodes = (body as { nodes?: unknown }).nodes;
  if (nodes === undefined) return { value: [] };
  if (!Array.isArray(nodes) || nodes.length > 10_000 || !nodes.every((n) => typeof n === 'string' && RUN_ID_PARAM.test(n))) return { error: 'nodes must be a list of node ids' };
  return { value: nodes as string[] };
}

/** The HTTP answer to a retry request's outcome. */
function retryAnswer(id: string, outcome: RetryRequest): { status: number; body: Record<string, unknown> } {
  switch (outcome.kind) {
    case 'not_found':
      return { status: 404, body: { error: `no run "${id}"` } };
    case 'not_service':
      return { status: 409, body: { error: `run ${id} was started by flowgate run; retry it where it can run: flowgate retry ${id}` } };
    case 'not_retryable':
      return { status: 409, body: { error: `run ${id} is ${outcome.status}; only a failed or cancelled run can be retried`, status: outcome.status } };
    case 'no_service':
      return { status: 409, body: { error: `no scheduler service is running to retry run ${id}; start flowgate scheduler` } };
    case 'requested':
      return { status: 202, body: { run_id: id, retry: 'requested', message: 'the scheduler service retries the failed nodes within its budget' } };
  }
}

/** The body of a cancel request: `{}` or `{"reason": "..."}`. */
function parseReason(body: unknown): { value: string; error?: undefined } | { error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'the body must be a JSON object, e.g. {} or {"reason": "..."}' };
  const reason = (body as { reason?: unknown }).reason;
  if (reason === undefined) return { value: 'cancelled from the board' };
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > MAX_REASON_LENGTH) return { error: `reason must be a non-empty string of at most ${MAX_REASON_LENGTH} characters` };
  return { value: reason };
}

/** The HTTP answer to a cancel request's outcome. */
function cancelAnswer(id: string, prefix: string, outcome: CancelRequest): { status: number; body: Record<string, unknown> } {
  switch (outcome.kind) {
    case 'not_found':
      return { status: 404, body: { error: `no run "${id}" under prefix ${prefix}` } };
    case 'ended':
      return { status: 409, body: { error: `run ${id} already ended (${outcome.status}); nothing to cancel`, status: outcome.status } };
    case 'queued':
      return { status: 202, body: { run_id: id, cancel: 'stored', message: outcome.serviceAlive ? 'the run is queued; the scheduler service cancels it as it takes it' : 'the run is queued and no scheduler service is alive; it is cancelled as soon as one takes it' } };
    case 'signalled':
      return { status: 202, body: { run_id: id, cancel: 'requested', scheduler: outcome.holder, message: `asked ${outcome.holder} to cancel the run` } };
    case 'orphaned':
      return { status: 202, body: { run_id: id, cancel: 'stored', message: 'no scheduler drives the run; the cancel is honoured when it is resumed (flowgate resume or flowgate cancel)' } };
  }
}
