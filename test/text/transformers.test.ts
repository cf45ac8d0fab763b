/**
 * TransformersEmbedder on the committed tiny model (test/fixtures/tiny-model, made by
 * scripts/make-tiny-model.py): the real loading and inference path of transformers.js over
 * onnxruntime-node, in worker threads and on the calling thread, with no download.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { type EmbedderError, EmbedderLoadError } from '../../src/text/errors.js';
import { TransformersEmbedder } from '../../src/text/transformers.js';
import { tempDir } from '../helpers/tmp.js';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-model', import.meta.url));
const HIDDEN = 32;

const TEXTS = [
  'Breaking news: storm hits the city tonight, police say roads closed #storm',
  'RT @CNN: Hurricane Sandy makes landfall near Atlantic City https://t.co/aaa',
  'My cat is sleeping on my keyboard again 😹',
  'Café crème à Paris — ünïcödé and 日本語のテキスト',
  '',
  'a',
  // longer than the model's 128 positions: truncated, not an error
  Array.from({ length: 300 }, (_, i) => `word${i}`).join(' '),
];

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let inWorker: TransformersEmbedder;
let inline: TransformersEmbedder;

before(async () => {
  [inWorker, inline] = await Promise.all([
    TransformersEmbedder.load({ modelPath: MODEL, batchSize: 8 }),
    TransformersEmbedder.load({ modelPath: MODEL, threads: 0, batchSize: 8 }),
  ]);
});

after(async () => {
  await Promise.all([inWorker?.close(), inline?.close()]);
});

test('loads the tiny model: dim from the model, a model id naming the weights by their hash', () => {
  const sha = createHash('sha256')
    .update(readFileSync(join(MODEL, 'onnx/model.onnx')))
    .digest('hex');
  for (const e of [inWorker, inline]) {
    assert.equal(e.dim, HIDDEN);
    assert.equal(e.modelId, `transformers:tiny-model:${HIDDEN}:mean:128:${sha.slice(0, 12)}`);
    assert.equal(e.info.onnxSha256, sha);
    assert.equal(e.info.pooling, 'mean'); // from 1_Pooling/config.json
    assert.equal(e.cacheable, true);
  }
  assert.equal(inWorker.threads, 1);
  assert.equal(inline.threads, 0);
});

test('shapes and unit norm, for empty, emoji, non-Latin and over-long texts', async () => {
  const rows = await inWorker.embed(TEXTS);
  assert.equal(rows.length, TEXTS.length);
  for (const [i, r] of rows.entries()) {
    assert.ok(r instanceof Float32Array);
    assert.equal(r.length, HIDDEN);
    assert.ok(r.every(Number.isFinite), `row ${i} finite`);
    assert.ok(Math.abs(norm(r) - 1) < 1e-5, `row ${i} norm ${norm(r)}`);
  }
  // distinct texts, distinct vectors
  assert.ok(maxAbsDiff(rows[0], rows[1]) > 1e-3);
  assert.deepEqual(await inWorker.embed([]), []);
});

test('deterministic: the same text gives the same bytes, in a worker and on the calling thread', async () => {
  const a = await inWorker.embed(TEXTS);
  const b = await inWorker.embed(TEXTS);
  const c = await inline.embed(TEXTS);
  for (let i = 0; i < TEXTS.length; i++) {
    assert.deepEqual(a[i], b[i], `worker run twice, row ${i}`);
    assert.deepEqual(a[i], c[i], `worker vs calling thread, row ${i}`);
  }
});

test('a batch equals one by one (padding does not change a vector), across batch sizes', async () => {
  const texts = [
    ...TEXTS,
    ...Array.from({ length: 30 }, (_, i) => `update ${i}: ${'flood '.repeat(i % 9)}near the airport`),
  ];
  const batched = await inWorker.embed(texts); // batches of 8, longest first
  const big = await TransformersEmbedder.load({ modelPath: MODEL, threads: 0, batchSize: 64 });
  try {
    const oneBatch = await big.embed(texts);
    for (const [i, t] of texts.entries()) {
      const [alone] = await inline.embed([t]);
      assert.ok(maxAbsDiff(batched[i], alone) < 1e-5, `row ${i}: batch of 8 vs alone`);
      assert.ok(maxAbsDiff(oneBatch[i], alone) < 1e-5, `row ${i}: batch of ${texts.length} vs alone`);
    }
  } finally {
    await big.close();
  }
});

/** WordPiece by hand for texts made of whole vocabulary words: [CLS] w1 w2 ... [SEP]. */
function idsOf(text: string, vocab: Map<string, number>): number[] {
  const ids = [vocab.get('[CLS]') as number];
  for (const w of text.split(' ')) {
    const id = vocab.get(w);
    assert.ok(id !== undefined, `${w} is a whole word of the tiny vocabulary`);
    ids.push(id);
  }
  ids.push(vocab.get('[SEP]') as number);
  return ids;
}

