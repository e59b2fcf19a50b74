/**
 * ResourceLedger: budget checks, holds, and exact arithmetic over many
 * reserve/release cycles of fractional gigabytes.
 */
import { describe, expect, it } from 'vitest';
import { ResourceLedger, round } from '../../src/scheduler/ledger.js';
import { seededRandom } from './support.js';

const req = (n_procs: number, mem_gb: number): { n_procs: number; mem_gb: number } => ({ n_procs, mem_gb });

describe('ResourceLedger', () => {
  it('rejects a budget that is not whole procs >= 1 and > 0 GB', () => {
    expect(() => new ResourceLedger(req(0, 1))).toThrow('n_procs budget must be a whole number >= 1, got 0');
    expect(() => new ResourceLedger(req(1.5, 1))).toThrow(RangeError);
    expect(() => new ResourceLedger(req(Number.NaN, 1))).toThrow(RangeError);
    expect(() => new ResourceLedger(req(1, 0))).toThrow('memory budget must be > 0 GB, got 0');
    expect(() => new ResourceLedger(req(1, -1))).toThrow(RangeError);
    expect(() => new ResourceLedger(req(1, Number.NaN))).toThrow(RangeError);
  });

  it('starts empty', () => {
    const l = new ResourceLedger(req(8, 16));
    expect(l.used).toEqual(req(0, 0));
    expect(l.free).toEqual(req(8, 16));
    expect(l.holdCount).toBe(0);
    expect(l.budget).toEqual(req(8, 16));
  });

  it('fits a request up to and including the whole budget', () => {
    const l = new ResourceLedger(req(4, 8));
    expect(l.fits(req(4, 8))).toBe(true);
    expect(l.fits(req(5, 1))).toBe(false);
    expect(l.fits(req(1, 8.000001))).toBe(false);
  });

  it('reserves and releases holds by key', () => {
    const l = new ResourceLedger(req(4, 8));
    l.reserve('a', req(3, 5));
    expect(l.has('a')).toBe(true);
    expect(l.used).toEqual(req(3, 5));
    expect(l.free).toEqual(req(1, 3));
    expect(l.fits(req(1, 3))).toBe(true);
    expect(l.fits(req(2, 1))).toBe(false);
    expect(l.fits(req(1, 3.5))).toBe(false);
    l.reserve('b', req(1, 3));
    expect(l.free).toEqual(req(0, 0));
    expect(l.holdCount).toBe(2);
    expect(l.release('a')).toBe(true);
    expect(l.has('a')).toBe(false);
    expect(l.free).toEqual(req(3, 5));
    expect(l.release('a')).toBe(false);
    expect(l.release('never')).toBe(false);
    expect(l.free).toEqual(req(3, 5));
  });

  it('throws on a double reserve and leaves the ledger unchanged', () => {
    const l = new ResourceLedger(req(8, 16));
    l.reserve('a', req(1, 1));
    expect(() => l.reserve('a', req(1, 1))).toThrow('ledger: "a" already holds resources');
    expect(l.used).toEqual(req(1, 1));
    expect(l.holdCount).toBe(1);
  });

  it('throws when a reserve does not fit, saying what is free', () => {
    const l = new ResourceLedger(req(4, 2));
    l.reserve('a', req(3, 1.5));
    expect(() => l.reserve('b', req(2, 0.25))).toThrow('ledger: "b" does not fit (free procs 1/4, memory 0.5/2 GB)');
    expect(l.has('b')).toBe(false);
    expect(l.used).toEqual(req(3, 1.5));
  });

  it('adds three 0.1 GB holds up to exactly 0.3 GB', () => {
    // With plain floats 0.1 + 0.1 + 0.1 > 0.3, so the third hold would not fit.
    const l = new ResourceLedger(req(8, 0.3));
    l.reserve('a', req(1, 0.1));
    l.reserve('b', req(1, 0.1));
    expect(l.fits(req(1, 0.1))).toBe(true);
    l.reserve('c', req(1, 0.1));
    expect(l.used.mem_gb).toBe(0.3);
    expect(l.free.mem_gb).toBe(0);
    expect(l.fits(req(1, 0.1))).toBe(false);
  });

  it('compares amounts in whole micro-GB, so computed values like 0.1 * 3 fit a 0.3 GB budget', () => {
    const computed = 0.1 * 3; // 0.30000000000000004
    const l = new ResourceLedger(req(8, 0.3));
    expect(l.fits(req(1, computed))).toBe(true);
    l.reserve('a', req(1, computed));
    expect(l.free).toEqual(req(7, 0));
    expect(l.used.mem_gb).toBe(0.3);
    l.release('a');
    expect(l.used).toEqual(req(0, 0));
  });

  it('does not drift after 10,000 reserves and releases of 0.1 GB', () => {
    // Plain floats: 10,000 x 0.1 sums to 1000.0000000001588 and draining leaves -4e-14.
    const l = new ResourceLedger(req(10_000, 1000));
    for (let i = 0; i < 10_000; i++) l.reserve(`k${i}`, req(1, 0.1));
    expect(l.used).toEqual(req(10_000, 1000));
    expect(l.free).toEqual(req(0, 0));
    for (let i = 0; i < 10_000; i++) expect(l.release(`k${i}`)).toBe(true);
    expect(l.used).toEqual(req(0, 0));
    expect(l.free).toEqual(req(10_000, 1000));
  });

  it('matches exact arithmetic at every step of a sliding window of fractional holds', () => {
    const l = new ResourceLedger(req(8, 16));
    const held: Array<{ key: string; micro: number }> = [];
    for (let i = 0; i < 10_000; i++) {
      const mem = 0.1 * (1 + (i % 7)); // 0.1 .. 0.7, each with float error of its own
      l.reserve(`k${i}`, req(1, mem));
      held.push({ key: `k${i}`, micro: Math.round(mem * 1e6) });
      if (held.length > 5) l.release((held.shift() as { key: string }).key);
      const exact = held.reduce((sum, h) => sum + h.micro, 0) / 1e6;
      if (l.used.mem_gb !== exact) expect.fail(`step ${i}: used ${l.used.mem_gb} GB, exact ${exact} GB`);
    }
  });

  it('fills 16 GB with exactly 160 holds of 0.1 GB', () => {
    const l = new ResourceLedger(req(1000, 16));
    for (let i = 0; i < 160; i++) {
      expect(l.fits(req(1, 0.1)), `hold ${i}`).toBe(true);
      l.reserve(`k${i}`, req(1, 0.1));
    }
    expect(l.used.mem_gb).toBe(16);
    expect(l.free.mem_gb).toBe(0);
    expect(l.fits(req(1, 0.1))).toBe(false);
    expect(l.fits(req(1, 0.000001))).toBe(false);
    for (let i = 0; i < 160; i++) l.release(`k${i}`);
    expect(l.used).toEqual(req(0, 0));
  });

  it('returns to exactly zero after a random mix of fractional holds', () => {
    const rand = seededRandom(42);
    const l = new ResourceLedger(req(10_000, 10_000));
    const live: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      if (live.length > 0 && rand() < 0.45) {
        const k = live.splice(Math.floor(rand() * live.length), 1)[0] as string;
        expect(l.release(k)).toBe(true);
      } else {
        const mem = [0.1, 0.2, 0.3, 0.7, 1.1, 0.05, 2.35][Math.floor(rand() * 7)] as number;
        l.reserve(`k${i}`, req(1, mem));
        live.push(`k${i}`);
      }
    }
    for (const k of live) l.release(k);
    expect(l.used).toEqual(req(0, 0));
    expect(l.free).toEqual(req(10_000, 10_000));
  });

  it('restores holds without checking the budget', () => {
    const l = new ResourceLedger(req(2, 1));
    l.restore('big', req(4, 3));
    expect(l.has('big')).toBe(true);
    expect(l.free).toEqual(req(-2, -2));
    expect(l.fits(req(1, 0.1))).toBe(false);
    l.release('big');
    expect(l.free).toEqual(req(2, 1));
  });

  it('restore replaces a hold already under the key instead of counting it twice', () => {
    const l = new ResourceLedger(req(8, 16));
    l.restore('a', req(2, 1));
    l.restore('a', req(3, 1.5));
    expect(l.holdCount).toBe(1);
    expect(l.used).toEqual(req(3, 1.5));
    expect(l.release('a')).toBe(true);
    expect(l.used).toEqual(req(0, 0));
  });

  it('describes what is free, rounding GB to 3 decimals', () => {
    const l = new ResourceLedger(req(8, 16));
    l.reserve('a', req(5, 11.5));
    expect(l.describeFree()).toBe('free procs 3/8, memory 4.5/16 GB');
    const odd = new ResourceLedger(req(2, 1));
    odd.reserve('x', req(1, 1 / 3));
    expect(odd.describeFree()).toBe('free procs 1/2, memory 0.667/1 GB');
    expect(round(0.12345)).toBe(0.123);
    expect(round(16)).toBe(16);
  });
});
