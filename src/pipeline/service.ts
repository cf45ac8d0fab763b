/**
 * The flow of tweets through birdie in one place: validate, embed, apply to the engine, remember,
 * answer. The HTTP server drives it (and, with the durability issue, log replay); it answers in
 * the API's shapes (src/pipeline/schema.ts) so that no caller re-implements any step.
 *
 * One writer: every call runs to completion on the event loop, so tweets are applied in the
 * order they arrive and the engine's state is a function of that order.
 */
import { randomUUID } from 'node:crypto';
import { Compile } from 'typebox/compile';
import type { DmmOptions } from '../birch/dmm.js';
import {
  ClusterEngine,
  type ClusterSummary,
  type EngineEvents,
  type RebuildEvent,
} from '../engine/engine.js';
import { nest, StateError, type StateParts, unnest } from '../engine/state.js';
import { denseVector, exportTweetMemory, importTweetMemory, TweetMemory } from '../engine/tweets.js';
import { BirdieError, type ErrorCode } from '../errors.js';
import type { Embedder } from '../text/embedder.js';
import { embedderFailure } from './embedders.js';
import { type Assigned, MAX_ID_LENGTH, type PredictIn, type Rejected, TweetIn } from './schema.js';
import { TextPipeline } from './text.js';
import { type CleanTweet, parseTime, parseVector } from './tweet.js';

export interface ServiceOptions {
  embeddingDim: number;
  similarityThreshold: number;
  /** sklearn's radius threshold; when set, radius mode instead of cosine mode */
  birchThreshold: number | undefined;
  /**
   * The Dirichlet-multinomial absorb test on the tweets' words (src/birch/dmm.ts) instead of the
   * cosine one; not with birchThreshold.
   */
  dmm?: DmmOptions;
  branchingFactor: number;
  maxTweetEmbeddings: number;
  maxTweetIds: number;
  clusterExpiryHours: number;
  /** tweets a cluster needs to count as a story (listed, trending, active) */
  minClusterSize?: number;
  /** an outlier with no tweet for this long leaves the tree (0: only the expiry window) */
  outlierExpiryHours?: number;
  /** most clusters the tree holds before a rebuild with a looser threshold (0: no cap) */
  maxClustersInMemory?: number;
  /** topics the global step makes (0: none) */
  topics: number;
  /**
   * A model or a remote service that embeds texts (asynchronously; see `prepare`), instead of
   * the built-in hashed TF-IDF. Its dimension is the engine's.
   */
  embedder?: Embedder;
  /** ms since the epoch; injected so tests control time */
  clock?: () => number;
  observer?: Observer;
}

/** Hooks for metrics: the pipeline knows nothing of Prometheus. */
export interface Observer {
  embedded?(seconds: number, tweets: number): void;
  batch?(size: number): void;
  applied?(tweets: number): void;
  rejected?(code: ErrorCode): void;
  duplicate?(): void;
  /** the embedder failed a request's texts (nothing of it was applied), by its error code */
  embedderFailed?(code: string): void;
  /** a tweet older than the expiry window behind the clock arrived */
  late?(): void;
  /** the tree outgrew MAX_CLUSTERS_IN_MEMORY and was rebuilt with a looser threshold */
  rebuilt?(e: RebuildEvent): void;
  /** expiry removed clusters: by the window, and outliers by theirs */
  swept?(expired: number, outliers: number): void;
  /** at MAX_CLUSTERS_IN_MEMORY, outliers were removed instead of a rebuild */
  evicted?(outliers: number): void;
  /** a memory cap started to act (the first time in this process): the oldest go from now on */
  capReached?(setting: 'MAX_TWEET_EMBEDDINGS' | 'MAX_TWEET_IDS'): void;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
  duplicates: number;
  results: (Assigned | Rejected)[];
}

export interface TopicsView {
  computed_at: string | null;
  clusters: number;
  topics: { topic: number; size: number; clusters: number[]; terms: { term: string; count: number }[] }[];
}

/** A validated tweet, ready to apply. */
interface Checked {
  tweet: CleanTweet;
  user?: string;
  lang?: string;
}

/** Items checked (and embedded, with an external embedder), not yet applied: see `prepare`. */
export interface Prepared {
  arrival: number;
  items: (Checked | Rejected)[];
  embedSeconds: number;
  embedded: number;
}

export type ClusterSort = 'size' | 'last_seen' | 'growth';

const checkTweetShape = Compile(TweetIn);

