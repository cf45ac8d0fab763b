/**
 * The clustering engine: applies tweets (id, text, time, unit vector) to the CF-tree in order
 * and keeps a summary per cluster. Deterministic: the same sequence of tweets gives the same
 * state, so a log replay rebuilds it exactly. No clock, no I/O: the caller gives each tweet's time.
 *
 * A cluster is a leaf entry of the CF-tree; its id is the entry's stable id.
 */
import { CFTree, type CFTreeState, type TreeShape } from '../birch/cftree.js';
import { groupEntries } from '../birch/global.js';
import { arr, num, StateError, type StateParts, strs, unnum } from './state.js';
import { TopK } from './topk.js';

export interface EngineOptions {
  /** Vector dimension (the embedder's). */
  dim: number;
  /** BIRCH radius threshold T: for unit vectors two tweets merge when cos >= 1 - 2T^2. */
  threshold: number;
  /** Entries per CF-tree node. */
  branchingFactor: number;
  /** When set, clusters absorb tweets by cosine to their centroid instead of by radius. */
  minSimilarity?: number;
  /** Counters in each cluster's top-terms sketch (Space-Saving). */
  termSketchSize?: number;
  /**
   * A cluster with no tweet for this many milliseconds of tweet time leaves the tree. 0 or
   * undefined: never. See `apply` for when the sweep runs.
   */
  expiryMs?: number;
}

export interface TweetInput {
  id: string;
  /** The cluster's example while no later tweet is more typical of it (see `apply`). */
  text?: string;
  /** Milliseconds since the epoch (the tweet's created_at, or its arrival time). */
  time: number;
  /** Unit-length vector of the engine's dimension. */
  vector: ArrayLike<number>;
  /** Content terms of the text (for the cluster's top terms). */
  terms?: readonly string[];
}

export interface Assignment {
  id: string;
  cluster: number;
  /** The tweet started a new cluster. */
  created: boolean;
  /** Cosine similarity between the tweet and its cluster's centroid after the insert. */
  similarity: number;
}

export interface ClusterSummary {
  id: number;
  size: number;
  /**
   * Mean cosine similarity of the cluster's tweets to its centroid direction: for unit vectors
   * x_i with centroid c = LS/n, mean_i x_i.c/|c| = LS.c/(n|c|) = |c|. 1 = identical tweets.
   */
  cohesion: number;
  firstSeen: number;
  lastSeen: number;
  terms: { term: string; count: number }[];
  example: string | undefined;
}

interface ClusterState {
  firstSeen: number;
  lastSeen: number;
  terms: TopK;
  example: string | undefined;
  /** Similarity to the centroid, at its insert, of the tweet kept as the example. */
  exampleSimilarity: number;
}

export class ClusterEngine {
  readonly tree: CFTree;
  readonly dim: number;
  private readonly sketchSize: number;
  private readonly state = new Map<number, ClusterState>();
  private _tweets = 0;
  private _expired = 0;
  private _expiryMs: number;
  /** The latest tweet time applied: the engine's clock, for expiry. */
  private _now = Number.NEGATIVE_INFINITY;
  private nextSweep = Number.NEGATIVE_INFINITY;
  private readonly centroid: Float64Array;

  constructor(opts: EngineOptions) {
    this.tree = new CFTree({
      dim: opts.dim,
      threshold: opts.threshold,
      branchingFactor: opts.branchingFactor,
      minSimilarity: opts.minSimilarity,
    });
    this.dim = opts.dim;
    this.sketchSize = opts.termSketchSize ?? 32;
    this._expiryMs = checkExpiry(opts.expiryMs ?? 0);
    this.centroid = new Float64Array(opts.dim);
  }

  /** The latest tweet time applied (ms since the epoch); -Infinity before the first tweet. */
  get now(): number {
    return this._now;
  }

  /** Clusters removed by expiry so far. */
  get expired(): number {
    return this._expired;
  }

  get expiryMs(): number {
    return this._expiryMs;
  }

