import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  EmbedderStateError,
  HashedTfidfEmbedder,
  type HashedTfidfOptions,
  murmur3Bytes,
  murmur3Utf16,
} from '../../src/text/index.js';

const STREAM = [
  'RT @CNN: Hurricane Sandy makes landfall near Atlantic City #Sandy https://t.co/aaa',
  'Flooding in lower Manhattan as #HurricaneSandy storm surge hits NYC',
  'Power out across New Jersey after the hurricane, stay safe everyone 🙏',
  'Explosion at fertilizer plant in West, Texas; many injured',
  'Tornado warning for Moore, Oklahoma. Take shelter now!',
  'My cat is sleeping on my keyboard again 😹',
  '',
  'Boston Marathon finish line explosions, runners injured #BostonMarathon',
];

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function isZero(v: Float32Array): boolean {
  return v.every((x) => x === 0);
}

test('murmur3: published MurmurHash3_x86_32 vectors; the UTF-16 form hashes UTF-16LE bytes', () => {
  const enc = new TextEncoder();
  const cases: [string, number, number][] = [
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['test', 0, 0xba6bd213],
    ['test', 0x9747b28c, 0x704b81dc],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ];
  for (const [s, seed, want] of cases) assert.equal(murmur3Bytes(enc.encode(s), seed), want, `${s}/${seed}`);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.integer(), (s, seed) => {
      const b = new Uint8Array(s.length * 2);
      for (let i = 0; i < s.length; i++) {
        b[2 * i] = s.charCodeAt(i) & 0xff;
        b[2 * i + 1] = s.charCodeAt(i) >>> 8;
      }
      assert.equal(murmur3Utf16(s, seed), murmur3Bytes(b, seed));
    }),
    { seed: 7, numRuns: 300 },
  );
});

test('rows are unit length, of length dim; empty or token-less text gives zeros and 0', async () => {
  for (const dim of [512, 300, 64]) {
    const e = new HashedTfidfEmbedder({ dim });
    const rows = await e.embed(STREAM);
    assert.equal(rows.length, STREAM.length);
    for (let i = 0; i < rows.length; i++) {
      assert.equal(rows[i].length, dim);
      if (STREAM[i] === '') assert.ok(isZero(rows[i]));
      else assert.ok(Math.abs(norm(rows[i]) - 1) < 1e-5, `row ${i} norm ${norm(rows[i])}`);
    }
  }
  const e = new HashedTfidfEmbedder();
  const out = new Float32Array(e.dim).fill(7);
  assert.equal(e.embedOne('', out), 0);
  assert.ok(isZero(out));
  out.fill(7);
  assert.equal(e.embedOne('the of and ... !!! http://…', out), 0);
  assert.ok(isZero(out));
  // Token-less texts are not counted as documents.
  assert.equal(e.documentCount, 0);
  assert.equal(e.embedOne('storm hits coast storm', out), 4);
  assert.equal(e.documentCount, 1);
});

test('out may be longer than dim: only the first dim entries are written; shorter is an error', () => {
  const e = new HashedTfidfEmbedder({ dim: 16 });
  const out = new Float32Array(20).fill(9);
  e.embedOne('storm surge flooding', out);
  assert.deepEqual([...out.subarray(16)], [9, 9, 9, 9]);
  assert.ok(Math.abs(norm(out.subarray(0, 16)) - 1) < 1e-5);
  assert.throws(() => e.embedOne('x', new Float32Array(8)), /dim/);
});

test('deterministic: two instances fed the same stream give bit-identical rows', async () => {
  const a = await new HashedTfidfEmbedder().embed(STREAM);
  const b = await new HashedTfidfEmbedder().embed(STREAM);
  assert.deepEqual(a, b);
  // Pinned values, so a change to hashing or weighting cannot pass unnoticed.
  const e = new HashedTfidfEmbedder({ dim: 8, idf: 'none' });
  const row = e.embedBatch(['storm'])[0];
  const nz = [...row].map((x, i) => [i, x] as const).filter(([, x]) => x !== 0);
  assert.equal(nz.length, 1);
  const h = murmur3Utf16('storm', 0x62697264);
  assert.deepEqual(nz[0], [h & 7, h & 0x80000000 ? -1 : 1]);
});

