/**
 * The ready nodes of a run, kept sorted by admission priority (the position
 * in `tsort` or `mem_thread` order; map elements get fractional priorities
 * right after their map node). Pure.
 */
export class ReadySet implements Iterable<number> {
  private readonly items: number[] = [];
  private readonly priority: number[] = [];

  /** Sets a node's priority; priorities are unique. */
  setPriority(index: number, priority: number): void {
    this.priority[index] = priority;
  }

  priorityOf(index: number): number {
    return this.priority[index] ?? 0;
  }

  get size(): number {
    return this.items.length;
  }

  private position(index: number): number {
    const p = this.priorityOf(index);
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.priorityOf(this.items[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(index: number): void {
    this.items.splice(this.position(index), 0, index);
  }

  delete(index: number): void {
    // Priorities are unique, so binary search finds the node's slot.
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
