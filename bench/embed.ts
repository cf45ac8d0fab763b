/**
 * embed: what each embedder costs, what the cache saves, and what the worker threads buy the
 * event loop, side by side in one run.
 *
 *   npm run bench -- embed                  full run (a few minutes)
 *   BENCH_QUICK=1 npm run bench -- embed    short run
 *   npm run bench -- embed --tweets 20000 --runs 3 --call 256 --big 8000
 *
 * Texts: CrisisLexT6's raw tweets from ../shared/data (URLs, @mentions, #hashtags, RT; see its
 * README), deduplicated after normalisation and shuffled with a fixed seed; without ../shared,
 * seeded generated tweets. The same texts, in the same order, for every embedder.
 *
 * 1. throughput: --tweets texts through embed() in calls of --call texts (as a POST /tweets batch
 *    would), each embedder after a warm-up, the embedders taking turns in each of --runs rounds so
 *    that drift on a shared machine hits them alike; median tweets/s and the ratio to the
 *    built-in hashed TF-IDF.
 *      hashed-tfidf        the default (dim 512, online IDF), on the calling thread
 *      transformers        the tiny fixture model (test/fixtures/tiny-model: 1 layer, hidden 32),
 *                          batches of 32: on the calling thread (threads 0), in 1 worker, and in
 *                          2 workers with one ONNX Runtime thread each. A real model (MiniLM-L6:
 *                          6 layers, hidden 384) costs ~100x more per token; the tiny one measures
 *                          the pipeline around the model: tokenizer, messages, pooling.
 *      http                an OpenAI-style /v1/embeddings server in a worker thread of this process
 *                          that answers fixed 384-dim vectors, batches of 64, 2 in flight: the
 *                          client's cost (JSON both ways, checks, normalisation) and loopback HTTP;
 *                          then the same with encoding_format base64 (float32 bytes, ~4x smaller).
 * 2. cache: the tiny model in one worker behind CachedEmbedder. Per round: the inner embedder
 *    alone; a cold cache (every text a miss: hashing, lookups, then the model); the same texts
 *    again (every text an LRU hit); and through an LRU of size 0 over Redis (every text a Redis
 *    hit, one MGET per call). Redis is 127.0.0.1:6379 when it answers PING, else a redis-server
 *    this suite starts on a free port, else the Redis row is skipped with the reason.
 * 3. event loop: one embed() of --big texts with the tiny model on the calling thread and in one
 *    worker, while perf_hooks.monitorEventLoopDelay (a 1 ms timer) records the gaps between
 *    the loop's turns: p50, p99 and max delay. p99 is what an HTTP request arriving during the
 *    batch would wait for before being read. The ratio is calling thread / worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parse } from 'csv-parse/sync';
import { Redis } from 'ioredis';
import { CachedEmbedder, normaliseText } from '../src/text/cache.js';
import type { Embedder } from '../src/text/embedder.js';
import { HashedTfidfEmbedder } from '../src/text/hashed-tfidf.js';
import { HttpEmbedder } from '../src/text/http-embedder.js';
import { TransformersEmbedder } from '../src/text/transformers.js';
import {
  BENCH_DIR,
  fmtInt,
  fmtRatio,
  fmtSi,
  intFlag,
  mulberry32,
  type Suite,
  type SuiteContext,
  sink,
  stats,
  table,
} from './lib.js';
import { children, freePort, killAll } from './service.js';

const ROOT = dirname(BENCH_DIR);
const SHARED = join(ROOT, '..', 'shared', 'data');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-model');
const HTTP_DIM = 384;

// ---------------------------------------------------------------- texts

function crisisLexTexts(): string[] | null {
  const dir = join(SHARED, 'crisislex-t6');
  if (!existsSync(dir)) return null;
  const out: string[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.csv'))
    .sort()) {
    const rows = parse(readFileSync(join(dir, f)), {
      from_line: 2,
      relax_quotes: true,
      skip_empty_lines: true,
    }) as string[][];
    for (const r of rows) if (r[1]) out.push(r[1]);
  }
  return out;
}

const WORDS =
  'storm flood fire police city road closed power outage breaking news update rescue crews hospital ' +
  'school airport train bridge river rain wind warning evacuation live video photos people injured ' +
  'tonight today morning update officials say report confirmed via please share stay safe everyone';

function generatedTexts(n: number, rnd: () => number): string[] {
  const w = WORDS.split(' ');
  return Array.from({ length: n }, (_, i) => {
    const len = 6 + Math.floor(rnd() * 18);
    const words = Array.from({ length: len }, () => w[Math.floor(rnd() * w.length)]);
    if (rnd() < 0.3) words.push(`#${w[Math.floor(rnd() * w.length)]}`);
    if (rnd() < 0.2) words.unshift(`RT @user${i % 97}:`);
    if (rnd() < 0.2) words.push(`https://t.co/${i.toString(36)}`);
    return words.join(' ');
  });
}

/** `n` distinct (after normalisation) texts, seeded order; and where they came from. */
function loadTexts(n: number): { texts: string[]; source: string } {
  const rnd = mulberry32(20261101);
  const raw = crisisLexTexts();
  const pool = raw ?? generatedTexts(n * 2, rnd);
  const seen = new Set<string>();
  const distinct: string[] = [];
  for (const t of pool) {
    const k = normaliseText(t);
    if (k !== '' && !seen.has(k)) {
      seen.add(k);
      distinct.push(t);
    }
  }
  for (let i = distinct.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [distinct[i], distinct[j]] = [distinct[j], distinct[i]];
  }
  const texts = distinct.slice(0, n);
  const chars = texts.reduce((s, t) => s + t.length, 0) / texts.length;
  return {
    texts,
    source: `${raw ? `CrisisLexT6 (../shared/data), ${fmtInt(distinct.length)} distinct` : 'generated (no ../shared)'}, ${fmtInt(texts.length)} used, ${chars.toFixed(0)} chars on average`,
  };
}

