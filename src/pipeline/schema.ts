/**
 * The shapes of what comes in and goes out, as JSON Schema (TypeBox). The same objects validate
 * each tweet (src/pipeline/service.ts), validate HTTP requests (Fastify) and make the OpenAPI
 * document at /docs, so the three cannot disagree.
 */
import Type, { type Static } from 'typebox';
import { ERRORS, type ErrorCode } from '../errors.js';
import { MAX_TEXT_LENGTH } from './tweet.js';

/** Longest tweet id, user and language accepted, in characters. */
export const MAX_ID_LENGTH = 256;
/** Most values in a tweet's own embedding. */
export const MAX_EMBEDDING_LENGTH = 65_536;

export const ErrorBody = Type.Object({
  code: Type.Unsafe<ErrorCode>({
    type: 'string',
    enum: Object.keys(ERRORS),
    description: 'A stable code from the catalog (src/errors.ts)',
  }),
  message: Type.String({ description: 'For people; may say more than the code' }),
});

export const ErrorResponse = Type.Object({ error: ErrorBody }, { description: 'Every error answer' });

export const TweetIn = Type.Object(
  {
    id: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH }), Type.Integer()], {
        description: 'Tweet id; a repeated id is answered with its first cluster. Default: a new UUID',
      }),
    ),
    text: Type.String({
      maxLength: MAX_TEXT_LENGTH,
      description: 'The text (may be empty only when an embedding is given)',
    }),
    created_at: Type.Optional(
      Type.Union([Type.String({ maxLength: 64 }), Type.Number()], {
        description:
          "The tweet's time: ISO 8601, Twitter's format, or epoch seconds/milliseconds. Default: arrival",
      }),
    ),
    user: Type.Optional(Type.Union([Type.String({ maxLength: MAX_ID_LENGTH }), Type.Integer()])),
    lang: Type.Optional(Type.String({ maxLength: 16 })),
    embedding: Type.Optional(
      Type.Array(Type.Number(), {
        minItems: 1,
        maxItems: MAX_EMBEDDING_LENGTH,
        description: 'A precomputed embedding (EMBEDDING_DIM values) used instead of the embedder',
      }),
    ),
  },
  { additionalProperties: true, description: 'One tweet; other fields are accepted and ignored' },
);
export type TweetIn = Static<typeof TweetIn>;

export const TweetBatch = Type.Object(
  {
    tweets: Type.Array(Type.Unknown(), {
      description: 'Tweets in the shape of TweetIn, at most BATCH_SIZE; each is checked on its own',
    }),
  },
  { additionalProperties: false },
);

export const Assigned = Type.Object({
  id: Type.String(),
  cluster_id: Type.Integer(),
  new_cluster: Type.Boolean({ description: 'This tweet started its cluster' }),
  similarity: Type.Number({ description: "Cosine similarity to the cluster's centroid after the insert" }),
  duplicate: Type.Boolean({ description: 'The id was seen before: the first answer, nothing counted' }),
});
export type Assigned = Static<typeof Assigned>;

export const Rejected = Type.Object({
  index: Type.Integer({ description: 'Position in the batch' }),
  id: Type.Optional(Type.String()),
  error: ErrorBody,
});
export type Rejected = Static<typeof Rejected>;

export const BatchResult = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  duplicates: Type.Integer(),
  results: Type.Array(Type.Union([Assigned, Rejected])),
});

export const PredictIn = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH })),
    embedding: Type.Optional(Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_EMBEDDING_LENGTH })),
  },
  { additionalProperties: false, description: 'A text or an embedding (not both)' },
);
export type PredictIn = Static<typeof PredictIn>;

export const PredictOut = Type.Object({
  cluster_id: Type.Union([Type.Integer(), Type.Null()], { description: 'null while there are no clusters' }),
  similarity: Type.Union([Type.Number(), Type.Null()]),
  would_join: Type.Boolean({ description: 'Ingesting it now would add it to that cluster' }),
});

export const Term = Type.Object({ term: Type.String(), count: Type.Integer() });

