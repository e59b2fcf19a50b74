/**
 * The ready nodes of a run, kept sorted by admission priority (the position
 * in `tsort` or `mem_thread` order; map elements get fractional priorities
 * right after their map node). Pure.
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
  private readonly priority: number[] = [];

  /** Sets a node's priority; priorities are unique. */
  setPriority(index: number, priority: number): void {
    this.priority[index] = priority;
  }

  priorityOf(index: number): number {
    return this.priority[index] ?? 0;
  }

  get size(): number {
    return this.count;
  }

  /** The first block whose last entry has a priority >= p (or the last block). */
  private blockFor(p: number): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const block = this.blocks[mid] as number[];
      if (this.priorityOf(block[block.length - 1] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private positionIn(block: readonly number[], p: number): number {
    let lo = 0;
    let hi = block.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.priorityOf(block[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(index: number): void {
    const p = this.priorityOf(index);
    if (this.blocks.length === 0) {
      this.blocks.push([index]);
      this.count = 1;
      return;
    }
    const b = this.blockFor(p);
    const block = this.blocks[b] as number[];
    const at = this.positionIn(block, p);
    if (block[at] === index) return;
    block.splice(at, 0, index);
    this.count++;
    if (block.length > 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  delete(index: number): void {
    if (this.blocks.length === 0) return;
    const p = this.priorityOf(index);
    const b = this.blockFor(p);
    const block = this.blocks[b] as number[];
    // Priorities are unique, so binary search finds the node's slot.
    const at = this.positionIn(block, p);
    if (block[at] !== index) return;
    block.splice(at, 1);
    this.count--;
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