/** A tweet as the log keeps it: what replay needs to apply it again exactly. */
interface LoggedTweet {
  i: string;
  x: string;
  /** its time, resolved (created_at, else arrival) */
  t: number;
  /** its own embedding (unit float32, little-endian, base64), when it brought one */
  v?: string;
  u?: string;
  l?: string;
}

type LogRecord =
  | { t: 'tweets'; tweets: LoggedTweet[] }
  | {
      t: 'live';
      similarity: number | null;
      threshold: number;
      expiryMs: number;
      // absent in records written before these settings existed: unchanged then
      minClusterSize?: number;
      outlierMs?: number;
      maxClusters?: number;
    };

function logEntry(
  id: string,
  text: string,
  time: number,
  v: Float32Array | undefined,
  user: string | undefined,
  lang: string | undefined,
): LoggedTweet {
  const e: LoggedTweet = { i: id, x: text, t: time };
  if (v !== undefined) e.v = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (user !== undefined) e.u = user;
  if (lang !== undefined) e.l = lang;
  return e;
}

/** How far ahead of its arrival a tweet's created_at is refused as a mistake (not a clock's skew). */
const MAX_FUTURE_MS = 24 * 3_600_000;
/** How far ahead of its arrival a created_at is kept as it is (clocks disagree that much). */
const MAX_SKEW_MS = 15 * 60_000;

/** The growth score from which a story is trending (Poisson standard deviations). */
export const TRENDING_GROWTH = 2;

/** Seconds of history behind the ingest rate in /stats. */
const RATE_WINDOW = 60;

export class Service {
  readonly engine: ClusterEngine;
  readonly text: TextPipeline;
  readonly memory: TweetMemory;
  readonly dim: number;
  readonly startedAt: number;
  /** the embedder of texts when it is not the built-in one */
  readonly external: Embedder | undefined;
  private readonly clock: () => number;
  /**
   * Receives, synchronously and in order, one record per state change (the tweets an ingest
   * applied; a change of live settings). The durability layer appends them to the log.
   */
  journal: ((payload: Buffer) => void) | undefined;
  private readonly observer: Observer;
  private readonly topicCount: number;
  private topicsView: TopicsView = { computed_at: null, clusters: 0, topics: [] };
  private topicsOf = new Map<number, number>();
  private topicsStale = true;
  private _duplicates = 0;
  private heldCapSaid = false;
  private idsCapSaid = false;
  private _rejected = 0;
  /** tweets applied per second over the last RATE_WINDOW seconds, a ring indexed by second */
  private readonly rate = new Float64Array(RATE_WINDOW);
  private rateSecond = 0;

  constructor(opts: ServiceOptions) {
    this.clock = opts.clock ?? Date.now;
    this.observer = opts.observer ?? {};
    this.text = new TextPipeline({ dim: opts.embeddingDim });
    this.external = opts.embedder;
    this.dim = opts.embedder?.dim ?? this.text.dim;
    const radius = opts.birchThreshold !== undefined;
    this.engine = new ClusterEngine({
      dim: this.dim,
      // in cosine mode the tree still wants a radius; it only bounds nothing there
      threshold: opts.birchThreshold ?? 1,
      minSimilarity: radius ? undefined : opts.similarityThreshold,
      dmm: radius ? undefined : opts.dmm,
      branchingFactor: opts.branchingFactor,
      expiryMs: opts.clusterExpiryHours * 3_600_000,
      minClusterSize: opts.minClusterSize ?? 1,
      outlierExpiryMs: (opts.outlierExpiryHours ?? 0) * 3_600_000,
      maxClusters: opts.maxClustersInMemory ?? 0,
      events: engineEvents(this.observer),
    });
    this.memory = new TweetMemory({ maxIds: opts.maxTweetIds, maxHeld: opts.maxTweetEmbeddings });
    this.topicCount = opts.topics;
    this.startedAt = this.clock();
    this.rateSecond = Math.floor(this.startedAt / 1000);
  }

  /**
   * Everything a restart needs, as snapshot parts: the engine, the tweets remembered, the
   * embedder's identity and state, the counters. Deterministic: the same state gives the same
   * parts (ingest-rate history and topics are not state; topics are recomputed).
   */
  exportState(): StateParts {
    const out: StateParts = { json: {}, arrays: {} };
    out.json = {
      engine: nest(out, 'engine', this.engine.exportState()),
      memory: nest(out, 'memory', exportTweetMemory(this.memory)),
      embedder: { modelId: this.modelId, dim: this.dim },
    };
    out.arrays['embedder.state'] = this.text.embedder.exportState();
    return out;
  }