// ---------------------------------------------------------------- helpers

/** Seconds to embed `texts` in calls of `call` texts, one call at a time. */
async function pass(e: Embedder, texts: string[], call: number): Promise<number> {
  const t0 = performance.now();
  for (let s = 0; s < texts.length; s += call) {
    const rows = await e.embed(texts.slice(s, s + call));
    sink.value += rows[rows.length - 1][0];
  }
  return (performance.now() - t0) / 1000;
}

/** An OpenAI-style embeddings server in a worker thread: fixed vectors, as many as inputs. */
async function startFakeServer(): Promise<{ url: string; stop: () => Promise<number> }> {
  const code = `
    const { createServer } = require('node:http');
    const { parentPort, workerData } = require('node:worker_threads');
    const dim = workerData.dim;
    const values = Array.from({ length: dim }, (_, d) => Math.sin(d + 1));
    const vector = JSON.stringify(values);
    const base64 = JSON.stringify(Buffer.from(Float32Array.from(values).buffer).toString('base64'));
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const q = JSON.parse(body);
        const n = q.input.length;
        const v = q.encoding_format === 'base64' ? base64 : vector;
        const items = new Array(n);
        for (let i = 0; i < n; i++) items[i] = '{"object":"embedding","index":' + i + ',"embedding":' + v + '}';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"object":"list","data":[' + items.join(',') + ']}');
      });
    });
    server.keepAliveTimeout = 30000;
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  `;
  const worker = new Worker(code, { eval: true, workerData: { dim: HTTP_DIM } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}/v1/embeddings`, stop: () => worker.terminate() };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(300, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString('latin1').startsWith('+PONG')));
  });
}

/** The machine's Redis, or one of ours, or why there is none. */
async function findRedis(): Promise<{ url: string; note: string; child?: ChildProcess } | { skip: string }> {
  if (await ping(6379)) return { url: 'redis://127.0.0.1:6379', note: 'the Redis at 127.0.0.1:6379' };
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  children.add(child);
  const failed = new Promise<boolean>((resolve) => child.once('error', () => resolve(true)));
  for (let i = 0; i < 60; i++) {
    if (await Promise.race([failed, new Promise<boolean>((r) => setTimeout(() => r(false), 50))]))
      return { skip: 'no Redis at 127.0.0.1:6379 and no redis-server binary to start one' };
    if (await ping(port))
      return { url: `redis://127.0.0.1:${port}`, note: `a redis-server started on port ${port}`, child };
  }
  child.kill('SIGKILL');
  return { skip: `redis-server on port ${port} did not answer PING` };
}

// ---------------------------------------------------------------- the suite

interface Contender {
  name: string;
  note: string;
  embedder: Embedder;
}

