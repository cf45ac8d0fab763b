/** Live configuration and metrics over HTTP. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeApp } from '../helpers/app.js';

test('GET /config shows settings and counts tokens without showing them', async (t) => {
  const token = 'a-very-secret-admin-token-1234';
  const { app } = await makeApp({ ADMIN_TOKENS: token });
  t.after(() => app.close());
  const res = await app.inject({ url: '/config', headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200);
  assert.doesNotMatch(res.body, /very-secret/);
  assert.deepEqual(res.json(), {
    mode: 'dmm',
    log_level: 'info',
    similarity_threshold: 0.25,
    birch_threshold: null,
    dmm: { alpha: 0.1, beta: 0.01, half_life: 300, outlier_size: 3 },
    batch_size: 500,
    cluster_expiry_hours: 24,
    min_cluster_size: 2,
    outlier_expiry_hours: 2,
    max_clusters_in_memory: 50000,
    branching_factor: 50,
    embedder: 'tfidf',
    embedding_dim: 1024,
    embedding_model: null,
    embedding_url: null,
    embedding_cache: { size: 10000, redis: false, ttl_seconds: 3600 },
    max_body_bytes: 10485760,
    max_tweet_embeddings: 10000,
    max_tweet_ids: 1000000,
    topics: 0,
    topics_interval_seconds: 60,
    rate_limit_per_minute: 0,
    wal_sync: 'fsync',
    backup_interval_seconds: 0,
    backup_every_tweets: 1000,
    backup_min_interval_seconds: 30,
    backup_keep: 24,
    backup_store: 'fs',
    s3_bucket: null,
    s3_prefix: 'birch-clustering/',
    encrypted: false,
    auth: { api_tokens: 0, admin_tokens: 1 },
  });
});

test('POST /config/reload with a body: validated, applied, answered with the new config', async (t) => {
  // cosine mode, where similarity_threshold is a live setting
  const { app, ctx } = await makeApp({ BATCH_SIZE: '3', ABSORB: 'cosine' });
  t.after(() => app.close());
  const res = await app.inject({
    method: 'POST',
    url: '/config/reload',
    payload: { similarity_threshold: 0.9, batch_size: '1', log_level: 'warn', cluster_expiry_hours: 2 },
  });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(
    body.changed,
    ['logLevel', 'similarityThreshold', 'batchSize', 'clusterExpiryHours'].map(snake),
  );
  assert.equal(body.config.similarity_threshold, 0.9);
  assert.equal(body.config.batch_size, 1);
  assert.equal(body.config.log_level, 'warn');
  // the new values act: the batch limit, the tree's absorb bound, the expiry window, the log level
  assert.equal(ctx.service.engine.tree.minSimilarity, 0.9);
  assert.equal(ctx.service.engine.expiryMs, 2 * 3_600_000);
  assert.equal(app.log.level, 'warn');
  const big = await app.inject({
    method: 'POST',
    url: '/tweets',
    payload: { tweets: [{ text: 'a' }, { text: 'b' }] },
  });
  assert.equal(big.statusCode, 413);
  // 0.9 is strict: two tweets sharing one of three words no longer meet
  await app.inject({ method: 'POST', url: '/tweets', payload: { text: 'earthquake tokyo damage' } });
  const second = await app.inject({
    method: 'POST',
    url: '/tweets',
    payload: { text: 'earthquake tokyo rescue' },
  });
  assert.equal(second.json().new_cluster, true);
});

test('POST /config/reload refuses a setting of the other mode and unknown settings, changing nothing', async (t) => {
  const { app, ctx } = await makeApp();
  t.after(() => app.close());
  const before = { ...ctx.config };
  for (const payload of [{ birch_threshold: 0.5 }, { port: 1 }, { similarity_threshold: 2 }]) {
    const res = await app.inject({ method: 'POST', url: '/config/reload', payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().error.code, payload.port ? 'BRD_ERR_VALIDATION' : 'BRD_ERR_INVALID_CONFIG');
  }
  assert.deepEqual(ctx.config, before);
});

test('POST /config/reload in radius mode changes the radius threshold', async (t) => {
  const { app, ctx } = await makeApp({ BIRCH_THRESHOLD: '0.5' });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/config/reload', payload: { birch_threshold: 0.3 } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(ctx.service.engine.tree.threshold, 0.3);
  assert.equal(res.json().config.mode, 'radius');
});

test('POST /config/reload with no body re-reads the environment', async (t) => {
  const env: Record<string, string> = { BATCH_SIZE: '10' };
  const { app, ctx } = await makeApp(env, { readEnv: () => env });
  t.after(() => app.close());
  env.BATCH_SIZE = '20';
  env.PORT = '9999'; // not live: ignored until a restart
  const res = await app.inject({ method: 'POST', url: '/config/reload' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json().changed, ['batch_size']);
  assert.equal(ctx.config.batchSize, 20);
  assert.equal(ctx.config.port, 8000);
  env.BATCH_SIZE = 'many';
  const bad = await app.inject({ method: 'POST', url: '/config/reload' });
  assert.deepEqual(bad.json(), {
    error: { code: 'BRD_ERR_INVALID_CONFIG', message: 'BATCH_SIZE must be an integer, got "many"' },
  });
  assert.equal(ctx.config.batchSize, 20);
});

test('GET /metrics moves when tweets arrive', async (t) => {
  const { app } = await makeApp();
  t.after(() => app.close());
  const scrape = async () => (await app.inject({ url: '/metrics' })).body;
  const value = (text: string, name: string) => {
    const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const before = await scrape();
  assert.equal(value(before, 'birch_tweets_processed_total'), 0);
  assert.equal(value(before, 'birch_clusters_active'), 0);
  await app.inject({
    method: 'POST',
    url: '/tweets',
    payload: { tweets: [{ text: 'Earthquake in Tokyo' }, { text: 'Election tonight' }, { id: 1 }] },
  });
  await app.inject({ url: '/nowhere' });
  const after = await scrape();
  assert.equal(value(after, 'birch_tweets_processed_total'), 2);
  // two one-tweet clusters: in the tree, but not stories at MIN_CLUSTER_SIZE 2
  assert.equal(value(after, 'birch_clusters_active'), 0);
  assert.equal(value(after, 'birch_clusters_in_tree'), 2);
  assert.equal(value(after, 'birch_tree_height'), 1);
  assert.equal(value(after, 'birch_tweets_rejected_total{code="BRD_ERR_INVALID_TWEET"}'), 1);
  assert.equal(value(after, 'birch_api_errors_total{code="BRD_ERR_NOT_FOUND"}'), 1);
  assert.equal(value(after, 'birch_ingest_batch_size_count'), 1);
  assert.equal(value(after, 'birch_ingest_batch_size_sum'), 3);
  assert.equal(value(after, 'birch_embedded_tweets_total'), 2);
  await app.inject({ method: 'POST', url: '/tweets', payload: { text: 'Earthquake in Tokyo again' } });
  const third = await scrape();
  assert.equal(value(third, 'birch_clusters_active'), 1);
  assert.equal(value(third, 'birch_tree_rebuilds_total'), 0);
  assert.equal(value(third, 'birch_clusters_merged_total'), 0);
  assert.equal(value(third, 'birch_outliers_removed_total'), 0);
  assert.equal(value(third, 'birch_tweets_late_total'), 0);
  assert.equal(value(third, 'birch_cluster_merge_record_size'), 0);
  assert.equal(value(third, 'birch_tweets_held_dropped'), 0);
  assert.equal(
    value(after, 'birch_api_request_duration_seconds_count{method="POST",route="/tweets",status="200"}'),
    1,
  );
  assert.equal(
    value(after, 'birch_api_request_duration_seconds_count{method="GET",route="unmatched",status="404"}'),
    1,
  );
  // process and Node metrics come along
  assert.match(after, /^process_resident_memory_bytes \d+/m);
  assert.match(after, /^nodejs_eventloop_lag_seconds /m);
});

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