  /** Changes the expiry window; the next tweet sweeps with the new one. */
  set expiryMs(ms: number) {
    this._expiryMs = checkExpiry(ms);
    this.nextSweep = Number.NEGATIVE_INFINITY;
  }

  /** Tweets applied. */
  get tweets(): number {
    return this._tweets;
  }

  /** Clusters in the tree. */
  get clusterCount(): number {
    return this.tree.size;
  }

  shape(): TreeShape {
    return this.tree.shape();
  }

  /** Applies one tweet: inserts its vector, updates its cluster's summary, answers its cluster. */
  apply(t: TweetInput): Assignment {
    if (t.vector.length !== this.dim)
      throw new RangeError(`vector has dimension ${t.vector.length}, the engine expects ${this.dim}`);
    // a NaN or infinity would poison its cluster's centroid and every ancestor's: refuse it whole
    for (let i = 0; i < this.dim; i++) {
      if (!Number.isFinite(t.vector[i])) throw new RangeError(`vector has a non-finite value at ${i}`);
    }
    if (!Number.isFinite(t.time)) throw new RangeError(`time must be a finite number, got ${t.time}`);
    if (t.time > this._now) this._now = t.time;
    // Expiry runs here, driven by the tweets' own clock and not by a timer, so that the same
    // tweets in the same order always give the same tree (a log replay depends on it). It sweeps
    // at most once per 1/60 of the window of tweet time: a cluster outlives its window by at
    // most that much, and a sweep (O(clusters)) is rare even when a backlog replays fast.
    if (this._expiryMs > 0 && this._now >= this.nextSweep) {
      this.expireBefore(this._now - this._expiryMs);
      this.nextSweep = this._now + this._expiryMs / 60;
    }
    const cluster = this.tree.insert(t.vector);
    const created = this.tree.lastCreated;
    const similarity = this.tree.lastSimilarity(t.vector);
    let s = this.state.get(cluster);
    if (s === undefined) {
      // the first tweet is its cluster's centroid (similarity 1): it stands as the example
      // only until a second tweet, the most typical so far, replaces it
      s = {
        firstSeen: t.time,
        lastSeen: t.time,
        terms: new TopK(this.sketchSize),
        example: t.text,
        exampleSimilarity: Number.NEGATIVE_INFINITY,
      };
      this.state.set(cluster, s);
    } else {
      // out-of-order tweets widen the window instead of moving it backwards
      if (t.time < s.firstSeen) s.firstSeen = t.time;
      if (t.time > s.lastSeen) s.lastSeen = t.time;
      // The example: the tweet nearest the centroid as it was when the tweet arrived. A cheap
      // stand-in for "nearest the current centroid", which needs the tweets' vectors kept.
      if (t.text !== undefined && t.text !== '' && similarity > s.exampleSimilarity) {
        s.example = t.text;
        s.exampleSimilarity = similarity;
      }
    }
    if (t.terms) {
      // a term counts once per tweet: a cluster's terms are "in how many of its tweets"
      const terms = t.terms;
      for (let i = 0; i < terms.length; i++) {
        if (terms.indexOf(terms[i]) === i) s.terms.add(terms[i]);
      }
    }
    this._tweets++;
    return { id: t.id, cluster, created, similarity };
  }

  /**
   * Removes every cluster whose last tweet is older than `cutoff` (ms): its CF leaves the tree
   * and its summary goes. Returns the ids removed, oldest id first.
   */
  expireBefore(cutoff: number): number[] {
    const gone: number[] = [];
    for (const [id, s] of this.state) {
      if (s.lastSeen < cutoff) gone.push(id);
    }
    for (const id of gone) {
      this.tree.remove(id);
      this.state.delete(id);
    }
    this._expired += gone.length;
    return gone;
  }

  /** The nearest cluster to a vector and its similarity, without changing anything. */
  predict(vector: ArrayLike<number>): { cluster: number; similarity: number } | undefined {
    if (vector.length !== this.dim)
      throw new RangeError(`vector has dimension ${vector.length}, the engine expects ${this.dim}`);
    const cluster = this.tree.nearest(vector);
    if (cluster < 0) return undefined;
    return { cluster, similarity: this.tree.similarity(cluster, vector) };
  }