test('mean pooling and normalisation match onnxruntime-node run directly and pooled by hand', async () => {
  const vocab = new Map(
    readFileSync(join(MODEL, 'vocab.txt'), 'utf8')
      .split('\n')
      .map((w, i) => [w, i] as const),
  );
  const texts = ['breaking news storm in the city', 'police says the road is closed after the crash', 'fire'];
  const session = await ort.InferenceSession.create(join(MODEL, 'onnx/model.onnx'));
  const mean = await inWorker.embed(texts);
  const cls = await TransformersEmbedder.load({ modelPath: MODEL, threads: 0, pooling: 'cls' });
  try {
    assert.notEqual(cls.modelId, inWorker.modelId, 'the pooling is part of the vector space');
    const first = await cls.embed(texts);
    for (const [i, text] of texts.entries()) {
      // each text alone, no padding: every token counts
      const ids = idsOf(text, vocab);
      const n = ids.length;
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
        token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [1, n]),
      };
      const out = await session.run(feeds);
      const h = out.last_hidden_state.data as Float32Array;
      assert.deepEqual(out.last_hidden_state.dims, [1, n, HIDDEN]);
      const want = new Float64Array(HIDDEN);
      for (let s = 0; s < n; s++) for (let d = 0; d < HIDDEN; d++) want[d] += h[s * HIDDEN + d] / n;
      const len = Math.hypot(...want);
      const wantMean = Float32Array.from(want, (x) => x / len);
      assert.ok(
        maxAbsDiff(mean[i], wantMean) < 1e-5,
        `mean pooling, ${text}: ${maxAbsDiff(mean[i], wantMean)}`,
      );
      const c = h.slice(0, HIDDEN);
      const cLen = norm(c);
      const wantCls = c.map((x) => x / cLen);
      assert.ok(maxAbsDiff(first[i], wantCls) < 1e-5, `CLS pooling, ${text}`);
    }
  } finally {
    await cls.close();
    await session.release();
  }
});

test('the event loop stays responsive while a worker embeds a large batch', async () => {
  const e = await TransformersEmbedder.load({ modelPath: MODEL, batchSize: 4000 });
  try {
    const texts = Array.from(
      { length: 4000 },
      (_, i) =>
        `breaking news update ${i}: storm hits the city tonight, police say roads closed #storm${i % 7}`,
    );
    let settled = false;
    const pending = e.embed(texts).finally(() => {
      settled = true;
    });
    // a chain of timer hops, each one a full turn of the event loop; on a blocked loop (the same
    // batch on the calling thread) the chain cannot advance until the batch is done
    let hops = 0;
    await new Promise<void>((resolve) => {
      const hop = () => {
        if (settled) return resolve();
        if (++hops === 10) return resolve();
        setTimeout(hop, 0);
      };
      setTimeout(hop, 0);
    });
    assert.equal(hops, 10, 'ten timer turns ran while the batch was in flight');
    assert.equal(settled, false);
    const rows = await pending;
    assert.equal(rows.length, texts.length);
  } finally {
    await e.close();
  }
});

test('two workers: concurrent calls each get their own rows, equal to one worker', async () => {
  const two = await TransformersEmbedder.load({ modelPath: MODEL, threads: 2, batchSize: 4 });
  try {
    assert.equal(two.modelId, inWorker.modelId, 'threads do not change the vector space');
    const calls = Array.from({ length: 6 }, (_, k) => TEXTS.map((t) => `${t} ${k}`));
    const results = await Promise.all(calls.map((c) => two.embed(c)));
    for (const [k, c] of calls.entries()) {
      const want = await inWorker.embed(c);
      for (let i = 0; i < c.length; i++)
        assert.ok(maxAbsDiff(results[k][i], want[i]) < 1e-5, `call ${k} row ${i}`);
    }
    // a worker that dies is replaced; the embedder keeps serving
    const slots = (two as unknown as { slots: { worker?: { terminate(): Promise<number> } }[] }).slots;
    await slots[0].worker?.terminate();
    const again = await two.embed(TEXTS);
    assert.equal(again.length, TEXTS.length);
  } finally {
    await two.close();
  }
});

