import { describe, expect, it } from 'vitest';
import { speedupVsBestPeer } from '../../bench/metrics.js';

describe('speedupVsBestPeer', () => {
  it('divides the fastest successful peer by flowgate', () => {
    const r = speedupVsBestPeer(0.5, {
      'nipype-multiproc': { wall_s: 5, status: 'succeeded' },
      snakemake: { wall_s: 1.5, status: 'succeeded' },
    });
    expect(r).toEqual({ best: 'snakemake', best_wall_s: 1.5, speedup: 3 });
  });

  it('ignores failed peers and peers without a wall time; first listed wins a tie', () => {
    const r = speedupVsBestPeer(2, {
      a: { wall_s: 0.1, status: 'failed' },
      b: { wall_s: null, status: 'error' },
      c: { wall_s: 4, status: 'succeeded' },
      d: { wall_s: 4, status: 'succeeded' },
    });
    expect(r).toEqual({ best: 'c', best_wall_s: 4, speedup: 2 });
  });

  it('is null without a successful peer or a usable flowgate time', () => {
    expect(speedupVsBestPeer(1, {})).toEqual({ best: null, best_wall_s: null, speedup: null });
    expect(speedupVsBestPeer(1, { a: { wall_s: 3, status: 'failed' } }).speedup).toBeNull();
    expect(speedupVsBestPeer(null, { a: { wall_s: 3, status: 'succeeded' } })).toEqual({ best: 'a', best_wall_s: 3, speedup: null });
    expect(speedupVsBestPeer(0, { a: { wall_s: 3, status: 'succeeded' } }).speedup).toBeNull();
  });
});