  /**
   * A service whose state is the snapshot's, made with `opts` (hooks, clock, topics, embedder).
   * Refuses a snapshot made with another embedder or dimension, or in the other clustering mode:
   * its vectors would not be comparable with new ones.
   */
  static fromState(parts: StateParts, opts: ServiceOptions): Service {
    const j = parts.json;
    const emb = j.embedder as { modelId?: unknown; dim?: unknown } | undefined;
    const svc = new Service(opts);
    if (emb?.modelId !== svc.modelId || emb?.dim !== svc.dim)
      throw new StateError(
        `the state was made with embedder ${String(emb?.modelId)} (dimension ${String(emb?.dim)}); this service runs ${svc.modelId} (dimension ${svc.dim}): vectors of two models cannot share clusters (start with the same EMBEDDER settings, or a new STATE_DIR)`,
      );
    const engine = ClusterEngine.fromState(unnest(parts, 'engine', j.engine), engineEvents(svc.observer));
    const modeNow = opts.birchThreshold !== undefined ? 'radius' : opts.dmm !== undefined ? 'dmm' : 'cosine';
    const modeThen = engine.absorb;
    if (modeNow !== modeThen)
      throw new StateError(
        `the state was built with ABSORB=${modeThen}; this service is configured for ABSORB=${modeNow}: the absorb test cannot change over a state`,
      );
    const state = parts.arrays['embedder.state'];
    if (!(state instanceof Uint8Array)) throw new StateError('state: the embedder state is missing');
    try {
      svc.text.embedder.importState(state);
    } catch (err) {
      throw new StateError((err as Error).message);
    }
    (svc as { engine: ClusterEngine }).engine = engine;
    (svc as { memory: TweetMemory }).memory = importTweetMemory(unnest(parts, 'memory', j.memory), svc.dim);
    return svc;
  }

  get duplicates(): number {
    return this._duplicates;
  }

  /** Identifies the vector space the state lives in (the snapshot records it). */
  get modelId(): string {
    return this.external?.modelId ?? this.text.embedder.modelId;
  }

  get rejectedCount(): number {
    return this._rejected;
  }

  /** Changes the live clustering settings (validated by the caller's config). */
  setLive(s: {
    similarityThreshold: number;
    birchThreshold: number | undefined;
    clusterExpiryHours: number;
    minClusterSize?: number;
    outlierExpiryHours?: number;
    maxClustersInMemory?: number;
  }): void {
    const e = this.engine;
    const tree = e.tree;
    // compared with the configured bounds, not the tree's: a rebuild may have loosened those
    const similarity = tree.minSimilarity !== undefined ? s.similarityThreshold : null;
    const threshold =
      tree.minSimilarity === undefined && s.birchThreshold !== undefined ? s.birchThreshold : e.baseThreshold;
    const rec: Extract<LogRecord, { t: 'live' }> = {
      t: 'live',
      similarity,
      threshold,
      expiryMs: s.clusterExpiryHours * 3_600_000,
      minClusterSize: s.minClusterSize ?? e.minClusterSize,
      outlierMs: s.outlierExpiryHours !== undefined ? s.outlierExpiryHours * 3_600_000 : e.outlierExpiryMs,
      maxClusters: s.maxClustersInMemory ?? e.maxClusters,
    };
    if (
      (similarity === null || similarity === e.baseSimilarity) &&
      threshold === e.baseThreshold &&
      rec.expiryMs === e.expiryMs &&
      rec.minClusterSize === e.minClusterSize &&
      rec.outlierMs === e.outlierExpiryMs &&
      rec.maxClusters === e.maxClusters
    )
      return;
    this.applyLive(rec);
    // they change how later tweets cluster, so they are part of the log's story
    this.journal?.(Buffer.from(JSON.stringify(rec)));
  }

  private applyLive(r: Extract<LogRecord, { t: 'live' }>): void {
    const e = this.engine;
    e.setBounds(r.similarity, r.threshold);
    e.expiryMs = r.expiryMs;
    if (r.minClusterSize !== undefined) e.minClusterSize = r.minClusterSize;
    if (r.outlierMs !== undefined) e.outlierExpiryMs = r.outlierMs;
    if (r.maxClusters !== undefined) e.maxClusters = r.maxClusters;
  }

