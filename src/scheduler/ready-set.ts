/**
 * The ready nodes of a run, kept sorted by admission order (`tsort` or
 * `mem_thread`, given as a comparator over node indices). Pure.
 *
 * A sorted list in blocks of at most {@link BLOCK} * 2 entries: adding or
 * deleting costs a binary search over the blocks and a splice within one
 * block, never a move of the whole list, so a run that makes 100 000 nodes
 * ready at once and admits them one by one stays linear.
 */
const BLOCK = 512;

export class ReadySet implements Iterable<number> {
  /** Sorted blocks, none empty. */
  private blocks: number[][] = [];
  private count = 0;
  /** Members per group (see the constructor); groups with no member are dropped. */
  private readonly groups = new Map<string, number>();

  /**
   * `compare` orders two node indices; it must be a total order (no ties
   * between two nodes). `groupOf`, when given, names each index's group
   * (its resource grant), so that admission can tell in O(groups) whether
   * any member could fit.
   */
  constructor(
    private readonly compare: (a: number, b: number) => number,
    private readonly groupOf?: (index: number) => string,
  ) {}

  /** Members per group, for groups with members (empty without `groupOf`). */
  get groupSizes(): ReadonlyMap<string, number> {
    return this.groups;
  }

  private counted(index: number, by: 1 | -1): void {
    if (this.groupOf === undefined) return;
    const g = this.groupOf(index);
    const n = (this.groups.get(g) ?? 0) + by;
    if (n > 0) this.groups.set(g, n);
    else this.groups.delete(g);
  }

  get size(): number {
    return this.count;
  }

  /** The first block whose last entry does not come before `index` (or the last block). */
  private blockFor(index: number): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const block = this.blocks[mid] as number[];
      if (this.compare(block[block.length - 1] as number, index) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private positionIn(block: readonly number[], index: number): number {
    let lo = 0;
    let hi = block.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.compare(block[mid] as number, index) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(index: number): void {
    if (this.blocks.length === 0) {
      this.blocks.push([index]);
      this.count = 1;
      this.counted(index, 1);
      return;
    }
    const b = this.blockFor(index);
    const block = this.blocks[b] as number[];
    const at = this.positionIn(block, index);
    if (block[at] === index) return;
    block.splice(at, 0, index);
    this.count++;
    this.counted(index, 1);
    if (block.length > 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  delete(index: number): void {
    if (this.blocks.length === 0) return;
    const b = this.blockFor(index);
    const block = this.blocks[b] as number[];
    // The order is total, so binary search finds the node's slot.
    const at = this.positionIn(block, index);
    if (block[at] !== index) return;
    block.splice(at, 1);
    this.count--;
    this.counted(index, -1);
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  /** Indices in admission order (no copy: do not change the set while iterating). */
  *[Symbol.iterator](): Iterator<number> {
    for (const block of this.blocks) yield* block;
  }

  map<T>(fn: (index: number) => T): T[] {
    const out: T[] = [];
    for (const block of this.blocks) for (const i of block) out.push(fn(i));
    return out;
  }
}
