/**
 * A map that keeps its most recently used entries only: the board's memory
 * of what it read of large runs stays bounded however many runs are looked at.
 */
export class LruMap<K, V> {
  // A Map iterates in insertion order: the first key is the least recently used.
  private readonly entries = new Map<K, V>();

  /** @param capacity Entries kept at most (at least 1). */
  constructor(private readonly capacity: number) {}

  /** The value of `key`, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Keeps `value` under `key`, dropping the least recently used entries beyond the capacity. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= Math.max(1, this.capacity)) break;
      this.entries.delete(oldest);
    }
  }

  /** Forgets `key`. */
  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Entries kept now. */
  get size(): number {
    return this.entries.size;
  }
}
