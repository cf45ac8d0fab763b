/**
 * The embedding cache: an in-process LRU always, and Redis (shared by every birdie process and
 * kept across restarts) when a Redis URL is given.
 *
 *   embed(texts) ──> normalise, key ──> LRU ──misses──> Redis MGET ──misses──> inner.embed (one batch)
 *                                        ^               ^                          │
 *                                        └───────────────┴──── store (Redis: SET EX, not awaited)
 *
 * Key: `<prefix><inner modelId>:<sha256 hex of the normalised text>`; the model id keeps vectors
 * of different models (and dimensions) apart in a shared Redis. Normalised: Unicode NFC, trimmed,
 * every run of whitespace one space. The inner embedder is given the normalised text too, so a
 * hit returns exactly what a miss would have computed. Value: the row's float32 bytes (machine
 * order: little-endian on every platform Node runs on), `dim * 4` bytes; anything else read back
 * is a miss. TTL: `ttlSeconds` (default 3600), set with each write.
 *
 * Redis is optional at run time too. Commands fail at once while it is disconnected (no offline
 * queue: a request never waits for a reconnect), each command is bounded by `commandTimeoutMs`,
 * and a connection attempt by `connectTimeoutMs`; the client keeps reconnecting in the background
 * (backoff up to 2 s). Three failed commands in a row (a Redis that accepts connections but does
 * not answer) also count as down, for `cooldownMs`, after which it is tried again. Every change
 * between up and down is reported once to the observer, not every failed reconnect.
 *
 * Only embedders whose vectors depend on the text alone can be cached: the online-IDF vectorizer
 * (vectors depend on the texts before) is refused.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Embedder } from './embedder.js';

export interface CachedEmbedderOptions {
  /** Rows kept in the in-process LRU. Default 10 000 (about 10 000 * (dim * 4 + ~200) bytes). */
  size?: number;
  /** redis:// or rediss:// URL; absent: the LRU alone. */
  redisUrl?: string;
  /** TTL of a Redis entry. Default 3600. */
  ttlSeconds?: number;
  /** Prefix of every Redis key. Default `birdie:emb:`. */
  keyPrefix?: string;
  /** Longest wait for a TCP connection to Redis. Default 500 ms. */
  connectTimeoutMs?: number;
  /** Longest wait for one Redis command. Default 250 ms. */
  commandTimeoutMs?: number;
  /** How long Redis is left alone after failing commands in a row while connected. Default 5 000 ms. */
  cooldownMs?: number;
  observer?: CacheObserver;
}

export type CacheSource = 'lru' | 'redis';

export interface CacheObserver {
  /** `count` rows served from `source` in one embed() call */
  hit?(source: CacheSource, count: number): void;
  /** `count` rows computed by the inner embedder in one embed() call */
  miss?(count: number): void;
  /** a Redis command failed (the request went on without it) */
  error?(op: 'get' | 'set', err: Error): void;
  /** Redis became usable (true) or not (false); called on each change only */
  redis?(up: boolean, reason: string): void;
}

export const DEFAULT_CACHE_SIZE = 10_000;
export const DEFAULT_CACHE_TTL_SECONDS = 3600;

/** NFC, trimmed, whitespace runs collapsed: texts that differ only there share an entry. */
export function normaliseText(text: string): string {
  return text.normalize('NFC').trim().replace(/\s+/gu, ' ');
}

/** Rows by key, least recently used first (a Map iterates in insertion order). */
class Lru {
  private readonly map = new Map<string, Float32Array>();
  constructor(readonly capacity: number) {}

  get(key: string): Float32Array | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, v: Float32Array): void {
    this.map.delete(key);
    this.map.set(key, v);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }

  get size(): number {
    return this.map.size;
  }
}

const FAILURES_BEFORE_COOLDOWN = 3;

export class CachedEmbedder implements Embedder {
  readonly dim: number;
  readonly modelId: string;
  readonly cacheable = true;
  readonly inner: Embedder;
  readonly ttlSeconds: number;

  private readonly lru: Lru;
  private readonly prefix: string;
  private readonly observer: CacheObserver | undefined;
  private readonly redis: Redis | undefined;
  private readonly cooldownMs: number;
  /** undefined until the first connection attempt settles */
  private up: boolean | undefined;
  /** failed commands in a row while connected */
  private failures = 0;
  private coolUntil = 0;
  private readonly pending = new Set<Promise<void>>();
  private firstState: Promise<boolean>;
  private closed = false;

