/**
 * Configuration: environment variables (and an optional .env file under them) -> one typed,
 * validated object. Every option is described once, in OPTIONS; `.env.example` and the README's
 * table are generated from it (test/config.test.ts fails when they drift).
 *
 * Startup collects every problem before it stops, so an operator fixes a bad deployment in one go.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const EMBEDDERS = ['tfidf', 'transformers', 'http'] as const;

export interface Config {
  port: number;
  host: string;
  stateDir: string;
  logLevel: LogLevel;
  apiTokens: string[];
  adminTokens: string[];
  embedder: (typeof EMBEDDERS)[number];
  embeddingDim: number;
  embeddingModelPath: string | undefined;
  embeddingModel: string | undefined;
  embeddingAllowDownload: boolean;
  embeddingUrl: string | undefined;
  embeddingApi: 'auto' | 'openai' | 'tei';
  embeddingApiKey: string | undefined;
  embeddingBatchSize: number;
  embeddingTimeoutMs: number;
  embeddingRetries: number;
  embeddingThreads: number;
  redisUrl: string | undefined;
  embeddingCacheSize: number;
  embeddingCacheTtlSeconds: number;
  absorb: 'auto' | 'dmm' | 'cosine' | 'radius';
  dmmAlpha: number;
  dmmBeta: number;
  dmmHalfLife: number;
  dmmOutlierSize: number;
  similarityThreshold: number;
  /** sklearn's radius threshold; when set, clusters absorb by radius instead of by cosine */
  birchThreshold: number | undefined;
  branchingFactor: number;
  batchSize: number;
  maxBodyBytes: number;
  maxTweetEmbeddings: number;
  maxTweetIds: number;
  clusterExpiryHours: number;
  minClusterSize: number;
  outlierExpiryHours: number;
  maxClustersInMemory: number;
  topics: number;
  topicsIntervalSeconds: number;
  rateLimitPerMinute: number;
  shutdownTimeoutSeconds: number;
  trustProxy: boolean;
  walSync: 'fsync' | 'write' | 'off';
  backupIntervalSeconds: number;
  backupEveryTweets: number;
  backupMinIntervalSeconds: number;
  backupKeep: number;
  s3Bucket: string | undefined;
  s3Prefix: string;
  s3Endpoint: string | undefined;
  encryptionKey: string | undefined;
  encryptionPreviousKeys: string[];
}

/** Settings that `POST /config/reload` may change while the service runs. */
export const LIVE_KEYS = [
  'logLevel',
  'similarityThreshold',
  'birchThreshold',
  'batchSize',
  'clusterExpiryHours',
  'minClusterSize',
  'outlierExpiryHours',
  'maxClustersInMemory',
] as const satisfies readonly (keyof Config)[];
export type LiveKey = (typeof LIVE_KEYS)[number];

interface Option<K extends keyof Config = keyof Config> {
  env: string;
  key: K;
  /** the value when the variable is unset or empty; undefined = no value */
  default: string | undefined;
  doc: string;
  live?: boolean;
  secret?: boolean;
  /** returns the value or throws an Error whose message says what is wrong */
  parse: (raw: string) => Config[K];
}

function int(min: number, max: number) {
  return (raw: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`must be an integer, got "${raw}"`);
    const v = Number(raw);
    if (v < min || v > max) throw new Error(`must be between ${min} and ${max}, got ${v}`);
    return v;
  };
}

function num(min: number, max: number, opts: { exclusiveMin?: boolean } = {}) {
  return (raw: string): number => {
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(v)) throw new Error(`must be a number, got "${raw}"`);
    if (opts.exclusiveMin ? v <= min : v < min)
      throw new Error(`must be ${opts.exclusiveMin ? 'greater than' : 'at least'} ${min}, got ${v}`);
    if (v > max) throw new Error(`must be at most ${max}, got ${v}`);
    return v;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const v = raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(v))
      throw new Error(`must be one of ${values.join(', ')}, got "${raw}"`);
    return v as T;
  };
}

/** A token shorter than this is refused: a guessable token is worse than an honest open service. */
export const MIN_TOKEN_LENGTH = 16;

function tokens(raw: string): string[] {
  const list = raw
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  for (const t of list) {
    // never echo the token itself: error messages end up in logs
    if (t.length < MIN_TOKEN_LENGTH)
      throw new Error(`every token must have at least ${MIN_TOKEN_LENGTH} characters (one has ${t.length})`);
  }
  return list;
}