  cluster(id: number, termCount = 10): ClusterSummary | undefined {
    const s = this.state.get(id);
    if (s === undefined || !this.tree.has(id)) return undefined;
    return this.summarise(id, s, this.tree.count(id), termCount);
  }

  /** Every cluster, in no particular order. */
  *clusters(termCount = 10): IterableIterator<ClusterSummary> {
    for (const [id, n] of this.tree.sizes()) {
      const s = this.state.get(id);
      if (s) yield this.summarise(id, s, n, termCount);
    }
  }

  /** The `n` largest clusters (ties: older id first); only those are summarised. */
  largest(n: number, termCount = 10): ClusterSummary[] {
    const all = [...this.tree.sizes()];
    all.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const out: ClusterSummary[] = [];
    for (const [id, size] of all.slice(0, n)) {
      const s = this.state.get(id);
      if (s) out.push(this.summarise(id, s, size, termCount));
    }
    return out;
  }

  /**
   * BIRCH's global step: groups the clusters into topics, by a target count or a minimum
   * average cosine similarity. Returns cluster id -> topic number.
   */
  topics(opts: { nClusters?: number; threshold?: number }): Map<number, number> {
    const { ids, n, ls } = this.tree.linearSums();
    const groups = groupEntries({ n, ls, count: ids.length, dim: this.dim }, opts);
    const out = new Map<number, number>();
    for (let k = 0; k < ids.length; k++) out.set(ids[k], groups[k]);
    return out;
  }

  /**
   * The whole engine as snapshot parts: the tree's records and index, every cluster's summary
   * (columns in the summaries' Map order, which is observable), the clock and counters.
   */
  exportState(): StateParts {
    const out: StateParts = { json: {}, arrays: {} };
    const t = this.tree.exportState();
    out.arrays['tree.nodes'] = t.nodes;
    out.arrays['tree.free'] = t.free;
    out.arrays['tree.locIds'] = t.locIds;
    out.arrays['tree.locPos'] = t.locPos;
    const n = this.state.size;
    const ids = new Float64Array(n);
    const first = new Float64Array(n);
    const last = new Float64Array(n);
    const exSim = new Float64Array(n);
    const termCounts = new Uint32Array(n);
    const examples: (string | null)[] = [];
    const items: string[] = [];
    const counts: number[] = [];
    const errors: number[] = [];
    let k = 0;
    for (const [id, s] of this.state) {
      ids[k] = id;
      first[k] = s.firstSeen;
      last[k] = s.lastSeen;
      // -Infinity until a second tweet: kept as the float it is, no JSON involved
      exSim[k] = s.exampleSimilarity;
      examples.push(s.example ?? null);
      const r = s.terms.raw();
      termCounts[k] = r.items.length;
      items.push(...r.items);
      counts.push(...r.counts);
      errors.push(...r.errors);
      k++;
    }
    Object.assign(out.arrays, {
      'clusters.ids': ids,
      'clusters.firstSeen': first,
      'clusters.lastSeen': last,
      'clusters.exampleSimilarity': exSim,
      'clusters.termCounts': termCounts,
      'clusters.counts': Float64Array.from(counts),
      'clusters.errors': Float64Array.from(errors),
    });
    out.json = {
      tree: t.meta,
      examples,
      terms: items,
      sketchSize: this.sketchSize,
      tweets: this._tweets,
      expired: this._expired,
      expiryMs: this._expiryMs,
      now: num(this._now),
      nextSweep: num(this.nextSweep),
    };
    return out;
  }