  constructor(inner: Embedder, opts: CachedEmbedderOptions = {}) {
    const stateful =
      inner.cacheable === false ||
      (inner.cacheable === undefined &&
        typeof (inner as { exportState?: unknown }).exportState === 'function');
    if (stateful)
      throw new TypeError(
        `embedder ${inner.modelId} cannot be cached: its vectors depend on the texts embedded before (state), not on the text alone`,
      );
    this.inner = inner;
    this.dim = inner.dim;
    this.modelId = inner.modelId;
    const size = opts.size ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(size) || size < 0)
      throw new RangeError(`size must be an integer >= 0, got ${size}`);
    this.lru = new Lru(size);
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_CACHE_TTL_SECONDS;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1)
      throw new RangeError(`ttlSeconds must be a positive integer, got ${this.ttlSeconds}`);
    this.prefix = `${opts.keyPrefix ?? 'birdie:emb:'}${inner.modelId}:`;
    this.observer = opts.observer;
    this.cooldownMs = opts.cooldownMs ?? 5000;
    if (opts.redisUrl === undefined || opts.redisUrl === '') {
      this.firstState = Promise.resolve(false);
      return;
    }
    const redis = new Redis(opts.redisUrl, {
      connectTimeout: opts.connectTimeoutMs ?? 500,
      commandTimeout: opts.commandTimeoutMs ?? 250,
      // fail at once while disconnected instead of queueing until a reconnect
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // reconnect forever in the background: 100 ms, 200 ms, ... at most 2 s apart
      retryStrategy: (times) => Math.min(times * 100, 2000),
      autoResubscribe: false,
      lazyConnect: false,
    });
    this.redis = redis;
    let settle: (up: boolean) => void = () => {};
    this.firstState = new Promise((resolve) => {
      settle = resolve;
    });
    redis.on('ready', () => {
      this.failures = 0;
      this.coolUntil = 0;
      this.setUp(true, 'connected');
      settle(true);
    });
    // 'error' comes with every failed reconnect: only the change to down is reported
    redis.on('error', (err: Error) => {
      this.setUp(false, err.message);
      settle(false);
    });
    redis.on('close', () => {
      this.setUp(false, 'connection closed');
      settle(false);
    });
  }

  /** Resolves once the first connection attempt to Redis has settled: true if Redis is usable. */
  ready(): Promise<boolean> {
    return this.firstState;
  }

  /** 'off' without a Redis URL; else whether it is used right now. */
  get redisState(): 'off' | 'up' | 'down' {
    if (this.redis === undefined) return 'off';
    return this.usable() ? 'up' : 'down';
  }

  /** Rows in the in-process LRU. */
  get lruSize(): number {
    return this.lru.size;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const n = texts.length;
    const out = new Array<Float32Array>(n);
    if (n === 0) return out;
    // one lookup per distinct key; positions of each
    const where = new Map<string, { text: string; at: number[] }>();
    for (let i = 0; i < n; i++) {
      const text = normaliseText(texts[i]);
      const key = this.prefix + createHash('sha256').update(text).digest('hex');
      const w = where.get(key);
      if (w === undefined) where.set(key, { text, at: [i] });
      else w.at.push(i);
    }
    const put = (key: string, v: Float32Array) => {
      for (const i of (where.get(key) as { at: number[] }).at) out[i] = v.slice();
    };

    let missing: string[] = [];
    for (const key of where.keys()) {
      const v = this.lru.get(key);
      if (v !== undefined) put(key, v);
      else missing.push(key);
    }
    if (where.size > missing.length) this.observer?.hit?.('lru', where.size - missing.length);

    if (missing.length > 0 && this.usable()) {
      const redis = this.redis as Redis;
      try {
        const values = await redis.mgetBuffer(...missing);
        this.succeeded();
        const still: string[] = [];
        let hits = 0;
        for (let k = 0; k < missing.length; k++) {
          const b = values[k];
          if (b === null || b.byteLength !== this.dim * 4) {
            still.push(missing[k]);
            continue;
          }
          const v = new Float32Array(this.dim);
          new Uint8Array(v.buffer).set(b);
          this.lru.set(missing[k], v);
          put(missing[k], v);
          hits++;
        }
        if (hits > 0) this.observer?.hit?.('redis', hits);
        missing = still;
      } catch (err) {
        this.failed('get', err as Error);
      }
    }

    if (missing.length > 0) {
      this.observer?.miss?.(missing.length);
      const rows = await this.inner.embed(missing.map((key) => (where.get(key) as { text: string }).text));
      for (let k = 0; k < missing.length; k++) {
        const v = rows[k];
        this.lru.set(missing[k], v.slice());
        put(missing[k], v);
      }
      if (this.usable()) this.store(missing, rows);
    }
    return out;
  }

  /** Waits for the Redis writes started so far (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Flushes, disconnects from Redis, and closes the inner embedder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    if (this.redis !== undefined) {
      if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis?.disconnect());
      else this.redis.disconnect();
    }
    await this.inner.close?.();
  }

  /** SET key value EX ttl for each new row, in one pipeline; not awaited by embed(). */
  private store(keys: string[], rows: Float32Array[]): void {
    const pipeline = (this.redis as Redis).pipeline();
    for (let k = 0; k < keys.length; k++) {
      const v = rows[k];
      pipeline.set(keys[k], Buffer.from(v.buffer, v.byteOffset, v.byteLength), 'EX', this.ttlSeconds);
    }
    const p = pipeline.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err !== null);
        if (failed) this.failed('set', failed[0] as Error);
        else this.succeeded();
      },
      (err: Error) => this.failed('set', err),
    );
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private usable(): boolean {
    if (this.redis === undefined || this.closed || this.redis.status !== 'ready') return false;
    if (this.coolUntil > 0) {
      if (Date.now() < this.coolUntil) return false;
      this.coolUntil = 0; // cooled down: the next command tries again
    }
    return true;
  }

  private succeeded(): void {
    this.failures = 0;
    this.setUp(true, 'answering again');
  }

  private failed(op: 'get' | 'set', err: Error): void {
    this.observer?.error?.(op, err);
    if (++this.failures >= FAILURES_BEFORE_COOLDOWN && this.redis?.status === 'ready') {
      this.failures = 0;
      this.coolUntil = Date.now() + this.cooldownMs;
      this.setUp(false, `${FAILURES_BEFORE_COOLDOWN} commands failed in a row (${err.message})`);
    }
  }

  private setUp(up: boolean, reason: string): void {
    if (up === this.up || this.closed) return;
    this.up = up;
    this.observer?.redis?.(up, reason);
  }
}
