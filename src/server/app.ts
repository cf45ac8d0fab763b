/**
 * The HTTP service: Fastify with one plugin per area of the API, wired to the pipeline. Nothing
 * here clusters or validates tweets; it authenticates, routes, counts and answers.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { type Config, environment } from '../config.js';
import { BirdieError } from '../errors.js';
import { Service } from '../pipeline/service.js';
import { bearer, registerAuth, TokenChecker } from './auth.js';
import { type Context, isDocs } from './context.js';
import { registerDocs } from './docs.js';
import { errorCodeOf, registerErrorHandlers } from './errors.js';
import { Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
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
  /** start as not ready (startup recovery sets it) */
  startReady?: boolean;
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

export async function buildApp(
  config: Config,
  opts: AppOptions = {},
): Promise<{ app: FastifyInstance; ctx: Context }> {
  const metrics = new Metrics();
  const service = new Service({
    embeddingDim: config.embeddingDim,
    similarityThreshold: config.similarityThreshold,
    birchThreshold: config.birchThreshold,
    branchingFactor: config.branchingFactor,
    maxTweetEmbeddings: config.maxTweetEmbeddings,
    maxTweetIds: config.maxTweetIds,
    clusterExpiryHours: config.clusterExpiryHours,
    topics: config.topics,
    clock: opts.clock,
    observer: metrics.observer(),
  });
  metrics.service = service;
  const ctx: Context = {
    config,
    service,
    metrics,
    ready: opts.startReady ?? true,
    stateLoaded: opts.startReady ?? true,
    shuttingDown: false,
    readEnv: opts.readEnv ?? (() => environment()),
  };

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
  return { app, ctx };
}