  /**
   * Validates, embeds and applies each tweet in order. A bad item gets its own error and does
   * not stop the others; a repeated id gets its first answer and changes nothing. Only for the
   * built-in embedder, which embeds synchronously; with another, `prepare` then `applyPrepared`.
   */
  ingest(items: readonly unknown[]): IngestResult {
    if (this.external !== undefined)
      throw new Error('this service embeds asynchronously: use prepare() and applyPrepared()');
    return this.applyPrepared(this.check(items));
  }

  /**
   * Validates the items and, with an external embedder, embeds the texts of the valid ones in
   * one call: everything that may wait, nothing that changes the state. The vectors go to the
   * log with their tweets, so a replay needs no embedder. A failing embedder fails the whole
   * request (BRD_ERR_EMBEDDER_UNAVAILABLE), and nothing of it is applied.
   */
  async prepare(items: readonly unknown[]): Promise<Prepared> {
    const p = this.check(items);
    if (this.external === undefined) return p;
    const todo: number[] = [];
    for (let i = 0; i < p.items.length; i++) {
      const it = p.items[i];
      if ('tweet' in it && it.tweet.vector === undefined && this.memory.seen(it.tweet.id) === undefined)
        todo.push(i);
    }
    if (todo.length === 0) return p;
    const t0 = performance.now();
    const vectors = await this.embedExternally(
      this.external,
      todo.map((i) => (p.items[i] as Checked).tweet.text),
    );
    todo.forEach((i, k) => {
      (p.items[i] as Checked).tweet.vector = vectors[k];
    });
    p.embedSeconds = (performance.now() - t0) / 1000;
    p.embedded = todo.length;
    return p;
  }

  /** Validates each item on its own (no state change). */
  private check(items: readonly unknown[]): Prepared {
    const arrival = this.clock();
    const out: Prepared = { arrival, items: new Array(items.length), embedSeconds: 0, embedded: 0 };
    for (let i = 0; i < items.length; i++) out.items[i] = this.checkOne(items[i], i, arrival);
    return out;
  }

  /** Applies prepared items in order (synchronously: one writer), journals them, answers. */
  applyPrepared(p: Prepared): IngestResult {
    const results: (Assigned | Rejected)[] = new Array(p.items.length);
    let accepted = 0;
    let rejected = 0;
    let duplicates = 0;
    let embedSeconds = p.embedSeconds;
    let embedded = p.embedded;
    const logged: LoggedTweet[] = [];
    const arrival = p.arrival;
    this.observer.batch?.(p.items.length);
    for (let i = 0; i < p.items.length; i++) {
      const checked = p.items[i];
      if ('error' in checked) {
        results[i] = checked;
        rejected++;
        this.observer.rejected?.(checked.error.code as ErrorCode);
        continue;
      }
      const { tweet, user, lang } = checked;
      const seen = this.memory.seen(tweet.id);
      if (seen !== undefined) {
        results[i] = {
          id: tweet.id,
          cluster_id: this.engine.resolve(seen.cluster) ?? seen.cluster,
          new_cluster: false,
          similarity: seen.similarity,
          duplicate: true,
        };
        duplicates++;
        this.observer.duplicate?.();
        continue;
      }
      const t0 = performance.now();
      // Event time when the tweet has one, else arrival. A created_at further ahead of arrival
      // than clock skew explains (a wrong clock, a time zone gone wrong) counts as its arrival:
      // the latest tweet time drives expiry, and one tweet from the future would expire every
      // story early.
      const time =
        tweet.time === undefined ? arrival : tweet.time > arrival + MAX_SKEW_MS ? arrival : tweet.time;
      // A late tweet (older than the expiry window behind the clock) is still clustered and
      // answered; it joins its story if that is still live, else its cluster goes at the next
      // sweep, as its story already did.
      if (this.engine.expiryMs > 0 && time < this.engine.now - this.engine.expiryMs) this.observer.late?.();
      const builtIn = tweet.vector === undefined;
      const a = this.applyOne(tweet.id, tweet.text, time, tweet.vector, user, lang);
      if (builtIn) {
        embedSeconds += (performance.now() - t0) / 1000;
        embedded++;
      }
      if (this.journal !== undefined)
        logged.push(logEntry(tweet.id, tweet.text, time, tweet.vector, user, lang));
      results[i] = {
        id: tweet.id,
        cluster_id: a.cluster,
        new_cluster: a.created,
        similarity: a.similarity,
        duplicate: false,
      };
      accepted++;
    }
    if (embedded > 0) this.observer.embedded?.(embedSeconds, embedded);
    if (logged.length > 0) this.journal?.(Buffer.from(JSON.stringify({ t: 'tweets', tweets: logged })));
    if (accepted > 0) {
      this.observer.applied?.(accepted);
      this.countRate(arrival, accepted);
      this.topicsStale = true;
    }
    this._duplicates += duplicates;
    this._rejected += rejected;
    return { accepted, rejected, duplicates, results };
  }

