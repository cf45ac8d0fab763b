/**
 * The memory caps over HTTP: MAX_CLUSTERS_IN_MEMORY rebuilds the tree and the merge record
 * makes absorbed ids lead to their survivor (also after a restart), MAX_TWEET_EMBEDDINGS and
 * MAX_TWEET_IDS drop the oldest, and each says so once in the log and in /metrics. Plus a late
 * tweet counted, and MIN_CLUSTER_SIZE changed live.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makeApp, T0 } from '../helpers/app.js';
import { Rng } from '../helpers/rng.js';

const DIM = 32;

/** A random unit vector with 3 non-zeros: distinct enough that most start their own cluster. */
function vector(rng: Rng): number[] {
  const v = new Array<number>(DIM).fill(0);
  for (let k = 0; k < 3; k++) v[rng.int(DIM)] += 0.5 + rng.next();
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function collector(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
      done();
    },
  });
  return { stream, lines };
}

async function metric(app: FastifyInstance, name: string): Promise<number | undefined> {
  const text = (await app.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

test('MAX_CLUSTERS_IN_MEMORY, MAX_TWEET_EMBEDDINGS and MAX_TWEET_IDS act, say so, and merged ids still lead somewhere', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'birdie-caps-'));
  const env = {
    STATE_DIR: dir,
    EMBEDDING_DIM: String(DIM),
    SIMILARITY_THRESHOLD: '0.6',
    MAX_CLUSTERS_IN_MEMORY: '20',
    MAX_TWEET_EMBEDDINGS: '5',
    MAX_TWEET_IDS: '10',
    MIN_CLUSTER_SIZE: '1',
  };
  const log = collector();
  const { app } = await makeApp(env, { logger: { level: 'info', stream: log.stream } });
  const rng = new Rng(7);
  const answers: { id: string; cluster: number }[] = [];
  for (let b = 0; b < 6; b++) {
    const tweets = Array.from({ length: 10 }, (_, i) => ({
      id: `t${b * 10 + i}`,
      text: `tweet ${b * 10 + i}`,
      embedding: vector(rng),
    }));
    const r = await app.inject({ method: 'POST', url: '/tweets', payload: { tweets } });
    assert.equal(r.statusCode, 200);
    for (const a of r.json().results) answers.push({ id: a.id, cluster: a.cluster_id });
  }
  const rebuilds = (await metric(app, 'birch_tree_rebuilds_total')) ?? 0;
  assert.ok(rebuilds >= 1, `rebuilds ${rebuilds}`);
  const inTree = (await metric(app, 'birch_clusters_in_tree')) as number;
  assert.ok(inTree <= 20, `clusters in tree ${inTree}`);
  const merged = (await metric(app, 'birch_clusters_merged_total')) as number;
  assert.ok(merged >= 1);
  assert.equal(await metric(app, 'birch_cluster_merge_record_size'), merged);
  // each cap said so in the log: the rebuild at every rebuild, the tweet caps once
  const said = (msg: RegExp) => log.lines.filter((l) => msg.test(String(l.msg)));
  const rebuildLines = said(/^MAX_CLUSTERS_IN_MEMORY reached/);
  assert.equal(rebuildLines.length, rebuilds);
  assert.equal(rebuildLines[0].level, 40);
  assert.equal(rebuildLines[0].clusters_before, 21);
  assert.ok((rebuildLines[0].clusters_after as number) <= 18);
  assert.ok((rebuildLines[0].threshold_after as number) < 0.6);
  assert.equal(said(/^MAX_TWEET_EMBEDDINGS reached/).length, 1);
  assert.equal(said(/^MAX_TWEET_IDS reached/).length, 1);
  assert.equal(await metric(app, 'birch_tweets_held_dropped'), 55);
  assert.equal(await metric(app, 'birch_tweet_ids_forgotten'), 50);
  // /stats says the threshold moved and why
  const stats = (await app.inject({ url: '/stats' })).json();
  assert.ok(stats.clustering_stats.threshold_in_use.similarity_threshold < 0.6);
  assert.equal(stats.clustering_stats.rebuilds, rebuilds);
  assert.ok(stats.clustering_stats.warnings.some((w: string) => w.includes('MAX_CLUSTERS_IN_MEMORY (20)')));

  // every answer's cluster id still leads to a live cluster: itself or its survivor
  const absorbed = answers.filter((a) => a.cluster > 0);
  let followed = 0;
  for (const a of absorbed) {
    const r = await app.inject({ url: `/clusters/${a.cluster}` });
    assert.equal(r.statusCode, 200, `cluster ${a.cluster}`);
    const body = r.json();
    if (body.id !== a.cluster) {
      assert.equal(body.merged_from, a.cluster);
      assert.ok(body.id < a.cluster, 'the older id survives');
      followed++;
    } else assert.equal('merged_from' in body, false);
  }
  assert.ok(followed >= 1);
  // the held tweets (the last 5) name their cluster now, and the one they joined when merged since
  for (const a of answers.slice(-5)) {
    const t = (await app.inject({ url: `/tweets/${a.id}` })).json();
    assert.equal(t.cluster_active, true);
    if (t.cluster_id !== a.cluster) assert.equal(t.assigned_cluster_id, a.cluster);
    else assert.equal('assigned_cluster_id' in t, false);
  }
  const before = absorbed.map((a) => a.cluster);
  const resolved = async (a: FastifyInstance) =>
    Promise.all(before.map(async (c) => (await a.inject({ url: `/clusters/${c}` })).json().id));
  const ids = await resolved(app);
  await app.close();

  // a restart recovers the merge record with the tree
  const again = await makeApp(env);
  try {
    assert.deepEqual(await resolved(again.app), ids);
  } finally {
    await again.app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a late tweet is clustered and counted; MIN_CLUSTER_SIZE changes live', async () => {
  const HOUR = 3_600_000;
  const { app } = await makeApp(
    {
      EMBEDDING_DIM: String(DIM),
      CLUSTER_EXPIRY_HOURS: '1',
      ADMIN_TOKENS: 'admin-token-0123456789abcdef',
      // the tweets' own vectors decide (the mixture would read their words)
      ABSORB: 'cosine',
    },
    { clock: () => T0 + 5 * HOUR },
  );
  try {
    const auth = { authorization: 'Bearer admin-token-0123456789abcdef' };
    const rng = new Rng(3);
    const v = vector(rng);
    await app.inject({
      method: 'POST',
      url: '/tweets',
      headers: auth,
      payload: { id: 'now', text: 'now', embedding: v },
    });
    const r = await app.inject({
      method: 'POST',
      url: '/tweets',
      headers: auth,
      payload: { id: 'late', text: 'late', embedding: v, created_at: new Date(T0).toISOString() },
    });
    assert.equal(r.json().cluster_id, 1, 'joins the live story');
    assert.equal(await metric(app, 'birch_tweets_late_total'), 1);
    assert.equal((await app.inject({ url: '/clusters', headers: auth })).json().total, 1);
    const c = await app.inject({
      method: 'POST',
      url: '/config/reload',
      headers: auth,
      payload: { min_cluster_size: 3 },
    });
    assert.equal(c.statusCode, 200, c.body);
    assert.equal(c.json().config.min_cluster_size, 3);
    assert.deepEqual(c.json().changed, ['min_cluster_size']);
    assert.equal((await app.inject({ url: '/clusters', headers: auth })).json().total, 0);
    assert.equal(await metric(app, 'birch_clusters_active'), 0);
    const bad = await app.inject({
      method: 'POST',
      url: '/config/reload',
      headers: auth,
      payload: { min_cluster_size: 0 },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal((await app.inject({ url: '/config', headers: auth })).json().min_cluster_size, 3);
  } finally {
    await app.close();
  }
});
