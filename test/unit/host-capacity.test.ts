import { describe, expect, it } from 'vitest';
import { describeCapacity, parseCapacity, parseLabels } from '../../src/shared/host-capacity.js';

const here = (): { n_procs: number; mem_gb: number } => ({ n_procs: 2, mem_gb: 21.6 });

describe('parseCapacity', () => {
  it('reads threads, memory and named resources; missing ones default to this host', () => {
    expect(parseCapacity('procs=16,mem_gb=64,gpu=2,licence_x=1', here)).toEqual({ n_procs: 16, mem_gb: 64, resources: { gpu: 2, licence_x: 1 } });
    expect(parseCapacity('gpu=4', here)).toEqual({ n_procs: 2, mem_gb: 21.6, resources: { gpu: 4 } });
    expect(parseCapacity(' n_procs = 8 , mem_gb=0.5 ', here)).toEqual({ n_procs: 8, mem_gb: 0.5, resources: {} });
    expect(parseCapacity('', here)).toEqual({ n_procs: 2, mem_gb: 21.6, resources: {} });
    expect(describeCapacity(parseCapacity('procs=16,mem_gb=64,gpu=2', here))).toBe('16 procs, 64 GB, gpu 2');
  });

  it('names the key and what was expected', () => {
    expect(() => parseCapacity('procs=0', here)).toThrow('capacity: procs must be a whole number from 1');
    expect(() => parseCapacity('procs=1.5', here)).toThrow('received "1.5"');
    expect(() => parseCapacity('mem_gb=-1', here)).toThrow('capacity: mem_gb must be a number of GB above 0');
    expect(() => parseCapacity('gpu=1.5', here)).toThrow('capacity: gpu must be a whole number of slots');
    expect(() => parseCapacity('GPU=1', here)).toThrow('"GPU" is not a resource name');
    expect(() => parseCapacity('memory_gb=1', here)).toThrow('"memory_gb" is not a resource name');
    expect(() => parseCapacity('gpu=1,gpu=2', here)).toThrow('"gpu" is given twice');
    expect(() => parseCapacity('gpu', here)).toThrow('"gpu" is not KEY=VALUE');
  });
});

describe('parseLabels', () => {
  it('reads key=value pairs and refuses bad ones by name', () => {
    expect(parseLabels('gpu=a100,zone=eu-1.b')).toEqual({ gpu: 'a100', zone: 'eu-1.b' });
    expect(() => parseLabels('gpu=')).toThrow('labels: gpu must be 1-64');
    expect(() => parseLabels('Zone=b')).toThrow('"Zone" is not a label name');
  });
});
