/**
 * HttpEmbedder against a real HTTP server run by the test (node:http on 127.0.0.1), speaking
 * OpenAI's /v1/embeddings and text-embeddings-inference's /embed.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { EmbedderError } from '../../src/text/errors.js';
import { HttpEmbedder, type HttpEmbedderOptions, parseRetryAfter } from '../../src/text/http-embedder.js';
import { freePort } from '../helpers/tmp.js';

const KEY = 'sk-test-5f1c0ffee0ddba11';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: { model?: string; input?: string[]; inputs?: string[]; truncate?: boolean; encoding_format?: string };
}

type Handler = (req: Seen, res: ServerResponse, n: number) => void;

let server: Server;
let base: string;
let seen: Seen[] = [];
let handler: Handler;

/** A deterministic vector per text, not unit length: [len, codes of the first chars..., 1]. */
function vec(text: string, dim = 4): number[] {
  const v = Array.from({ length: dim }, (_, d) =>
    d === 0 ? text.length : (text.charCodeAt(d - 1) || 0) / 10,
  );
  v[dim - 1] = 1;
  return v;
}

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** float32 little-endian bytes in base64, as OpenAI answers encoding_format "base64" */
function base64Of(v: number[]): string {
  return Buffer.from(Float32Array.from(v).buffer).toString('base64');
}

/** OpenAI's answer shape, with the items in reverse order: the client must use `index`. */
const openai: Handler = (req, res) =>
  json(res, 200, {
    object: 'list',
    model: req.body.model,
    data: (req.body.input ?? [])
      .map((t, index) => ({
        object: 'embedding',
        index,
        embedding: req.body.encoding_format === 'base64' ? base64Of(vec(t)) : vec(t),
      }))
      .reverse(),
  });

const tei: Handler = (req, res) =>
  json(
    res,
    200,
    (req.body.inputs ?? []).map((t) => vec(t)),
  );

before(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(data || '{}'),
      };
      seen.push(s);
      handler(s, res, seen.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
  handler = openai;
});

function make(o: Partial<HttpEmbedderOptions> = {}): HttpEmbedder {
  return new HttpEmbedder({
    url: `${base}/v1/embeddings`,
    dim: 4,
    apiKey: KEY,
    model: 'text-embedding-3-small',
    backoffMs: 5,
    maxBackoffMs: 20,
    timeoutMs: 2000,
    ...o,
  });
}

function rejectsWith(p: Promise<unknown>, check: (e: EmbedderError) => void): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EmbedderError, String(e));
    check(e);
    assert.ok(!e.message.includes(KEY), `the key is not in: ${e.message}`);
    return true;
  });
}

test('openai: POST /v1/embeddings with the model, Bearer key; rows by index, unit length', async () => {
  const e = make();
  assert.equal(e.api, 'openai');
  assert.equal(e.modelId, 'http:openai:text-embedding-3-small:4');
  const texts = ['storm hits the city', 'flood', 'RT @cnn: breaking'];
  const rows = await e.embed(texts);
  assert.equal(seen.length, 1);
  const [r] = seen;
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/v1/embeddings');
  assert.equal(r.headers.authorization, `Bearer ${KEY}`);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(r.body, { model: 'text-embedding-3-small', input: texts, encoding_format: 'float' });
  for (const [i, t] of texts.entries()) assert.deepEqual(rows[i], unit(vec(t)));
});

test('openai with base64: asks for encoding_format base64 and decodes float32 vectors', async () => {
  const texts = ['storm hits the city', 'flood'];
  const rows = await make({ base64: true }).embed(texts);
  assert.equal(seen[0].body.encoding_format, 'base64');
  for (const [i, t] of texts.entries())
    assert.deepEqual(rows[i], unit(Array.from(Float32Array.from(vec(t)))));
  handler = (_req, res) => json(res, 200, { data: [{ index: 0, embedding: 'AAA=' }] });
  await rejectsWith(make({ base64: true }).embed(['x']), (err) => {
    assert.equal(err.code, 'EMBEDDER_BAD_RESPONSE');
    assert.match(err.message, /vector 0 is base64 of 2 bytes, not float32 values/);
  });
});

