/**
 * CachedEmbedder: the in-process LRU, and a real Redis (the machine's at 127.0.0.1:6379, else one
 * the test starts), including Redis dying and coming back on the same port.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { CachedEmbedder, type CacheObserver, normaliseText } from '../../src/text/cache.js';
import type { Embedder } from '../../src/text/embedder.js';
import { HashedTfidfEmbedder } from '../../src/text/hashed-tfidf.js';
import { redisForTest, redisServerBinary, startRedisServer } from '../helpers/redis.js';
import { freePort } from '../helpers/tmp.js';

const DIM = 8;

/** A stateless embedder that counts what it is asked: row = unit vector from the text's hash. */
class CountingEmbedder implements Embedder {
  readonly dim = DIM;
  readonly cacheable = true;
  calls = 0;
  texts: string[] = [];
  constructor(readonly modelId = 'counting:v1') {}
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    this.calls++;
    this.texts.push(...texts);
    return texts.map((t) => {
      const h = createHash('sha256').update(`${this.modelId}|${t}`).digest();
      const v = Float32Array.from({ length: DIM }, (_, d) => h[d] - 127.5);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
  }
}

/** Observer that records every call. */
function recorder() {
  const log: string[] = [];
  const observer: CacheObserver = {
    hit: (source, n) => log.push(`hit ${source} ${n}`),
    miss: (n) => log.push(`miss ${n}`),
    error: (op) => log.push(`error ${op}`),
    redis: (up) => log.push(up ? 'redis up' : 'redis down'),
  };
  return { log, observer };
}

function keyOf(prefix: string, modelId: string, text: string): string {
  return `${prefix}${modelId}:${createHash('sha256').update(normaliseText(text)).digest('hex')}`;
}

/** Waits (polling, at most `ms`) for a condition that depends on something outside the test's control. */
async function eventually(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('LRU: hits skip the inner embedder; misses go in one batch; normalised texts share an entry', async () => {
  const inner = new CountingEmbedder();
  const { log, observer } = recorder();
  const c = new CachedEmbedder(inner, { size: 100, observer });
  assert.equal(c.dim, DIM);
  assert.equal(c.modelId, inner.modelId);
  assert.equal(c.redisState, 'off');
  assert.equal(await c.ready(), false);

  const first = await c.embed(['storm hits the city', 'flood', 'storm hits the city']);
  assert.equal(inner.calls, 1);
  assert.deepEqual(
    inner.texts,
    ['storm hits the city', 'flood'],
    'a text twice in one call is embedded once',
  );
  assert.deepEqual(first[0], first[2]);

  // NFC, trimmed, whitespace collapsed: the same entry; the new text is the only miss
  const again = await c.embed(['  storm\thits   the\ncity ', 'flood', 'cafe\u0301 open', 'café open']);
  assert.equal(inner.calls, 2);
  assert.deepEqual(inner.texts.slice(2), ['café open'], 'only the miss, normalised, in one batch');
  assert.deepEqual(again[0], first[0]);
  assert.deepEqual(again[2], again[3]);
  assert.deepEqual(log, ['miss 2', 'hit lru 2', 'miss 1']);

  // rows are copies: changing one does not change the cache
  again[0].fill(0);
  assert.deepEqual((await c.embed(['storm hits the city']))[0], first[0]);
  assert.deepEqual(await c.embed([]), []);
  await c.close();
});

test('LRU: the least recently used row goes first when full', async () => {
  const inner = new CountingEmbedder();
  const c = new CachedEmbedder(inner, { size: 2 });
  await c.embed(['a']);
  await c.embed(['b']);
  await c.embed(['a']); // a is now the most recent
  await c.embed(['c']); // evicts b
  assert.equal(c.lruSize, 2);
  inner.texts = [];
  await c.embed(['a', 'b', 'c']);
  assert.deepEqual(inner.texts, ['b']);
});

test('refuses an embedder whose vectors depend on state (the online-IDF vectorizer)', () => {
  assert.throws(
    () => new CachedEmbedder(new HashedTfidfEmbedder({ dim: 64 })),
    /cannot be cached: its vectors depend on the texts embedded before/,
  );
  const flagged = new CountingEmbedder();
  Object.defineProperty(flagged, 'cacheable', { value: false });
  assert.throws(() => new CachedEmbedder(flagged), TypeError);
});

test('Redis: rows stored as float32 bytes with a TTL; a new process hits Redis; another model id misses', async (t) => {
  const r = await redisForTest(t);
  if (r.skip !== undefined) return t.skip(r.skip);
  const prefix = `birdie-test:${process.pid}:${Date.now()}:`;
  const admin = new Redis(r.url);
  t.after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  const inner = new CountingEmbedder();
  const { log, observer } = recorder();
  const a = new CachedEmbedder(inner, { redisUrl: r.url, keyPrefix: prefix, ttlSeconds: 120, observer });
  assert.equal(await a.ready(), true);
  assert.equal(a.redisState, 'up');
  const texts = ['storm hits the city', 'flood near the airport'];
  const rows = await a.embed(texts);
  await a.flush();

  const key = keyOf(prefix, inner.modelId, texts[0]);
  const raw = await admin.getBuffer(key);
  assert.ok(raw !== null, `${key} is in Redis`);
  assert.equal(raw.byteLength, DIM * 4);
  assert.deepEqual(
    new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)),
    rows[0],
  );
  const ttl = await admin.ttl(key);
  assert.ok(ttl > 0 && ttl <= 120, `TTL ${ttl}`);

  // a second cache (another process: empty LRU) over the same Redis: no inner call
  const inner2 = new CountingEmbedder();
  const b = new CachedEmbedder(inner2, { redisUrl: r.url, keyPrefix: prefix, observer });
  await b.ready();
  assert.deepEqual(await b.embed(texts), rows);
  assert.equal(inner2.calls, 0);
  // now in b's LRU: Redis is not asked again
  await b.embed(texts);

  // the same texts under another model id are other keys
  const other = new CountingEmbedder('counting:v2');
  const c = new CachedEmbedder(other, { redisUrl: r.url, keyPrefix: prefix });
  await c.ready();
  await c.embed(texts);
  assert.equal(other.calls, 1);
  assert.deepEqual(other.texts, texts);
  await Promise.all([a.close(), b.close(), c.close()]);
  assert.deepEqual(log, ['redis up', 'miss 2', 'redis up', 'hit redis 2', 'hit lru 2']);
});