async function run(ctx: SuiteContext): Promise<Record<string, unknown>> {
  const n = intFlag(ctx.args, 'tweets', ctx.quick ? 2000 : 20_000);
  const runs = intFlag(ctx.args, 'runs', ctx.quick ? 2 : 3);
  const call = intFlag(ctx.args, 'call', 256);
  const big = intFlag(ctx.args, 'big', ctx.quick ? 2000 : 8000);
  const { texts, source } = loadTexts(Math.max(n, big));
  const bench = texts.slice(0, n);
  console.log(`embed: ${source}; ${fmtInt(bench.length)} tweets in calls of ${call}, ${runs} rounds`);

  const fake = await startFakeServer();
  // the same client on the fake service, with JSON floats or base64 vectors
  const fakeHttp = (base64: boolean) =>
    new HttpEmbedder({ url: fake.url, dim: HTTP_DIM, model: 'fake', batchSize: 64, concurrency: 2, base64 });
  const loadStart = performance.now();
  const [tfMain, tfWorker, tfTwo] = await Promise.all([
    TransformersEmbedder.load({ modelPath: MODEL, threads: 0 }),
    TransformersEmbedder.load({ modelPath: MODEL, threads: 1 }),
    TransformersEmbedder.load({ modelPath: MODEL, threads: 2, intraOpThreads: 1 }),
  ]);
  console.log(
    `  loaded the tiny model 4 times (calling thread + 3 workers) in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
  );
  const contenders: Contender[] = [
    { name: 'hashed-tfidf', note: 'built in, dim 512', embedder: new HashedTfidfEmbedder() },
    { name: 'transformers, calling thread', note: 'tiny model, threads 0', embedder: tfMain },
    { name: 'transformers, 1 worker', note: 'tiny model, threads 1', embedder: tfWorker },
    { name: 'transformers, 2 workers', note: 'tiny model, threads 2, 1 ORT thread each', embedder: tfTwo },
    {
      name: 'http (openai, fake server)',
      note: `fixed ${HTTP_DIM}-dim vectors, batches of 64, 2 in flight`,
      embedder: fakeHttp(false),
    },
    {
      name: 'http (openai, base64)',
      note: 'the same, encoding_format base64',
      embedder: fakeHttp(true),
    },
  ];

  const results: Record<string, unknown> = { source, tweets: bench.length, call, runs };
  try {
    // ---- 1. throughput
    const warm = texts.slice(0, Math.min(500, texts.length));
    for (const c of contenders) await pass(c.embedder, warm, call);
    const secs = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
    for (let r = 0; r < runs; r++) {
      // rotate who goes first
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length];
        secs.get(c.name)?.push(await pass(c.embedder, bench, call));
      }
    }
    const rate = (name: string) => bench.length / stats(secs.get(name) as number[]).median;
    const base = rate('hashed-tfidf');
    const throughput = contenders.map((c) => ({
      embedder: c.name,
      note: c.note,
      modelId: c.embedder.modelId,
      tweetsPerSecond: rate(c.name),
      seconds: stats(secs.get(c.name) as number[]),
    }));
    console.log(
      `\n${table(
        'Throughput (median over rounds)',
        ['embedder', 'tweets/s', 'vs hashed-tfidf', 'min..max tweets/s', 'setup'],
        throughput.map((t) => [
          t.embedder,
          fmtSi(t.tweetsPerSecond),
          fmtRatio(t.tweetsPerSecond / base),
          `${fmtSi(bench.length / t.seconds.max)}..${fmtSi(bench.length / t.seconds.min)}`,
          t.note,
        ]),
      )}`,
    );
    results.throughput = throughput;

    // ---- 2. cache
    const redis = await findRedis();
    const prefix = `birdie-bench:${process.pid}:${Date.now()}:`;
    const cacheSecs: Record<string, number[]> = { inner: [], cold: [], lru: [], redis: [] };
    for (let r = 0; r < runs; r++) {
      cacheSecs.inner.push(await pass(tfWorker, bench, call));
      const lru = new CachedEmbedder(tfWorker, { size: bench.length });
      cacheSecs.cold.push(await pass(lru, bench, call));
      cacheSecs.lru.push(await pass(lru, bench, call));
      if ('url' in redis) {
        const viaRedis = new CachedEmbedder(tfWorker, {
          size: 0,
          redisUrl: redis.url,
          keyPrefix: `${prefix}${r}:`,
        });
        if (!(await viaRedis.ready())) throw new Error(`Redis at ${redis.url} is not usable`);
        await pass(viaRedis, bench, call); // fills Redis
        await viaRedis.flush();
        cacheSecs.redis.push(await pass(viaRedis, bench, call));
        // not close(): that would close the shared inner embedder
        await (viaRedis as unknown as { redis: Redis }).redis.quit();
      }
    }
    if ('url' in redis) {
      const admin = new Redis(redis.url);
      const keys = await admin.keys(`${prefix}*`);
      for (let s = 0; s < keys.length; s += 1000) await admin.del(...keys.slice(s, s + 1000));
      admin.disconnect();
      if (redis.child) redis.child.kill('SIGKILL');
    }
    const cacheRate = (k: string) => (cacheSecs[k].length ? bench.length / stats(cacheSecs[k]).median : null);
    const inner = cacheRate('inner') as number;
    const cacheRows: [string, string, number | null][] = [
      ['no cache', 'the tiny model in 1 worker', cacheRate('inner')],
      ['cold cache', 'every text a miss: hash, LRU, model', cacheRate('cold')],
      ['LRU hits', 'every text in the in-process LRU', cacheRate('lru')],
      [
        'Redis hits',
        'url' in redis ? `LRU size 0, one MGET per call; ${redis.note}` : `skipped: ${redis.skip}`,
        cacheRate('redis'),
      ],
    ];
    console.log(
      `\n${table(
        'Cache (tiny model behind CachedEmbedder; median over rounds)',
        ['pass', 'tweets/s', 'speedup', 'what'],
        cacheRows.map(([name, what, r]) => [
          name,
          r === null ? null : fmtSi(r),
          r === null ? null : fmtRatio(r / inner),
          what,
        ]),
      )}`,
    );
    console.log(
      '  with a real model the inner embedder is ~100x slower than the tiny one, and the speedups grow with it',
    );
    results.cache = Object.fromEntries(
      cacheRows.map(([name, what, r]) => [name, { tweetsPerSecond: r, what }]),
    );

    // ---- 3. event loop
    const bigTexts = texts.slice(0, big);
    const loops: { where: string; p50: number; p99: number; max: number; turns: number; seconds: number }[] =
      [];
    const bigMain = await TransformersEmbedder.load({ modelPath: MODEL, threads: 0, batchSize: 32 });
    const bigWorker = await TransformersEmbedder.load({ modelPath: MODEL, threads: 1, batchSize: 32 });
    try {
      for (let r = 0; r < runs; r++) {
        for (const [where, e] of [
          ['calling thread', bigMain],
          ['1 worker', bigWorker],
        ] as const) {
          const h = monitorEventLoopDelay({ resolution: 1 });
          h.enable();
          const t0 = performance.now();
          const rows = await e.embed(bigTexts);
          const seconds = (performance.now() - t0) / 1000;
          // one more turn, so that a stall running up to the end is recorded too
          await new Promise((resolve) => setTimeout(resolve, 5));
          h.disable();
          sink.value += rows[0][0];
          loops.push({
            where,
            p50: h.percentile(50) / 1e6,
            p99: h.percentile(99) / 1e6,
            max: h.max / 1e6,
            turns: h.count,
            seconds,
          });
        }
      }
    } finally {
      await Promise.all([bigMain.close(), bigWorker.close()]);
    }
    const med = (where: string, k: 'p50' | 'p99' | 'max' | 'turns' | 'seconds') =>
      stats(loops.filter((l) => l.where === where).map((l) => l[k])).median;
    console.log(
      `\n${table(
        `Event loop during one embed() of ${fmtInt(big)} texts (tiny model, batches of 32; median over rounds)`,
        ['where', 'loop turns', 'p50 delay ms', 'p99 delay ms', 'max delay ms', 'tweets/s'],
        ['calling thread', '1 worker'].map((w) => [
          w,
          fmtInt(med(w, 'turns')),
          med(w, 'p50').toFixed(1),
          med(w, 'p99').toFixed(1),
          med(w, 'max').toFixed(1),
          fmtSi(big / med(w, 'seconds')),
        ]),
      )}`,
    );
    const ratio = med('calling thread', 'p99') / med('1 worker', 'p99');
    console.log(
      `  p99 delay, calling thread / worker: ${fmtRatio(ratio)} (an idle loop shows ~1 ms: the sampling timer's period)`,
    );
    results.eventLoop = { texts: big, runs: loops, p99Ratio: ratio };
  } finally {
    await Promise.all(contenders.map((c) => c.embedder.close?.()));
    await fake.stop();
    killAll();
  }
  console.log(`  sink ${sink.value.toPrecision(6)}`);
  return results;
}

export const embed: Suite = {
  name: 'embed',
  description:
    'tweets/s per embedder (hashed TF-IDF, tiny transformers model, HTTP), cache speedup, event-loop delay',
  run,
};