test('same text and same state give the same vector; update = false changes nothing', () => {
  const e = new HashedTfidfEmbedder();
  e.embedBatch(STREAM.slice(0, 4));
  const before = e.exportState();
  const q1 = e.embedBatch(['hurricane flooding in NYC'], false)[0];
  const q2 = e.embedBatch(['hurricane flooding in NYC'], false)[0];
  assert.deepEqual(q1, q2);
  assert.deepEqual(e.exportState(), before);
  assert.equal(e.documentCount, 4);
  // Updating uses the IDF from before the text, so the first update equals the query...
  const u1 = e.embedBatch(['hurricane flooding in NYC'])[0];
  assert.deepEqual(u1, q1);
  assert.equal(e.documentCount, 5);
  // ...and the counts it added change the next one.
  const u2 = e.embedBatch(['hurricane flooding in NYC'])[0];
  assert.notDeepEqual(u2, u1);
});

test('online IDF: idf = ln((1 + N) / (1 + df)) + 1 with N and df before the text', () => {
  const e = new HashedTfidfEmbedder({ dim: 1 << 16 });
  e.embedBatch(['storm coast', 'storm town', 'storm river']);
  assert.equal(e.documentCount, 3);
  assert.equal(e.documentFrequency('storm'), 3);
  assert.equal(e.documentFrequency('coast'), 1);
  const v = e.embedBatch(['storm coast'], false)[0];
  const idfStorm = Math.log(4 / 4) + 1;
  const idfCoast = Math.log(4 / 2) + 1;
  const ratio = Math.abs(
    v[murmur3Utf16('coast', 0x62697264) & 0xffff] / v[murmur3Utf16('storm', 0x62697264) & 0xffff],
  );
  assert.ok(Math.abs(ratio - idfCoast / idfStorm) < 1e-6, `ratio ${ratio}`);
  // A repeated word counts once towards df, and tf is sublinear.
  e.embedBatch(['coast coast coast']);
  assert.equal(e.documentFrequency('coast'), 2);
  // idf 'none' keeps no state.
  const none = new HashedTfidfEmbedder({ idf: 'none' });
  none.embedBatch(STREAM);
  assert.equal(none.documentCount, 0);
  assert.equal(none.documentFrequency('storm'), 0);
});

test('df never exceeds N, even when features share a DF bucket', () => {
  const e = new HashedTfidfEmbedder({ idfBuckets: 4 });
  e.embedBatch(['alpha beta gamma delta epsilon zeta eta theta iota kappa lambda']);
  for (const w of ['alpha', 'beta', 'gamma', 'delta', 'kappa']) assert.equal(e.documentFrequency(w), 1);
  // State with df <= N imports cleanly.
  const copy = new HashedTfidfEmbedder({ idfBuckets: 4 });
  copy.importState(e.exportState());
  assert.equal(copy.documentCount, 1);
});

test('exportState / importState round trip: later vectors identical', () => {
  const a = new HashedTfidfEmbedder();
  a.embedBatch(STREAM.slice(0, 5));
  const snap = a.exportState();
  const b = new HashedTfidfEmbedder();
  b.importState(snap);
  assert.equal(b.documentCount, a.documentCount);
  const rest = STREAM.slice(5);
  assert.deepEqual(b.embedBatch(rest), a.embedBatch(rest));
  assert.deepEqual(b.exportState(), a.exportState());
  // Importing into a used embedder replaces its state; reset forgets everything.
  const c = new HashedTfidfEmbedder();
  c.embedBatch(['something else entirely']);
  c.importState(snap);
  assert.equal(c.documentCount, 5);
  c.reset();
  assert.equal(c.documentCount, 0);
  assert.deepEqual(c.exportState(), new HashedTfidfEmbedder().exportState());
  // A snapshot inside a larger buffer (e.g. read from a file at an offset) imports too.
  const padded = new Uint8Array(snap.length + 16);
  padded.set(snap, 8);
  const d = new HashedTfidfEmbedder();
  d.importState(padded.subarray(8, 8 + snap.length));
  assert.deepEqual(d.exportState(), snap);
});