test('Redis dies mid-run: embeddings still served, down reported once; back on the same port: used again', {
  skip: redisServerBinary() === undefined ? 'no redis-server binary' : false,
}, async (t) => {
  let server = await startRedisServer();
  t.after(() => server.stop());
  const inner = new CountingEmbedder();
  const { log, observer } = recorder();
  const c = new CachedEmbedder(inner, { redisUrl: server.url, observer });
  t.after(() => c.close());
  assert.equal(await c.ready(), true);
  await c.embed(['before the crash']);
  await c.flush();

  await server.kill();
  await eventually('the cache to see Redis down', () => c.redisState === 'down');
  for (let i = 0; i < 5; i++) {
    const [row] = await c.embed([`while down ${i}`]);
    assert.equal(row.length, DIM);
  }
  assert.deepEqual((await c.embed(['before the crash']))[0].length, DIM, 'the LRU still serves');
  assert.equal(log.filter((l) => l === 'redis down').length, 1, `down reported once: ${log.join(', ')}`);

  server = await startRedisServer(server.port);
  await eventually('the cache to reconnect', () => c.redisState === 'up');
  assert.equal(log.filter((l) => l === 'redis up').length, 2, 'up at start, up again');
  await c.embed(['after the restart']);
  await c.flush();
  const admin = new Redis(server.url);
  t.after(() => admin.disconnect());
  assert.equal(
    await admin.exists(keyOf('birdie:emb:', inner.modelId, 'after the restart')),
    1,
    'written again',
  );
  assert.equal(
    await admin.exists(keyOf('birdie:emb:', inner.modelId, 'before the crash')),
    0,
    'nothing kept',
  );
});

test('no Redis listening at start: the cache serves from the LRU and says Redis is down, once', async () => {
  const port = await freePort();
  const inner = new CountingEmbedder();
  const { log, observer } = recorder();
  const c = new CachedEmbedder(inner, { redisUrl: `redis://127.0.0.1:${port}`, observer });
  try {
    assert.equal(await c.ready(), false);
    assert.equal(c.redisState, 'down');
    await c.embed(['a', 'b']);
    await c.embed(['a', 'c']);
    assert.equal(inner.calls, 2);
    assert.deepEqual(log, ['redis down', 'miss 2', 'hit lru 1', 'miss 1']);
  } finally {
    await c.close();
  }
});
