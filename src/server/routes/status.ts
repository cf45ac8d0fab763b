/** Probes, statistics and metrics: GET /health, /ready, /stats, /metrics. */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { publicConfig } from '../../config.js';
import { BirdieError } from '../../errors.js';
import { ErrorResponse } from '../../pipeline/schema.js';
import type { Context } from '../context.js';
import { sendError } from '../errors.js';

export async function statusRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  app.get(
    '/health',
    {
      config: { access: 'open' },
      logLevel: 'warn',
      schema: {
        summary: 'Liveness: the process answers (and whether its state is loaded)',
        tags: ['status'],
        response: {
          200: Type.Object({
            status: Type.Literal('ok'),
            state_loaded: Type.Boolean(),
            uptime_seconds: Type.Number(),
          }),
        },
      },
    },
    async () => ({
      status: 'ok' as const,
      state_loaded: ctx.stateLoaded,
      uptime_seconds: process.uptime(),
    }),
  );

  app.get(
    '/ready',
    {
      config: { access: 'open' },
      logLevel: 'warn',
      schema: {
        summary: 'Readiness: state loaded and not shutting down (else 503)',
        tags: ['status'],
        response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: ErrorResponse },
      },
    },
    async (_req, reply) => {
      if (!ctx.ready)
        return sendError(
          ctx,
          reply,
          new BirdieError(
            'BRD_ERR_NOT_READY',
            ctx.shuttingDown ? 'The service is shutting down' : 'The service is loading its state',
          ),
        );
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/stats',
    {
      config: { access: 'api' },
      schema: {
        summary: 'Tweets, clusters, tree shape, live settings, memory, uptime, ingest rate, cluster sizes',
        tags: ['status'],
        response: { '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async () => {
      const s = ctx.service;
      const shape = s.engine.shape();
      const mem = process.memoryUsage();
      return {
        tweets_processed: s.engine.tweets,
        clusters_active: s.engine.storyCount,
        clusters_in_tree: s.engine.clusterCount,
        tree: {
          height: shape.height,
          nodes: shape.nodes,
          leaves: shape.leaves,
          entries: shape.entries,
          points: shape.points,
          branching_factor: s.engine.tree.branchingFactor,
        },
        settings: publicConfig(ctx.config),
        memory: {
          rss_bytes: mem.rss,
          heap_used_bytes: mem.heapUsed,
          tree_bytes: s.engine.tree.memoryBytes,
          tree_reserved_bytes: s.engine.tree.reservedBytes,
          tweets_held: s.memory.heldCount,
          tweet_ids_remembered: s.memory.idCount,
        },
        uptime_seconds: process.uptime(),
        ingest_rate_per_second: s.ingestRate(),
        last_backup: ctx.durable?.lastBackup ?? null,
        wal: {
          mode: ctx.config.walSync,
          last_lsn: ctx.durable?.wal.lastLsn ?? 0,
          bytes_written: ctx.durable?.wal.stats.bytes ?? 0,
          syncs: ctx.durable?.wal.stats.syncs ?? 0,
        },
        clustering_stats: s.clusteringStats(),
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'open' },
      logLevel: 'warn',
      schema: { summary: 'Prometheus metrics (text format)', tags: ['status'], hide: false },
    },
    async (_req, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );
}
