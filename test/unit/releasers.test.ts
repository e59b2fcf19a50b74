/**
 * The one release pattern of long-lived components: reverse order, past
 * failures, a time cap per step, one AggregateError, retry of what failed,
 * and the start/close helpers (single flight, checked phases, one outcome).
 */
import { describe, expect, it } from 'vitest';
import { IllegalPhaseError, Outcome, PhaseMachine, SingleFlight } from '../../src/shared/lifecycle.js';
import { silentLogger } from '../../src/shared/logger.js';
import { Releasers, withReleasers } from '../../src/shared/releasers.js';
import { ACTIVE_PHASES, RUN_PHASES, type RunPhase } from '../../src/scheduler/run-phase.js';
import { slowStep } from '../helpers/slow-step.js';

describe('Releasers', () => {
  it('releases the last acquired first, carries on past failures and throws one AggregateError', async () => {
    const r = new Releasers(1000);
    const order: string[] = [];
    r.add('a', () => order.push('a'));
    r.add('b', () => {
      order.push('b');
      throw new Error('b broke');
    });
    r.add('c', async () => {
      await Promise.resolve();
      order.push('c');
    });
    const err = await r.release('closing x').catch((e: unknown) => e);
    expect(order).toEqual(['c', 'b', 'a']);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).message).toBe('closing x');
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['b broke']);
  });

  it('keeps what failed for another try, and nothing that succeeded', async () => {
    const r = new Releasers(1000);
    let aCalls = 0;
    let bFails = true;
    r.add('a', () => aCalls++);
    r.add('b', () => {
      if (bFails) throw new Error('not yet');
    });
    await expect(r.release('x')).rejects.toBeInstanceOf(AggregateError);
    expect(r.size).toBe(1);
    bFails = false;
    await r.release('x');
    expect(r.size).toBe(0);
    expect(aCalls).toBe(1);
  });

  it('abandons a step that takes longer than its cap and goes on with the next', async () => {
    const r = new Releasers(20);
    const order: string[] = [];
    r.add('quick', () => order.push('quick'));
    r.add('stuck', () => new Promise(() => undefined));
    const errors = await r.releaseAll();
    expect(order).toEqual(['quick']);
    expect(String((errors[0] as Error).message)).toContain('releasing stuck took longer than 20 ms');
  });

  it('lets a step opt out of the cap (a graceful stop that bounds itself)', async () => {
    const r = new Releasers(5);
    let done = false;
    r.add('slow', slowStep(30, () => (done = true)), Infinity);
    expect(await r.releaseAll()).toEqual([]);
    expect(done).toBe(true);
  });

  it('withReleasers releases what was acquired when a later step throws, and rethrows its error', async () => {
    const r = new Releasers(1000);
    const released: string[] = [];
    const err = await withReleasers(r, async (rel) => {
      rel.add('first', () => released.push('first'));
      rel.add('second', () => released.push('second'));
      throw new Error('third step failed');
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('third step failed');
    expect(released).toEqual(['second', 'first']);
    expect(r.size).toBe(0);
  });
});

describe('SingleFlight', () => {
  it('returns the call under way to concurrent callers and does not call again after success', async () => {
    const f = new SingleFlight(true);
    let calls = 0;
    const fn = async (): Promise<void> => {
      calls++;
      await Promise.resolve();
    };
    const [p1, p2] = [f.run(fn), f.run(fn)];
    expect(p1).toBe(p2);
    await p1;
    await f.run(fn);
    expect(calls).toBe(1);
  });

  it('calls again after a failure when retryable (close), not otherwise (start)', async () => {
    const failing = (): Promise<void> => Promise.reject(new Error('no'));
    const close = new SingleFlight(true);
    await expect(close.run(failing)).rejects.toThrow('no');
    let called = false;
    await close.run(async () => void (called = true));
    expect(called).toBe(true);
    const start = new SingleFlight(false);
    await expect(start.run(failing)).rejects.toThrow('no');
    await expect(start.run(async () => undefined)).rejects.toThrow('no');
  });
});

describe('PhaseMachine and the run phases', () => {
  it('changes only along the table and throws on anything else', () => {
    const m = new PhaseMachine<RunPhase>('run x', 'new', RUN_PHASES, silentLogger());
    m.set('starting');
    m.set('running');
    expect(() => m.set('new')).toThrow(IllegalPhaseError);
    expect(() => m.set('closed')).toThrow('run x: illegal phase change running -> closed');
    m.set('failed');
    expect(m.is(...ACTIVE_PHASES)).toBe(false);
    expect(() => m.set('running')).toThrow(IllegalPhaseError);
    m.set('closing');
    m.set('closed');
    expect(RUN_PHASES.closed).toEqual([]);
  });

  it('never leads back to an active phase from failed, finished or closing', () => {
    const reachable = (from: RunPhase): Set<RunPhase> => {
      const seen = new Set<RunPhase>();
      const todo = [from];
      while (todo.length > 0) {
        for (const next of RUN_PHASES[todo.pop() as RunPhase]) {
          if (seen.has(next)) continue;
          seen.add(next);
          todo.push(next);
        }
      }
      return seen;
    };
    for (const from of ['failed', 'finished', 'closing'] as const) {
      for (const p of ACTIVE_PHASES) expect(reachable(from).has(p)).toBe(false);
    }
  });
});

describe('Outcome', () => {
  it('settles once; later waiters get the same result at once', async () => {
    const o = new Outcome<number>();
    o.resolve(1);
    o.reject(new Error('late'));
    await expect(o.promise).resolves.toBe(1);
    const f = new Outcome<number>();
    f.reject(new Error('fatal'));
    await expect(f.promise).rejects.toThrow('fatal');
  });
});
