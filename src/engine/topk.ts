/**
 * Space-Saving top-k counting (Metwally, Agrawal, El Abbadi 2005) with k counters: memory is
 * bounded whatever the stream, any item whose true count exceeds N/k is guaranteed to be kept,
 * and each kept count over-estimates the true one by at most its recorded error.
 *
 * When a new item arrives and all k counters are taken, it replaces the item with the smallest
 * count and inherits that count (+1), the error it may carry. Sizes here are small (k <= 64),
 * so a linear scan for the minimum is faster than a heap and allocates nothing.
 */
export class TopK {
  readonly k: number;
  private items: string[] = [];
  private counts: number[] = [];
  private errors: number[] = [];
  private index = new Map<string, number>();

  constructor(k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.k = k;
  }

  get size(): number {
    return this.items.length;
  }

  /** The counters as they are (items, counts, errors in slot order), for a snapshot. */
  raw(): { items: readonly string[]; counts: readonly number[]; errors: readonly number[] } {
    return { items: this.items, counts: this.counts, errors: this.errors };
  }

  /** A sketch with exactly these counters (from `raw()`). */
  static fromRaw(k: number, items: string[], counts: number[], errors: number[]): TopK {
    if (items.length > k || counts.length !== items.length || errors.length !== items.length)
      throw new RangeError('TopK: counters do not fit the sketch');
    const t = new TopK(k);
    t.items = items;
    t.counts = counts;
    t.errors = errors;
    t.index = new Map(items.map((item, i) => [item, i]));
    if (t.index.size !== items.length) throw new RangeError('TopK: an item appears twice');
    return t;
  }

  add(item: string, by = 1): void {
    const at = this.index.get(item);
    if (at !== undefined) {
      this.counts[at] += by;
      return;
    }
    if (this.items.length < this.k) {
      this.index.set(item, this.items.length);
      this.items.push(item);
      this.counts.push(by);
      this.errors.push(0);
      return;
    }
    let min = 0;
    for (let i = 1; i < this.counts.length; i++) if (this.counts[i] < this.counts[min]) min = i;
    this.index.delete(this.items[min]);
    this.index.set(item, min);
    this.items[min] = item;
    this.errors[min] = this.counts[min];
    this.counts[min] += by;
  }

  /**
   * Merges `other` into this sketch so that the result bounds the concatenated stream (the
   * mergeable-summaries rule, Agarwal et al. 2012): an item's count is the sum of its counts in
   * both, where a full sketch lacks an item it may have dropped it with up to its smallest count,
   * so that is added as count and as error; then the k largest are kept.
   */
  merge(other: TopK): void {
    const floorA = this.items.length < this.k ? 0 : Math.min(...this.counts);
    const floorB = other.items.length < other.k ? 0 : Math.min(...other.counts);
    const merged = new Map<string, { count: number; error: number }>();
    for (let i = 0; i < this.items.length; i++) {
      const j = other.index.get(this.items[i]);
      merged.set(this.items[i], {
        count: this.counts[i] + (j === undefined ? floorB : other.counts[j]),
        error: this.errors[i] + (j === undefined ? floorB : other.errors[j]),
      });
    }
    for (let j = 0; j < other.items.length; j++) {
      if (merged.has(other.items[j])) continue;
      merged.set(other.items[j], { count: other.counts[j] + floorA, error: other.errors[j] + floorA });
    }
    const keep = [...merged]
      .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
      .slice(0, this.k);
    this.items = keep.map(([item]) => item);
    this.counts = keep.map(([, c]) => c.count);
    this.errors = keep.map(([, c]) => c.error);
    this.index = new Map(this.items.map((item, i) => [item, i]));
  }

  /**
   * The `n` items with the highest guaranteed counts (count - error, what the item surely had),
   * for display: in a busy sketch a newcomer inherits the evicted minimum, and ranking by raw
   * count would show whatever words arrived last.
   */
  reliable(n = this.k): TopItem[] {
    return this.ranked(n, (i) => this.counts[i] - this.errors[i]);
  }

  /** The `n` items with the highest counts, ties broken by item for determinism. */
  top(n = this.k): TopItem[] {
    return this.ranked(n, () => 0);
  }

  /** The first `n` items by `key` (descending), then count, then item. */
  private ranked(n: number, key: (i: number) => number): TopItem[] {
    const order = this.items.map((_, i) => i);
    order.sort(
      (a, b) =>
        key(b) - key(a) || this.counts[b] - this.counts[a] || (this.items[a] < this.items[b] ? -1 : 1),
    );
    return order
      .slice(0, n)
      .map((i) => ({ item: this.items[i], count: this.counts[i], error: this.errors[i] }));
  }
}

export interface TopItem {
  item: string;
  count: number;
  /** How much of `count` may come from items this counter replaced: count - error is sure. */
  error: number;
}