const Representative = Type.Object({
  id: Type.String(),
  text: Type.String(),
  similarity: Type.Number({ description: "Cosine similarity to the cluster's centroid as it is now" }),
});

export const ClusterOut = Type.Object({
  id: Type.Integer(),
  size: Type.Integer(),
  first_seen: Type.String({ format: 'date-time' }),
  last_seen: Type.String({ format: 'date-time' }),
  cohesion: Type.Number({ description: 'Mean cosine similarity of its tweets to its centroid' }),
  growth: Type.Number({
    description:
      'How far its recent tweets exceed what its own baseline rate predicts, in Poisson standard deviations (about 0: steady; > 3: growing fast)',
  }),
  recent_tweets: Type.Number({ description: 'Its tweets of the last ~15 minutes, exponentially weighted' }),
  terms: Type.Array(Term, { description: 'Top terms (Space-Saving sketch): in how many of its tweets' }),
  hashtags: Type.Array(Term, { description: 'Top hashtags (Space-Saving sketch)' }),
  example: Type.Union([Type.String(), Type.Null()], { description: 'The tweet most typical of it' }),
  representatives: Type.Array(Representative, {
    description: 'Its tweets closest to its centroid, closest first',
  }),
  timeline: Type.Optional(
    Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), count: Type.Integer() }), {
      description:
        'Tweets per 5-minute bucket over the last 3 hours of tweet time, oldest first (GET /clusters/:id only)',
    }),
  ),
  topic: Type.Optional(Type.Integer()),
  merged_from: Type.Optional(
    Type.Integer({ description: 'The id asked for, absorbed by this cluster when the tree was rebuilt' }),
  ),
});

export const ClusterList = Type.Object({
  total: Type.Integer({ description: 'Clusters of at least min_size tweets' }),
  offset: Type.Integer(),
  limit: Type.Integer(),
  sort: Type.String(),
  min_size: Type.Integer(),
  clusters: Type.Array(ClusterOut),
});

export const ClusterQuery = Type.Object(
  {
    sort: Type.Optional(
      Type.Union([Type.Literal('size'), Type.Literal('last_seen'), Type.Literal('growth')], {
        default: 'size',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    min_size: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Smallest cluster listed (default: MIN_CLUSTER_SIZE)' }),
    ),
  },
  { additionalProperties: false },
);

export const TrendingQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })) },
  { additionalProperties: false },
);

export const TrendingList = Type.Object({
  as_of: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'The latest tweet time: growth is measured at it',
  }),
  total: Type.Integer({ description: 'Stories growing now (growth >= 2)' }),
  clusters: Type.Array(ClusterOut),
});

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH }) });
export const ClusterIdParam = Type.Object({ id: Type.Integer({ minimum: 0 }) });

export const TweetOut = Type.Object({
  id: Type.String(),
  cluster_id: Type.Integer(),
  cluster_active: Type.Boolean({ description: 'false once the cluster expired' }),
  assigned_cluster_id: Type.Optional(
    Type.Integer({ description: 'The cluster it joined, when a rebuild since merged that into cluster_id' }),
  ),
  similarity: Type.Number(),
  time: Type.String({ format: 'date-time' }),
  text: Type.String(),
  user: Type.Optional(Type.String()),
  lang: Type.Optional(Type.String()),
  embedding: Type.Optional(Type.Array(Type.Number())),
});

export const TopicOut = Type.Object({
  topic: Type.Integer(),
  size: Type.Integer(),
  clusters: Type.Array(Type.Integer(), { description: 'Largest first' }),
  terms: Type.Array(Term),
});

export const TopicList = Type.Object({
  computed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  clusters: Type.Integer({ description: 'Clusters grouped in that run' }),
  topics: Type.Array(TopicOut),
});

export const ConfigChange = Type.Object(
  {
    log_level: Type.Optional(Type.String()),
    similarity_threshold: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    birch_threshold: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    batch_size: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
    cluster_expiry_hours: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    min_cluster_size: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
    outlier_expiry_hours: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    max_clusters_in_memory: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
  },
  {
    additionalProperties: false,
    description:
      'Live settings to change; an empty body re-reads them from the environment and the .env file',
  },
);
