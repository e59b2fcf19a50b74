/**
 * The ready nodes of a run, kept sorted by admission order (`tsort` or
 * `mem_thread`, given as a comparator over node indices). Pure.
 */
export class ReadySet implements Iterable<number> {
  private readonly items: number[] = [];

  /** `compare` orders two node indices; it must be a total order (no ties between two nodes). */
  constructor(private readonly compare: (a: number, b: number) => number) {}

  get size(): number {
    return this.items.length;
  }

  private position(index: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.compare(this.items[mid] as number, index) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(index: number): void {
    this.items.splice(this.position(index), 0, index);
  }

  delete(index: number): void {
    // The order is total, so binary search finds the node's slot.
    const at = this.position(index);
    if (this.items[at] === index) this.items.splice(at, 1);
  }

  /** Indices in admission order (no copy: do not change the set while iterating). */
  [Symbol.iterator](): Iterator<number> {
    return this.items[Symbol.iterator]();
  }

  map<T>(fn: (index: number) => T): T[] {
    return this.items.map(fn);
  }
}
