/**
 * The board's JSON API: runs, one run, workers, the scheduler service.
 * Read-only; every answer is JSON, errors as `{error}`.
 */
import { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { listRuns, readRun } from '../shared/run-reader.js';
import { listWorkers } from '../shared/worker-registry.js';
import { readService } from './service.js';

/** Run ids the API accepts: letters, digits, `.`, `_`, `-`. */
export const RUN_ID_PARAM = /^[A-Za-z0-9._-]{1,128}$/;

/** Parses `?limit=`; undefined when absent, an error message when invalid. */
export function parseLimit(raw: unknown): number | undefined | string {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000) return 'limit must be a whole number from 1 to 1000';
  return Number(raw);
}

/** The `/api` router. */
export function apiRouter(redis: Redis, prefix: string): Router {
  const router = Router();
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
    const run = await readRun(redis, prefix, id);
    if (run === undefined) {
      res.status(404).json({ error: `no run "${id}" under prefix ${prefix}` });
      return;
    }
    res.json(run);
  });
  router.get('/workers', async (_req: Request, res: Response) => {
    res.json(await listWorkers(redis, prefix));
  });
  router.get('/service', async (_req: Request, res: Response) => {
    res.json(await readService(redis, prefix));
  });
  router.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'no such API route' });
  });
  return router;
}
