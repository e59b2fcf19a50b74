/**
 * The scheduler's step loop: events arriving together are applied in one
 * step, a step asked for during a step becomes another pass, settled()
 * resolves after the steps asked for so far, and a loop that was stopped or
 * whose step threw takes no further step.
 */
import { describe, expect, it } from 'vitest';
import { StepLoop, type StepResult } from '../../src/scheduler/step-loop.js';

function recorder(result: (batch: number[]) => StepResult | Promise<StepResult> = () => 'more'): { loop: StepLoop<number>; batches: number[][]; errors: unknown[] } {
  const batches: number[][] = [];
  const errors: unknown[] = [];
  const loop = new StepLoop<number>(
    async (events) => {
      batches.push(events);
      return result(events);
    },
    (err) => errors.push(err),
  );
  return { loop, batches, errors };
}

describe('StepLoop', () => {
  it('applies events pushed together in one step', async () => {
    const { loop, batches } = recorder();
    loop.push(1);
    loop.kick();
    loop.push(2);
    loop.kick();
    await loop.settled();
    expect(batches).toEqual([[1, 2]]);
  });

  it('runs another pass for events and kicks that arrive during a step, then settles', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const batches: number[][] = [];
    const loop = new StepLoop<number>(async (events) => {
      batches.push(events);
      if (batches.length === 1) await gate;
      return 'more';
    }, () => undefined);
    loop.push(1);
    loop.kick();
    await Promise.resolve();
    loop.push(2);
    loop.kick();
    const settled = loop.settled();
    release();
    await settled;
    expect(batches).toEqual([[1], [2]]);
    expect(loop.pending).toBe(false);
  });

  it('takes no step after stop(), nor after a step said done', async () => {
    const { loop, batches } = recorder(() => 'done');
    loop.push(1);
    loop.kick();
    await loop.settled();
    loop.push(2);
    loop.kick();
    await loop.settled();
    expect(batches).toEqual([[1]]);
    expect(loop.active).toBe(false);

    const other = recorder();
    other.loop.stop();
    other.loop.push(3);
    other.loop.kick();
    await other.loop.settled();
    expect(other.batches).toEqual([]);
  });

  it('reports a step that throws and stops taking steps', async () => {
    const { loop, batches, errors } = recorder(() => {
      throw new Error('step broke');
    });
    loop.push(1);
    loop.kick();
    await loop.settled();
    loop.push(2);
    loop.kick();
    await loop.settled();
    expect(batches).toEqual([[1]]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['step broke']);
  });

  it('requestAgain() during a step makes another pass even without events', async () => {
    let steps = 0;
    const loopRef: StepLoop<number> = new StepLoop<number>(async () => {
      steps++;
      if (steps === 1) loopRef.requestAgain();
      return 'more';
    }, () => undefined);
    loopRef.kick();
    await loopRef.settled();
    expect(steps).toBe(2);
  });
});
