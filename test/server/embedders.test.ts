/**
 * The optional embedders wired into the service (EMBEDDER=transformers with the generated tiny
 * model, EMBEDDER=http against a small OpenAI-compatible server run here), the embedding cache
 * (LRU, and the real Redis when REDIS_URL is set), a failing embedding service (503
 * BRD_ERR_EMBEDDER_UNAVAILABLE, nothing applied, no key in the answer), a restart that replays
 * the log without the embedder, and a state made by one model refused by another.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makeApp } from '../helpers/app.js';
import { redisForTest } from '../helpers/redis.js';
import { freePort } from '../helpers/tmp.js';

const TINY = join(import.meta.dirname, '..', 'fixtures', 'tiny-model');
const KEY = 'sk-embed-test-0b5e55ed';
const DIM = 16;

/** A bag of words hashed into DIM values: texts that share words get similar vectors. */
function bag(text: string): number[] {
  const v = new Array<number>(DIM).fill(0);
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let h = 0;
    for (const c of w) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    v[h % DIM] += 1;
  }
  return v;
}

/** An OpenAI-compatible /v1/embeddings; counts the texts it embedded; `down` answers 503. */
async function fakeOpenAI(): Promise<{
  url: string;
  texts: () => number;
  setDown: (d: boolean) => void;
  close: () => Promise<void>;
}> {
  let count = 0;
  let down = false;
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (down || req.headers.authorization !== `Bearer ${KEY}`) {
        res.writeHead(down ? 503 : 401, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"no"}}');
        return;
      }
      const input = (JSON.parse(body) as { input: string[] }).input;
      count += input.length;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: input.map((t, index) => ({ index, embedding: bag(t) })) }));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/v1/embeddings`,
    texts: () => count,
    setDown: (d) => {
      down = d;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function metric(app: FastifyInstance, name: string): Promise<number | undefined> {
  const text = (await app.inject({ url: '/metrics' })).body;
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

const post = (app: FastifyInstance, url: string, payload: unknown) =>
  app.inject({ method: 'POST', url, payload: payload as object });

test('EMBEDDER=transformers: the tiny model embeds, clusters and predicts; a state of another model is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'birdie-tf-'));
  try {
    const env = {
      STATE_DIR: dir,
      EMBEDDER: 'transformers',
      EMBEDDING_MODEL_PATH: TINY,
      MIN_CLUSTER_SIZE: '1',
    };
    const { app } = await makeApp(env);
    const texts = ['earthquake hits the city', 'earthquake hits the city again', 'election results tonight'];
    const r = await post(app, '/tweets', { tweets: texts.map((text, i) => ({ id: `t${i}`, text })) });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().accepted, 3);
    const held = (await app.inject({ url: '/tweets/t0?embedding=true' })).json();
    // the model's own dimension (the tiny BERT's hidden size), unit length
    assert.equal(held.embedding.length, 32);
    assert.ok(Math.abs(Math.hypot(...held.embedding) - 1) < 1e-5);
    const p = await post(app, '/predict', { text: 'earthquake hits the city' });
    assert.equal(p.statusCode, 200);
    assert.equal(p.json().cluster_id, r.json().results[0].cluster_id);
    // the text of a member of that cluster would join it again
    assert.equal(p.json().would_join, true);
    assert.ok(p.json().similarity >= 0.25 && p.json().similarity <= 1);
    const stats = (await app.inject({ url: '/stats' })).json();
    assert.equal(stats.settings.embedder, 'transformers');
    assert.equal(stats.settings.embedding_model, TINY);
    assert.equal(stats.tweets_processed, 3);
    await app.close();

    // the same model again: the state comes back
    const again = await makeApp(env);
    assert.equal((await again.app.inject({ url: '/stats' })).json().tweets_processed, 3);
    await again.app.close();

    // another embedder over this state: refused, naming both
    await assert.rejects(
      makeApp({ STATE_DIR: dir, MIN_CLUSTER_SIZE: '1' }),
      (err: Error) =>
        /made with embedder transformers:tiny-model:32:/.test(err.message) &&
        /this service runs hashed-tfidf/.test(err.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('EMBEDDER=transformers with a missing model directory stops with a clear message', async () => {
  await assert.rejects(
    makeApp({ EMBEDDER: 'transformers', EMBEDDING_MODEL_PATH: '/nonexistent/model-dir' }),
    /\/nonexistent\/model-dir/,
  );
});

test('EMBEDDER=http with Redis: misses go to the service once, repeats come from the LRU, a restart from Redis', async (t) => {
  const redis = await redisForTest(t);
  if (redis.skip !== undefined) {
    t.skip(redis.skip);
    return;
  }
  const svc = await fakeOpenAI();
  const dir = mkdtempSync(join(tmpdir(), 'birdie-http-'));
  try {
    const env = {
      STATE_DIR: dir,
      EMBEDDER: 'http',
      EMBEDDING_URL: svc.url,
      EMBEDDING_API_KEY: KEY,
      EMBEDDING_MODEL: `fake-${process.pid}-${Date.now()}`,
      EMBEDDING_RETRIES: '0',
      REDIS_URL: redis.url,
      MIN_CLUSTER_SIZE: '1',
    };
    const { app } = await makeApp(env);
    // connect() asked the service for its dimension with one text
    const asked = svc.texts();
    assert.equal(await metric(app, 'birch_embedding_cache_redis_up'), 1);
    const texts = ['storm floods the harbour', 'harbour storm floods', 'new phone released'];
    const r1 = await post(app, '/tweets', { tweets: texts.map((text, i) => ({ id: `a${i}`, text })) });
    assert.equal(r1.statusCode, 200, r1.body);
    assert.equal(svc.texts() - asked, 3);
    assert.equal(
      r1.json().results[0].cluster_id,
      r1.json().results[1].cluster_id,
      'same words, same cluster',
    );
    assert.equal(await metric(app, 'birch_embedding_cache_misses_total'), 3);
    // the same texts under new ids: from the LRU, the service not asked
    const r2 = await post(app, '/tweets', { tweets: texts.map((text, i) => ({ id: `b${i}`, text })) });
    assert.equal(r2.statusCode, 200);
    assert.equal(svc.texts() - asked, 3);
    assert.equal(await metric(app, 'birch_embedding_cache_hits_total{tier="lru"}'), 3);
    const held = (await app.inject({ url: '/tweets/b0?embedding=true' })).json();
    assert.equal(held.embedding.length, DIM);
    await app.close();

    // a new process (empty LRU) finds them in Redis; the state replays from the log
    const again = await makeApp(env);
    const before = svc.texts();
    const r3 = await post(again.app, '/tweets', { tweets: texts.map((text, i) => ({ id: `c${i}`, text })) });
    assert.equal(r3.statusCode, 200);
    assert.equal(svc.texts(), before);
    assert.equal(await metric(again.app, 'birch_embedding_cache_hits_total{tier="redis"}'), 3);
    assert.equal((await again.app.inject({ url: '/stats' })).json().tweets_processed, 9);
    await again.app.close();
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedding service failing: 503 BRD_ERR_EMBEDDER_UNAVAILABLE, nothing applied, no key shown', async () => {
  const svc = await fakeOpenAI();
  try {
    const { app } = await makeApp({
      EMBEDDER: 'http',
      EMBEDDING_URL: svc.url,
      EMBEDDING_API_KEY: KEY,
      EMBEDDING_RETRIES: '0',
      MIN_CLUSTER_SIZE: '1',
    });
    try {
      assert.equal((await post(app, '/tweets', { id: 'ok', text: 'fine day' })).statusCode, 200);
      svc.setDown(true);
      const r = await post(app, '/tweets', {
        tweets: [
          { id: 'x', text: 'lost words' },
          { id: 'y', text: 'more' },
        ],
      });
      assert.equal(r.statusCode, 503);
      assert.equal(r.json().error.code, 'BRD_ERR_EMBEDDER_UNAVAILABLE');
      assert.match(r.json().error.message, /^EMBEDDER_HTTP: /);
      assert.doesNotMatch(r.body, new RegExp(KEY));
      assert.equal((await app.inject({ url: '/stats' })).json().tweets_processed, 1);
      assert.equal((await app.inject({ url: '/tweets/x' })).statusCode, 404);
      assert.equal(await metric(app, 'birch_embedder_failures_total{code="EMBEDDER_HTTP"}'), 1);
      const p = await post(app, '/predict', { text: 'fine' });
      assert.equal(p.statusCode, 503);
      // a tweet that brings its own vector needs no embedder
      const own = await post(app, '/tweets', { id: 'v', text: 'own vector', embedding: bag('fine day') });
      assert.equal(own.statusCode, 200);
      svc.setDown(false);
      assert.equal((await post(app, '/tweets', { id: 'x', text: 'lost words' })).statusCode, 200);
    } finally {
      await app.close();
    }
  } finally {
    await svc.close();
  }
});
