/**
 * What hosts hold and have free, from the nodes in flight and the hosts'
 * declared capacities (pure: no Redis).
 */
import { describe, expect, it } from 'vitest';
import { sumHeld, withUsage, type HeldNode } from '../../src/shared/held-resources.js';
import type { ListedHost } from '../../src/shared/worker-registry.js';

function host(id: string, capacity: ListedHost['capacity'], status: 'alive' | 'lost' = 'alive'): ListedHost {
  return { host_id: id, status, capacity, labels: {}, disagreeing: [], workers: [], running: 0, heartbeat_ms: 0 };
}

const held: HeldNode[] = [
  { run_id: 'r1', node_id: 'g1', host: 'a', n_procs: 1, mem_gb: 0.5, resources: { gpu: 1 } },
  { run_id: 'r2', node_id: 'g2', host: 'a', n_procs: 2, mem_gb: 1.25, resources: { gpu: 1, licence_x: 1 } },
  { run_id: 'r1', node_id: 'p', host: 'b', n_procs: 3, mem_gb: 2, resources: {} },
  { run_id: 'r3', node_id: 'pooled', host: null, n_procs: 1, mem_gb: 1, resources: {} },
];

describe('held resources per host', () => {
  it('sums what nodes hold, named resources per name', () => {
    expect(sumHeld(held)).toEqual({ n_procs: 7, mem_gb: 4.75, resources: { gpu: 2, licence_x: 1 } });
    expect(sumHeld([])).toEqual({ n_procs: 0, mem_gb: 0, resources: {} });
  });

  it('gives each host what the nodes placed on it hold and what is left of its capacity; pooled nodes count on no host', () => {
    const hosts = withUsage([host('a', { n_procs: 4, mem_gb: 8, resources: { gpu: 2 } }), host('b', { n_procs: 4, mem_gb: 4, resources: {} }), host('c', null, 'lost')], held);
    expect(hosts.map((h) => [h.host_id, h.held, h.free])).toEqual([
      ['a', { n_procs: 3, mem_gb: 1.75, resources: { gpu: 2, licence_x: 1 } }, { n_procs: 1, mem_gb: 6.25, resources: { gpu: 0 } }],
      ['b', { n_procs: 3, mem_gb: 2, resources: {} }, { n_procs: 1, mem_gb: 2, resources: {} }],
      ['c', { n_procs: 0, mem_gb: 0, resources: {} }, null],
    ]);
  });
});