test('corrupt or foreign state is rejected with a clear error, and the state is unchanged', () => {
  const e = new HashedTfidfEmbedder({ idfBuckets: 256 });
  e.embedBatch(STREAM);
  const good = e.exportState();
  const target = new HashedTfidfEmbedder({ idfBuckets: 256 });
  target.embedBatch(['one text']);
  const before = target.exportState();
  const rejects = (bytes: Uint8Array, pattern: RegExp) => {
    assert.throws(
      () => target.importState(bytes),
      (err: unknown) => err instanceof EmbedderStateError && pattern.test(err.message),
    );
    assert.deepEqual(target.exportState(), before);
  };
  const mutate = (at: number, xor = 0xff) => {
    const b = good.slice();
    b[at] ^= xor;
    return b;
  };
  rejects(good.subarray(0, 10), /shorter/);
  rejects(mutate(0), /bad magic/);
  rejects(mutate(4), /version/);
  rejects(mutate(6), /flags/);
  rejects(good.subarray(0, good.length - 4), /length/);
  rejects(mutate(good.length - 20, 1), /checksum/);
  rejects(mutate(good.length - 1), /checksum/);
  rejects(new HashedTfidfEmbedder({ idfBuckets: 256, dim: 128 }).exportState(), /made by model.*d128/);
  rejects(new HashedTfidfEmbedder({ idfBuckets: 512 }).exportState(), /model/);
  assert.throws(() => target.importState(new Uint8Array(0)), EmbedderStateError);
});

test('property: corrupting any single byte of a state is detected', () => {
  const e = new HashedTfidfEmbedder({ idfBuckets: 64 });
  e.embedBatch(STREAM);
  const good = e.exportState();
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
      const b = good.slice();
      b[at] ^= xor;
      assert.throws(() => new HashedTfidfEmbedder({ idfBuckets: 64 }).importState(b), EmbedderStateError);
    }),
    { seed: 99, numRuns: 300 },
  );
});

test('similar tweets are closer than unrelated ones', () => {
  const e = new HashedTfidfEmbedder();
  e.embedBatch(STREAM);
  const [a, b, c, d] = e.embedBatch(
    [
      'Hurricane Sandy floods the subway in New York #Sandy',
      'RT @AP: Storm surge from #HurricaneSandy floods New York subway tunnels',
      'West Texas fertilizer plant explosion injures dozens',
      'Cute puppy video made my day 🐶',
    ],
    false,
  );
  assert.ok(dot(a, b) > 0.3, `similar pair cos ${dot(a, b)}`);
  assert.ok(dot(a, b) > dot(a, c) + 0.2, `${dot(a, b)} vs ${dot(a, c)}`);
  assert.ok(dot(a, b) > dot(a, d) + 0.2, `${dot(a, b)} vs ${dot(a, d)}`);
  // A retweet of a text embeds like the text.
  const [x, y] = e.embedBatch(['RT @CNN: Flooding in lower Manhattan', 'Flooding in lower Manhattan'], false);
  assert.deepEqual(x, y);
});

test('bigrams option adds word-pair features', () => {
  const plain = new HashedTfidfEmbedder({ idf: 'none' });
  const bi = new HashedTfidfEmbedder({ idf: 'none', bigrams: true });
  // Same words in another order: identical without bigrams, different with them.
  const [p1, p2] = plain.embedBatch(['new york storm', 'storm york new']);
  assert.deepEqual(p1, p2);
  const [b1, b2] = bi.embedBatch(['new york storm', 'storm york new']);
  assert.ok(dot(b1, b2) < 0.99);
});

test('kind weights: weight 0 drops a kind; weights change the vector', () => {
  const noUrl = new HashedTfidfEmbedder({ idf: 'none', weights: { url: 0 } });
  const [a, b] = noUrl.embedBatch(['storm hits https://cnn.com/x', 'storm hits']);
  assert.deepEqual(a, b);
  const out = new Float32Array(noUrl.dim);
  assert.equal(noUrl.embedOne('https://cnn.com/x', out), 0);
  assert.ok(isZero(out));
  const def = new HashedTfidfEmbedder({ idf: 'none' }).embedBatch(['#Storm hits @fema'])[0];
  const alt = new HashedTfidfEmbedder({ idf: 'none', weights: { hashtag: 3 } }).embedBatch([
    '#Storm hits @fema',
  ])[0];
  assert.notDeepEqual(def, alt);
});

