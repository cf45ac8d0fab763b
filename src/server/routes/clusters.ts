/** Reading the clusters: GET /clusters, GET /clusters/:id, GET /topics. */
import type { FastifyInstance } from 'fastify';
import {
  ClusterIdParam,
  ClusterList,
  ClusterOut,
  ClusterQuery,
  ErrorResponse,
  TopicList,
} from '../../pipeline/schema.js';
import type { ClusterSort } from '../../pipeline/service.js';
import type { Context } from '../context.js';

export async function clusterRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  app.get(
    '/clusters',
    {
      config: { access: 'api' },
      schema: {
        summary: 'The clusters, a page at a time, largest or most recently active first',
        tags: ['clusters'],
        querystring: ClusterQuery,
        response: { 200: ClusterList, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req) => {
      const q = req.query as { sort?: ClusterSort; limit?: number; offset?: number };
      return ctx.service.listClusters(q.sort ?? 'size', q.offset ?? 0, q.limit ?? 50);
    },
  );

  app.get(
    '/clusters/:id',
    {
      config: { access: 'api' },
      schema: {
        summary: 'One cluster: size, first and last seen, top terms, its most typical tweet',
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
