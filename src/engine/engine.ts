/**
 * The clustering engine: applies tweets (id, text, time, unit vector) to the CF-tree in order
 * and keeps a summary per cluster. Deterministic: the same sequence of tweets gives the same
 * state, so a log replay rebuilds it exactly. No clock, no I/O: the caller gives each tweet's time.
 *
 * A cluster is a leaf entry of the CF-tree; its id is the entry's stable id.
 */
import { CFTree, type TreeShape } from '../birch/cftree.js';
import { groupEntries } from '../birch/global.js';
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

  constructor(opts: EngineOptions) {
    this.tree = new CFTree({
      dim: opts.dim,
      threshold: opts.threshold,
      branchingFactor: opts.branchingFactor,
      minSimilarity: opts.minSimilarity,
    });
    this.dim = opts.dim;
    this.sketchSize = opts.termSketchSize ?? 32;
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

  private summarise(id: number, s: ClusterState, size: number, termCount: number): ClusterSummary {
    return {
      id,
      size,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      terms: s.terms
        .reliable(termCount)
        .map((t) => ({ term: t.item, count: t.count - t.error }))
        // A big, wordy cluster churns the sketch's counters: show only terms that surely appear in
        // a fair share of its tweets (2 of them and 5%), not whichever words arrived last.
        .filter((t) => t.count >= Math.min(size, Math.max(2, Math.ceil(0.05 * size)))),
      example: s.example,
    };
  }
}
