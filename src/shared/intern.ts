/**
 * Shared values by key, so that many records holding equal values hold one
 * object: a run's scheduler keeps every node's record for the whole run.
 * Bounded: past `limit` keys the table starts again (values already handed
 * out stay valid, they are only no longer shared with later ones).
 */
export class InternTable<V> {
  private readonly values = new Map<string, V>();

  constructor(private readonly limit: number) {}

  /** The value kept under `key`, made (and kept) when there is none. */
  get(key: string, make: () => V): V {
    const known = this.values.get(key);
    if (known !== undefined) return known;
    if (this.values.size >= this.limit) this.values.clear();
    const made = make();
    this.values.set(key, made);
    return made;
  }
}
