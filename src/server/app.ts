/**
 * The HTTP service: Fastify with one plugin per area of the API, wired to the pipeline. Nothing
 * here clusters or validates tweets; it authenticates, routes, counts and answers.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { absorbMode, type Config, environment } from '../config.js';
import { BirdieError } from '../errors.js';
import { Durable } from '../pipeline/durable.js';
import { createEmbedder } from '../pipeline/embedders.js';
import type { Service, ServiceOptions } from '../pipeline/service.js';
import { Backups } from '../store/backend.js';
import { parseKey, type SnapshotKey } from '../store/codec.js';
import { createBackend } from '../store/s3.js';
import type { CachedEmbedder } from '../text/cache.js';
import type { Embedder } from '../text/embedder.js';
import { bearer, registerAuth, TokenChecker } from './auth.js';
import { type Context, isDocs } from './context.js';
import { registerDocs } from './docs.js';
import { errorCodeOf, registerErrorHandlers } from './errors.js';
import { Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { backupRoutes } from './routes/backups.js';
import { clusterRoutes } from './routes/clusters.js';
import { statusRoutes } from './routes/status.js';
import { tweetRoutes } from './routes/tweets.js';

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;

export interface AppOptions {
  /** Fastify's logger option (pino options or false); default: JSON to stdout at config.logLevel */
  logger?: FastifyServerOptions['logger'];
  /** where POST /config/reload with no body reads the environment from */
  readEnv?: () => Record<string, string | undefined>;
  /** ms since the epoch, for tests */
  clock?: () => number;
  /** the backup store instead of the one the config names (tests) */
  remote?: Backups;
  /** what to do when the log cannot be written (default: log and exit 1) */
  onFatal?: (err: Error) => void;
  /** backup upload retries (tests shorten them) */
  backupAttempts?: number;
  backupBackoffMs?: number;
}

/** An incoming X-Request-Id is kept when it is short and plain; else a new one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function pinoOptions(level: string) {
  return {
    level,
    // ISO time: what fluent-bit and friends parse without configuration
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    base: { service: 'birdie', pid: process.pid },
    // Fastify's request serializer logs no headers, but a custom log call might: never a token
    redact: ['req.headers.authorization', 'headers.authorization'],
  };
}

/**
 * The service's options from the config. Its hooks feed the metrics and, given a logger, say in
 * the log when a memory cap or expiry acts.
 */
/** The embedder the config asks for (undefined: the built-in tfidf), its hooks on metrics and log. */
export async function embedderFor(
  config: Config,
  metrics: Metrics,
  log?: FastifyBaseLogger,
): Promise<CachedEmbedder | undefined> {
  const o = metrics.embedderObserver();
  const { redis, cacheError } = o;
  let cacheErrorsLogged = 0;
  return createEmbedder(
    {
      embedder: config.embedder,
      modelPath: config.embeddingModelPath,
      model: config.embeddingModel,
      allowDownload: config.embeddingAllowDownload,
      cacheDir: join(config.stateDir, 'models'),
      url: config.embeddingUrl,
      api: config.embeddingApi,
      apiKey: config.embeddingApiKey,
      batchSize: config.embeddingBatchSize,
      timeoutMs: config.embeddingTimeoutMs,
      retries: config.embeddingRetries,
      threads: config.embeddingThreads,
      redisUrl: config.redisUrl,
      cacheSize: config.embeddingCacheSize,
      cacheTtlSeconds: config.embeddingCacheTtlSeconds,
    },
    {
      ...o,
      redis: (up, reason) => {
        redis?.(up, reason);
        // the URL may hold a password: never logged
        if (up) log?.info('the Redis embedding cache is in use');
        else log?.warn({ reason }, 'the Redis embedding cache is not reachable: going on without it');
      },
      cacheError: (op, err) => {
        cacheError?.(op, err);
        // a hung Redis fails every command: a few lines say so, the metric counts them all
        if (cacheErrorsLogged++ < 3) log?.warn({ op, err: err.message }, 'a Redis cache command failed');
      },
    },
  );
}

