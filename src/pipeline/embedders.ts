/**
 * The embedder a service runs with, from plain settings (the server maps its config onto them):
 * none for the built-in hashed TF-IDF (the TextPipeline's own, synchronous), else a
 * sentence-transformer model or a remote service, always behind the embedding cache (an
 * in-process LRU, and Redis when a URL is given). Every hook reports to one observer, so that
 * the server can count and log without the pipeline knowing Prometheus or pino.
 */
import { CachedEmbedder } from '../text/cache.js';
import type { Embedder } from '../text/embedder.js';
import { EmbedderError } from '../text/errors.js';
import { HttpEmbedder } from '../text/http-embedder.js';
import { TransformersEmbedder } from '../text/transformers.js';

export interface EmbedderSettings {
  embedder: 'tfidf' | 'transformers' | 'http';
  modelPath?: string;
  model?: string;
  allowDownload: boolean;
  /** where downloaded hub models are kept */
  cacheDir?: string;
  url?: string;
  api: 'auto' | 'openai' | 'tei';
  apiKey?: string;
  batchSize: number;
  timeoutMs: number;
  retries: number;
  threads: number;
  redisUrl?: string;
  cacheSize: number;
  cacheTtlSeconds: number;
}

export interface EmbedderObserver {
  /** seconds of one model call or remote request, and whether it worked */
  call?(seconds: number, ok: boolean): void;
  cacheHit?(tier: 'lru' | 'redis', n: number): void;
  cacheMiss?(n: number): void;
  cacheError?(op: 'get' | 'set', err: Error): void;
  /** Redis became usable or not (each change once) */
  redis?(up: boolean, reason: string): void;
}

/** The embedder for the settings, loaded and ready; undefined for the built-in tfidf. */
export async function createEmbedder(
  s: EmbedderSettings,
  observer: EmbedderObserver = {},
): Promise<CachedEmbedder | undefined> {
  let inner: Embedder;
  if (s.embedder === 'tfidf') return undefined;
  if (s.embedder === 'transformers') {
    inner = await TransformersEmbedder.load({
      modelPath: s.modelPath,
      modelName: s.modelPath === undefined ? s.model : undefined,
      allowDownload: s.allowDownload,
      cacheDir: s.cacheDir,
      batchSize: s.batchSize,
      threads: s.threads,
      observer: { batch: (_texts, seconds, ok) => observer.call?.(seconds, ok) },
    });
  } else {
    if (s.url === undefined) throw new RangeError('EMBEDDER=http needs EMBEDDING_URL');
    inner = await HttpEmbedder.connect({
      url: s.url,
      api: s.api === 'auto' ? undefined : s.api,
      apiKey: s.apiKey,
      model: s.model,
      batchSize: s.batchSize,
      timeoutMs: s.timeoutMs,
      retries: s.retries,
      observer: { request: (seconds, ok) => observer.call?.(seconds, ok) },
    });
  }
  const cached = new CachedEmbedder(inner, {
    size: s.cacheSize,
    redisUrl: s.redisUrl,
    ttlSeconds: s.cacheTtlSeconds,
    observer: {
      hit: (tier, n) => observer.cacheHit?.(tier, n),
      miss: (n) => observer.cacheMiss?.(n),
      error: (op, err) => observer.cacheError?.(op, err),
      redis: (up, reason) => observer.redis?.(up, reason),
    },
  });
  // a first answer from Redis (or not) before the service turns ready; it is optional either way
  await cached.ready();
  return cached;
}

/** An embedder's failure as the message a client may see: the code and what happened, no secret. */
export function embedderFailure(err: unknown): string {
  if (err instanceof EmbedderError) return `${err.code}: ${err.message}`;
  return 'the embedder failed';
}
