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
import { arr, StateError, type StateParts, strs } from './state.js';

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
  private readonly ids: Fifo<SeenTweet>;
  private readonly held: Fifo<HeldTweet>;
  private _heldDropped = 0;
  private _idsDropped = 0;

  constructor(opts: { maxIds: number; maxHeld: number }) {
    this._maxIds = checkBound('maxIds', opts.maxIds);
    this._maxHeld = checkBound('maxHeld', opts.maxHeld);
    this.ids = new Fifo(this._maxIds);
    this.held = new Fifo(this._maxHeld);
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

  /** Held tweets dropped, oldest first, to stay within `maxHeld` (since this process started). */
  get heldDropped(): number {
    return this._heldDropped;
  }

  /** Remembered ids forgotten, oldest first, to stay within `maxIds` (since this process started). */
  get idsDropped(): number {
    return this._idsDropped;
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
      if (this.ids.size >= this._maxIds) this._idsDropped++;
      this.ids.set(t.id, { cluster: t.cluster, similarity: t.similarity });
    }
    if (this._maxHeld > 0) {
      if (this.held.size >= this._maxHeld) this._heldDropped++;
      this.held.set(t.id, { ...t, vector: hold(vector) });
    }
  }

  /** Remembered ids, oldest first. */
  idEntries(): IterableIterator<[string, SeenTweet]> {
    return this.ids.entries();
  }

  /** Refills the id tier (a snapshot's), oldest first. */
  restore(ids: readonly string[], cluster: Float64Array, similarity: Float64Array): void {
    this.ids.clear();
    for (let k = 0; k < ids.length; k++)
      this.ids.set(ids[k], { cluster: cluster[k], similarity: similarity[k] });
  }

  /** Appends one held tweet as it was (a snapshot's), vector included. */
  restoreHeld(t: HeldTweet): void {
    this.held.set(t.id, t);
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

/** Both tiers, in their order (oldest first), as snapshot parts. */
export function exportTweetMemory(m: TweetMemory): StateParts {
  const ids: string[] = [];
  const idCluster: number[] = [];
  const idSim: number[] = [];
  for (const [id, t] of m.idEntries()) {
    ids.push(id);
    idCluster.push(t.cluster);
    idSim.push(t.similarity);
  }
  const held = [...m.heldTweets()];
  const kinds = new Uint8Array(held.length);
  const lengths = new Uint32Array(held.length);
  let total = 0;
  for (const t of held) total += t.vector.values.length;
  const values = new Float32Array(total);
  const index = new Uint32Array(total);
  let at = 0;
  held.forEach((t, k) => {
    const v = t.vector;
    kinds[k] = v.kind === 'dense' ? 0 : 1;
    lengths[k] = v.values.length;
    values.set(v.values, at);
    if (v.kind === 'sparse') index.set(v.index, at);
    at += v.values.length;
  });
  return {
    json: {
      maxIds: m.maxIds,
      maxHeld: m.maxHeld,
      ids,
      heldIds: held.map((t) => t.id),
      heldText: held.map((t) => t.text),
      heldUser: held.map((t) => t.user ?? null),
      heldLang: held.map((t) => t.lang ?? null),
    },
    arrays: {
      idCluster: Float64Array.from(idCluster),
      idSimilarity: Float64Array.from(idSim),
      heldCluster: Float64Array.from(held.map((t) => t.cluster)),
      heldSimilarity: Float64Array.from(held.map((t) => t.similarity)),
      heldTime: Float64Array.from(held.map((t) => t.time)),
      heldKind: kinds,
      heldLength: lengths,
      heldValues: values,
      heldIndex: index,
    },
  };
}

/** A TweetMemory from `exportTweetMemory()`; `dim` is the engine's (for sparse vectors). */
export function importTweetMemory(parts: StateParts, dim: number): TweetMemory {
  const j = parts.json;
  const m = new TweetMemory({ maxIds: j.maxIds as number, maxHeld: j.maxHeld as number });
  const ids = strs(j, 'ids') as string[];
  const idCluster = arr(parts, 'idCluster', Float64Array);
  const idSim = arr(parts, 'idSimilarity', Float64Array);
  if (idCluster.length !== ids.length || idSim.length !== ids.length)
    throw new StateError('state: tweet id columns of different lengths');
  const heldIds = strs(j, 'heldIds') as string[];
  const text = strs(j, 'heldText') as string[];
  const user = strs(j, 'heldUser');
  const lang = strs(j, 'heldLang');
  const cluster = arr(parts, 'heldCluster', Float64Array);
  const sim = arr(parts, 'heldSimilarity', Float64Array);
  const time = arr(parts, 'heldTime', Float64Array);
  const kind = arr(parts, 'heldKind', Uint8Array);
  const len = arr(parts, 'heldLength', Uint32Array);
  const values = arr(parts, 'heldValues', Float32Array);
  const index = arr(parts, 'heldIndex', Uint32Array);
  const n = heldIds.length;
  if (
    [text, user, lang].some((a) => a.length !== n) ||
    [cluster, sim, time, kind, len].some((a) => a.length !== n)
  )
    throw new StateError('state: held tweet columns of different lengths');
  m.restore(ids, idCluster, idSim);
  let at = 0;
  for (let k = 0; k < n; k++) {
    const l = len[k];
    if (at + l > values.length) throw new StateError('state: held vectors overrun their values');
    const vector: HeldVector =
      kind[k] === 0
        ? { kind: 'dense', values: values.slice(at, at + l) }
        : { kind: 'sparse', dim, index: index.slice(at, at + l), values: values.slice(at, at + l) };
    m.restoreHeld({
      id: heldIds[k],
      cluster: cluster[k],
      similarity: sim[k],
      time: time[k],
      text: text[k],
      ...(user[k] !== null ? { user: user[k] as string } : {}),
      ...(lang[k] !== null ? { lang: lang[k] as string } : {}),
      vector,
    });
    at += l;
  }
  return m;
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

/**
 * A map that keeps its newest `max` keys. Evicting by `map.keys().next()` is O(1) on paper but
 * not in V8: deleted entries stay as holes at the front of the table until it is rebuilt, and
 * finding the first live key walks them (measured: 12 µs a delete growing to 230 µs at 10^6
 * keys). So the keys also sit in a ring in arrival order, and the oldest is deleted by name.
 */
class Fifo<V> {
  private readonly max: number;
  private readonly map = new Map<string, V>();
  private readonly ring: string[] = [];
  private head = 0;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(k: string): V | undefined {
    return this.map.get(k);
  }

  set(k: string, v: V): void {
    if (this.map.has(k)) {
      // a known key keeps its place in the arrival order
      this.map.set(k, v);
      return;
    }
    if (this.ring.length < this.max) {
      this.ring.push(k);
    } else {
      this.map.delete(this.ring[this.head]);
      this.ring[this.head] = k;
      this.head = (this.head + 1) % this.max;
    }
    this.map.set(k, v);
  }

  clear(): void {
    this.map.clear();
    this.ring.length = 0;
    this.head = 0;
  }

  /** Oldest first. */
  *entries(): IterableIterator<[string, V]> {
    const n = this.ring.length;
    for (let i = 0; i < n; i++) {
      const k = this.ring[(this.head + i) % n];
      yield [k, this.map.get(k) as V];
    }
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }
}

function checkBound(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be an integer >= 0, got ${v}`);
  return v;
}