export function serviceOptions(
  config: Config,
  metrics: Metrics,
  clock?: () => number,
  log?: FastifyBaseLogger,
  embedder?: Embedder,
): ServiceOptions {
  const observer = metrics.observer();
  if (log !== undefined) {
    const { rebuilt, swept } = observer;
    observer.rebuilt = (e) => {
      rebuilt?.(e);
      log.warn(
        {
          clusters_before: e.clustersBefore,
          clusters_after: e.clustersAfter,
          threshold_before: e.thresholdBefore,
          threshold_after: e.thresholdAfter,
          passes: e.passes,
          merged: e.merged,
        },
        'MAX_CLUSTERS_IN_MEMORY reached: the tree was rebuilt with a looser threshold',
      );
    };
    observer.capReached = (setting) =>
      log.warn(
        { setting },
        `${setting} reached: the oldest ${setting === 'MAX_TWEET_IDS' ? 'ids are forgotten (a repeat of one is clustered again)' : 'held tweets are dropped (GET /tweets/:id answers 404 for them)'} from now on`,
      );
    observer.evicted = (outliers) =>
      log.info({ outliers }, 'MAX_CLUSTERS_IN_MEMORY reached: the longest quiet outliers were removed');
    observer.swept = (expired, outliers) => {
      swept?.(expired, outliers);
      log.info({ expired, outliers }, 'expiry removed clusters');
    };
  }
  return {
    embeddingDim: config.embeddingDim,
    similarityThreshold: config.similarityThreshold,
    birchThreshold: config.birchThreshold,
    dmm:
      absorbMode(config) === 'dmm'
        ? {
            alpha: config.dmmAlpha,
            beta: config.dmmBeta,
            halfLife: config.dmmHalfLife,
            outlierSize: config.dmmOutlierSize,
          }
        : undefined,
    branchingFactor: config.branchingFactor,
    maxTweetEmbeddings: config.maxTweetEmbeddings,
    maxTweetIds: config.maxTweetIds,
    clusterExpiryHours: config.clusterExpiryHours,
    minClusterSize: config.minClusterSize,
    outlierExpiryHours: config.outlierExpiryHours,
    maxClustersInMemory: config.maxClustersInMemory,
    topics: config.topics,
    embedder,
    clock,
    observer,
  };
}

export interface Built {
  app: FastifyInstance;
  ctx: Context;
  /**
   * Recovers the state (snapshot + log replay) and turns the service ready. The server may
   * listen before: probes answer, everything else gets 503 until this resolves.
   */
  load: () => Promise<Durable>;
}