test('tei: POST /embed {inputs, truncate}; the API is inferred from the path, or the path added to a base URL', async () => {
  handler = tei;
  const inferred = make({ url: `${base}/embed`, apiKey: undefined, model: undefined });
  assert.equal(inferred.api, 'tei');
  assert.equal(inferred.modelId, `http:tei:${base.slice('http://'.length)}/embed:4`);
  const rows = await inferred.embed(['a tweet', 'another one']);
  assert.deepEqual(seen[0].body, { inputs: ['a tweet', 'another one'], truncate: true });
  assert.equal(seen[0].headers.authorization, undefined);
  assert.deepEqual(rows, [unit(vec('a tweet')), unit(vec('another one'))]);

  const fromBase = make({ url: `${base}/`, api: 'tei', model: 'BAAI/bge-small-en-v1.5' });
  assert.equal(fromBase.endpoint, `${base}/embed`);
  assert.equal(fromBase.modelId, 'http:tei:BAAI/bge-small-en-v1.5:4');
  await fromBase.embed(['x']);
  assert.equal(seen[1].url, '/embed');

  assert.equal(make({ url: base, api: 'openai' }).endpoint, `${base}/v1/embeddings`);
  assert.equal(make({ url: `${base}/v1`, api: 'openai' }).endpoint, `${base}/v1/embeddings`);
  assert.throws(() => make({ url: `${base}/somewhere` }), /cannot tell the API of .*: set api/);
});

test('batching: batchSize texts per request, rows back in input order; empty texts are not sent', async () => {
  const e = make({ batchSize: 4, concurrency: 2 });
  const texts = Array.from({ length: 10 }, (_, i) => `tweet number ${i}${'!'.repeat(i)}`);
  texts.splice(3, 0, '', '   ');
  const rows = await e.embed(texts);
  assert.deepEqual(
    seen.map((s) => s.body.input?.length),
    [4, 4, 2],
  );
  assert.deepEqual(seen.flatMap((s) => s.body.input).sort(), texts.filter((t) => t.trim() !== '').sort());
  for (const [i, t] of texts.entries())
    assert.deepEqual(rows[i], t.trim() === '' ? new Float32Array(4) : unit(vec(t)), `row ${i}`);
  assert.deepEqual(await e.embed([]), []);
});

test('retries: 503 twice, then success; the observer sees each attempt and retry', async () => {
  handler = (req, res, n) => (n <= 2 ? json(res, 503, { error: 'loading model' }) : openai(req, res, n));
  const requests: boolean[] = [];
  const retries: [string, number][] = [];
  const failures: string[] = [];
  const e = make({
    observer: {
      request: (s, ok) => {
        assert.ok(s >= 0);
        requests.push(ok);
      },
      retry: (reason, attempt) => retries.push([reason, attempt]),
      failure: (reason) => failures.push(reason),
    },
  });
  const rows = await e.embed(['storm']);
  assert.deepEqual(rows, [unit(vec('storm'))]);
  assert.equal(seen.length, 3);
  assert.deepEqual(requests, [false, false, true]);
  assert.deepEqual(retries, [
    ['EMBEDDER_HTTP', 1],
    ['EMBEDDER_HTTP', 2],
  ]);
  assert.deepEqual(failures, []);
});

test('429 with Retry-After: waits at least that long; a longer wait than allowed fails at once', async () => {
  handler = (req, res, n) =>
    n === 1 ? json(res, 429, { error: 'slow down' }, { 'retry-after': '1' }) : openai(req, res, n);
  const delays: number[] = [];
  const e = make({ observer: { retry: (_r, _a, ms) => delays.push(ms) } });
  await e.embed(['storm']);
  assert.equal(seen.length, 2);
  assert.equal(delays.length, 1);
  assert.ok(delays[0] >= 1000, `waited ${delays[0]} ms for Retry-After: 1`);

  seen = [];
  handler = (_req, res) => json(res, 429, { error: 'quota' }, { 'retry-after': '3600' });
  await rejectsWith(make({ maxRetryAfterMs: 5000 }).embed(['storm']), (err) => {
    assert.equal(err.code, 'EMBEDDER_HTTP');
    assert.equal(err.status, 429);
    assert.match(err.message, /asks to wait 3600 s \(Retry-After\), longer than 5000 ms/);
  });
  assert.equal(seen.length, 1);

  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(
    parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
    10_000,
  );
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});

test('timeout: a service that does not answer fails with EMBEDDER_TIMEOUT after the retries', async () => {
  handler = () => {
    // never answers; closeAllConnections() at the end cleans up
  };
  const failures: string[] = [];
  const e = make({ timeoutMs: 100, retries: 1, observer: { failure: (r) => failures.push(r) } });
  await rejectsWith(e.embed(['storm']), (err) => {
    assert.equal(err.code, 'EMBEDDER_TIMEOUT');
    assert.equal(err.attempts, 2);
    assert.equal(
      err.message,
      `embedding service ${base}/v1/embeddings (openai): no answer within 100 ms (after 2 attempts)`,
    );
  });
  assert.equal(seen.length, 2);
  assert.deepEqual(failures, ['EMBEDDER_TIMEOUT']);
});