/** Seconds, or a duration with a unit: 90, 90s, 30m, 1h, 1d. */
function duration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/i.exec(raw.trim());
  if (m === null) throw new Error(`must be seconds or a duration like 30m or 1h, got "${raw}"`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function encryptionKey(raw: string): string {
  const t = raw.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(t);
  const b64 = /^[A-Za-z0-9+/_-]{43}=?$/.test(t) && Buffer.from(t, 'base64').length === 32;
  // never echo the value: it is a secret
  if (!hex && !b64) throw new Error('must be 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)');
  return t;
}

function bool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
}

export const OPTIONS: readonly Option[] = [
  { env: 'PORT', key: 'port', default: '8000', doc: 'TCP port of the HTTP API', parse: int(0, 65535) },
  { env: 'HOST', key: 'host', default: '0.0.0.0', doc: 'Address to listen on', parse: (s) => s.trim() },
  {
    env: 'STATE_DIR',
    key: 'stateDir',
    default: './data',
    doc: 'Directory for local state (created when missing; must be writable)',
    parse: (s) => s.trim(),
  },
  {
    env: 'LOG_LEVEL',
    key: 'logLevel',
    default: 'info',
    doc: `Log level: ${LOG_LEVELS.join(', ')}; tweet texts are logged only at debug and below`,
    live: true,
    parse: oneOf(LOG_LEVELS),
  },
  {
    env: 'API_TOKENS',
    key: 'apiTokens',
    default: '',
    doc: `Comma-separated bearer tokens for ingest and read endpoints (at least ${MIN_TOKEN_LENGTH} characters each). None: the API is open (a warning is logged)`,
    secret: true,
    parse: tokens,
  },
  {
    env: 'ADMIN_TOKENS',
    key: 'adminTokens',
    default: '',
    doc: 'Comma-separated bearer tokens for config, backup, restore and debug endpoints (they may also ingest and read)',
    secret: true,
    parse: tokens,
  },
  {
    env: 'EMBEDDER',
    key: 'embedder',
    default: 'tfidf',
    doc: 'Tweet embedder: tfidf (built in, hashed TF-IDF; no download, no service), transformers (a sentence-transformer model run in process: EMBEDDING_MODEL_PATH or EMBEDDING_MODEL), http (a remote embedding service: EMBEDDING_URL)',
    parse: oneOf(EMBEDDERS),
  },
  {
    env: 'EMBEDDING_DIM',
    key: 'embeddingDim',
    default: '1024',
    doc: 'Dimension of the built-in tfidf embedder; tweets that bring an `embedding` must have this many values (with transformers or http, the model decides the dimension)',
    parse: int(8, 65536),
  },
  {
    env: 'EMBEDDING_MODEL_PATH',
    key: 'embeddingModelPath',
    default: undefined,
    doc: 'EMBEDDER=transformers: a local model directory (config.json, tokenizer files, onnx/model.onnx), as transformers.js lays it out',
    parse: (s) => s.trim(),
  },
  {
    env: 'EMBEDDING_MODEL',
    key: 'embeddingModel',
    default: undefined,
    doc: 'EMBEDDER=transformers: a model name on the Hugging Face hub (e.g. Xenova/all-MiniLM-L6-v2), loaded only with EMBEDDING_ALLOW_DOWNLOAD=true. EMBEDDER=http: the model name sent to the service',
    parse: (s) => s.trim(),
  },
  {
    env: 'EMBEDDING_ALLOW_DOWNLOAD',
    key: 'embeddingAllowDownload',
    default: 'false',
    doc: 'EMBEDDER=transformers: allow downloading EMBEDDING_MODEL from the hub (cached under STATE_DIR/models)',
    parse: bool,
  },
  {
    env: 'EMBEDDING_URL',
    key: 'embeddingUrl',
    default: undefined,
    doc: 'EMBEDDER=http: the embedding service, OpenAI-compatible (…/v1/embeddings) or text-embeddings-inference (…/embed)',
    parse: (s) => {
      const t = s.trim();
      if (!/^https?:\/\/[^\s]+$/.test(t)) throw new Error('must be an http(s) URL');
      return t;
    },
  },
  {
    env: 'EMBEDDING_API',
    key: 'embeddingApi',
    default: 'auto',
    doc: "EMBEDDER=http: openai, tei, or auto (from EMBEDDING_URL's path)",
    parse: oneOf(['auto', 'openai', 'tei'] as const),
  },
  {
    env: 'EMBEDDING_API_KEY',
    key: 'embeddingApiKey',
    default: undefined,
    doc: 'EMBEDDER=http: sent as `Authorization: Bearer <key>`; never logged',
    secret: true,
    parse: (s) => s.trim(),
  },
  {
    env: 'EMBEDDING_BATCH_SIZE',
    key: 'embeddingBatchSize',
    default: '32',
    doc: 'Texts per model call (transformers) or per request (http)',
    parse: int(1, 4096),
  },
  {
    env: 'EMBEDDING_TIMEOUT_MS',
    key: 'embeddingTimeoutMs',
    default: '10000',
    doc: 'EMBEDDER=http: timeout of one request',
    parse: int(100, 600_000),
  },
  {
    env: 'EMBEDDING_RETRIES',
    key: 'embeddingRetries',
    default: '3',
    doc: 'EMBEDDER=http: retries after a timeout, a network error, 429 or 5xx, with exponential backoff (Retry-After honoured)',
    parse: int(0, 20),
  },
  {
    env: 'EMBEDDING_THREADS',
    key: 'embeddingThreads',
    default: '1',
    doc: 'EMBEDDER=transformers: worker threads running the model, so the HTTP event loop stays responsive',
    parse: int(1, 64),
  },
  {
    env: 'REDIS_URL',
    key: 'redisUrl',
    default: undefined,
    doc: 'Share embeddings (transformers, http) across processes and restarts in Redis, e.g. redis://127.0.0.1:6379. Without it an in-process cache serves. Redis going away is logged, not fatal',
    secret: true,
    parse: (s) => {
      const t = s.trim();
      if (!/^rediss?:\/\/[^\s]+$/.test(t)) throw new Error('must be a redis:// or rediss:// URL');
      return t;
    },
  },
  {
    env: 'EMBEDDING_CACHE_SIZE',
    key: 'embeddingCacheSize',
    default: '10000',
    doc: 'Embeddings kept in the in-process cache (transformers, http); 0: none',
    parse: int(0, 10_000_000),
  },
  {
    env: 'EMBEDDING_CACHE_TTL',
    key: 'embeddingCacheTtlSeconds',
    default: '1h',
    doc: 'How long Redis keeps an embedding (a number of seconds, or 30m, 1h, ...)',
    parse: (raw) => {
      const seconds = duration(raw);
      if (seconds < 1) throw new Error('must be at least 1s');
      return Math.round(seconds);
    },
  },
  {
    env: 'ABSORB',
    key: 'absorb',
    default: 'auto',
    doc: "How a tweet chooses its cluster: dmm (a Dirichlet-multinomial mixture on the tweet's words: the best on short texts), cosine (cosine to the nearest centroid, SIMILARITY_THRESHOLD), radius (sklearn's BIRCH, BIRCH_THRESHOLD). auto: radius when BIRCH_THRESHOLD is set, cosine when SIMILARITY_THRESHOLD is set or the embedder is a model or a service (the DMM reads words, not vectors), else dmm",
    parse: oneOf(['auto', 'dmm', 'cosine', 'radius'] as const),
  },
  {
    env: 'DMM_ALPHA',
    key: 'dmmAlpha',
    default: '0.1',
    doc: 'ABSORB=dmm: weight of a new cluster per recent tweet (higher: more, smaller clusters)',
    parse: num(0, 1000, { exclusiveMin: true }),
  },
  {
    env: 'DMM_BETA',
    key: 'dmmBeta',
    default: '0.01',
    doc: 'ABSORB=dmm: pseudo-count of every word in every cluster (higher: words shared with a cluster matter less)',
    parse: num(0, 10, { exclusiveMin: true }),
  },
  {
    env: 'DMM_HALF_LIFE',
    key: 'dmmHalfLife',
    default: '300',
    doc: "ABSORB=dmm: a story's pull on new tweets halves every this many tweets without it (counted in tweets, not time)",
    parse: int(1, 1e9),
  },
  {
    env: 'DMM_OUTLIER_SIZE',
    key: 'dmmOutlierSize',
    default: '3',
    doc: 'ABSORB=dmm: clusters under this many tweets join the story they belong to once two half-lives quiet (merged, the older id stays). 1: never',
    parse: int(1, 1000),
  },
  {
    env: 'SIMILARITY_THRESHOLD',
    key: 'similarityThreshold',
    default: '0.25',
    doc: "A tweet joins its nearest cluster when its cosine similarity with the cluster's centroid is at least this; else it starts a new cluster",
    live: true,
    parse: num(0, 1),
  },
  {
    env: 'BIRCH_THRESHOLD',
    key: 'birchThreshold',
    default: undefined,
    doc: "scikit-learn's radius threshold instead of SIMILARITY_THRESHOLD: a tweet joins when the merged cluster's radius stays within it (unit vectors: cos >= 1 - 2T^2 for a pair). Unset: cosine mode",
    live: true,
    parse: num(0, 2, { exclusiveMin: true }),
  },
  {
    env: 'BIRCH_BRANCHING_FACTOR',
    key: 'branchingFactor',
    default: '50',
    doc: 'Entries per CF-tree node',
    parse: int(2, 1000),
  },
  {
    env: 'BATCH_SIZE',
    key: 'batchSize',
    default: '500',
    doc: 'Most tweets accepted in one POST /tweets',
    live: true,
    parse: int(1, 100_000),
  },
  {
    env: 'MAX_BODY_BYTES',
    key: 'maxBodyBytes',
    default: '10485760',
    doc: 'Largest request body in bytes (larger: 413)',
    parse: int(1024, 1 << 30),
  },
  {
    env: 'MAX_TWEET_EMBEDDINGS',
    key: 'maxTweetEmbeddings',
    default: '10000',
    doc: 'Tweets (text, vector, cluster) held in memory for GET /tweets/:id; the oldest go first',
    parse: int(0, 10_000_000),
  },
  {
    env: 'MAX_TWEET_IDS',
    key: 'maxTweetIds',
    default: '1000000',
    doc: 'Tweet ids remembered to answer a repeated id with its first cluster (about 100 bytes each); the oldest go first',
    parse: int(0, 100_000_000),
  },
  {
    env: 'CLUSTER_EXPIRY_HOURS',
    key: 'clusterExpiryHours',
    default: '24',
    doc: "A cluster with no tweet for this long leaves the tree, by the tweets' own time (created_at, else arrival). 0: never",
    live: true,
    parse: num(0, 1e6),
  },
  {
    env: 'MIN_CLUSTER_SIZE',
    key: 'minClusterSize',
    default: '2',
    doc: 'Tweets a cluster needs to count as a story: smaller ones (outliers) are not listed, trending or counted as active',
    live: true,
    parse: int(1, 1_000_000),
  },
  {
    env: 'OUTLIER_EXPIRY_HOURS',
    key: 'outlierExpiryHours',
    default: '2',
    doc: 'An outlier (under MIN_CLUSTER_SIZE tweets) with no new tweet for this long leaves the tree, so one-off tweets do not pile up. 0: only CLUSTER_EXPIRY_HOURS applies',
    live: true,
    parse: num(0, 1e6),
  },
  {
    env: 'MAX_CLUSTERS_IN_MEMORY',
    key: 'maxClustersInMemory',
    default: '50000',
    doc: 'Most clusters the tree holds (each costs about 8 bytes x EMBEDDING_DIM): beyond it the threshold is loosened and the tree rebuilt, merging clusters (the older id stays). 0: no cap',
    live: true,
    parse: int(0, 100_000_000),
  },
  {
    env: 'TOPICS',
    key: 'topics',
    default: '0',
    doc: 'Group the clusters into this many topics (BIRCH global step, run in the background) for GET /topics. 0: off',
    parse: int(0, 100_000),
  },
  {
    env: 'TOPICS_INTERVAL_SECONDS',
    key: 'topicsIntervalSeconds',
    default: '60',
    doc: 'How often the topic step runs when tweets have arrived since the last run',
    parse: int(1, 86_400),
  },
  {
    env: 'RATE_LIMIT_PER_MINUTE',
    key: 'rateLimitPerMinute',
    default: '0',
    doc: 'Requests per minute per token (per address without one); over it: 429. 0: no limit. Probes are never limited',
    parse: int(0, 1e9),
  },
  {
    env: 'SHUTDOWN_TIMEOUT_SECONDS',
    key: 'shutdownTimeoutSeconds',
    default: '10',
    doc: 'On SIGTERM/SIGINT, how long requests in flight may take before the process exits anyway',
    parse: int(1, 600),
  },
  {
    env: 'WAL_SYNC',
    key: 'walSync',
    default: 'fsync',
    doc: 'When a tweet is acknowledged: fsync (its log record is on disk: survives a crash or power cut), write (handed to the OS: survives a killed process, not a power cut), off (at once; written within 100 ms)',
    parse: oneOf(['fsync', 'write', 'off'] as const),
  },
  {
    env: 'BACKUP_INTERVAL',
    key: 'backupIntervalSeconds',
    default: '1h',
    doc: 'Snapshot and back up this often (seconds, or 30m, 1h, 1d). 0: no timer',
    parse: (raw) => {
      const v = duration(raw);
      if (v !== 0 && v < 1) throw new Error('must be 0 or at least 1 second');
      return v;
    },
  },
  {
    env: 'BACKUP_EVERY_TWEETS',
    key: 'backupEveryTweets',
    default: '1000',
    doc: 'Also snapshot and back up after this many new tweets (never more than one at a time). 0: off',
    parse: int(0, 1e12),
  },
  {
    env: 'BACKUP_MIN_INTERVAL',
    key: 'backupMinIntervalSeconds',
    default: '30s',
    doc: 'The tweet-count trigger waits at least this long after the previous backup. Every acknowledged tweet is in the log whatever the cadence; snapshots only shorten the replay at startup, and at 20,000 tweets/s a snapshot every 1000 tweets would mean 20 a second',
    parse: duration,
  },
  {
    env: 'BACKUP_KEEP',
    key: 'backupKeep',
    default: '24',
    doc: 'Backups kept in the store; older ones are deleted',
    parse: int(1, 100_000),
  },
  {
    env: 'S3_BUCKET_NAME',
    key: 's3Bucket',
    default: undefined,
    doc: 'Back up to this S3 bucket (credentials from the AWS SDK chain: env, profile, IAM role; region from AWS_REGION). Unset: backups stay in STATE_DIR',
    parse: (s) => s.trim(),
  },
  {
    env: 'S3_PREFIX',
    key: 's3Prefix',
    default: 'birch-clustering/',
    doc: 'Key prefix in the bucket; backups go to <prefix>state/<YYYYMMDD_HHMMSS>/',
    parse: (s) => (s.trim().endsWith('/') ? s.trim() : `${s.trim()}/`),
  },
  {
    env: 'S3_ENDPOINT',
    key: 's3Endpoint',
    default: undefined,
    doc: 'Endpoint of an S3-compatible store (MinIO, ...), e.g. http://minio:9000',
    parse: (s) => {
      const t = s.trim();
      if (!/^https?:\/\/[^\s]+$/.test(t)) throw new Error(`must be an http(s) URL, got "${t}"`);
      return t;
    },
  },
  {
    env: 'ENCRYPTION_KEY',
    key: 'encryptionKey',
    default: undefined,
    doc: 'Encrypt snapshots and backups with AES-256-GCM under this key (32 bytes, hex or base64)',
    secret: true,
    parse: encryptionKey,
  },
  {
    env: 'ENCRYPTION_PREVIOUS_KEYS',
    key: 'encryptionPreviousKeys',
    default: '',
    doc: 'Comma-separated older keys that may still decrypt snapshots (key rotation); new snapshots use ENCRYPTION_KEY',
    secret: true,
    parse: (raw) =>
      raw
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '')
        .map(encryptionKey),
  },
  {
    env: 'TRUST_PROXY',
    key: 'trustProxy',
    default: 'false',
    doc: 'Trust X-Forwarded-* headers (behind a load balancer), for client addresses in logs and rate limits',
    parse: bool,
  },
];

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type Env = Record<string, string | undefined>;