export async function buildApp(config: Config, opts: AppOptions = {}): Promise<Built> {
  const metrics = new Metrics();
  const ctx: Context = {
    config,
    durable: undefined,
    get service(): Service {
      if (this.durable === undefined)
        throw new BirdieError('BRD_ERR_NOT_READY', 'The service is loading its state');
      return this.durable.service;
    },
    metrics,
    ready: false,
    stateLoaded: false,
    shuttingDown: false,
    readEnv: opts.readEnv ?? (() => environment()),
  };
  metrics.serviceOf = () => ctx.durable?.service;

  const app = Fastify({
    logger: opts.logger ?? pinoOptions(config.logLevel),
    bodyLimit: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
    // one line per request, written by the onResponse hook below
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    // shutdown answers with our own 503 (see registerAuth), not Fastify's fixed body
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });

  // JSON only: a text/plain body would otherwise arrive as a string and be refused as a shape
  // error, when the client's mistake is the media type
  app.removeContentTypeParser('text/plain');
  registerErrorHandlers(app, ctx);
  const tokens = new TokenChecker(config.apiTokens, config.adminTokens);
  registerAuth(app, ctx, tokens);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // While stopping, every answer closes its connection: a keep-alive client would otherwise hold
  // the server open until the shutdown timeout.
  app.addHook('onSend', async (_req, reply) => {
    if (ctx.shuttingDown) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requestDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, seconds);
    const code = errorCodeOf(reply);
    const fields = {
      method: req.method,
      url: req.url,
      status: reply.statusCode,
      ms: reply.elapsedTime,
      ...(code ? { code } : {}),
    };
    // probes and scrapes every few seconds would drown the log: they go at debug
    if (req.routeOptions.config?.access === 'open') req.log.debug(fields, 'request completed');
    else req.log.info(fields, 'request completed');
  });

  if (config.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      // per token (hashed: the key is kept in memory) or, without one, per client address
      keyGenerator: (req) => {
        const t = bearer(req);
        return t === undefined ? `ip:${req.ip}` : `token:${TokenChecker.keyOf(t)}`;
      },
      allowList: (req) => req.routeOptions.config?.access === 'open' || isDocs(req.routeOptions.url),
      errorResponseBuilder: (_req, c) =>
        new BirdieError(
          'BRD_ERR_RATE_LIMITED',
          `Too many requests: the limit is ${c.max} a minute, retry in ${c.after}`,
        ),
    });
  }

  await registerDocs(app, VERSION);
  await app.register(tweetRoutes, ctx);
  await app.register(clusterRoutes, ctx);
  await app.register(statusRoutes, ctx);
  await app.register(adminRoutes, ctx);
  await app.register(backupRoutes, ctx);

  let embedder: CachedEmbedder | undefined;
  app.addHook('onClose', async () => {
    await embedder?.close();
  });
  const load = async (): Promise<Durable> => {
    const t0 = performance.now();
    embedder = await embedderFor(config, metrics, app.log);
    if (embedder !== undefined)
      app.log.info(
        {
          embedder: config.embedder,
          model_id: embedder.modelId,
          dim: embedder.dim,
          cache: embedder.redisState,
        },
        'embedder loaded',
      );
    const durable = await Durable.open(
      {
        stateDir: config.stateDir,
        walSync: config.walSync,
        remote: opts.remote ?? remoteBackups(config),
        keys: snapshotKeys(config),
        everyTweets: config.backupEveryTweets,
        minIntervalMs: config.backupMinIntervalSeconds * 1000,
        intervalMs: config.backupIntervalSeconds * 1000,
        keep: config.backupKeep,
        log: app.log,
        observer: metrics.backupObserver(),
        attempts: opts.backupAttempts,
        backoffMs: opts.backupBackoffMs,
        onFatal:
          opts.onFatal ??
          ((err) => {
            app.log.fatal(
              { err: err.message },
              'the log cannot be written: stopping so that recovery replays what is durable',
            );
            process.exit(1);
          }),
      },
      serviceOptions(config, metrics, opts.clock, app.log, embedder),
    );
    ctx.durable = durable;
    // settings from the environment win over the snapshot's; a difference is journaled
    await durable.setLive(config);
    ctx.stateLoaded = true;
    ctx.ready = !ctx.shuttingDown;
    const r = durable.recovery;
    app.log.info(
      {
        snapshot: r.snapshot ?? null,
        replayed: r.replayed,
        log_records: r.log.records,
        clusters: durable.service.engine.clusterCount,
        tweets: durable.service.engine.tweets,
        ms: Math.round(performance.now() - t0),
      },
      'state loaded',
    );
    return durable;
  };
  return { app, ctx, load };
}

/** The backup store: S3 when S3_BUCKET_NAME is set, else none (the local snapshots are the backups). */
export function remoteBackups(config: Config): Backups | undefined {
  if (config.s3Bucket === undefined) return undefined;
  return new Backups(
    createBackend({ kind: 's3', bucket: config.s3Bucket, endpoint: config.s3Endpoint }),
    config.s3Prefix,
  );
}

export function snapshotKeys(config: Config): SnapshotKey[] {
  if (config.encryptionKey === undefined) return [];
  return [config.encryptionKey, ...config.encryptionPreviousKeys].map(parseKey);
}
