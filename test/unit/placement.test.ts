/**
 * Placement over hosts: best fit, named resource slots, host constraints,
 * host loss, and the pre-run check against the largest single host.
 */
import { describe, expect, it } from 'vitest';
import { cudaVisibleDevices, Placement, unplaceable, type Amounts, type HostSpec, type Placed, type Unplaced } from '../../src/scheduler/placement.js';

const host = (id: string, n_procs: number, mem_gb: number, resources?: Record<string, number>, labels?: Record<string, string>): HostSpec => ({
  id,
  capacity: { n_procs, mem_gb, ...(resources !== undefined ? { resources } : {}) },
  ...(labels !== undefined ? { labels } : {}),
});
const placed = (r: Placed | Unplaced): Placed => {
  if (!('host' in r)) throw new Error(`not placed: ${r.reason}`);
  return r;
};

describe('Placement', () => {
  it('places best fit: the host left with the least room, keeping big holes for big nodes', () => {
    const p = new Placement();
    p.setHost(host('big', 8, 32));
    p.setHost(host('small', 4, 16));
    expect(placed(p.place('a', { n_procs: 2, mem_gb: 1 })).host).toBe('small');
    expect(placed(p.place('b', { n_procs: 8, mem_gb: 8 })).host).toBe('big');
    expect(placed(p.place('c', { n_procs: 2, mem_gb: 1 })).host).toBe('small');
    const busy = p.place('d', { n_procs: 1, mem_gb: 1 });
    expect(busy).toMatchObject({ kind: 'busy' });
    expect((busy as Unplaced).reason).toContain('big: 0/8 procs');
    expect(p.release('b')).toBe(true);
    expect(placed(p.place('d', { n_procs: 1, mem_gb: 1 })).host).toBe('big');
    expect(p.release('nothing')).toBe(false);
    expect(() => p.place('d', { n_procs: 1, mem_gb: 1 })).toThrow(/already placed/);
  });

  it('memory decides when threads tie, and a node needing more memory than any free host waits', () => {
    const p = new Placement();
    p.setHost(host('a', 4, 8));
    p.setHost(host('b', 4, 4));
    expect(placed(p.place('x', { n_procs: 1, mem_gb: 3 })).host).toBe('b');
    expect(placed(p.place('y', { n_procs: 1, mem_gb: 3 })).host).toBe('a');
    expect(placed(p.place('z', { n_procs: 1, mem_gb: 5 })).host).toBe('a');
    expect(p.place('w', { n_procs: 1, mem_gb: 2 })).toMatchObject({ kind: 'busy' });
  });

  it('gives concurrent nodes on one host distinct named slots, and frees them on release', () => {
    const p = new Placement();
    p.setHost(host('g', 16, 64, { gpu: 4, licence_x: 1 }));
    const a = placed(p.place('a', { n_procs: 1, mem_gb: 1, resources: { gpu: 2 } }));
    const b = placed(p.place('b', { n_procs: 1, mem_gb: 1, resources: { gpu: 1, licence_x: 1 } }));
    expect(a.slots).toEqual({ gpu: [0, 1] });
    expect(b.slots).toEqual({ gpu: [2], licence_x: [0] });
    expect(cudaVisibleDevices(a)).toBe('0,1');
    expect(cudaVisibleDevices(b)).toBe('2');
    expect(p.place('c', { n_procs: 1, mem_gb: 1, resources: { licence_x: 1 } })).toMatchObject({ kind: 'busy' });
    p.release('a');
    const c = placed(p.place('c', { n_procs: 1, mem_gb: 1, resources: { gpu: 3 } }));
    expect(c.slots).toEqual({ gpu: [0, 1, 3] });
    expect(cudaVisibleDevices(placed(p.place('cpu', { n_procs: 1, mem_gb: 1 })))).toBeUndefined();
  });

  it('honours pins and label selectors, and says when nothing matches or fits', () => {
    const p = new Placement();
    p.setHost(host('a', 4, 16, undefined, { gpu: 'a100' }));
    p.setHost(host('b', 4, 16, { gpu: 1 }, { gpu: 't4' }));
    expect(placed(p.place('x', { n_procs: 1, mem_gb: 1 }, { labels: { gpu: 'a100' } })).host).toBe('a');
    expect(placed(p.place('y', { n_procs: 1, mem_gb: 1 }, { hosts: ['b'] })).host).toBe('b');
    expect(p.place('z', { n_procs: 1, mem_gb: 1 }, { labels: { gpu: 'h100' } })).toEqual({ kind: 'no_match', reason: 'no live host matches labels {gpu: h100} (live: a, b)' });
    expect(p.place('z', { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, { hosts: ['a'] })).toMatchObject({ kind: 'fits_nowhere' });
    expect(p.place('z', { n_procs: 1, mem_gb: 1, resources: { gpu: 2 } })).toMatchObject({ kind: 'fits_nowhere', reason: expect.stringContaining('no live host fits 1 procs, 1 GB, gpu 2') });
    expect(new Placement().place('z', { n_procs: 1, mem_gb: 1 })).toEqual({ kind: 'no_match', reason: 'no live host' });
  });

  it('a lost host leaves the budget and hands back the nodes it held; a host that comes back rejoins', () => {
    const p = new Placement();
    p.setHost(host('a', 4, 16, { gpu: 2 }));
    p.setHost(host('b', 2, 8));
    placed(p.place('x', { n_procs: 4, mem_gb: 1 }));
    placed(p.place('y', { n_procs: 2, mem_gb: 1 }));
    expect(p.total()).toEqual({ n_procs: 6, mem_gb: 24, resources: { gpu: 2 } });
    expect(p.removeHost('a')).toEqual(['x']);
    expect(p.removeHost('a')).toEqual([]);
    expect(p.total()).toEqual({ n_procs: 2, mem_gb: 8, resources: {} });
    expect(p.placedOn('x')).toBeUndefined();
    expect(p.place('z', { n_procs: 3, mem_gb: 1 })).toMatchObject({ kind: 'fits_nowhere' });
    p.setHost(host('a', 4, 16, { gpu: 2 }));
    expect(placed(p.place('z', { n_procs: 3, mem_gb: 1 })).host).toBe('a');
  });

  it('a host re-registering with new capacity keeps what it holds', () => {
    const p = new Placement();
    p.setHost(host('a', 4, 16, { gpu: 2 }));
    placed(p.place('x', { n_procs: 3, mem_gb: 1, resources: { gpu: 1 } }));
    p.setHost(host('a', 4, 16, { gpu: 2 }));
    expect(p.place('y', { n_procs: 2, mem_gb: 1 })).toMatchObject({ kind: 'busy' });
    expect(placed(p.place('y', { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).slots).toEqual({ gpu: [1] });
  });

  it('never exceeds any host in any dimension over random place/release sequences', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const hosts = [host('a', 4, 8, { gpu: 2 }), host('b', 8, 4), host('c', 2, 16, { gpu: 1, lic: 1 })];
    const p = new Placement();
    for (const h of hosts) p.setHost(h);
    const live = new Map<string, { host: string; req: Amounts; slots: Placed['slots'] }>();
    let placedCount = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      if (live.size > 0 && rand(3) === 0) {
        const key = [...live.keys()][rand(live.size)] as string;
        p.release(key);
        live.delete(key);
        continue;
      }
      const req: Amounts = { n_procs: 1 + rand(4), mem_gb: (1 + rand(8)) / 2, resources: rand(4) === 0 ? { gpu: 1 } : rand(6) === 0 ? { lic: 1 } : {} };
      const r = p.place(`n${i}`, req);
      if ('host' in r) {
        live.set(`n${i}`, { host: r.host, req, slots: r.slots });
        placedCount++;
      } else refused++;
      for (const h of hosts) {
        const on = [...live.values()].filter((l) => l.host === h.id);
        expect(on.reduce((s, l) => s + l.req.n_procs, 0)).toBeLessThanOrEqual(h.capacity.n_procs);
        expect(on.reduce((s, l) => s + l.req.mem_gb, 0)).toBeLessThanOrEqual(h.capacity.mem_gb + 1e-9);
        for (const name of ['gpu', 'lic']) {
          const slots = on.flatMap((l) => l.slots[name] ?? []);
          expect(new Set(slots).size).toBe(slots.length);
          expect(slots.every((s) => s < (h.capacity.resources?.[name] ?? 0))).toBe(true);
        }
      }
    }
    // Both paths were exercised: many placements, many refusals of a full fleet.
    expect(placedCount).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(100);
  });
});

describe('unplaceable (the pre-run check over hosts)', () => {
  const four = ['h1', 'h2', 'h3', 'h4'].map((id) => host(id, 4, 16, id === 'h4' ? { gpu: 1 } : undefined, id === 'h4' ? { gpu: 't4' } : undefined));

  it('compares each node with the largest single host, not the sum', () => {
    expect(unplaceable([{ id: 'ok', request: { n_procs: 4, mem_gb: 16 } }], four)).toEqual([]);
    expect(unplaceable([{ id: 'big', request: { n_procs: 2, mem_gb: 64 } }], four)).toEqual([
      { id: 'big', message: 'needs 64 GB (largest host h1: 16 GB); a node runs on one host, so the fleet\'s total does not help' },
    ]);
    expect(unplaceable([{ id: 'gpus', request: { n_procs: 1, mem_gb: 1, resources: { gpu: 2, tpu: 1 } } }], four)[0]?.message).toBe(
      "needs gpu 2 (largest host h4: 1) and tpu 1 (no host has any); a node runs on one host, so the fleet's total does not help",
    );
  });

  it('checks a node against the hosts its constraint allows', () => {
    expect(unplaceable([{ id: 'pinned', request: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, constraint: { hosts: ['h1', 'h2'] } }], four)[0]?.message).toContain('gpu 1 (no host has any)');
    expect(unplaceable([{ id: 'sel', request: { n_procs: 1, mem_gb: 1 }, constraint: { labels: { gpu: 'a100' } } }], four)).toEqual([
      { id: 'sel', message: 'no registered host matches labels {gpu: a100}' },
    ]);
    expect(unplaceable([{ id: 'ok', request: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, constraint: { labels: { gpu: 't4' } } }], four)).toEqual([]);
  });

  it('names a node that fits each dimension somewhere but all of them nowhere', () => {
    const hosts = [host('cpu', 16, 4), host('mem', 2, 64)];
    expect(unplaceable([{ id: 'both', request: { n_procs: 8, mem_gb: 32 } }], hosts)[0]?.message).toBe(
      "needs 8 procs, 32 GB all at once (no single host has all of it); a node runs on one host, so the fleet's total does not help",
    );
  });
});