/** The environment with a .env file under it (real environment variables win). */
export function environment(env: Env = process.env, file = env.ENV_FILE || '.env'): Env {
  if (!existsSync(file)) {
    if (env.ENV_FILE) throw new ConfigError([`ENV_FILE: no such file "${file}"`]);
    return { ...env };
  }
  let parsed: Record<string, string>;
  try {
    parsed = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (err) {
    throw new ConfigError([`${file}: ${(err as Error).message}`]);
  }
  return { ...parsed, ...env };
}

/** Parses every option; throws one ConfigError listing every problem. */
export function loadConfig(env: Env): Config {
  const out: Partial<Record<keyof Config, unknown>> = {};
  const problems: string[] = [];
  for (const o of OPTIONS) {
    const raw = env[o.env];
    const value = raw === undefined || raw.trim() === '' ? o.default : raw;
    if (value === undefined) {
      out[o.key] = undefined;
      continue;
    }
    try {
      out[o.key] = o.parse(value);
    } catch (err) {
      problems.push(`${o.env} ${(err as Error).message}`);
    }
  }
  const simSet = env.SIMILARITY_THRESHOLD !== undefined && env.SIMILARITY_THRESHOLD.trim() !== '';
  if (simSet && out.birchThreshold !== undefined)
    problems.push('SIMILARITY_THRESHOLD and BIRCH_THRESHOLD are both set: set one (cosine or radius mode)');
  if (
    out.encryptionPreviousKeys !== undefined &&
    (out.encryptionPreviousKeys as string[]).length > 0 &&
    out.encryptionKey === undefined
  )
    problems.push('ENCRYPTION_PREVIOUS_KEYS is set without ENCRYPTION_KEY');
  if (
    out.embedder === 'transformers' &&
    out.embeddingModelPath === undefined &&
    out.embeddingModel === undefined
  )
    problems.push(
      'EMBEDDER=transformers needs EMBEDDING_MODEL_PATH (a local model directory) or EMBEDDING_MODEL (a hub name)',
    );
  if (out.absorb === 'radius' && out.birchThreshold === undefined)
    problems.push('ABSORB=radius needs BIRCH_THRESHOLD');
  if (out.birchThreshold !== undefined && (out.absorb === 'dmm' || out.absorb === 'cosine'))
    problems.push(
      `BIRCH_THRESHOLD is set with ABSORB=${String(out.absorb)}: it applies only to ABSORB=radius`,
    );
  if (simSet && out.absorb === 'dmm')
    problems.push('SIMILARITY_THRESHOLD is set with ABSORB=dmm: it applies only to ABSORB=cosine');
  if (out.embedder === 'http' && out.embeddingUrl === undefined)
    problems.push('EMBEDDER=http needs EMBEDDING_URL');
  // ABSORB=auto is resolved here, where it is known whether SIMILARITY_THRESHOLD was given
  if (out.absorb === 'auto')
    out.absorb =
      out.birchThreshold !== undefined ? 'radius' : simSet || out.embedder !== 'tfidf' ? 'cosine' : 'dmm';
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Config;
}

/** Changes to live settings, as answered and accepted by the API (snake_case keys). */
export const LIVE_NAMES: Record<LiveKey, string> = {
  logLevel: 'log_level',
  similarityThreshold: 'similarity_threshold',
  birchThreshold: 'birch_threshold',
  batchSize: 'batch_size',
  clusterExpiryHours: 'cluster_expiry_hours',
  minClusterSize: 'min_cluster_size',
  outlierExpiryHours: 'outlier_expiry_hours',
  maxClustersInMemory: 'max_clusters_in_memory',
};

/**
 * Validates a change to live settings against the running config. Values may be given as JSON
 * numbers or strings (as in the environment). Returns the new config or throws ConfigError.
 * `birch_threshold` can be changed only when the service runs in radius mode, and
 * `similarity_threshold` only in cosine mode: the tree's shape depends on the mode.
 */
export function applyLiveChange(current: Config, change: Record<string, unknown>): Config {
  const problems: string[] = [];
  const next: Config = { ...current };
  const byName = new Map(LIVE_KEYS.map((k) => [LIVE_NAMES[k], k]));
  for (const [name, raw] of Object.entries(change)) {
    const key = byName.get(name);
    if (key === undefined) {
      problems.push(`${name} is not a live setting (live: ${[...byName.keys()].join(', ')})`);
      continue;
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      problems.push(`${name} must be a number or a string`);
      continue;
    }
    const o = OPTIONS.find((x) => x.key === key) as Option;
    try {
      (next as unknown as Record<string, unknown>)[key] = o.parse(String(raw));
    } catch (err) {
      problems.push(`${name} ${(err as Error).message}`);
    }
  }
  if ('birch_threshold' in change && current.birchThreshold === undefined)
    problems.push('birch_threshold can only change in radius mode (start with BIRCH_THRESHOLD set)');
  if ('similarity_threshold' in change && current.birchThreshold !== undefined)
    problems.push('similarity_threshold has no effect in radius mode (BIRCH_THRESHOLD is set)');
  else if ('similarity_threshold' in change && absorbMode(current) === 'dmm')
    problems.push('similarity_threshold has no effect with ABSORB=dmm (the mixture decides; see DMM_*)');
  if (problems.length > 0) throw new ConfigError(problems);
  return next;
}

/** The live settings and other non-secret values, as the API shows them. */
export function publicConfig(c: Config): Record<string, unknown> {
  return {
    mode: absorbMode(c),
    log_level: c.logLevel,
    similarity_threshold: c.similarityThreshold,
    birch_threshold: c.birchThreshold ?? null,
    dmm:
      absorbMode(c) === 'dmm'
        ? { alpha: c.dmmAlpha, beta: c.dmmBeta, half_life: c.dmmHalfLife, outlier_size: c.dmmOutlierSize }
        : null,
    batch_size: c.batchSize,
    cluster_expiry_hours: c.clusterExpiryHours,
    min_cluster_size: c.minClusterSize,
    outlier_expiry_hours: c.outlierExpiryHours,
    max_clusters_in_memory: c.maxClustersInMemory,
    branching_factor: c.branchingFactor,
    embedder: c.embedder,
    embedding_dim: c.embeddingDim,
    embedding_model:
      c.embedder === 'transformers'
        ? (c.embeddingModelPath ?? c.embeddingModel ?? null)
        : c.embedder === 'http'
          ? (c.embeddingModel ?? null)
          : null,
    embedding_url: c.embedder === 'http' && c.embeddingUrl !== undefined ? safeUrl(c.embeddingUrl) : null,
    embedding_cache: {
      size: c.embeddingCacheSize,
      redis: c.redisUrl !== undefined,
      ttl_seconds: c.embeddingCacheTtlSeconds,
    },
    max_body_bytes: c.maxBodyBytes,
    max_tweet_embeddings: c.maxTweetEmbeddings,
    max_tweet_ids: c.maxTweetIds,
    topics: c.topics,
    topics_interval_seconds: c.topicsIntervalSeconds,
    rate_limit_per_minute: c.rateLimitPerMinute,
    wal_sync: c.walSync,
    backup_interval_seconds: c.backupIntervalSeconds,
    backup_every_tweets: c.backupEveryTweets,
    backup_min_interval_seconds: c.backupMinIntervalSeconds,
    backup_keep: c.backupKeep,
    backup_store: c.s3Bucket === undefined ? 'fs' : 's3',
    s3_bucket: c.s3Bucket ?? null,
    s3_prefix: c.s3Prefix,
    encrypted: c.encryptionKey !== undefined,
    auth: { api_tokens: c.apiTokens.length, admin_tokens: c.adminTokens.length },
  };
}

/** The text of `.env.example`: every option, its default and what it does. */
export function envExample(): string {
  const lines = [
    '# birdie configuration: copy to .env (real environment variables win over this file).',
    '# Generated from src/config.ts (`birdie config example`). Every line is commented out and shows',
    '# the default: uncomment what you change (a set SIMILARITY_THRESHOLD and BIRCH_THRESHOLD conflict).',
    '',
  ];
  for (const o of OPTIONS) {
    lines.push(`# ${o.doc}${o.live ? ' [live: POST /config/reload]' : ''}`);
    lines.push(`# ${o.env}=${o.default ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** The README's configuration table. */
export function configTable(): string {
  const rows = ['| variable | default | live | meaning |', '|---|---|---|---|'];
  for (const o of OPTIONS) {
    const d = o.default === undefined || o.default === '' ? '(unset)' : `\`${o.default}\``;
    rows.push(`| \`${o.env}\` | ${d} | ${o.live ? 'yes' : ''} | ${o.doc.replaceAll('|', '\\|')} |`);
  }
  return rows.join('\n');
}

/** A URL as it may be shown: no user, password or query. */
function safeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** The absorb test the config selects (loadConfig resolves ABSORB=auto; see its doc). */
export function absorbMode(c: Config): 'dmm' | 'cosine' | 'radius' {
  if (c.absorb !== 'auto') return c.absorb;
  if (c.birchThreshold !== undefined) return 'radius';
  return c.embedder !== 'tfidf' ? 'cosine' : 'dmm';
}
