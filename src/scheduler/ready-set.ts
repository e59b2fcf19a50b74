/**
 * The ready nodes of a run, kept sorted by admission order (`tsort` or
 * `mem_thread`, given as a comparator over node indices), and the same per
 * group of equal grants, with each group's first member. Pure.
 *
 * Each sorted list is kept in blocks of at most {@link BLOCK} * 2 entries:
 * adding or deleting costs a binary search over the blocks and a splice
 * within one block, never a move of the whole list, so a run that makes
 * 100 000 nodes ready at once and admits them one by one stays linear.
 */
const BLOCK = 512;

/** Node indices sorted by a total order, in blocks. */
class SortedBlocks implements Iterable<number> {
  /** Sorted blocks, none empty. */
  private blocks: number[][] = [];
  private count = 0;

  constructor(private readonly compare: (a: number, b: number) => number) {}

  get size(): number {
    return this.count;
  }

  /** The first entry, if any. */
  get first(): number | undefined {
    return this.blocks[0]?.[0];
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

  /** Where `index` is or would go in `block`: the first entry that does not come before it. */
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

  /** Adds `index`; false if it was there already. */
  add(index: number): boolean {
    if (this.blocks.length === 0) {
      this.blocks.push([index]);
      this.count = 1;
      return true;
    }
    const b = this.blockFor(index);
    const block = this.blocks[b] as number[];
    const at = this.positionIn(block, index);
    if (block[at] === index) return false;
    block.splice(at, 0, index);
    this.count++;
    if (block.length > 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
    return true;
  }

  /** Deletes `index`; false if it was not there. */
  delete(index: number): boolean {
    if (this.blocks.length === 0) return false;
    const b = this.blockFor(index);
    const block = this.blocks[b] as number[];
    // The order is total, so binary search finds the node's slot.
    const at = this.positionIn(block, index);
    if (block[at] !== index) return false;
    block.splice(at, 1);
    this.count--;
    if (block.length === 0) this.blocks.splice(b, 1);
    return true;
  }

  /** Entries after `after` in order (all of them when undefined; `after` need not be an entry). */
  *from(after: number | undefined): Generator<number> {
    let b = 0;
    let at = 0;
    if (after !== undefined && this.blocks.length > 0) {
      b = this.blockFor(after);
      const block = this.blocks[b] as number[];
      at = this.positionIn(block, after);
      if (block[at] === after) at++;
    }
    for (; b < this.blocks.length; b++, at = 0) {
      const block = this.blocks[b] as number[];
      for (; at < block.length; at++) yield block[at] as number;
    }
  }

  /** Entries in order (no copy: do not change the list while iterating). */
  *[Symbol.iterator](): Iterator<number> {
    for (const block of this.blocks) yield* block;
  }
}

export class ReadySet implements Iterable<number> {
  private readonly all: SortedBlocks;
  /** The members of each group (see the constructor); groups with no member are dropped. */
  private readonly members = new Map<string, SortedBlocks>();
  /** The first member of each group, in the same order. */
  private readonly heads: SortedBlocks;

  /**
   * `compare` orders two node indices; it must be a total order (no ties
   * between two nodes). `groupOf` names each index's group (its resource
   * grant: members of a group fit or do not fit alike), so that admission
   * visits one node a group rather than every ready node (see
   * {@link firstFitting}).
   */
  constructor(
    private readonly compare: (a: number, b: number) => number,
    private readonly groupOf: (index: number) => string,
  ) {
    this.all = new SortedBlocks(compare);
    this.heads = new SortedBlocks(compare);
  }

  get size(): number {
    return this.all.size;
  }

  add(index: number): void {
    if (!this.all.add(index)) return;
    const g = this.groupOf(index);
    let list = this.members.get(g);
    if (list === undefined) {
      list = new SortedBlocks(this.compare);
      this.members.set(g, list);
    }
    const head = list.first;
    list.add(index);
    if (head === undefined) this.heads.add(index);
    else if (this.compare(index, head) < 0) {
      this.heads.delete(head);
      this.heads.add(index);
    }
  }

  delete(index: number): void {
    if (!this.all.delete(index)) return;
    const g = this.groupOf(index);
    const list = this.members.get(g);
    if (list === undefined) return;
    const wasHead = list.first === index;
    list.delete(index);
    if (list.size === 0) this.members.delete(g);
    if (!wasHead) return;
    this.heads.delete(index);
    const next = list.first;
    if (next !== undefined) this.heads.add(next);
  }

  /**
   * The first ready node after `after` in admission order whose group
   * `fits` (from the start when undefined). Only each group's first member
   * is looked at: a group that does not fit has no member that does. In one
   * admission pass, where what is free only shrinks, calling this with the
   * node admitted last as `after` (and deleting it first) is first fit over
   * the whole ready list, at a cost in groups rather than ready nodes.
   */
  firstFitting(after: number | undefined, fits: (index: number) => boolean): number | undefined {
    for (const head of this.heads.from(after)) if (fits(head)) return head;
    return undefined;
  }

  /** Indices in admission order (no copy: do not change the set while iterating). */
  [Symbol.iterator](): Iterator<number> {
    return this.all[Symbol.iterator]();
  }

  map<T>(fn: (index: number) => T): T[] {
    const out: T[] = [];
    for (const i of this.all) out.push(fn(i));
    return out;
  }
}