  /** The one way a tweet changes the state: embed, apply, remember. Ingest and replay share it. */
  private applyOne(
    id: string,
    text: string,
    time: number,
    ownVector: Float32Array | undefined,
    user: string | undefined,
    lang: string | undefined,
  ) {
    const { vector, terms } = this.text.embed({ id, text, time, vector: ownVector });
    const a = this.engine.apply({ id, text, time, vector, terms });
    const m = this.memory;
    m.remember({ id, cluster: a.cluster, similarity: a.similarity, time, text, user, lang }, vector);
    if (!this.heldCapSaid && m.heldDropped > 0) {
      this.heldCapSaid = true;
      this.observer.capReached?.('MAX_TWEET_EMBEDDINGS');
    }
    if (!this.idsCapSaid && m.idsDropped > 0) {
      this.idsCapSaid = true;
      this.observer.capReached?.('MAX_TWEET_IDS');
    }
    return a;
  }

  /**
   * Applies one log record (from `journal`) as it was applied the first time: the same tweets
   * with the same times and vectors, or the same change of live settings.
   */
  replay(payload: Buffer): void {
    let rec: LogRecord;
    try {
      rec = JSON.parse(payload.toString('utf8')) as LogRecord;
    } catch {
      throw new StateError('a log record does not parse');
    }
    if (rec.t === 'tweets') {
      for (const e of rec.tweets) {
        const v =
          e.v === undefined ? undefined : new Float32Array(new Uint8Array(Buffer.from(e.v, 'base64')).buffer);
        if (v !== undefined && v.length !== this.dim)
          throw new StateError('a logged vector has the wrong dimension');
        this.applyOne(e.i, e.x, e.t, v, e.u, e.l);
      }
      this.topicsStale = true;
    } else if (rec.t === 'live') {
      this.applyLive(rec);
    } else {
      throw new StateError(`a log record of unknown type ${String((rec as { t?: unknown }).t)}`);
    }
  }

  /** The nearest cluster for a text or a vector; changes nothing (not even IDF counts). */
  predict(q: PredictIn): { cluster_id: number | null; similarity: number | null; would_join: boolean } {
    if ((q.text === undefined) === (q.embedding === undefined))
      throw new BirdieError('BRD_ERR_VALIDATION', 'give either text or embedding');
    let vector: Float32Array;
    let terms: string[] | undefined;
    if (q.embedding !== undefined) {
      const v = this.vectorOf(q.embedding);
      if (typeof v === 'string')
        throw new BirdieError(
          v.startsWith('embedding has') ? 'BRD_ERR_EMBEDDING_DIMENSION' : 'BRD_ERR_VALIDATION',
          v,
        );
      vector = v;
    } else {
      if (this.external !== undefined)
        throw new Error('this service embeds asynchronously: use predictAsync()');
      const clean: CleanTweet = { id: '', text: q.text ?? '', time: undefined, vector: undefined };
      const e = this.text.embed(clean, false);
      vector = e.vector;
      terms = e.terms;
    }
    return this.predictVector(vector, terms);
  }

  /** `predict`, with a text embedded by the external embedder when there is one. */
  async predictAsync(q: PredictIn) {
    if (this.external === undefined || q.text === undefined || q.embedding !== undefined)
      return this.predict(q);
    const [vector] = await this.embedExternally(this.external, [q.text]);
    const { terms } = this.text.embed({ id: '', text: q.text, time: undefined, vector }, false);
    return this.predictVector(vector, terms);
  }

  /** The external embedder's vectors; its failure is counted and answered as 503. */
  private async embedExternally(embedder: Embedder, texts: string[]): Promise<Float32Array[]> {
    try {
      return await embedder.embed(texts);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.observer.embedderFailed?.(typeof code === 'string' ? code : 'EMBEDDER_ERROR');
      throw new BirdieError('BRD_ERR_EMBEDDER_UNAVAILABLE', embedderFailure(err));
    }
  }

