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

  /** Adds every count of `other` (merging two clusters' sketches). */
  merge(other: TopK): void {
    for (let i = 0; i < other.items.length; i++) this.add(other.items[i], other.counts[i]);
  }

  /** The `n` items with the highest counts, ties broken by item for determinism. */
  top(n = this.k): { item: string; count: number; error: number }[] {
    const order = this.items.map((_, i) => i);
    order.sort((a, b) => this.counts[b] - this.counts[a] || (this.items[a] < this.items[b] ? -1 : 1));
    return order
      .slice(0, n)
      .map((i) => ({ item: this.items[i], count: this.counts[i], error: this.errors[i] }));
  }
}
