/**
 * The clustering engine: applies tweets (id, text, time, unit vector) to the CF-tree in order
 * and keeps a summary per cluster. Deterministic: the same sequence of tweets gives the same
 * state, so a log replay rebuilds it exactly. No clock, no I/O: the caller gives each tweet's time.
 *
 * A cluster is a leaf entry of the CF-tree; its id is the entry's stable id.
 */
import { CFTree, type CFTreeState, type TreeShape } from '../birch/cftree.js';
import { DmmModel, type DmmOptions, type DmmState } from '../birch/dmm.js';
import { groupEntries } from '../birch/global.js';
import { murmur3Utf16 } from '../text/murmur3.js';
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
  /**
   * When set, a tweet's terms decide its cluster by the Dirichlet-multinomial test
   * (src/birch/dmm.ts), and stale outlier clusters are merged into the cluster they belong to
   * (recorded like a rebuild's merges, see `resolve`). The tree then runs in cosine mode
   * (`minSimilarity`, default 0, only shapes its descent and a rebuild) as the clusters' index.
   */
  dmm?: DmmOptions;
  /** Counters in each cluster's top-terms sketch (Space-Saving). */
  termSketchSize?: number;
  /**
   * A cluster with no tweet for this many milliseconds of tweet time leaves the tree. 0 or
   * undefined: never. See `apply` for when the sweep runs.
   */
  expiryMs?: number;
  /** Counters in each cluster's top-hashtags sketch (Space-Saving). */
  hashtagSketchSize?: number;
  /** Representative tweets shown per cluster (the closest to its centroid); default 3. */
  representatives?: number;
  /** Width of a cluster's timeline buckets (ms of tweet time); default 5 minutes. */
  bucketMs?: number;
  /** Buckets each cluster keeps, the newest last; default 36 (3 hours of 5 minutes). */
  bucketCount?: number;
  /** Half-life of the "recent" rate behind the growth score; default 15 minutes. */
  trendRecentMs?: number;
  /** Half-life of a cluster's baseline rate behind the growth score; default 6 hours. */
  trendBaselineMs?: number;
  /**
   * Clusters smaller than this are outliers: not a story yet (listings skip them, see
   * `isStory`). Default 1: every cluster counts.
   */
  minClusterSize?: number;
  /**
   * An outlier (smaller than `minClusterSize`) with no tweet for this many ms leaves the tree,
   * so that one-off tweets do not pile up. 0: outliers live as long as any cluster.
   */
  outlierExpiryMs?: number;
  /**
   * The most clusters the tree may hold (0: no limit). An insert that would exceed it loosens
   * the absorb threshold and rebuilds the tree from its leaf entries (see `rebuild`).
   */
  maxClusters?: number;
  /** Hooks for logs and metrics; not state. */
  events?: EngineEvents;
}

/** What a rebuild did: the threshold before and after, and the clusters before and after. */
export interface RebuildEvent {
  clustersBefore: number;
  clustersAfter: number;
  /** the absorb bound: cosine similarity in cosine mode, the radius in radius mode */
  thresholdBefore: number;
  thresholdAfter: number;
  /** rebuild passes until the tree fitted */
  passes: number;
  merged: number;
}

export interface EngineEvents {
  rebuilt?(e: RebuildEvent): void;
  /** A sweep removed clusters: `expired` by the expiry window, `outliers` by the outlier one. */
  swept?(expired: number, outliers: number): void;
  /** At MAX_CLUSTERS_IN_MEMORY, this many outliers were removed instead of a rebuild. */
  evicted?(outliers: number): void;
}

export interface TweetInput {
  id: string;
  /** The cluster's example while no later tweet is more typical of it (see `apply`). */
  text?: string;
  /** Milliseconds since the epoch (the tweet's created_at, or its arrival time). */
  time: number;
  /** Unit-length vector of the engine's dimension. */
  vector: ArrayLike<number>;
  /**
   * Content terms of the text (for the cluster's top terms). Terms that start with "#" are
   * hashtags: they go to the cluster's top hashtags instead.
   */
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
  hashtags: { term: string; count: number }[];
  /** The tweets closest to the centroid among those kept as candidates, closest first. */
  representatives: { id: string; text: string; similarity: number }[];
  /** The first representative's text. */
  example: string | undefined;
  /** Tweets per bucket, oldest first, up to the engine's clock (see `timeline`). */
  timeline: { start: number; count: number }[];
  /** Tweets of the last ~recent half-life, exponentially weighted. */
  recent: number;
  /** Growth score: see `growth`. */
  growth: number;
}

/** A representative candidate: a tweet of the cluster with its vector (sparse when sparse). */
interface Rep {
  id: string;
  text: string;
  /** indices of the non-zeros, or null when `val` is the whole dense vector */
  idx: Int32Array | null;
  val: Float32Array;
  /** |x|^2 */
  xx: number;
  /** cosine to the centroid, as of the cluster's last insert */
  sim: number;
}

interface ClusterState {
  firstSeen: number;
  lastSeen: number;
  terms: TopK;
  hashtags: TopK;
  reps: Rep[];
  /** absolute number (time / bucketMs) of the newest bucket in `buckets` */
  head: number;
  /** ring of bucket counts, bucket b at b mod bucketCount */
  buckets: Uint32Array;
  /** exponentially decayed tweet counts at time `tref`, with the recent and baseline half-lives */
  fast: number;
  slow: number;
  tref: number;
}

/** Seed of the DMM's term hashes ("dmm!"). */
const TERM_SEED = 0x646d6d21;
/** The pseudo-term of a tweet without terms. */
const NO_TERMS: readonly string[] = [''];
/** Candidates kept per cluster for every representative shown: the spare ones stand in when the centroid moves. */
const CANDIDATES_PER_REP = 2;
/** The growth score's prior: one tweet per hour, weighing as much as 15 minutes of history. */
const PRIOR_RATE = 1 / 3_600_000;
const PRIOR_MS = 15 * 60_000;
/** A rebuild aims below the cap by this factor, so that the next one is not one tweet away. */
const REBUILD_TARGET = 0.9;
/** Each rebuild pass in radius mode widens the radius by this factor, up to MAX_RADIUS. */
const REBUILD_STEP = 1.25;
/** Unit vectors are never farther than radius 1 from a centroid: at 1 everything would merge. */
const MAX_RADIUS = 0.95;