  private predictVector(vector: Float32Array, terms?: string[]) {
    const tree = this.engine.tree;
    if (this.engine.absorb === 'dmm' && terms !== undefined) {
      // the mixture's choice for these words, exactly what ingesting the text now would do
      const choice = this.engine.dmmChoice(terms);
      const cluster = choice ?? tree.descend(vector);
      if (cluster < 0) return { cluster_id: null, similarity: null, would_join: false };
      return {
        cluster_id: cluster,
        similarity: tree.similarity(cluster, vector),
        would_join: choice !== undefined,
      };
    }
    // the entry an insert would be compared with (one descent), so that `would_join` is what
    // ingesting it now would do; the exact nearest cluster (tree.nearest) can differ from it
    const cluster = tree.descend(vector);
    if (cluster < 0) return { cluster_id: null, similarity: null, would_join: false };
    return {
      cluster_id: cluster,
      similarity: tree.similarity(cluster, vector),
      would_join: tree.wouldAbsorb(cluster, vector),
    };
  }

  /**
   * A page of stories (clusters of at least `minSize` tweets, MIN_CLUSTER_SIZE by default):
   * largest, most recently active or fastest growing first (ties: older id first).
   */
  listClusters(sort: ClusterSort, offset: number, limit: number, minSize = this.engine.minClusterSize) {
    const all = [...this.engine.index()].filter((c) => c.size >= minSize);
    if (sort === 'size') all.sort((a, b) => b.size - a.size || a.id - b.id);
    else if (sort === 'growth') all.sort((a, b) => b.growth - a.growth || a.id - b.id);
    else all.sort((a, b) => b.lastSeen - a.lastSeen || a.id - b.id);
    const page = all
      .slice(offset, offset + limit)
      .map((c) => this.clusterView(this.engine.cluster(c.id)!, false));
    return { total: all.length, offset, limit, sort, min_size: minSize, clusters: page };
  }

  /**
   * The stories growing now: clusters of at least MIN_CLUSTER_SIZE tweets whose recent tweets
   * exceed what their own baseline predicts by more than TRENDING_GROWTH standard deviations
   * (see ClusterEngine.growthOf), fastest first. A steady story scores under 1, two tweets
   * about 1.9: neither is news.
   */
  trending(limit: number) {
    const min = this.engine.minClusterSize;
    const all = [...this.engine.index()].filter((c) => c.size >= min && c.growth >= TRENDING_GROWTH);
    all.sort((a, b) => b.growth - a.growth || a.id - b.id);
    const now = this.engine.now;
    return {
      as_of: Number.isFinite(now) ? new Date(now).toISOString() : null,
      total: all.length,
      clusters: all.slice(0, limit).map((c) => this.clusterView(this.engine.cluster(c.id)!, false)),
    };
  }

  /**
   * One cluster's summary. An id absorbed in a rebuild (MAX_CLUSTERS_IN_MEMORY) answers with
   * the cluster that absorbed it, and says so in `merged_from`.
   */
  cluster(id: number) {
    const to = this.engine.resolve(id);
    const c = to === undefined ? undefined : this.engine.cluster(to, 20);
    if (c === undefined)
      throw new BirdieError(
        'BRD_ERR_CLUSTER_NOT_FOUND',
        `no cluster ${id} (it may have expired, or never existed)`,
      );
    return { ...this.clusterView(c, true), ...(to !== id ? { merged_from: id } : {}) };
  }

  tweet(id: string, withEmbedding: boolean) {
    const t = this.memory.get(id);
    if (t === undefined)
      throw new BirdieError(
        'BRD_ERR_TWEET_NOT_FOUND',
        `tweet ${JSON.stringify(id.slice(0, MAX_ID_LENGTH))} is not held in memory (the last ${this.memory.maxHeld} are)`,
      );
    const now = this.engine.resolve(t.cluster);
    return {
      id: t.id,
      cluster_id: now ?? t.cluster,
      cluster_active: now !== undefined,
      ...(now !== undefined && now !== t.cluster ? { assigned_cluster_id: t.cluster } : {}),
      similarity: t.similarity,
      time: new Date(t.time).toISOString(),
      text: t.text,
      ...(t.user !== undefined ? { user: t.user } : {}),
      ...(t.lang !== undefined ? { lang: t.lang } : {}),
      ...(withEmbedding ? { embedding: Array.from(denseVector(t.vector)) } : {}),
    };
  }

  get topicsEnabled(): boolean {
    return this.topicCount > 0;
  }

  /** The last topic step's result (the step runs in the background: `refreshTopics`). */
  topics(): TopicsView {
    if (!this.topicsEnabled) throw new BirdieError('BRD_ERR_TOPICS_DISABLED');
    return this.topicsView;
  }

