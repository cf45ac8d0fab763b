/** Reading the clusters: GET /clusters, GET /clusters/:id, GET /topics. */
import type { FastifyInstance } from 'fastify';
import {
  ClusterIdParam,
  ClusterList,
  ClusterOut,
  ClusterQuery,
  ErrorResponse,
  TopicList,
  TrendingList,
  TrendingQuery,
} from '../../pipeline/schema.js';
import type { ClusterSort } from '../../pipeline/service.js';
import type { Context } from '../context.js';

export async function clusterRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  app.get(
    '/clusters',
    {
      config: { access: 'api' },
      schema: {
        summary:
          'The stories (clusters of at least MIN_CLUSTER_SIZE tweets), a page at a time: largest, most recently active or fastest growing first',
        tags: ['clusters'],
        querystring: ClusterQuery,
        response: { 200: ClusterList, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => {
      const q = req.query as { sort?: ClusterSort; limit?: number; offset?: number; min_size?: number };
      return ctx.service.listClusters(q.sort ?? 'size', q.offset ?? 0, q.limit ?? 50, q.min_size);
    },
  );

  app.get(
    '/trending',
    {
      config: { access: 'api' },
      schema: {
        summary: 'The stories growing now, fastest first (growth score >= 2)',
        tags: ['clusters'],
        querystring: TrendingQuery,
        response: { 200: TrendingList, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => ctx.service.trending((req.query as { limit?: number }).limit ?? 20),
  );

  app.get(
    '/clusters/:id',
    {
      config: { access: 'api' },
      schema: {
        summary:
          'One cluster: size, first and last seen, growth, top terms and hashtags, representative tweets, timeline (an absorbed id leads to its survivor)',
        tags: ['clusters'],
        params: ClusterIdParam,
        response: { 200: ClusterOut, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => ctx.service.cluster((req.params as { id: number }).id),
  );

  app.get(
    '/topics',
    {
      config: { access: 'api' },
      schema: {
        summary: 'Topics: groups of clusters from the global step (TOPICS > 0), refreshed in the background',
        tags: ['clusters'],
        response: { 200: TopicList, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async () => ctx.service.topics(),
  );
}
