/**
 * Every error code of the catalog, reached over HTTP, whole body asserted; and the catalog, the
 * README's table and the OpenAPI document kept in step.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ERRORS, type ErrorCode, errorTable } from '../../src/errors.js';
import type { Context } from '../../src/server/context.js';
import { Backups, type StorageBackend } from '../../src/store/backend.js';
import { ADMIN_TOKEN, API_TOKEN, auth, makeApp } from '../helpers/app.js';
import { freePort } from '../helpers/tmp.js';

const reached = new Set<ErrorCode>();

function expectError(
  res: { statusCode: number; json: () => unknown; body: string },
  code: ErrorCode,
  message: string = ERRORS[code].message,
) {
  assert.equal(res.statusCode, ERRORS[code].status, res.body);
  assert.deepEqual(res.json(), { error: { code, message } });
  reached.add(code);
}

describe('every error code over HTTP', () => {
  let app: FastifyInstance;
  let ctx: Context;
  before(async () => {
    ({ app, ctx } = await makeApp({ EMBEDDING_DIM: '8', BATCH_SIZE: '2', MAX_BODY_BYTES: '2048' }));
  });
  after(() => app.close());

  test('BRD_ERR_VALIDATION: a query parameter out of range', async () => {
    const res = await app.inject({ url: '/clusters?limit=0' });
    expectError(res, 'BRD_ERR_VALIDATION', 'querystring.limit must be >= 1');
  });

  test('BRD_ERR_VALIDATION: an unknown query parameter is named', async () => {
    const res = await app.inject({ url: '/clusters?sort_by=size' });
    expectError(res, 'BRD_ERR_VALIDATION', 'querystring has an unknown field "sort_by"');
  });

  test('BRD_ERR_VALIDATION: predict needs text or embedding, not both', async () => {
    const res = await app.inject({ method: 'POST', url: '/predict', payload: {} });
    expectError(res, 'BRD_ERR_VALIDATION', 'give either text or embedding');
  });

  test('BRD_ERR_INVALID_JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/tweets',
      headers: { 'content-type': 'application/json' },
      payload: '{"text": ',
    });
    expectError(
      res,
      'BRD_ERR_INVALID_JSON',
      "Body is not valid JSON but content-type is set to 'application/json'",
    );
  });

  test('BRD_ERR_INVALID_TWEET: one bad tweet is a 400 with the reason', async () => {
    const res = await app.inject({ method: 'POST', url: '/tweets', payload: { id: 'x', text: 42 } });
    expectError(res, 'BRD_ERR_INVALID_TWEET', 'text must be string');
  });

  test('BRD_ERR_EMBEDDING_DIMENSION', async () => {
    const res = await app.inject({ method: 'POST', url: '/predict', payload: { embedding: [1, 2] } });
    expectError(res, 'BRD_ERR_EMBEDDING_DIMENSION', 'embedding has dimension 2, expected 8');
  });

  test('BRD_ERR_INVALID_CONFIG: a bad live value changes nothing', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/config/reload',
      payload: { batch_size: 0, log_level: 'debug' },
    });
    expectError(res, 'BRD_ERR_INVALID_CONFIG', 'batch_size must be between 1 and 100000, got 0');
    assert.equal(ctx.config.logLevel, 'info');
    assert.equal(ctx.config.batchSize, 2);
  });

  test('BRD_ERR_NOT_FOUND', async () => {
    expectError(await app.inject({ url: '/nowhere?x=1' }), 'BRD_ERR_NOT_FOUND', 'No endpoint GET /nowhere');
  });

  test('BRD_ERR_CLUSTER_NOT_FOUND', async () => {
    expectError(
      await app.inject({ url: '/clusters/12345' }),
      'BRD_ERR_CLUSTER_NOT_FOUND',
      'no cluster 12345 (it may have expired, or never existed)',
    );
  });

  test('BRD_ERR_TWEET_NOT_FOUND', async () => {
    expectError(
      await app.inject({ url: '/tweets/nope' }),
      'BRD_ERR_TWEET_NOT_FOUND',
      'tweet "nope" is not held in memory (the last 10000 are)',
    );
  });

  test('BRD_ERR_TOPICS_DISABLED', async () => {
    expectError(await app.inject({ url: '/topics' }), 'BRD_ERR_TOPICS_DISABLED');
  });

  test('BRD_ERR_BUSY: one CPU profile at a time', async () => {
    const first = app.inject({ url: '/debug/profile?seconds=0.3' });
    await new Promise((r) => setTimeout(r, 50));
    expectError(
      await app.inject({ url: '/debug/profile?seconds=0.3' }),
      'BRD_ERR_BUSY',
      'A CPU profile is already being taken',
    );
    const done = await first;
    assert.equal(done.statusCode, 200);
    assert.match(
      done.headers['content-disposition'] as string,
      /attachment; filename="birdie-.*\.cpuprofile"/,
    );
    const profile = done.json();
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0);
  });

  test('BRD_ERR_PAYLOAD_TOO_LARGE', async () => {
    const res = await app.inject({ method: 'POST', url: '/tweets', payload: { text: 'x'.repeat(3000) } });
    expectError(res, 'BRD_ERR_PAYLOAD_TOO_LARGE', 'The request body is larger than 2048 bytes');
  });

  test('BRD_ERR_BATCH_TOO_LARGE: nothing of the batch is applied', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/tweets',
      payload: { tweets: [{ text: 'a' }, { text: 'b' }, { text: 'c' }] },
    });
    expectError(res, 'BRD_ERR_BATCH_TOO_LARGE', 'The batch holds 3 tweets; the limit is 2 (BATCH_SIZE)');
    assert.equal(ctx.service.engine.tweets, 0);
  });

  test('BRD_ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/tweets',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expectError(res, 'BRD_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  test('BRD_ERR_BACKUP_NOT_FOUND', async () => {
    expectError(
      await app.inject({ method: 'POST', url: '/restore', payload: { timestamp: '20000101_000000' } }),
      'BRD_ERR_BACKUP_NOT_FOUND',
      'no backup 20000101_000000',
    );
  });

  test('BRD_ERR_BACKUP_INVALID: a corrupt backup is refused and the state stays', async () => {
    const ok = await app.inject({ method: 'POST', url: '/backup' });
    assert.equal(ok.statusCode, 200, ok.body);
    const ts = ok.json().timestamp;
    const file = join(ctx.config.stateDir, 'snapshots', 'state', ts, 'snapshot.bin');
    const bytes = readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    writeFileSync(file, bytes);
    const before = ctx.service;
    expectError(
      await app.inject({ method: 'POST', url: '/restore', payload: { timestamp: ts } }),
      'BRD_ERR_BACKUP_INVALID',
      'The backup cannot be restored: the checksum does not match: the file is truncated or corrupt',
    );
    assert.equal(ctx.service, before);
  });

  test('BRD_ERR_BACKUP_FAILED: the backup store does not answer', async (t) => {
    // a stand-in for a store that goes down after startup (the S3 tests run a real server and stop it)
    let up = true;
    const fail = async (): Promise<never> => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9');
    };
    const down: StorageBackend = {
      kind: 's3',
      location: 's3://down/',
      put: fail,
      get: fail,
      list: async () => (up ? [] : fail()),
      delete: async () => {},
    };
    const { app: a2 } = await makeApp({}, { remote: new Backups(down, 'p/'), backupAttempts: 2 });
    up = false;
    t.after(() => a2.close());
    expectError(
      await a2.inject({ method: 'POST', url: '/backup' }),
      'BRD_ERR_BACKUP_FAILED',
      'The backup failed: connect ECONNREFUSED 127.0.0.1:9',
    );
    const metrics = (await a2.inject({ url: '/metrics' })).body;
    assert.match(metrics, /^birch_backup_failures_total 2$/m);
    expectError(
      await a2.inject({ url: '/backups' }),
      'BRD_ERR_BACKUP_FAILED',
      'The backup store cannot be listed: connect ECONNREFUSED 127.0.0.1:9',
    );
  });

  test('BRD_ERR_INTERNAL: no stack, no detail to the client', async () => {
    const original = ctx.service.applyPrepared;
    ctx.service.applyPrepared = () => {
      throw new Error('secret detail at /srv/birdie/x.js:1');
    };
    try {
      const res = await app.inject({ method: 'POST', url: '/tweets', payload: { text: 'a' } });
      expectError(res, 'BRD_ERR_INTERNAL');
      assert.doesNotMatch(res.body, /secret|stack|\.js/);
    } finally {
      ctx.service.applyPrepared = original;
    }
  });

  test('BRD_ERR_EMBEDDER_UNAVAILABLE: the embedding service answers 500, nothing is applied', async () => {
    // an OpenAI-compatible service that answers its first request (the dimension check at
    // startup) and fails every later one
    let calls = 0;
    const port = await freePort();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(calls++ === 0 ? 200 : 500, { 'content-type': 'application/json' });
        res.end(calls === 1 ? JSON.stringify({ data: [{ index: 0, embedding: [1, 0, 0, 0] }] }) : '{}');
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const e = await makeApp({
      EMBEDDER: 'http',
      EMBEDDING_URL: `http://127.0.0.1:${port}/v1/embeddings`,
      EMBEDDING_RETRIES: '0',
    });
    try {
      expectError(
        await e.app.inject({ method: 'POST', url: '/tweets', payload: { text: 'a' } }),
        'BRD_ERR_EMBEDDER_UNAVAILABLE',
        `EMBEDDER_HTTP: embedding service http://127.0.0.1:${port}/v1/embeddings (openai): HTTP 500: {}`,
      );
      assert.equal((await e.app.inject({ url: '/stats' })).json().tweets_processed, 0);
    } finally {
      await e.app.close();
      server.close();
    }
  });

  test('BRD_ERR_NOT_READY: while loading or stopping, only probes answer', async () => {
    ctx.ready = false;
    ctx.shuttingDown = true;
    try {
      expectError(await app.inject({ url: '/stats' }), 'BRD_ERR_NOT_READY', 'The service is shutting down');
      expectError(await app.inject({ url: '/ready' }), 'BRD_ERR_NOT_READY', 'The service is shutting down');
      assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
    } finally {
      ctx.ready = true;
      ctx.shuttingDown = false;
    }
  });
});

describe('auth', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await makeApp({ API_TOKENS: API_TOKEN, ADMIN_TOKENS: ADMIN_TOKEN }));
  });
  after(() => app.close());

  test('BRD_ERR_UNAUTHORIZED without a token, with a wrong one, with a malformed header', async () => {
    expectError(
      await app.inject({ url: '/clusters' }),
      'BRD_ERR_UNAUTHORIZED',
      'Send a bearer token: Authorization: Bearer <token>',
    );
    expectError(
      await app.inject({ url: '/clusters', headers: auth(`${API_TOKEN}x`) }),
      'BRD_ERR_UNAUTHORIZED',
      'The bearer token is not valid',
    );
    expectError(
      await app.inject({ url: '/clusters', headers: { authorization: `Basic ${API_TOKEN}` } }),
      'BRD_ERR_UNAUTHORIZED',
      'Send a bearer token: Authorization: Bearer <token>',
    );
  });

  test('BRD_ERR_FORBIDDEN: an API token on an admin endpoint', async () => {
    expectError(
      await app.inject({ url: '/config', headers: auth(API_TOKEN) }),
      'BRD_ERR_FORBIDDEN',
      'This endpoint needs an admin token',
    );
  });

  test('API token reads and ingests; admin token does everything', async () => {
    assert.equal((await app.inject({ url: '/clusters', headers: auth(API_TOKEN) })).statusCode, 200);
    const post = await app.inject({
      method: 'POST',
      url: '/tweets',
      headers: auth(API_TOKEN),
      payload: { text: 'hello world' },
    });
    assert.equal(post.statusCode, 200);
    assert.equal((await app.inject({ url: '/stats', headers: auth(ADMIN_TOKEN) })).statusCode, 200);
    assert.equal((await app.inject({ url: '/config', headers: auth(ADMIN_TOKEN) })).statusCode, 200);
  });

  test('probes, metrics and docs stay open', async () => {
    for (const url of ['/health', '/ready', '/metrics', '/docs', '/docs/json']) {
      assert.equal((await app.inject({ url })).statusCode, 200, url);
    }
  });

  test('unknown routes do not reveal themselves without a token', async () => {
    expectError(
      await app.inject({ url: '/admin' }),
      'BRD_ERR_UNAUTHORIZED',
      'Send a bearer token: Authorization: Bearer <token>',
    );
  });
});

describe('rate limit', () => {
  test('BRD_ERR_RATE_LIMITED per token; probes are never limited', async (t) => {
    const { app } = await makeApp({ RATE_LIMIT_PER_MINUTE: '2', API_TOKENS: API_TOKEN });
    t.after(() => app.close());
    for (let i = 0; i < 2; i++)
      assert.equal((await app.inject({ url: '/clusters', headers: auth(API_TOKEN) })).statusCode, 200);
    const res = await app.inject({ url: '/clusters', headers: auth(API_TOKEN) });
    assert.equal(res.statusCode, 429);
    const body = res.json();
    assert.equal(body.error.code, 'BRD_ERR_RATE_LIMITED');
    assert.match(body.error.message, /^Too many requests: the limit is 2 a minute, retry in /);
    reached.add('BRD_ERR_RATE_LIMITED');
    for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
  });
});

describe('the catalog, the README and the OpenAPI document agree', () => {
  test('every code was reached by a test above', () => {
    const missing = Object.keys(ERRORS).filter((c) => !reached.has(c as ErrorCode));
    assert.deepEqual(missing, []);
  });

  test('the README carries the catalog table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(errorTable()), 'README.md must contain errorTable() (src/errors.ts) verbatim');
  });

  test('the OpenAPI document lists every code', async (t) => {
    const { app } = await makeApp();
    t.after(() => app.close());
    const doc = (await app.inject({ url: '/docs/json' })).json();
    const text = JSON.stringify(doc);
    const m = /"enum":(\["BRD_ERR_[^\]]*\])/.exec(text);
    assert.ok(m, 'an error code enum in the document');
    assert.deepEqual(JSON.parse(m[1]), Object.keys(ERRORS));
  });

  test('codes are BRD_ERR_ names with 4xx/5xx statuses', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      assert.match(code, /^BRD_ERR_[A-Z_]+$/);
      assert.ok(e.status >= 400 && e.status < 600, code);
    }
  });
});