  /** Runs the global step when tweets arrived since its last run. Returns whether it ran. */
  refreshTopics(): boolean {
    if (!this.topicsEnabled || !this.topicsStale) return false;
    this.topicsStale = false;
    const count = this.engine.clusterCount;
    if (count === 0) {
      this.topicsOf = new Map();
      this.topicsView = { computed_at: new Date(this.clock()).toISOString(), clusters: 0, topics: [] };
      return true;
    }
    const of = this.engine.topics({ nClusters: Math.min(this.topicCount, count) });
    const members = new Map<number, { id: number; size: number }[]>();
    for (const [id, topic] of of) {
      let list = members.get(topic);
      if (list === undefined) {
        list = [];
        members.set(topic, list);
      }
      list.push({ id, size: this.engine.tree.count(id) });
    }
    const topics = [...members.entries()].map(([topic, list]) => {
      list.sort((a, b) => b.size - a.size || a.id - b.id);
      const ids = list.map((c) => c.id);
      return {
        topic,
        size: list.reduce((s, c) => s + c.size, 0),
        clusters: ids,
        terms: this.engine.groupTerms(ids),
      };
    });
    topics.sort((a, b) => b.size - a.size || a.topic - b.topic);
    this.topicsOf = of;
    this.topicsView = { computed_at: new Date(this.clock()).toISOString(), clusters: count, topics };
    return true;
  }

  /** Tweets applied per second, averaged over the last minute (or the uptime when shorter). */
  ingestRate(): number {
    const now = this.clock();
    this.advanceRate(Math.floor(now / 1000));
    let sum = 0;
    for (let i = 0; i < RATE_WINDOW; i++) sum += this.rate[i];
    const span = Math.min(RATE_WINDOW, Math.max(1, (now - this.startedAt) / 1000));
    return sum / span;
  }

  /** How the clusters are distributed, with warnings when the threshold looks wrong. */
  clusteringStats() {
    const e = this.engine;
    let clusters = 0;
    let singletons = 0;
    let stories = 0;
    let largest = 0;
    let points = 0;
    for (const [, n] of e.tree.sizes()) {
      clusters++;
      points += n;
      if (n === 1) singletons++;
      if (n >= e.minClusterSize) stories++;
      if (n > largest) largest = n;
    }
    const warnings: string[] = [];
    const singletonFraction = clusters > 0 ? singletons / clusters : 0;
    const largestFraction = points > 0 ? largest / points : 0;
    // only once there is enough data for the shares to mean something
    if (points >= 100 && singletonFraction > 0.8)
      warnings.push(
        `${Math.round(singletonFraction * 100)}% of clusters are single tweets: the threshold may be too strict (lower SIMILARITY_THRESHOLD, or raise BIRCH_THRESHOLD; birdie tune FILE suggests one)`,
      );
    if (points >= 100 && largestFraction > 0.5)
      warnings.push(
        `one cluster holds ${Math.round(largestFraction * 100)}% of tweets: the threshold may be too loose (raise SIMILARITY_THRESHOLD, or lower BIRCH_THRESHOLD; birdie tune FILE suggests one)`,
      );
    if (e.rebuilds > 0)
      warnings.push(
        `the tree reached MAX_CLUSTERS_IN_MEMORY (${e.maxClusters}) and was rebuilt ${e.rebuilds} time(s); the threshold in use is now ${this.thresholdInUse()}`,
      );
    return {
      clusters,
      stories,
      min_cluster_size: e.minClusterSize,
      tweets_in_clusters: points,
      singletons,
      singleton_fraction: singletonFraction,
      largest_cluster_size: largest,
      largest_cluster_fraction: largestFraction,
      mean_cluster_size: clusters > 0 ? points / clusters : 0,
      threshold_in_use: this.thresholdInUse(),
      expired_clusters: e.expired,
      outliers_removed: e.outliersRemoved,
      rebuilds: e.rebuilds,
      merged_clusters: e.mergedClusters,
      max_clusters_in_memory: e.maxClusters,
      duplicates: this._duplicates,
      rejected: this._rejected,
      warnings,
    };
  }

  /** The absorb bound the tree uses now (a rebuild may have loosened the configured one). */
  thresholdInUse(): { similarity_threshold: number } | { birch_threshold: number } {
    const t = this.engine.tree;
    return t.minSimilarity !== undefined
      ? { similarity_threshold: t.minSimilarity }
      : { birch_threshold: t.threshold };
  }