  /** An engine from `exportState()`; throws StateError when the parts do not fit together. */
  static fromState(parts: StateParts): ClusterEngine {
    const j = parts.json;
    const meta = j.tree as CFTreeState['meta'];
    if (typeof meta !== 'object' || meta === null) throw new StateError('state: the tree is missing');
    let tree: CFTree;
    try {
      tree = CFTree.fromState({
        meta,
        nodes: arr(parts, 'tree.nodes', Float64Array),
        free: arr(parts, 'tree.free', Float64Array),
        locIds: arr(parts, 'tree.locIds', Float64Array),
        locPos: arr(parts, 'tree.locPos', Float64Array),
      });
    } catch (err) {
      throw err instanceof StateError ? err : new StateError((err as Error).message);
    }
    const engine = new ClusterEngine({
      dim: meta.dim,
      threshold: meta.threshold,
      branchingFactor: meta.branchingFactor,
      minSimilarity: meta.minSimilarity ?? undefined,
      termSketchSize: j.sketchSize as number,
      expiryMs: j.expiryMs as number,
    });
    (engine as { tree: CFTree }).tree = tree;
    const ids = arr(parts, 'clusters.ids', Float64Array);
    const first = arr(parts, 'clusters.firstSeen', Float64Array);
    const last = arr(parts, 'clusters.lastSeen', Float64Array);
    const exSim = arr(parts, 'clusters.exampleSimilarity', Float64Array);
    const termCounts = arr(parts, 'clusters.termCounts', Uint32Array);
    const counts = arr(parts, 'clusters.counts', Float64Array);
    const errors = arr(parts, 'clusters.errors', Float64Array);
    const examples = strs(j, 'examples');
    const items = strs(j, 'terms') as string[];
    const n = ids.length;
    if ([first, last, exSim, termCounts].some((a) => a.length !== n) || examples.length !== n)
      throw new StateError('state: cluster columns of different lengths');
    if (counts.length !== items.length || errors.length !== items.length)
      throw new StateError('state: term columns of different lengths');
    let at = 0;
    for (let k = 0; k < n; k++) {
      const m = termCounts[k];
      if (at + m > items.length) throw new StateError('state: term counts overrun the terms');
      engine.state.set(ids[k], {
        firstSeen: first[k],
        lastSeen: last[k],
        terms: TopK.fromRaw(
          engine.sketchSize,
          items.slice(at, at + m),
          Array.from(counts.subarray(at, at + m)),
          Array.from(errors.subarray(at, at + m)),
        ),
        example: examples[k] ?? undefined,
        exampleSimilarity: exSim[k],
      });
      at += m;
    }
    if (at !== items.length) throw new StateError('state: terms left over');
    engine._tweets = j.tweets as number;
    engine._expired = j.expired as number;
    engine._now = unnum(j.now);
    engine.nextSweep = unnum(j.nextSweep);
    return engine;
  }

  /** The top terms of a group of clusters (a topic): their sketches merged. */
  groupTerms(ids: readonly number[], termCount = 10): { term: string; count: number }[] {
    const merged = new TopK(this.sketchSize);
    let size = 0;
    for (const id of ids) {
      const s = this.state.get(id);
      if (s === undefined) continue;
      merged.merge(s.terms);
      size += this.tree.count(id);
    }
    return shownTerms(merged, size, termCount);
  }

  private summarise(id: number, s: ClusterState, size: number, termCount: number): ClusterSummary {
    this.tree.centroidInto(id, this.centroid);
    let sq = 0;
    for (let i = 0; i < this.dim; i++) sq += this.centroid[i] * this.centroid[i];
    return {
      id,
      size,
      cohesion: Math.min(1, Math.sqrt(sq)),
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      terms: shownTerms(s.terms, size, termCount),
      example: s.example,
    };
  }
}

function shownTerms(sketch: TopK, size: number, termCount: number): { term: string; count: number }[] {
  return (
    sketch
      .reliable(termCount)
      .map((t) => ({ term: t.item, count: t.count - t.error }))
      // A big, wordy cluster churns the sketch's counters: show only terms that surely appear in
      // a fair share of its tweets (2 of them and 5%), not whichever words arrived last.
      .filter((t) => t.count >= Math.min(size, Math.max(2, Math.ceil(0.05 * size))))
  );
}

function checkExpiry(ms: number): number {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`expiry must be >= 0 ms, got ${ms}`);
  return ms;
}
