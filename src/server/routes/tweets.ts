/** Ingest and lookups of tweets: POST /tweets, POST /predict, GET /tweets/:id. */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { BirdieError } from '../../errors.js';
import {
  Assigned,
  BatchResult,
  ErrorResponse,
  IdParam,
  PredictIn,
  PredictOut,
  TweetBatch,
  TweetIn,
  TweetOut,
} from '../../pipeline/schema.js';
import type { Context } from '../context.js';

/** The body is checked item by item by the pipeline (a bad item must not fail its batch). */
const acceptAny = () => () => true;

export async function tweetRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  app.post(
    '/tweets',
    {
      config: { access: 'api' },
      validatorCompiler: acceptAny,
      // answers are built by us and small; JSON.stringify avoids fast-json-stringify's anyOf probing
      serializerCompiler: () => (data) => JSON.stringify(data),
      schema: {
        summary: 'Cluster one tweet or a batch',
        description:
          'One tweet, or `{"tweets": [...]}` with at most BATCH_SIZE. Each tweet is answered with its cluster; in a batch a bad tweet gets its own error entry and the others go on. A repeated id is answered with its first cluster and not counted again.',
        tags: ['tweets'],
        body: Type.Union([TweetIn, TweetBatch]),
        response: { 200: Type.Union([Assigned, BatchResult]), '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => {
      const body = req.body as Record<string, unknown> | unknown[] | null;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new BirdieError('BRD_ERR_VALIDATION', 'body must be a tweet object or {"tweets": [...]}');
      const isBatch = Array.isArray((body as { tweets?: unknown }).tweets);
      const items = isBatch ? ((body as { tweets: unknown[] }).tweets as unknown[]) : [body];
      if (isBatch && Object.keys(body).length > 1)
        throw new BirdieError('BRD_ERR_VALIDATION', 'a batch body holds only "tweets"');
      if (items.length > ctx.config.batchSize)
        throw new BirdieError(
          'BRD_ERR_BATCH_TOO_LARGE',
          `The batch holds ${items.length} tweets; the limit is ${ctx.config.batchSize} (BATCH_SIZE)`,
        );
      if (req.log.level === 'debug' || req.log.level === 'trace')
        req.log.debug({ texts: items.map((t) => (t as { text?: unknown } | null)?.text) }, 'ingest');
      const out = await (ctx.durable as NonNullable<typeof ctx.durable>).ingest(items);
      if (isBatch) return out;
      const r = out.results[0];
      if ('error' in r) throw new BirdieError(r.error.code as never, r.error.message);
      return r;
    },
  );

  app.post(
    '/predict',
    {
      config: { access: 'api' },
      schema: {
        summary: 'The nearest cluster for a text or an embedding, changing nothing',
        tags: ['tweets'],
        body: PredictIn,
        response: { 200: PredictOut, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => ctx.service.predictAsync(req.body as PredictIn),
  );

  app.get(
    '/tweets/:id',
    {
      config: { access: 'api' },
      schema: {
        summary: 'A tweet still held in memory (the last MAX_TWEET_EMBEDDINGS)',
        tags: ['tweets'],
        params: IdParam,
        querystring: Type.Object(
          { embedding: Type.Optional(Type.Boolean({ default: false })) },
          { additionalProperties: false },
        ),
        response: { 200: TweetOut, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const { embedding } = req.query as { embedding?: boolean };
      return ctx.service.tweet(id, embedding === true);
    },
  );
}
