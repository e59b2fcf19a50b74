/**
 * Workflow shapes for the scale benchmark, as v1 documents: every node runs
 * `true`, so only the shape of the graph matters.
 */

/** The shapes {@link scaleShape} builds. */
export const SCALE_SHAPES = ['wide-100k', 'layered-100k', 'chain-100k', 'layered-20k', 'chain-20k', 'cycle-200k', 'wide-1m'] as const;
export type ScaleShape = (typeof SCALE_SHAPES)[number];

interface Doc {
  name: string;
  nodes: Array<{ id: string; command: string[]; needs?: string[] }>;
}

/** `n` independent nodes. */
export function wide(n: number): Doc {
  return { name: 'wide', nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, command: ['true'] })) };
}

/**
 * `layers` layers of `width` nodes; each node after the first layer needs two
 * nodes of the layer before, picked pseudo-randomly (the same every time), so
 * that ancestries spread over whole layers within a few layers.
 */
export function layered(layers: number, width: number): Doc {
  const nodes: Doc['nodes'] = [];
  let seed = 1;
  const pick = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % width;
  };
  for (let l = 0; l < layers; l++) {
    for (let j = 0; j < width; j++) {
      const node: Doc['nodes'][number] = { id: `l${l}_${j}`, command: ['true'] };
      if (l > 0) {
        const a = pick();
        const b = width > 1 ? (a + 1 + (pick() % (width - 1))) % width : a;
        node.needs = a === b ? [`l${l - 1}_${a}`] : [`l${l - 1}_${a}`, `l${l - 1}_${b}`];
      }
      nodes.push(node);
    }
  }
  return { name: 'layered', nodes };
}

/** `n` nodes, each needing the one before; with `cycle`, the first also needs the last. */
export function chain(n: number, cycle = false): Doc {
  const nodes: Doc['nodes'] = Array.from({ length: n }, (_, i) => (i === 0 ? { id: 'n0', command: ['true'] } : { id: `n${i}`, command: ['true'], needs: [`n${i - 1}`] }));
  if (cycle && nodes[0] !== undefined) nodes[0].needs = [`n${n - 1}`];
  return { name: cycle ? 'cycle' : 'chain', nodes };
}

/** The document of a named shape. */
export function scaleShape(shape: ScaleShape): Doc {
  switch (shape) {
    case 'wide-100k':
      return wide(100_000);
    case 'layered-100k':
      return layered(100, 1000);
    case 'chain-100k':
      return chain(100_000);
    case 'layered-20k':
      return layered(20, 1000);
    case 'chain-20k':
      return chain(20_000);
    case 'cycle-200k':
      return chain(200_000, true);
    case 'wide-1m':
      return wide(1_000_000);
  }
}