  private clusterView(c: ClusterSummary, detail: boolean) {
    const topic = this.topicsOf.get(c.id);
    return {
      id: c.id,
      size: c.size,
      first_seen: new Date(c.firstSeen).toISOString(),
      last_seen: new Date(c.lastSeen).toISOString(),
      cohesion: c.cohesion,
      growth: c.growth,
      recent_tweets: c.recent,
      terms: c.terms,
      hashtags: c.hashtags,
      example: c.example ?? null,
      representatives: c.representatives,
      ...(detail
        ? { timeline: c.timeline.map((b) => ({ start: new Date(b.start).toISOString(), count: b.count })) }
        : {}),
      ...(topic !== undefined ? { topic } : {}),
    };
  }

  private checkOne(item: unknown, index: number, arrival: number): Checked | Rejected {
    const idOf = (x: unknown): string | undefined => {
      const id = (x as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && id !== '' && id.length <= MAX_ID_LENGTH) return id;
      if (typeof id === 'number' && Number.isInteger(id)) return String(id);
      return undefined;
    };
    const reject = (code: ErrorCode, message: string): Rejected => {
      const id = idOf(item);
      return { index, ...(id !== undefined ? { id } : {}), error: { code, message } };
    };
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return reject('BRD_ERR_INVALID_TWEET', 'a tweet must be a JSON object');
    if (!checkTweetShape.Check(item)) {
      const first = firstError(item);
      return reject('BRD_ERR_INVALID_TWEET', first);
    }
    const t = item as TweetIn;
    let vector: Float32Array | undefined;
    if (t.embedding !== undefined) {
      const v = this.vectorOf(t.embedding);
      if (typeof v === 'string')
        return reject(
          v.startsWith('embedding has') ? 'BRD_ERR_EMBEDDING_DIMENSION' : 'BRD_ERR_INVALID_TWEET',
          v,
        );
      vector = v;
    } else if (t.text.trim() === '') {
      return reject('BRD_ERR_INVALID_TWEET', 'text is empty (and no embedding is given)');
    }
    let time: number | undefined;
    if (t.created_at !== undefined) {
      time = parseTime(t.created_at);
      if (time === undefined) return reject('BRD_ERR_INVALID_TWEET', 'created_at is not a date');
      // a tweet dated far ahead is a mistake, refused; a little ahead is clamped to its arrival
      if (time > arrival + MAX_FUTURE_MS)
        return reject('BRD_ERR_INVALID_TWEET', 'created_at is more than a day in the future');
    }
    const id = idOf(t) ?? randomUUID();
    return {
      tweet: { id, text: t.text, time, vector },
      user: t.user === undefined ? undefined : String(t.user),
      lang: t.lang,
    };
  }

  private vectorOf(values: unknown): Float32Array | string {
    if (Array.isArray(values) && values.length !== this.dim)
      return `embedding has dimension ${values.length}, expected ${this.dim}`;
    return parseVector(values, 'embedding', this.dim);
  }

  private countRate(now: number, n: number): void {
    const sec = Math.floor(now / 1000);
    this.advanceRate(sec);
    this.rate[sec % RATE_WINDOW] += n;
  }

  /** Zeroes the ring's seconds between the last one counted and `sec`. */
  private advanceRate(sec: number): void {
    if (sec <= this.rateSecond) return;
    const steps = Math.min(RATE_WINDOW, sec - this.rateSecond);
    for (let k = 1; k <= steps; k++) this.rate[(this.rateSecond + k) % RATE_WINDOW] = 0;
    this.rateSecond = sec;
  }
}

/** The first schema error of an item, as "<field> <problem>". */
function firstError(item: unknown): string {
  for (const e of checkTweetShape.Errors(item)) {
    // anyOf branches report each failure and then the anyOf itself: the summary reads best
    if (e.keyword === 'anyOf' || e.schemaPath.includes('anyOf/') === false) {
      const field = e.instancePath === '' ? 'tweet' : e.instancePath.slice(1).replaceAll('/', '.');
      const message =
        e.keyword === 'anyOf'
          ? 'has the wrong type'
          : e.keyword === 'required'
            ? `needs ${String((e.params as { requiredProperties?: string[] }).requiredProperties?.join(', ') ?? 'more fields')}`
            : e.message;
      return `${field} ${message}`;
    }
  }
  return 'tweet is not valid';
}

/** The engine's hooks, forwarded to the service's observer. */
function engineEvents(o: Observer): EngineEvents {
  return {
    rebuilt: (e) => o.rebuilt?.(e),
    swept: (expired, outliers) => o.swept?.(expired, outliers),
    evicted: (outliers) => o.evicted?.(outliers),
  };
}