test('final failure: the message names the service and status, never the key (even when the body echoes it)', async () => {
  handler = (req, res) => json(res, 500, { error: `internal error for ${req.headers.authorization}` });
  await rejectsWith(make({ retries: 2 }).embed(['storm']), (err) => {
    assert.equal(err.code, 'EMBEDDER_HTTP');
    assert.equal(err.status, 500);
    assert.equal(err.attempts, 3);
    assert.equal(
      err.message,
      `embedding service ${base}/v1/embeddings (openai): HTTP 500: {"error":"internal error for Bearer ***"} (after 3 attempts)`,
    );
  });
  assert.equal(seen.length, 3);

  // 4xx other than 429: the same request would fail again, so it is not retried
  seen = [];
  handler = (_req, res) => json(res, 401, { error: 'invalid api key' });
  await rejectsWith(make().embed(['storm']), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.attempts, undefined);
    assert.match(err.message, /HTTP 401: \{"error":"invalid api key"\}$/);
  });
  assert.equal(seen.length, 1);
});

test('network errors: nobody listening -> EMBEDDER_NETWORK; credentials in the URL stay out of messages', async () => {
  const port = await freePort();
  await rejectsWith(make({ url: `http://127.0.0.1:${port}/embed`, retries: 1 }).embed(['x']), (err) => {
    assert.equal(err.code, 'EMBEDDER_NETWORK');
    assert.equal(
      err.message,
      `embedding service http://127.0.0.1:${port}/embed (tei): cannot reach the service (ECONNREFUSED) (after 2 attempts)`,
    );
  });

  // user:password in the URL is sent as Basic auth; neither it nor the query shows in a message
  handler = (_req, res) => json(res, 503, {});
  const e = make({
    url: `http://bob:hunter2secret@${base.slice(7)}/v1/embeddings?api-version=1`,
    apiKey: undefined,
    retries: 0,
  });
  assert.equal(e.endpoint, `${base}/v1/embeddings`);
  await rejectsWith(e.embed(['x']), (err) => {
    assert.ok(!err.message.includes('hunter2secret') && !err.message.includes('api-version'), err.message);
  });
  assert.equal(seen[0].headers.authorization, `Basic ${Buffer.from('bob:hunter2secret').toString('base64')}`);
  assert.equal(seen[0].url, '/v1/embeddings?api-version=1');
});

test('dimension and shape: a vector of another length or a malformed answer fails at once, not retried', async () => {
  handler = (req, res) =>
    json(res, 200, { data: (req.body.input ?? []).map((t, index) => ({ index, embedding: vec(t, 3) })) });
  await rejectsWith(make().embed(['storm']), (err) => {
    assert.equal(err.code, 'EMBEDDER_DIMENSION');
    assert.match(err.message, /vector 0 has 3 values, this embedder's dimension is 4$/);
  });
  assert.equal(seen.length, 1);

  for (const [body, what] of [
    [{ nope: true }, /expected \{"data"/],
    [{ data: [{ index: 0, embedding: [1, 'x', 0, 0] }] }, /not a finite number/],
    [{ data: [] }, /0 vectors for 1 texts/],
    [{ data: [{ index: 5, embedding: [1, 0, 0, 0] }] }, /index is not an index of the input/],
  ] as const) {
    handler = (_req, res) => json(res, 200, body);
    await rejectsWith(make().embed(['storm']), (err) => {
      assert.equal(err.code, 'EMBEDDER_BAD_RESPONSE');
      assert.match(err.message, what);
    });
  }
});

test('connect() reads the dimension from the service; close() makes later embeds fail', async () => {
  handler = (req, res) =>
    json(res, 200, { data: (req.body.input ?? []).map((t, index) => ({ index, embedding: vec(t, 7) })) });
  const e = await HttpEmbedder.connect({ url: `${base}/v1/embeddings`, model: 'm' });
  assert.equal(e.dim, 7);
  assert.equal(e.modelId, 'http:openai:m:7');
  assert.equal((await e.embed(['x']))[0].length, 7);
  await e.close();
  await rejectsWith(e.embed(['x']), (err) => assert.equal(err.code, 'EMBEDDER_CLOSED'));
});
