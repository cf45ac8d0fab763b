/**
 * The baseline for the http suite: an EMPTY Fastify 5 `POST /tweets` with the body schema of the
 * real route (TweetIn or TweetBatch, from src/pipeline/schema.ts), validated by Fastify's own
 * Ajv with the service's Ajv options. It clusters nothing and answers a constant: for one tweet
 * an object of the service's single-tweet shape, for a batch one such entry per tweet (so that
 * the answer has the size of the service's, which carries one result per tweet).
 *
 * No logger, no hooks, no metrics: what any Fastify service pays to parse, validate and answer
 * the same requests. Started by bench/http.ts as a child process:
 *
 *   PORT=8001 node --import tsx bench/http-baseline.ts
 *
 * Also answers GET /ready like the service, so that the suite waits for both in the same way.
 */
import Fastify from 'fastify';
import Type from 'typebox';
import { TweetBatch, TweetIn } from '../src/pipeline/schema.js';

const port = Number(process.env.PORT ?? 8001);
const host = process.env.HOST ?? '127.0.0.1';

const app = Fastify({
  logger: false,
  // the service's defaults (MAX_BODY_BYTES) and Ajv options (src/server/app.ts)
  bodyLimit: 10_485_760,
  ajv: {
    customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
  },
});

const ANSWER = { id: '0', cluster_id: 0, new_cluster: false, similarity: 1, duplicate: false };

app.post('/tweets', { schema: { body: Type.Union([TweetIn, TweetBatch]) } }, async (req) => {
  const body = req.body as { tweets?: unknown[] };
  if (!Array.isArray(body.tweets)) return ANSWER;
  return {
    accepted: body.tweets.length,
    rejected: 0,
    duplicates: 0,
    results: body.tweets.map((t) => ({ ...ANSWER, id: String((t as { id?: unknown } | null)?.id ?? '') })),
  };
});

app.get('/ready', async () => ({ status: 'ready' }));

for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });

await app.listen({ port, host });