export class ClusterEngine {
  readonly tree: CFTree;
  readonly dim: number;
  private readonly sketchSize: number;
  private readonly tagSketchSize: number;
  private readonly repCount: number;
  private readonly bucketMs: number;
  private readonly bucketCount: number;
  private readonly recentMs: number;
  private readonly baselineMs: number;
  private _minClusterSize: number;
  private outlierMs: number;
  private _maxClusters: number;
  private readonly events: EngineEvents;
  private readonly state = new Map<number, ClusterState>();
  /** absorbed cluster id -> the id that absorbed it (resolved to a cluster in the tree when made) */
  private readonly mergedInto = new Map<number, number>();
  private _tweets = 0;
  private _expired = 0;
  private _outliers = 0;
  private _rebuilds = 0;
  private _merged = 0;
  private _expiryMs: number;
  /**
   * The absorb bounds as configured (cosine similarity, radius): a rebuild loosens the tree's
   * own, and they move back towards these when expiry leaves the tree well under its cap.
   */
  private _baseSimilarity: number | undefined;
  private _baseThreshold: number;
  /** The latest tweet time applied: the engine's clock, for expiry. */
  private _now = Number.NEGATIVE_INFINITY;
  private nextSweep = Number.NEGATIVE_INFINITY;
  private readonly centroid: Float64Array;
  /** The DMM absorb test, when on (see EngineOptions.dmm). */
  private dmm: DmmModel | undefined;
  /** Scratch of one tweet's distinct term hashes and their counts, for the DMM. */
  private termIds = new Uint32Array(64);
  private termCounts = new Float64Array(64);

  constructor(opts: EngineOptions) {
    this.tree = new CFTree({
      dim: opts.dim,
      threshold: opts.threshold,
      branchingFactor: opts.branchingFactor,
      minSimilarity: opts.dmm !== undefined ? (opts.minSimilarity ?? 0) : opts.minSimilarity,
    });
    this.dmm = opts.dmm === undefined ? undefined : new DmmModel(opts.dmm);
    this.dim = opts.dim;
    this.sketchSize = positiveInt('termSketchSize', opts.termSketchSize ?? 32);
    this.tagSketchSize = positiveInt('hashtagSketchSize', opts.hashtagSketchSize ?? 16);
    this.repCount = positiveInt('representatives', opts.representatives ?? 3);
    this.bucketMs = positive('bucketMs', opts.bucketMs ?? 300_000);
    this.bucketCount = positiveInt('bucketCount', opts.bucketCount ?? 36);
    this.recentMs = positive('trendRecentMs', opts.trendRecentMs ?? 15 * 60_000);
    this.baselineMs = positive('trendBaselineMs', opts.trendBaselineMs ?? 6 * 3_600_000);
    this._minClusterSize = positiveInt('minClusterSize', opts.minClusterSize ?? 1);
    this.outlierMs = checkExpiry(opts.outlierExpiryMs ?? 0);
    this._maxClusters = opts.maxClusters ?? 0;
    if (!Number.isInteger(this._maxClusters) || this._maxClusters < 0)
      throw new RangeError(`maxClusters must be an integer >= 0, got ${opts.maxClusters}`);
    this.events = opts.events ?? {};
    this._baseSimilarity = opts.minSimilarity;
    this._baseThreshold = opts.threshold;
    this._expiryMs = checkExpiry(opts.expiryMs ?? 0);
    this.centroid = new Float64Array(opts.dim);
  }

  /** The options that shape the state (what `fromState` needs to make the same engine again). */
  private shapeOptions() {
    return {
      sketchSize: this.sketchSize,
      tagSketchSize: this.tagSketchSize,
      repCount: this.repCount,
      bucketMs: this.bucketMs,
      bucketCount: this.bucketCount,
      recentMs: this.recentMs,
      baselineMs: this.baselineMs,
      minClusterSize: this._minClusterSize,
      outlierMs: this.outlierMs,
      maxClusters: this._maxClusters,
    };
  }

  /** The latest tweet time applied (ms since the epoch); -Infinity before the first tweet. */
  get now(): number {
    return this._now;
  }

  /** Clusters removed by the expiry window so far. */
  get expired(): number {
    return this._expired;
  }

  /** Outliers removed by the outlier window so far. */
  get outliersRemoved(): number {
    return this._outliers;
  }

  /** Rebuilds made to keep the tree within `maxClusters`. */
  get rebuilds(): number {
    return this._rebuilds;
  }

  /** Clusters absorbed by others in rebuilds. */
  get mergedClusters(): number {
    return this._merged;
  }

  /** Entries in the merge record (absorbed id -> survivor). */
  get mergeRecordSize(): number {
    return this.mergedInto.size;
  }

  get minClusterSize(): number {
    return this._minClusterSize;
  }

  /** Changes what counts as a story; outliers are swept by the new size from the next tweet. */
  set minClusterSize(n: number) {
    this._minClusterSize = positiveInt('minClusterSize', n);
    this.nextSweep = Number.NEGATIVE_INFINITY;
  }

  get outlierExpiryMs(): number {
    return this.outlierMs;
  }

  set outlierExpiryMs(ms: number) {
    this.outlierMs = checkExpiry(ms);
    this.nextSweep = Number.NEGATIVE_INFINITY;
  }

  get maxClusters(): number {
    return this._maxClusters;
  }

  /** The configured cosine bound (cosine mode; undefined in radius mode). */
  get baseSimilarity(): number | undefined {
    return this._baseSimilarity;
  }

  /** The configured radius threshold. */
  get baseThreshold(): number {
    return this._baseThreshold;
  }

  /**
   * Sets the configured absorb bounds, and the tree's with them (a live change of the
   * threshold): `similarity` only in cosine mode (null: leave it).
   */
  setBounds(similarity: number | null, threshold: number): void {
    if (similarity !== null && this.tree.minSimilarity !== undefined) {
      this.tree.minSimilarity = similarity;
      this._baseSimilarity = similarity;
    }
    this.tree.threshold = threshold;
    this._baseThreshold = threshold;
  }

  /** Changes the cap; a tree over the new cap rebuilds at the next tweet. */
  set maxClusters(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`maxClusters must be an integer >= 0, got ${n}`);
    this._maxClusters = n;
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

  /** Clusters in the tree (outliers included). */
  get clusterCount(): number {
    return this.tree.size;
  }

  /** Clusters of at least `minClusterSize` tweets: the stories. */
  get storyCount(): number {
    if (this._minClusterSize <= 1) return this.tree.size;
    let n = 0;
    for (const [, size] of this.tree.sizes()) if (size >= this._minClusterSize) n++;
    return n;
  }

