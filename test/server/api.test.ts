/**
 * Every endpoint in process (app.inject), whole bodies asserted. Tweets that bring their own
 * 8-dimensional embeddings make the similarities exact numbers we can work out by hand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makeApp, T0 } from '../helpers/app.js';

const ISO0 = new Date(T0).toISOString();
const e = (...xs: number[]) => [...xs, ...new Array(8 - xs.length).fill(0)];

async function post(app: FastifyInstance, url: string, payload: unknown) {
  const res = await app.inject({ method: 'POST', url, payload: payload as object });
  return { status: res.statusCode, body: res.json() };
}

async function get(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() };
}

describe('POST /tweets', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await makeApp({ EMBEDDING_DIM: '8', SIMILARITY_THRESHOLD: '0.5' }));
  });
  after(() => app.close());

  test('one tweet: its cluster, new, similarity 1 to its own centroid', async () => {
    const r = await post(app, '/tweets', { id: 'a', text: 'first', embedding: e(1) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { id: 'a', cluster_id: 1, new_cluster: true, similarity: 1, duplicate: false });
  });

  test('a near tweet joins: similarity to the moved centroid, worked out by hand', async () => {
    // x = (1,1)/sqrt2 joins c = e1: LS = (1 + 1/sqrt2, 1/sqrt2), cos(x, LS) = (1 + 2/sqrt2)/sqrt2 / |LS|
    const r = await post(app, '/tweets', { id: 'b', text: 'second', embedding: e(1, 1) });
    const s = Math.SQRT1_2;
    const ls = [1 + s, s];
    const cos = (ls[0] * s + ls[1] * s) / Math.hypot(ls[0], ls[1]);
    assert.equal(r.status, 200);
    assert.equal(r.body.cluster_id, 1);
    assert.equal(r.body.new_cluster, false);
    assert.ok(Math.abs(r.body.similarity - cos) < 1e-6, `${r.body.similarity} vs ${cos}`);
  });

  test('a batch: each item answered in order, a bad one with its own error, the rest applied', async () => {
    const r = await post(app, '/tweets', {
      tweets: [
        { id: 'c', text: 'far away', embedding: e(0, 0, 1) },
        { id: 'd', text: '' },
        { id: 'e', text: 'wrong size', embedding: [1, 2, 3] },
        { id: 'a', text: 'repeat of a' },
        'not a tweet',
        { id: 7, text: 'numeric id', embedding: e(0, 0, 1) },
      ],
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      accepted: 2,
      rejected: 3,
      duplicates: 1,
      results: [
        { id: 'c', cluster_id: 2, new_cluster: true, similarity: 1, duplicate: false },
        {
          index: 1,
          id: 'd',
          error: { code: 'BRD_ERR_INVALID_TWEET', message: 'text is empty (and no embedding is given)' },
        },
        {
          index: 2,
          id: 'e',
          error: { code: 'BRD_ERR_EMBEDDING_DIMENSION', message: 'embedding has dimension 3, expected 8' },
        },
        { id: 'a', cluster_id: 1, new_cluster: false, similarity: 1, duplicate: true },
        { index: 4, error: { code: 'BRD_ERR_INVALID_TWEET', message: 'a tweet must be a JSON object' } },
        { id: '7', cluster_id: 2, new_cluster: false, similarity: 1, duplicate: false },
      ],
    });
  });

  test('a repeated id is not counted twice', async () => {
    const before = (await get(app, '/stats')).body.tweets_processed;
    const r = await post(app, '/tweets', { id: 'b', text: 'again', embedding: e(0, 0, 0, 1) });
    assert.equal(r.body.duplicate, true);
    assert.equal(r.body.cluster_id, 1);
    assert.equal((await get(app, '/stats')).body.tweets_processed, before);
  });

  test('a tweet without id gets a fresh UUID', async () => {
    const r = await post(app, '/tweets', { text: 'anonymous', embedding: e(0, 0, 0, 0, 1) });
    assert.match(r.body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const again = await post(app, '/tweets', { text: 'anonymous', embedding: e(0, 0, 0, 0, 1) });
    assert.notEqual(again.body.id, r.body.id);
    assert.equal(again.body.duplicate, false);
  });
});

describe('reading clusters and tweets', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await makeApp({ TOPICS: '2' }));
    const texts = [
      'Earthquake shakes Tokyo buildings',
      'Strong earthquake hits Tokyo',
      'Tokyo earthquake damage reported',
      'Election results announced tonight #vote',
      'Election night results coming in #Vote',
    ];
    await post(app, '/tweets', {
      tweets: texts.map((text, i) => ({
        id: `t${i}`,
        text,
        created_at: T0 + i * 60_000,
        user: 'u1',
        lang: 'en',
      })),
    });
  });
  after(() => app.close());

  test('GET /clusters: largest first, paged', async () => {
    const r = await get(app, '/clusters?limit=1');
    assert.equal(r.status, 200);
    assert.equal(r.body.total, 2);
    assert.equal(r.body.limit, 1);
    assert.equal(r.body.offset, 0);
    assert.equal(r.body.sort, 'size');
    assert.equal(r.body.clusters.length, 1);
    const c = r.body.clusters[0];
    assert.equal(c.size, 3);
    assert.deepEqual(
      c.terms.map((t: { term: string }) => t.term),
      ['earthquake', 'tokyo'],
    );
    assert.equal(c.first_seen, ISO0);
    assert.equal(c.last_seen, new Date(T0 + 2 * 60_000).toISOString());
    const page2 = await get(app, '/clusters?limit=1&offset=1');
    assert.equal(page2.body.clusters[0].size, 2);
  });

  test('GET /clusters?sort=last_seen: most recently active first', async () => {
    const r = await get(app, '/clusters?sort=last_seen');
    assert.deepEqual(
      r.body.clusters.map((c: { size: number }) => c.size),
      [2, 3],
    );
  });

  test('GET /clusters/:id: the whole summary', async () => {
    const list = await get(app, '/clusters');
    const id = list.body.clusters[1].id;
    const r = await get(app, `/clusters/${id}`);
    assert.equal(r.status, 200);
    // (a topic appears once the background step has run: not asserted here)
    assert.deepEqual(
      Object.keys(r.body)
        .filter((k) => k !== 'topic')
        .sort(),
      [
        'cohesion',
        'example',
        'first_seen',
        'growth',
        'hashtags',
        'id',
        'last_seen',
        'recent_tweets',
        'representatives',
        'size',
        'terms',
        'timeline',
      ],
    );
    assert.equal(r.body.id, id);
    assert.equal(r.body.size, 2);
    // a hashtag's words count as terms too; the hashtag itself is a hashtag
    assert.deepEqual(r.body.terms, [
      { term: 'election', count: 2 },
      { term: 'results', count: 2 },
      { term: 'vote', count: 2 },
    ]);
    assert.deepEqual(r.body.hashtags, [{ term: '#vote', count: 2 }]);
    assert.ok(r.body.cohesion > 0 && r.body.cohesion <= 1);
    // both tweets, the more typical first, each scored against the centroid as it is now
    assert.deepEqual(r.body.representatives.map((x: { id: string }) => x.id).sort(), ['t3', 't4']);
    const [r0, r1] = r.body.representatives as { similarity: number; text: string }[];
    assert.ok(r0.similarity >= r1.similarity && r1.similarity > 0 && r0.similarity <= 1);
    assert.equal(r.body.example, r0.text);
    // buckets are 5 minutes of the epoch's clock: its tweets (T0 + 3 and 4 min) and the
    // engine's clock (the latest tweet) share one
    assert.equal(T0 % 300_000, 245_000);
    assert.deepEqual(r.body.timeline, [{ start: new Date(T0 + 55_000).toISOString(), count: 2 }]);
    // two tweets a minute apart, both within the recent half-life of 15 minutes
    assert.ok(r.body.recent_tweets > 1.9 && r.body.recent_tweets <= 2, String(r.body.recent_tweets));
    assert.ok(r.body.growth > 0);
  });

  test('GET /clusters?min_size=1 lists one-tweet clusters too; the default MIN_CLUSTER_SIZE 2 does not', async () => {
    await post(app, '/tweets', { id: 'lone', text: 'Volcano erupts far away', created_at: T0 + 4 * 60_000 });
    try {
      assert.equal((await get(app, '/clusters')).body.total, 2);
      const all = await get(app, '/clusters?min_size=1');
      assert.equal(all.body.total, 3);
      assert.equal(all.body.min_size, 1);
      // only the earthquake grows by 2 standard deviations or more; the lone tweet is no story
      assert.equal((await get(app, '/trending')).body.total, 1);
    } finally {
      // later tests count two clusters: the lone tweet stays an outlier, never listed by default
    }
  });

  test('GET /trending and sort=growth: the story with more recent tweets first', async () => {
    const t = await get(app, '/trending?limit=5');
    assert.equal(t.status, 200);
    assert.deepEqual(Object.keys(t.body).sort(), ['as_of', 'clusters', 'total']);
    assert.equal(t.body.as_of, new Date(T0 + 4 * 60_000).toISOString());
    const bySize = (await get(app, '/clusters')).body.clusters;
    // the earthquake (3 tweets in 3 minutes) trends; the election (2 tweets) grows, but by
    // less than 2 standard deviations: it is listed by growth, not trending
    assert.deepEqual(
      t.body.clusters.map((c: { id: number }) => c.id),
      [bySize[0].id],
    );
    assert.ok(t.body.clusters[0].growth >= 2);
    const g = await get(app, '/clusters?sort=growth');
    assert.equal(g.body.sort, 'growth');
    assert.deepEqual(
      g.body.clusters.map((c: { id: number }) => c.id),
      [bySize[0].id, bySize[1].id],
    );
    assert.ok(g.body.clusters[1].growth > 0 && g.body.clusters[1].growth < 2);
    assert.equal((await get(app, '/trending?limit=0')).status, 400);
  });

  test('GET /tweets/:id: held tweet, with its embedding on request', async () => {
    const r = await get(app, '/tweets/t1');
    assert.equal(r.status, 200);
    const clusters = (await get(app, '/clusters')).body.clusters;
    assert.deepEqual(r.body, {
      id: 't1',
      cluster_id: clusters[0].id,
      cluster_active: true,
      similarity: r.body.similarity,
      time: new Date(T0 + 60_000).toISOString(),
      text: 'Strong earthquake hits Tokyo',
      user: 'u1',
      lang: 'en',
    });
    const withVec = await get(app, '/tweets/t1?embedding=true');
    assert.equal(withVec.body.embedding.length, 1024);
    const norm = Math.hypot(...withVec.body.embedding);
    assert.ok(Math.abs(norm - 1) < 1e-6);
  });

  test('POST /predict: nearest cluster for a text, nothing changes', async () => {
    const before = (await get(app, '/stats')).body;
    const r = await post(app, '/predict', { text: 'earthquake in Tokyo' });
    assert.equal(r.status, 200);
    const big = (await get(app, '/clusters')).body.clusters[0];
    assert.equal(r.body.cluster_id, big.id);
    assert.equal(r.body.would_join, true);
    assert.ok(r.body.similarity > 0.5);
    const afterStats = (await get(app, '/stats')).body;
    assert.equal(afterStats.tweets_processed, before.tweets_processed);
    assert.equal(afterStats.clusters_active, before.clusters_active);
    const far = await post(app, '/predict', { text: 'completely unrelated gardening tips' });
    assert.equal(far.body.would_join, false);
  });

  test('GET /topics: groups of clusters after the background step runs', async (t) => {
    const { app: a2, ctx } = await makeApp({ TOPICS: '1' });
    t.after(() => a2.close());
    const empty = await get(a2, '/topics');
    assert.deepEqual(empty.body, { computed_at: null, clusters: 0, topics: [] });
    await post(a2, '/tweets', {
      tweets: [
        { id: '1', text: 'Earthquake shakes Tokyo' },
        { id: '2', text: 'Election results tonight' },
      ],
    });
    assert.equal(ctx.service.refreshTopics(), true);
    const r = await get(a2, '/topics');
    assert.equal(r.body.computed_at, ISO0);
    assert.equal(r.body.clusters, 2);
    assert.equal(r.body.topics.length, 1);
    assert.equal(r.body.topics[0].size, 2);
    assert.equal(r.body.topics[0].clusters.length, 2);
    // a cluster names its topic once topics exist
    const c = await get(a2, `/clusters/${r.body.topics[0].clusters[0]}`);
    assert.equal(c.body.topic, r.body.topics[0].topic);
  });
});

describe('status endpoints', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await makeApp());
  });
  after(() => app.close());

  test('GET /health says alive and whether state is loaded', async () => {
    const r = await get(app, '/health');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['state_loaded', 'status', 'uptime_seconds']);
    assert.equal(r.body.status, 'ok');
    assert.equal(r.body.state_loaded, true);
  });

  test('GET /ready', async () => {
    assert.deepEqual((await get(app, '/ready')).body, { status: 'ready' });
  });

  test('GET /stats: counts, tree, settings, memory, rate, clustering stats', async () => {
    await post(app, '/tweets', { tweets: [{ text: 'one tweet here' }, { text: 'another different one' }] });
    const r = await get(app, '/stats');
    assert.equal(r.status, 200);
    const s = r.body;
    assert.deepEqual(Object.keys(s).sort(), [
      'clustering_stats',
      'clusters_active',
      'clusters_in_tree',
      'ingest_rate_per_second',
      'last_backup',
      'memory',
      'settings',
      'tree',
      'tweets_processed',
      'uptime_seconds',
      'wal',
    ]);
    assert.equal(s.tweets_processed, 2);
    // two one-tweet clusters: outliers, not stories
    assert.equal(s.clusters_active, 0);
    assert.equal(s.clusters_in_tree, 2);
    assert.equal(s.clustering_stats.stories, 0);
    assert.equal(s.clustering_stats.min_cluster_size, 2);
    assert.deepEqual(s.clustering_stats.threshold_in_use, { similarity_threshold: 0.25 });
    assert.deepEqual(s.tree, { height: 1, nodes: 1, leaves: 1, entries: 2, points: 2, branching_factor: 50 });
    assert.equal(s.settings.mode, 'dmm');
    assert.equal(s.settings.similarity_threshold, 0.25);
    assert.equal(s.memory.tweets_held, 2);
    assert.equal(s.clustering_stats.singletons, 2);
    assert.ok(s.ingest_rate_per_second > 0);
  });

  test('GET /docs serves Swagger UI and /docs/json the OpenAPI document of every route', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    assert.equal(ui.statusCode, 200);
    assert.match(ui.body, /swagger/i);
    const doc = await get(app, '/docs/json');
    assert.equal(doc.body.openapi, '3.0.3');
    for (const p of [
      '/tweets',
      '/predict',
      '/clusters',
      '/clusters/{id}',
      '/topics',
      '/tweets/{id}',
      '/health',
      '/ready',
      '/stats',
      '/config',
      '/config/reload',
      '/metrics',
      '/debug/profile',
      '/backup',
      '/backups',
      '/restore',
    ]) {
      assert.ok(doc.body.paths[p], `OpenAPI has ${p}`);
    }
    // the tweet schema that validates each item is the one documented
    const body = doc.body.paths['/tweets'].post.requestBody.content['application/json'].schema;
    assert.match(JSON.stringify(body), /"embedding"/);
  });
});