test('modelId encodes every parameter that changes vectors', () => {
  const base = new HashedTfidfEmbedder();
  assert.match(base.modelId, /^hashed-tfidf:v1:tok2:d512:idf-online-b262144:bg0:/);
  const variants: HashedTfidfOptions[] = [
    { dim: 256 },
    { idf: 'none' },
    { idfBuckets: 1 << 16 },
    { bigrams: true },
    { weights: { hashtag: 2 } },
    { weights: { url: 0 } },
    { stopWords: false },
    { stopWords: new Set(['storm']) },
    { minLength: 3 },
    { minLengthCjk: 2 },
    { splitHashtags: false },
  ];
  const ids = new Set([base.modelId]);
  for (const v of variants) {
    const id = new HashedTfidfEmbedder(v).modelId;
    assert.ok(!ids.has(id), `${JSON.stringify(v)} gives a modelId already seen: ${id}`);
    ids.add(id);
  }
  assert.equal(new HashedTfidfEmbedder({ dim: 512, bigrams: false }).modelId, base.modelId);
  // The bigram weight only matters when bigrams are on.
  assert.equal(new HashedTfidfEmbedder({ weights: { bigram: 2 } }).modelId, base.modelId);
});

test('options are validated', () => {
  assert.throws(() => new HashedTfidfEmbedder({ dim: 0 }), /dim/);
  assert.throws(() => new HashedTfidfEmbedder({ dim: 1.5 }), /dim/);
  assert.throws(() => new HashedTfidfEmbedder({ idfBuckets: 0 }), /idfBuckets/);
  assert.throws(() => new HashedTfidfEmbedder({ idf: 'bm25' as 'none' }), /idf/);
  assert.throws(() => new HashedTfidfEmbedder({ weights: { word: -1 } }), /weights.word/);
  assert.throws(() => new HashedTfidfEmbedder({ weights: { word: Number.NaN } }), /weights.word/);
});

test('contentTerms follows the embedder tokenizer options', () => {
  const e = new HashedTfidfEmbedder({ stopWords: false, splitHashtags: false });
  assert.deepEqual(e.contentTerms('RT @a: The #BigStorm https://cnn.com/x'), ['the', '#bigstorm', 'cnn.com']);
});

test('embedOne can hand back the content terms from the same pass', () => {
  const a = new HashedTfidfEmbedder();
  const b = new HashedTfidfEmbedder();
  const text = 'RT @x: #StormWatch storm storm hits https://t.co/q 🔥 東京';
  const terms: string[] = ['kept'];
  const va = new Float32Array(a.dim);
  const vb = new Float32Array(b.dim);
  assert.equal(a.embedOne(text, va, true, terms), b.embedOne(text, vb));
  assert.deepEqual(va, vb);
  assert.deepEqual(terms, ['kept', ...a.contentTerms(text)]);
});

test('property: embed never throws and always returns a finite unit or zero vector', () => {
  const e = new HashedTfidfEmbedder({ dim: 64, idfBuckets: 1024 });
  const out = new Float32Array(64);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 120 }),
        fc.string({ unit: 'binary', maxLength: 60 }),
        fc
          .array(
            fc.constantFrom(
              'storm',
              '#Flood',
              '@fema',
              '🔥',
              'https://t.co/x',
              'RT @a:',
              '東京',
              '2012',
              ' ',
            ),
            {
              maxLength: 30,
            },
          )
          .map((xs) => xs.join(' ')),
      ),
      fc.boolean(),
      (text, update) => {
        const n = e.embedOne(text, out, update);
        assert.ok(Number.isInteger(n) && n >= 0);
        for (const x of out) assert.ok(Number.isFinite(x));
        const len = norm(out);
        if (n === 0) assert.equal(len, 0);
        else assert.ok(Math.abs(len - 1) < 1e-5, `norm ${len} for ${JSON.stringify(text)}`);
      },
    ),
    { seed: 424242, numRuns: 500 },
  );
});
