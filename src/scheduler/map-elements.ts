/**
 * Map elements are identified by their mapped values, not their position:
 * the map node's directory keeps an index `mapflow/_flowgate_elements.json`
 * from the hash of an element's mapped values to its directory name
 * (`_<node><k>`, nipype's layout). An element whose values were seen before
 * gets its old directory back, with its cache record; a new one gets the
 * first free `_<node><k>`. So inserting a sample that sorts first reruns only
 * that sample's element, and the layout stays nipype's. The element id is its
 * directory name.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonical } from '../shared/cache-record.js';
import { sha256 } from '../shared/fingerprint.js';
import type { MapRecord } from './summary.js';

/** The index file's name in `<map node dir>/mapflow/`. */
export const ELEMENT_INDEX = '_flowgate_elements.json';

function readIndex(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  } catch {
    return {};
  }
}

/**
 * The elements of a planned map with ids and directories found by their
 * mapped values (`over`). Falls back to the positional plan when the index
 * cannot be written: element keys still hold the inputs, so that only loses
 * reuse, never correctness.
 */
export function identifyElements(parentId: string, nodeDir: string, over: readonly string[], plan: MapRecord): MapRecord {
  const mapflow = join(nodeDir, 'mapflow');
  const indexPath = join(mapflow, ELEMENT_INDEX);
  const index = readIndex(indexPath);
  const used = new Set(Object.values(index));
  const seen = new Map<string, number>();
  let next = 0;
  let changed = false;
  const elements = plan.elements.map((e) => {
    const base = sha256(canonical(Object.fromEntries(over.map((k) => [k, e.inputs[k] ?? null]))));
    // Equal values in one list are told apart by their occurrence.
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    const key = k === 0 ? base : `${base}#${k}`;
    let name = index[key];
    if (name === undefined) {
      while (used.has(`_${parentId}${next}`)) next++;
      name = `_${parentId}${next}`;
      used.add(name);
      index[key] = name;
      changed = true;
    }
    return { id: name, inputs: e.inputs, dir: join(mapflow, name) };
  });
  if (changed) {
    try {
      mkdirSync(mapflow, { recursive: true });
      const tmp = `${indexPath}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(index)}\n`);
      renameSync(tmp, indexPath);
    } catch {
      return plan;
    }
  }
  return { first: plan.first, elements };
}