  shape(): TreeShape {
    return this.tree.shape();
  }

  /**
   * The cluster an id stands for now: itself while it is in the tree, else the cluster that
   * absorbed it in a rebuild (followed through later rebuilds), else undefined (expired, or
   * never made).
   */
  resolve(id: number): number | undefined {
    if (this.tree.has(id)) return id;
    const to = this.mergedInto.get(id);
    return to !== undefined && this.tree.has(to) ? to : undefined;
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
    // at most once per 1/60 of the shortest window of tweet time: a cluster outlives its window
    // by at most that much, and a sweep (O(clusters)) is rare even when a backlog replays fast.
    if (this._now >= this.nextSweep) {
      const window = sweepWindow(this._expiryMs, this.outlierMs);
      if (window > 0) {
        this.sweep();
        this.nextSweep = this._now + window / 60;
      } else {
        this.nextSweep = Number.POSITIVE_INFINITY;
      }
    }
    let cluster: number;
    if (this.dmm !== undefined) {
      // the clock of the DMM's recency is the count of tweets, this one included
      const now = this._tweets + 1;
      const n = this.distinctTerms(t.terms);
      cluster = this.tree.insertAt(t.vector, this.dmm.choose(this.termIds, this.termCounts, n, now));
      this.dmm.add(cluster, this.termIds, this.termCounts, n, now);
    } else {
      cluster = this.tree.insert(t.vector);
    }
    let created = this.tree.lastCreated;
    let similarity = this.tree.lastSimilarity(t.vector);
    let s = this.state.get(cluster);
    if (s === undefined) {
      s = this.newState(t.time);
      this.state.set(cluster, s);
    } else {
      // out-of-order tweets widen the window instead of moving it backwards
      if (t.time < s.firstSeen) s.firstSeen = t.time;
      if (t.time > s.lastSeen) s.lastSeen = t.time;
    }
    this.count(s, t.time);
    if (t.terms) {
      // a term counts once per tweet: a cluster's terms are "in how many of its tweets"
      const terms = t.terms;
      for (let i = 0; i < terms.length; i++) {
        const term = terms[i];
        if (terms.indexOf(term) !== i) continue;
        if (term.charCodeAt(0) === 35 /* # */) s.hashtags.add(term);
        else s.terms.add(term);
      }
    }
    this.offerRep(cluster, s, t, similarity);
    this._tweets++;
    let merged = false;
    if (this.dmm !== undefined && this.dmm.outlierSize > 1 && this._tweets % this.outlierEvery() === 0) {
      this.reabsorbOutliers();
      merged = true;
    }
    if (this._maxClusters > 0 && this.tree.size > this._maxClusters) {
      // BIRCH's outlier handling first: the oldest clusters too small to be stories go, and
      // only when they are not enough is the threshold loosened
      if (!this.evictOutliers(cluster)) this.rebuild();
      merged = true;
    }
    if (merged) {
      const to = this.resolve(cluster);
      if (to !== undefined && to !== cluster) {
        cluster = to;
        created = false;
      }
      // its cluster may have absorbed others even when it survived: the centroid moved
      similarity = this.tree.similarity(cluster, t.vector);
    }
    return { id: t.id, cluster, created, similarity };
  }

