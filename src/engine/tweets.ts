/**
 * What the service remembers of tweets, in two bounded tiers, oldest first out:
 *
 *   ids   id -> (cluster, similarity)           the last `maxIds` ids: a repeated id is answered
 *                                               with its first cluster and not counted twice
 *   held  id -> text, time, user, lang, vector  the last `maxHeld` tweets, for GET /tweets/:id
 *
 * Both are Maps, whose iteration order is insertion order, so the oldest is always the first
 * key and eviction is O(1). A vector with few non-zeros (the hashed TF-IDF embedder gives ~10 of
 * 1024) is held sparse: 8 bytes per non-zero instead of 4 KB a tweet.
 */

export interface SeenTweet {
  cluster: number;
  similarity: number;
}

export interface HeldTweet {
  id: string;
  cluster: number;
  similarity: number;
  /** ms since the epoch */
  time: number;
  text: string;
  user?: string;
  lang?: string;
  vector: HeldVector;
}

export type HeldVector =
  | { kind: 'dense'; values: Float32Array }
  | { kind: 'sparse'; dim: number; index: Uint32Array; values: Float32Array };

export class TweetMemory {
  private _maxIds: number;
  private _maxHeld: number;
  private readonly ids = new Map<string, SeenTweet>();
  private readonly held = new Map<string, HeldTweet>();

  constructor(opts: { maxIds: number; maxHeld: number }) {
    this._maxIds = checkBound('maxIds', opts.maxIds);
    this._maxHeld = checkBound('maxHeld', opts.maxHeld);
  }

  get maxIds(): number {
    return this._maxIds;
  }

  get maxHeld(): number {
    return this._maxHeld;
  }

  /** Ids remembered. */
  get idCount(): number {
    return this.ids.size;
  }

  /** Tweets held with their text and vector. */
  get heldCount(): number {
    return this.held.size;
  }

  /** The first answer for this id, when it is remembered. */
  seen(id: string): SeenTweet | undefined {
    return this.ids.get(id) ?? this.held.get(id);
  }

  get(id: string): HeldTweet | undefined {
    return this.held.get(id);
  }

  /** Remembers an applied tweet; `vector` is copied (it may be a scratch buffer). */
  remember(t: Omit<HeldTweet, 'vector'>, vector: Float32Array): void {
    if (this._maxIds > 0) {
      this.ids.set(t.id, { cluster: t.cluster, similarity: t.similarity });
      if (this.ids.size > this._maxIds) this.ids.delete(this.ids.keys().next().value as string);
    }
    if (this._maxHeld > 0) {
      this.held.set(t.id, { ...t, vector: hold(vector) });
      if (this.held.size > this._maxHeld) this.held.delete(this.held.keys().next().value as string);
    }
  }

  /** Held tweets, oldest first. */
  heldTweets(): IterableIterator<HeldTweet> {
    return this.held.values();
  }

  /** Approximate bytes held (for /stats): keys, entries and vectors. */
  approxBytes(): number {
    let bytes = this.ids.size * 100;
    for (const t of this.held.values()) {
      bytes += 150 + 2 * t.text.length + t.vector.values.byteLength;
      if (t.vector.kind === 'sparse') bytes += t.vector.index.byteLength;
    }
    return bytes;
  }
}

/** The held vector as plain numbers again. */
export function denseVector(v: HeldVector): Float32Array {
  if (v.kind === 'dense') return v.values;
  const out = new Float32Array(v.dim);
  for (let k = 0; k < v.index.length; k++) out[v.index[k]] = v.values[k];
  return out;
}

function hold(x: Float32Array): HeldVector {
  let nnz = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) nnz++;
  // sparse costs 8 bytes a non-zero, dense 4 bytes a coordinate
  if (nnz * 2 >= x.length) return { kind: 'dense', values: Float32Array.from(x) };
  const index = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  for (let i = 0, k = 0; i < x.length; i++) {
    if (x[i] !== 0) {
      index[k] = i;
      values[k++] = x[i];
    }
  }
  return { kind: 'sparse', dim: x.length, index, values };
}

function checkBound(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be an integer >= 0, got ${v}`);
  return v;
}