test('close(): later embeds fail with EMBEDDER_CLOSED; closing twice is fine', async () => {
  const e = await TransformersEmbedder.load({ modelPath: MODEL });
  await e.close();
  await e.close();
  await assert.rejects(e.embed(['x']), (err: EmbedderError) => err.code === 'EMBEDDER_CLOSED');
});

test('clear load errors: missing directory, missing tokenizer file, broken model.onnx, bad JSON', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    TransformersEmbedder.load({ modelPath: join(dir, 'nope') }),
    (err: EmbedderLoadError) =>
      err instanceof EmbedderLoadError &&
      err.code === 'EMBEDDER_LOAD' &&
      err.message === `model directory ${join(dir, 'nope')} does not exist`,
  );

  const noTokenizer = join(dir, 'no-tokenizer');
  cpSync(MODEL, noTokenizer, { recursive: true });
  rmSync(join(noTokenizer, 'tokenizer.json'));
  await assert.rejects(TransformersEmbedder.load({ modelPath: noTokenizer }), (err: EmbedderLoadError) => {
    assert.deepEqual(err.missing, ['tokenizer.json']);
    assert.equal(err.path, noTokenizer);
    assert.match(err.message, new RegExp(`^model directory ${noTokenizer} is missing tokenizer.json \\(`));
    return true;
  });

  const noModel = join(dir, 'no-model');
  cpSync(MODEL, noModel, { recursive: true });
  rmSync(join(noModel, 'onnx'), { recursive: true });
  await assert.rejects(TransformersEmbedder.load({ modelPath: noModel }), (err: EmbedderLoadError) => {
    assert.deepEqual(err.missing, ['onnx/model.onnx']);
    return true;
  });

  // a truncated copy of the weights, as an interrupted download or copy leaves it
  const broken = join(dir, 'broken');
  cpSync(MODEL, broken, { recursive: true });
  const onnxPath = join(broken, 'onnx/model.onnx');
  writeFileSync(onnxPath, readFileSync(join(MODEL, 'onnx/model.onnx')).subarray(0, 5000));
  for (const threads of [1, 0]) {
    await assert.rejects(
      TransformersEmbedder.load({ modelPath: broken, threads }),
      (err: EmbedderLoadError) => {
        assert.ok(err instanceof EmbedderLoadError, `threads ${threads}: ${err}`);
        assert.equal(err.path, onnxPath);
        assert.match(
          err.message,
          new RegExp(`^cannot load the ONNX model ${onnxPath}: .*Protobuf parsing failed`),
        );
        return true;
      },
    );
  }

  const badJson = join(dir, 'bad-json');
  cpSync(MODEL, badJson, { recursive: true });
  copyFileSync(join(MODEL, 'vocab.txt'), join(badJson, 'config.json'));
  await assert.rejects(TransformersEmbedder.load({ modelPath: badJson }), (err: EmbedderLoadError) => {
    assert.match(err.message, new RegExp(`^${join(badJson, 'config.json')} is not valid JSON`));
    return true;
  });
});

test('a hub model name with downloads off is looked up in the cache only, and says so', async (t) => {
  const cacheDir = tempDir(t);
  await assert.rejects(
    TransformersEmbedder.load({ modelName: 'Xenova/all-MiniLM-L6-v2', cacheDir }),
    (err: EmbedderLoadError) => {
      assert.equal(err.code, 'EMBEDDER_LOAD');
      assert.equal(err.path, 'Xenova/all-MiniLM-L6-v2');
      assert.match(err.message, /^model Xenova\/all-MiniLM-L6-v2 is not in .* and downloads are off/);
      return true;
    },
  );
  // the same layout transformers.js caches a download in is found without any download
  const cached = join(cacheDir, 'birdie', 'tiny');
  cpSync(MODEL, cached, { recursive: true });
  const e = await TransformersEmbedder.load({ modelName: 'birdie/tiny', cacheDir, threads: 0 });
  try {
    assert.match(e.modelId, /^transformers:birdie\/tiny:32:mean:128:[0-9a-f]{12}$/);
    assert.equal(e.modelId.split(':').at(-1), inWorker.modelId.split(':').at(-1));
    assert.deepEqual(await e.embed(['storm']), await inline.embed(['storm']));
  } finally {
    await e.close();
  }
});