  /**
   * The distinct terms of a tweet as 32-bit hashes with their counts, into the scratch arrays;
   * returns how many. A tweet without terms (only stop words, or none) gets one pseudo-term, so
   * such tweets gather in one cluster instead of joining whichever cluster is largest.
   */
  private distinctTerms(terms: readonly string[] | undefined): number {
    const list = terms === undefined || terms.length === 0 ? NO_TERMS : terms;
    if (this.termIds.length < list.length) {
      this.termIds = new Uint32Array(2 * list.length);
      this.termCounts = new Float64Array(2 * list.length);
    }
    const ids = this.termIds;
    const counts = this.termCounts;
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const h = murmur3Utf16(list[i], TERM_SEED);
      let j = 0;
      while (j < n && ids[j] !== h) j++;
      if (j < n) counts[j]++;
      else {
        ids[n] = h;
        counts[n++] = 1;
      }
    }
    return n;
  }

  /** Tweets between two outlier sweeps: a half-life, so an outlier waits 2 to 3 of them. */
  private outlierEvery(): number {
    return Math.max(1, Math.ceil((this.dmm as DmmModel).halfLife));
  }

  /**
   * BIRCH's re-absorption of outliers, by the DMM: each stale small cluster (see
   * DmmModel.staleOutliers) joins the cluster its tweets belong in (DmmModel.bestPartner), as
   * a rebuild's merges do: its summary merges into the survivor and the merge is recorded, so
   * its id still answers (`resolve`). One with no term in common with any cluster stays.
   */
  private reabsorbOutliers(): void {
    const dmm = this.dmm as DmmModel;
    const now = this._tweets;
    const merged = new Map<number, number>();
    for (const from of dmm.staleOutliers(now)) {
      const to = dmm.bestPartner(from);
      if (to < 0) continue;
      this.tree.absorbInto(from, to);
      dmm.merge(from, to, now);
      const a = this.state.get(from);
      const b = this.state.get(to);
      if (a !== undefined && b !== undefined) {
        this.mergeState(b, a);
        this.rescoreReps(to, b);
      }
      this.state.delete(from);
      this.mergedInto.set(from, to);
      merged.set(from, to);
    }
    if (merged.size === 0) return;
    this._merged += merged.size;
    // records that led to a cluster merged now lead to its survivor (chains within this sweep too)
    for (const [from, to] of this.mergedInto) {
      let f = to;
      for (let hop = 0; hop < 1000 && merged.has(f); hop++) f = merged.get(f) as number;
      if (f !== to) this.mergedInto.set(from, f);
    }
    // bounded as a rebuild bounds it when there is a cap (oldest merges forgotten first); without
    // a cap (the CLI) every merge is kept, as every cluster is
    if (this._maxClusters > 0) {
      const keep = Math.max(1000, 10 * this._maxClusters);
      for (const from of this.mergedInto.keys()) {
        if (this.mergedInto.size <= keep) break;
        this.mergedInto.delete(from);
      }
    }
  }

  private newState(time: number): ClusterState {
    return {
      firstSeen: time,
      lastSeen: time,
      terms: new TopK(this.sketchSize),
      hashtags: new TopK(this.tagSketchSize),
      reps: [],
      head: Math.floor(time / this.bucketMs),
      buckets: new Uint32Array(this.bucketCount),
      fast: 0,
      slow: 0,
      tref: time,
    };
  }

  /** Counts one tweet at `time` into the cluster's timeline and its decayed rates. */
  private count(s: ClusterState, time: number): void {
    const b = Math.floor(time / this.bucketMs);
    const k = this.bucketCount;
    if (b > s.head) {
      // the ring moves forward: the buckets it passes over start empty
      const steps = Math.min(k, b - s.head);
      for (let j = 1; j <= steps; j++) s.buckets[ring(s.head + j, k)] = 0;
      s.head = b;
    }
    // a tweet older than the ring's oldest bucket still counts in the size, not the timeline
    if (b > s.head - k) s.buckets[ring(b, k)]++;
    if (time >= s.tref) {
      s.fast = s.fast * 2 ** ((s.tref - time) / this.recentMs) + 1;
      s.slow = s.slow * 2 ** ((s.tref - time) / this.baselineMs) + 1;
      s.tref = time;
    } else {
      // a late tweet counts as much as it would have when it happened, decayed to tref
      s.fast += 2 ** ((time - s.tref) / this.recentMs);
      s.slow += 2 ** ((time - s.tref) / this.baselineMs);
    }
  }

  /**
   * Keeps the cluster's representative candidates up to date: each is re-scored against the
   * centroid as it is now (it moved with this tweet), and this tweet takes the place of the
   * least typical one when it is more typical. Twice as many candidates are kept as shown, so
   * that a candidate that falls behind as the centroid drifts has a stand-in. A text already
   * among the candidates (a retweet, a copy) is not added twice.
   */
  private offerRep(cluster: number, s: ClusterState, t: TweetInput, similarity: number): void {
    const reps = s.reps;
    let worst = -1;
    let same = false;
    for (let i = 0; i < reps.length; i++) {
      const r = reps[i];
      r.sim = this.repSimilarity(cluster, r);
      if (worst < 0 || r.sim < reps[worst].sim) worst = i;
      if (r.text === t.text) same = true;
    }
    if (t.text === undefined || t.text === '' || same) return;
    const cap = this.repCount * CANDIDATES_PER_REP;
    if (reps.length < cap) reps.push(repOf(t, similarity));
    else if (similarity > reps[worst].sim) reps[worst] = repOf(t, similarity);
  }

  /** Removes expired clusters and stale outliers (see the options); updates the merge record. */
  private sweep(): void {
    const cutoff = this._expiryMs > 0 ? this._now - this._expiryMs : Number.NEGATIVE_INFINITY;
    const outlierCutoff = this.outlierMs > 0 ? this._now - this.outlierMs : Number.NEGATIVE_INFINITY;
    const gone: number[] = [];
    let outliers = 0;
    for (const [id, s] of this.state) {
      if (s.lastSeen < cutoff) gone.push(id);
      else if (s.lastSeen < outlierCutoff && this.tree.count(id) < this._minClusterSize) {
        gone.push(id);
        outliers++;
      }
    }
    if (gone.length > 0) {
      this.removeClusters(gone);
      this._expired += gone.length - outliers;
      this._outliers += outliers;
      this.events.swept?.(gone.length - outliers, outliers);
    }
    this.relaxBound();
  }

  /**
   * A rebuild's looser bound is what let the stream go on within the cap; once expiry has left
   * the tree at under half the cap, it moves halfway back towards the configured bound at each
   * sweep (new tweets cluster as configured again; clusters already made stay as they are).
   */
  private relaxBound(): void {
    if (this._maxClusters === 0 || this.tree.size * 2 >= this._maxClusters) return;
    const t = this.tree;
    if (
      t.minSimilarity !== undefined &&
      this._baseSimilarity !== undefined &&
      t.minSimilarity < this._baseSimilarity
    ) {
      const next = t.minSimilarity + (this._baseSimilarity - t.minSimilarity) / 2;
      t.minSimilarity = this._baseSimilarity - next < 0.005 ? this._baseSimilarity : next;
    } else if (t.minSimilarity === undefined && t.threshold > this._baseThreshold) {
      const next = t.threshold - (t.threshold - this._baseThreshold) / 2;
      t.threshold = next - this._baseThreshold < 0.005 ? this._baseThreshold : next;
    }
  }

  private removeClusters(ids: readonly number[]): void {
    for (const id of ids) {
      this.tree.remove(id);
      this.state.delete(id);
      this.dmm?.remove(id, this._tweets);
    }
    // records that lead to a removed cluster lead nowhere now: the tweets that still name them
    // are answered as inactive either way
    for (const [from, to] of this.mergedInto) if (!this.tree.has(to)) this.mergedInto.delete(from);
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
    if (gone.length > 0) this.removeClusters(gone);
    this._expired += gone.length;
    return gone;
  }

  /** Clusters the tree is brought back to when it outgrows the cap: 90% of it. */
  private capTarget(): number {
    return Math.max(1, Math.floor(this._maxClusters * REBUILD_TARGET));
  }

  /**
   * At the cap, BIRCH sets outliers aside before it loosens its threshold: here the clusters
   * under `minClusterSize` (not stories) go, the longest quiet first (ties: older id), until the
   * tree is back at 90% of the cap. `keep` (the cluster of the tweet being applied) stays. True
   * when that was enough; false (nothing removed) when there are too few outliers, and a rebuild
   * must merge instead.
   */
  private evictOutliers(keep: number): boolean {
    const target = this.capTarget();
    const need = this.tree.size - target;
    if (this._minClusterSize <= 1 || need <= 0) return false;
    const outliers: [number, number][] = [];
    for (const [id, s] of this.state)
      if (id !== keep && this.tree.count(id) < this._minClusterSize) outliers.push([id, s.lastSeen]);
    if (outliers.length < need) return false;
    outliers.sort((x, y) => x[1] - y[1] || x[0] - y[0]);
    const gone = outliers.slice(0, need).map(([id]) => id);
    this.removeClusters(gone);
    this._outliers += gone.length;
    this.events.evicted?.(gone.length);
    return true;
  }

  /**
   * Keeps the tree within `maxClusters`, as the original BIRCH does when it runs out of memory:
   * loosen the absorb bound and rebuild the tree from its leaf entries, pass after pass, until
   * it holds at most 90% of the cap. Each pass widens the bound's distance by 25% (1 - cos in
   * cosine mode, the radius in radius mode). When two clusters merge the older id survives,
   * the younger's summary merges into it, and the merge is recorded so that the younger id
   * still leads to its tweets' cluster (`resolve`). The looser bound stays: it is what lets the
   * stream go on within the cap.
   */
  rebuild(): RebuildEvent {
    const before = this.tree.size;
    const cosine = this.tree.minSimilarity !== undefined;
    const boundBefore = cosine ? (this.tree.minSimilarity as number) : this.tree.threshold;
    const target = this.capTarget();
    const old = this.tree;
    // Every trial rebuilds from the tree as it is (which a trial leaves untouched). First a bound
    // loose enough to fit is found, then the tightest that still fits is looked for between it
    // and the last that did not: merges chain (a merged entry's centroid draws in more), so no
    // bound read off the entries says in advance how many a rebuild will lose.
    const at = (bound: number) =>
      cosine ? old.rebuilt({ minSimilarity: bound }) : old.rebuilt({ threshold: bound });
    let tight = boundBefore;
    let loose = cosine ? looserSimilarity(old, target) : looserRadius(boundBefore);
    let best = at(loose);
    let passes = 1;
    while (best.tree.size > target && passes < 40 && loose !== (cosine ? -1 : MAX_RADIUS)) {
      tight = loose;
      loose = cosine ? Math.max(-1, loose - 2 * (boundBefore - loose) - 0.01) : looserRadius(loose);
      best = at(loose);
      passes++;
    }
    // bisect while the result merges much more than needed (below 60% of the cap), at most 3
    // times: each trial is a whole rebuild
    const enough = Math.floor(this._maxClusters * 0.6);
    for (let step = 0; step < 3 && best.tree.size < enough && Math.abs(tight - loose) > 0.002; step++) {
      const mid = (tight + loose) / 2;
      const trial = at(mid);
      passes++;
      if (trial.tree.size <= target) {
        best = trial;
        loose = mid;
      } else {
        tight = mid;
      }
    }
    const tree = best.tree;
    const absorbed = best.absorbed;
    // chains (a into b in one pass, b into c in the next) end at the last survivor
    const final = (id: number): number => {
      let to = id;
      for (let hop = 0; hop < 1000 && absorbed.has(to); hop++) to = absorbed.get(to) as number;
      return to;
    };
    (this as { tree: CFTree }).tree = tree;
    // summaries merge in id order, so that the same merges give the same summaries
    const order = [...absorbed.keys()].sort((a, b) => a - b);
    for (const from of order) {
      const to = final(from);
      const a = this.state.get(from);
      const b = this.state.get(to);
      if (a !== undefined && b !== undefined) this.mergeState(b, a);
      this.dmm?.merge(from, to, this._tweets);
      this.state.delete(from);
      this.mergedInto.set(from, to);
    }
    // earlier records that pointed at a cluster absorbed now point at its survivor
    for (const [from, to] of this.mergedInto) {
      if (!tree.has(to)) {
        const f = final(to);
        if (tree.has(f)) this.mergedInto.set(from, f);
        else this.mergedInto.delete(from);
      }
    }
    // The record is bounded: the oldest merges are forgotten first once it holds 10x the cap
    // (their ids then answer as not found, like an expired cluster's).
    const keep = Math.max(1000, 10 * this._maxClusters);
    for (const from of this.mergedInto.keys()) {
      if (this.mergedInto.size <= keep) break;
      this.mergedInto.delete(from);
    }
    // representatives are re-scored against the merged centroids
    for (const [id, s] of this.state) if (absorbed.size > 0) this.rescoreReps(id, s);
    this._rebuilds++;
    this._merged += absorbed.size;
    const e: RebuildEvent = {
      clustersBefore: before,
      clustersAfter: tree.size,
      thresholdBefore: boundBefore,
      thresholdAfter: cosine ? (tree.minSimilarity as number) : tree.threshold,
      passes,
      merged: absorbed.size,
    };
    this.events.rebuilt?.(e);
    return e;
  }

  /** Adds cluster summary `a` into `b` (b absorbed a). */
  private mergeState(b: ClusterState, a: ClusterState): void {
    b.firstSeen = Math.min(b.firstSeen, a.firstSeen);
    b.lastSeen = Math.max(b.lastSeen, a.lastSeen);
    b.terms.merge(a.terms);
    b.hashtags.merge(a.hashtags);
    const k = this.bucketCount;
    const head = Math.max(a.head, b.head);
    const merged = new Uint32Array(k);
    for (const s of [a, b]) {
      for (let bucket = s.head - k + 1; bucket <= s.head; bucket++) {
        if (bucket > head - k) merged[ring(bucket, k)] += s.buckets[ring(bucket, k)];
      }
    }
    b.buckets = merged;
    b.head = head;
    const tref = Math.max(a.tref, b.tref);
    b.fast =
      b.fast * 2 ** ((b.tref - tref) / this.recentMs) + a.fast * 2 ** ((a.tref - tref) / this.recentMs);
    b.slow =
      b.slow * 2 ** ((b.tref - tref) / this.baselineMs) + a.slow * 2 ** ((a.tref - tref) / this.baselineMs);
    b.tref = tref;
    for (const r of a.reps) if (!b.reps.some((x) => x.text === r.text)) b.reps.push(r);
  }

  /** A candidate's cosine to the current centroid of cluster `id` (sparse when it is). */
  private repSimilarity(id: number, r: Rep): number {
    return r.idx === null
      ? this.tree.similarity(id, r.val)
      : this.tree.sparseSimilarity(id, r.idx, r.val, r.xx);
  }

  private rescoreReps(id: number, s: ClusterState): void {
    for (const r of s.reps) r.sim = this.repSimilarity(id, r);
    s.reps.sort((x, y) => y.sim - x.sim || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    s.reps.length = Math.min(s.reps.length, this.repCount * CANDIDATES_PER_REP);
  }

  /** Which test decides who absorbs a tweet (EngineOptions): 'dmm', 'cosine' or 'radius'. */
  get absorb(): 'dmm' | 'cosine' | 'radius' {
    if (this.dmm !== undefined) return 'dmm';
    return this.tree.minSimilarity === undefined ? 'radius' : 'cosine';
  }

  /**
   * DMM mode: the cluster a tweet with these terms would join if applied now, or undefined when
   * it would start a new one (or the engine is not in DMM mode). Changes nothing: what a
   * "would it join" query should answer, as `tree.wouldAbsorb` does in the other modes.
   */
  dmmChoice(terms: readonly string[] | undefined): number | undefined {
    if (this.dmm === undefined) return undefined;
    const n = this.distinctTerms(terms);
    const c = this.dmm.choose(this.termIds, this.termCounts, n, this._tweets + 1);
    return c < 0 ? undefined : c;
  }

  /** The nearest cluster to a vector and its similarity, without changing anything. */
  predict(vector: ArrayLike<number>): { cluster: number; similarity: number } | undefined {
    if (vector.length !== this.dim)
      throw new RangeError(`vector has dimension ${vector.length}, the engine expects ${this.dim}`);
    const cluster = this.tree.nearest(vector);
    if (cluster < 0) return undefined;
    return { cluster, similarity: this.tree.similarity(cluster, vector) };
  }

  /** Whether a cluster of this size counts as a story (see `minClusterSize`). */
  isStory(size: number): boolean {
    return size >= this._minClusterSize;
  }

  cluster(id: number, termCount = 10): ClusterSummary | undefined {
    const s = this.state.get(id);
    if (s === undefined || !this.tree.has(id)) return undefined;
    return this.summarise(id, s, this.tree.count(id), termCount);
  }

  /** Every cluster, in no particular order (outliers included). */
  *clusters(termCount = 10): IterableIterator<ClusterSummary> {
    for (const [id, n] of this.tree.sizes()) {
      const s = this.state.get(id);
      if (s) yield this.summarise(id, s, n, termCount);
    }
  }

  /**
   * Each cluster's id, size, last tweet time and growth score, without summarising: what a
   * listing sorts by before it summarises one page.
   */
  *index(): IterableIterator<{ id: number; size: number; lastSeen: number; growth: number }> {
    for (const [id, size] of this.tree.sizes()) {
      const s = this.state.get(id);
      if (s) yield { id, size, lastSeen: s.lastSeen, growth: this.growthOf(s).growth };
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
   * The growth score of a cluster at the engine's clock: how far its recent tweets exceed what
   * its own baseline rate predicts, in standard deviations of a Poisson count,
   *   growth = (recent - expected) / sqrt(expected + 1).
   * `recent` (F) is its tweet count decayed with a half-life of `trendRecentMs` (15 min); S is
   * the count decayed with `trendBaselineMs` (6 h). S - F weighs a tweet of age t by
   * 2^(-t/hS) - 2^(-t/hF): about 0 for recent tweets and like S for old ones, so
   * (S - F) / (its weights' integral over the cluster's age) is the rate before the recent
   * burst, unbiased for a steady story of any age. A prior of one tweet per hour over 15 minutes
   * stands in while a young cluster has no history (a new story's baseline is "nothing"), so two
   * tweets are not a trend. `expected` is that rate over F's own horizon.
   */
  private growthOf(s: ClusterState): { recent: number; growth: number } {
    const now = Math.max(this._now, s.tref);
    const age = Math.max(0, now - s.firstSeen);
    const recent = s.fast * 2 ** ((s.tref - now) / this.recentMs);
    const slow = s.slow * 2 ** ((s.tref - now) / this.baselineMs);
    // the integral of 2^(-t/h) over [0, age]
    const horizon = (h: number) => (h / Math.LN2) * (1 - 2 ** (-age / h));
    const hRecent = horizon(this.recentMs);
    const base = Math.max(0, slow - recent);
    const rate =
      (base + PRIOR_RATE * PRIOR_MS) / (Math.max(0, horizon(this.baselineMs) - hRecent) + PRIOR_MS);
    const expected = rate * hRecent;
    return { recent, growth: (recent - expected) / Math.sqrt(expected + 1) };
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
   * (columns in the summaries' Map order, which is observable), the merge record, the clock
   * and counters.
   */
  exportState(): StateParts {
    const out: StateParts = { json: {}, arrays: {} };
    const t = this.tree.exportState();
    out.arrays['tree.nodes'] = t.nodes;
    out.arrays['tree.free'] = t.free;
    out.arrays['tree.locIds'] = t.locIds;
    out.arrays['tree.locPos'] = t.locPos;
    const n = this.state.size;
    const k = this.bucketCount;
    const ids = new Float64Array(n);
    const first = new Float64Array(n);
    const last = new Float64Array(n);
    const heads = new Float64Array(n);
    const buckets = new Uint32Array(n * k);
    const rates = new Float64Array(n * 3);
    const termSk = new SketchColumns();
    const tagSk = new SketchColumns();
    const repCounts = new Uint32Array(n);
    const repIds: string[] = [];
    const repTexts: string[] = [];
    const repSims: number[] = [];
    const repXX: number[] = [];
    const repNnz: number[] = [];
    const repIdx: number[] = [];
    const repVal: number[] = [];
    let c = 0;
    for (const [id, s] of this.state) {
      ids[c] = id;
      first[c] = s.firstSeen;
      last[c] = s.lastSeen;
      heads[c] = s.head;
      buckets.set(s.buckets, c * k);
      rates[3 * c] = s.fast;
      rates[3 * c + 1] = s.slow;
      rates[3 * c + 2] = s.tref;
      termSk.add(s.terms);
      tagSk.add(s.hashtags);
      repCounts[c] = s.reps.length;
      for (const r of s.reps) {
        repIds.push(r.id);
        repTexts.push(r.text);
        repSims.push(r.sim);
        repXX.push(r.xx);
        repNnz.push(r.idx === null ? -1 : r.idx.length);
        if (r.idx !== null) for (const i of r.idx) repIdx.push(i);
        for (const v of r.val) repVal.push(v);
      }
      c++;
    }
    const mergedFrom = new Float64Array(this.mergedInto.size);
    const mergedTo = new Float64Array(this.mergedInto.size);
    let m = 0;
    for (const [from, to] of this.mergedInto) {
      mergedFrom[m] = from;
      mergedTo[m++] = to;
    }
    Object.assign(out.arrays, {
      'clusters.ids': ids,
      'clusters.firstSeen': first,
      'clusters.lastSeen': last,
      'clusters.bucketHeads': heads,
      'clusters.buckets': buckets,
      'clusters.rates': rates,
      ...termSk.arrays('clusters.terms'),
      ...tagSk.arrays('clusters.hashtags'),
      'clusters.repCounts': repCounts,
      'reps.sims': Float64Array.from(repSims),
      'reps.xx': Float64Array.from(repXX),
      // -1: a dense vector of the engine's dimension
      'reps.nnz': Float64Array.from(repNnz),
      'reps.idx': Uint32Array.from(repIdx),
      'reps.val': Float32Array.from(repVal),
      'merged.from': mergedFrom,
      'merged.to': mergedTo,
    });
    out.json = {
      tree: t.meta,
      options: this.shapeOptions(),
      terms: termSk.items,
      hashtags: tagSk.items,
      repIds,
      repTexts,
      tweets: this._tweets,
      expired: this._expired,
      outliers: this._outliers,
      rebuilds: this._rebuilds,
      merged: this._merged,
      expiryMs: this._expiryMs,
      baseSimilarity: this._baseSimilarity ?? null,
      baseThreshold: this._baseThreshold,
      now: num(this._now),
      nextSweep: num(this.nextSweep),
    };
    if (this.dmm !== undefined) {
      const d = this.dmm.exportState();
      out.arrays['dmm.clusters'] = d.clusters;
      out.arrays['dmm.terms'] = d.terms;
      out.arrays['dmm.counts'] = d.counts;
      out.json.dmm = d.meta;
    }
    return out;
  }

  /** An engine from `exportState()`; throws StateError when the parts do not fit together. */
  static fromState(parts: StateParts, events?: EngineEvents): ClusterEngine {
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
    const o = j.options as ReturnType<ClusterEngine['shapeOptions']> | undefined;
    if (typeof o !== 'object' || o === null) throw new StateError('state: the engine options are missing');
    let engine: ClusterEngine;
    try {
      engine = new ClusterEngine({
        dim: meta.dim,
        threshold: meta.threshold,
        branchingFactor: meta.branchingFactor,
        minSimilarity: meta.minSimilarity ?? undefined,
        termSketchSize: o.sketchSize,
        hashtagSketchSize: o.tagSketchSize,
        representatives: o.repCount,
        bucketMs: o.bucketMs,
        bucketCount: o.bucketCount,
        trendRecentMs: o.recentMs,
        trendBaselineMs: o.baselineMs,
        minClusterSize: o.minClusterSize,
        outlierExpiryMs: o.outlierMs,
        maxClusters: o.maxClusters,
        expiryMs: j.expiryMs as number,
        events,
      });
    } catch (err) {
      throw new StateError(`state: ${(err as Error).message}`);
    }
    (engine as { tree: CFTree }).tree = tree;
    if (j.dmm !== undefined) {
      try {
        engine.dmm = DmmModel.fromState({
          meta: j.dmm as DmmState['meta'],
          clusters: arr(parts, 'dmm.clusters', Float64Array),
          terms: arr(parts, 'dmm.terms', Uint32Array),
          counts: arr(parts, 'dmm.counts', Float64Array),
        });
      } catch (err) {
        throw err instanceof StateError ? err : new StateError((err as Error).message);
      }
    }
    const ids = arr(parts, 'clusters.ids', Float64Array);
    const first = arr(parts, 'clusters.firstSeen', Float64Array);
    const last = arr(parts, 'clusters.lastSeen', Float64Array);
    const heads = arr(parts, 'clusters.bucketHeads', Float64Array);
    const buckets = arr(parts, 'clusters.buckets', Uint32Array);
    const rates = arr(parts, 'clusters.rates', Float64Array);
    const repCounts = arr(parts, 'clusters.repCounts', Uint32Array);
    const repSims = arr(parts, 'reps.sims', Float64Array);
    const repXX = arr(parts, 'reps.xx', Float64Array);
    const repNnz = arr(parts, 'reps.nnz', Float64Array);
    const repIdx = arr(parts, 'reps.idx', Uint32Array);
    const repVal = arr(parts, 'reps.val', Float32Array);
    const repIds = strs(j, 'repIds');
    const repTexts = strs(j, 'repTexts');
    const n = ids.length;
    const k = engine.bucketCount;
    if ([first, last, heads, repCounts].some((a) => a.length !== n))
      throw new StateError('state: cluster columns of different lengths');
    if (buckets.length !== n * k || rates.length !== n * 3)
      throw new StateError('state: cluster buckets or rates of the wrong length');
    const reps = repSims.length;
    if (repXX.length !== reps || repNnz.length !== reps || repIds.length !== reps || repTexts.length !== reps)
      throw new StateError('state: representative columns of different lengths');
    const terms = SketchColumns.reader(parts, j, 'clusters.terms', 'terms', n, engine.sketchSize);
    const tags = SketchColumns.reader(parts, j, 'clusters.hashtags', 'hashtags', n, engine.tagSketchSize);
    let r = 0;
    let atIdx = 0;
    let atVal = 0;
    for (let c = 0; c < n; c++) {
      const list: Rep[] = [];
      for (let q = 0; q < repCounts[c]; q++, r++) {
        if (r >= reps) throw new StateError('state: representative counts overrun the representatives');
        const nnz = repNnz[r];
        let idx: Int32Array | null = null;
        let len = engine.dim;
        if (nnz >= 0) {
          if (atIdx + nnz > repIdx.length) throw new StateError('state: representative indices overrun');
          idx = Int32Array.from(repIdx.subarray(atIdx, atIdx + nnz));
          if (idx.some((i) => i >= engine.dim))
            throw new StateError('state: a representative index is out of range');
          atIdx += nnz;
          len = nnz;
        }
        if (atVal + len > repVal.length) throw new StateError('state: representative values overrun');
        list.push({
          id: repIds[r] ?? '',
          text: repTexts[r] ?? '',
          idx,
          val: repVal.slice(atVal, atVal + len),
          xx: repXX[r],
          sim: repSims[r],
        });
        atVal += len;
      }
      engine.state.set(ids[c], {
        firstSeen: first[c],
        lastSeen: last[c],
        terms: terms(c),
        hashtags: tags(c),
        reps: list,
        head: heads[c],
        buckets: buckets.slice(c * k, (c + 1) * k),
        fast: rates[3 * c],
        slow: rates[3 * c + 1],
        tref: rates[3 * c + 2],
      });
    }
    if (r !== reps || atIdx !== repIdx.length || atVal !== repVal.length)
      throw new StateError('state: representatives left over');
    const from = arr(parts, 'merged.from', Float64Array);
    const to = arr(parts, 'merged.to', Float64Array);
    if (from.length !== to.length) throw new StateError('state: merge record columns of different lengths');
    for (let q = 0; q < from.length; q++) engine.mergedInto.set(from[q], to[q]);
    engine._tweets = j.tweets as number;
    engine._expired = j.expired as number;
    engine._outliers = j.outliers as number;
    engine._rebuilds = j.rebuilds as number;
    engine._merged = j.merged as number;
    if (
      typeof j.baseThreshold !== 'number' ||
      !(j.baseSimilarity === null || typeof j.baseSimilarity === 'number')
    )
      throw new StateError('state: the configured bounds are missing');
    engine._baseSimilarity = j.baseSimilarity ?? undefined;
    engine._baseThreshold = j.baseThreshold;
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
    const reps = [...s.reps]
      .sort((x, y) => y.sim - x.sim || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      .slice(0, this.repCount)
      .map((r) => ({ id: r.id, text: r.text, similarity: r.sim }));
    const { recent, growth } = this.growthOf(s);
    return {
      id,
      size,
      cohesion: Math.min(1, Math.sqrt(sq)),
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      terms: shownTerms(s.terms, size, termCount),
      hashtags: shownTerms(s.hashtags, size, termCount),
      representatives: reps,
      example: reps[0]?.text,
      timeline: this.timeline(s),
      recent,
      growth,
    };
  }

  /**
   * The cluster's buckets from its first (or the oldest kept) to the engine's clock, oldest
   * first, empty ones included: a story that went quiet shows its zeros.
   */
  private timeline(s: ClusterState): { start: number; count: number }[] {
    const k = this.bucketCount;
    const now = Math.max(s.head, Math.floor(this._now / this.bucketMs));
    const from = Math.max(Math.floor(s.firstSeen / this.bucketMs), now - k + 1, s.head - k + 1);
    const out: { start: number; count: number }[] = [];
    for (let b = from; b <= now; b++)
      out.push({ start: b * this.bucketMs, count: b <= s.head ? s.buckets[ring(b, k)] : 0 });
    return out;
  }
}

function repOf(t: TweetInput, similarity: number): Rep {
  const v = t.vector;
  const d = v.length;
  let nnz = 0;
  let xx = 0;
  for (let i = 0; i < d; i++) {
    if (v[i] !== 0) {
      nnz++;
      xx += v[i] * v[i];
    }
  }
  let idx: Int32Array | null = null;
  let val: Float32Array;
  if (nnz * 4 < d) {
    idx = new Int32Array(nnz);
    val = new Float32Array(nnz);
    for (let i = 0, j = 0; i < d; i++) {
      if (v[i] !== 0) {
        idx[j] = i;
        val[j++] = v[i];
      }
    }
  } else {
    val = Float32Array.from(v);
  }
  // |x|^2 of the stored (float32) values, so a later cosine is of the vector as kept
  xx = 0;
  for (let i = 0; i < val.length; i++) xx += val[i] * val[i];
  return { id: t.id, text: t.text ?? '', idx, val, xx, sim: similarity };
}

/** Many sketches as columns: slot counts per sketch, then items, counts and errors. */
class SketchColumns {
  readonly items: string[] = [];
  private readonly sizes: number[] = [];
  private readonly counts: number[] = [];
  private readonly errors: number[] = [];

  add(t: TopK): void {
    const r = t.raw();
    this.sizes.push(r.items.length);
    this.items.push(...r.items);
    this.counts.push(...r.counts);
    this.errors.push(...r.errors);
  }

  arrays(prefix: string): Record<string, Uint32Array | Float64Array> {
    return {
      [`${prefix}.sizes`]: Uint32Array.from(this.sizes),
      [`${prefix}.counts`]: Float64Array.from(this.counts),
      [`${prefix}.errors`]: Float64Array.from(this.errors),
    };
  }

  /** A function giving sketch c of n, checked against the columns; throws StateError. */
  static reader(
    parts: StateParts,
    json: Record<string, unknown>,
    prefix: string,
    itemsKey: string,
    n: number,
    k: number,
  ): (c: number) => TopK {
    const sizes = arr(parts, `${prefix}.sizes`, Uint32Array);
    const counts = arr(parts, `${prefix}.counts`, Float64Array);
    const errors = arr(parts, `${prefix}.errors`, Float64Array);
    const items = strs(json, itemsKey) as string[];
    if (sizes.length !== n)
      throw new StateError(`state: ${prefix} has ${sizes.length} sketches for ${n} clusters`);
    if (counts.length !== items.length || errors.length !== items.length)
      throw new StateError(`state: ${prefix} columns of different lengths`);
    const starts = new Array<number>(n + 1);
    starts[0] = 0;
    for (let c = 0; c < n; c++) starts[c + 1] = starts[c] + sizes[c];
    if (starts[n] !== items.length)
      throw new StateError(`state: ${prefix} counts do not add up to its items`);
    return (c) => {
      const a = starts[c];
      const b = starts[c + 1];
      try {
        return TopK.fromRaw(
          k,
          items.slice(a, b),
          Array.from(counts.subarray(a, b)),
          Array.from(errors.subarray(a, b)),
        );
      } catch (err) {
        throw new StateError(`state: ${(err as Error).message}`);
      }
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

/** The sweep's window: the shorter of the two that are set (0 when neither is). */
function sweepWindow(expiryMs: number, outlierMs: number): number {
  if (expiryMs > 0 && outlierMs > 0) return Math.min(expiryMs, outlierMs);
  return expiryMs > 0 ? expiryMs : outlierMs;
}

/**
 * The absorb bound for a cosine-mode rebuild that should lose about `tree.size - target`
 * entries: each leaf entry's nearest neighbour in its leaf is a merge the rebuild would make,
 * so the bound is the similarity of the one that many merges down the list of neighbours
 * (ranked closest first; a merge takes two entries that name each other, hence twice). It is
 * always looser than the current bound by a little, so every pass makes progress.
 */
function looserSimilarity(tree: CFTree, target: number): number {
  const current = tree.minSimilarity as number;
  const sims = tree.leafNeighbourSimilarities().sort().reverse();
  const need = tree.size - target;
  const at = Math.min(sims.length - 1, 2 * need);
  const floor = current - 0.01;
  return Math.max(-1, Math.min(floor, at >= 0 ? sims[at] : floor));
}

function looserRadius(r: number): number {
  return Math.min(MAX_RADIUS, Math.max(r * REBUILD_STEP, r + 1e-6));
}

/** The slot of absolute bucket `b` in a ring of `k` (b may be negative). */
function ring(b: number, k: number): number {
  return ((b % k) + k) % k;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return v;
}
