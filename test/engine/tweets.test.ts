/**
 * What the service remembers of tweets (src/engine/tweets.ts): two tiers, each bounded and
 * evicting the oldest first; seen() answering from either tier; vectors held sparse or dense
 * and given back exactly (a property over random vectors, fast-check with a fixed seed); a
 * bound of 0 turning a tier off; bad bounds refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { denseVector, type HeldTweet, TweetMemory } from '../../src/engine/tweets.js';

const SEED = 0x7_3e3;
const T0 = Date.UTC(2024, 0, 1);

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 800): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

function tweet(i: number, over: Partial<Omit<HeldTweet, 'vector'>> = {}): Omit<HeldTweet, 'vector'> {
  return {
    id: `t${i}`,
    cluster: 100 + i,
    similarity: 0.5 + i / 1000,
    time: T0 + i,
    text: `text ${i}`,
    ...over,
  };
}

function oneHot(dim: number, at: number): Float32Array {
  const v = new Float32Array(dim);
  v[at] = 1;
  return v;
}

test('the id tier keeps the last maxIds ids, dropping the oldest first', () => {
  const m = new TweetMemory({ maxIds: 3, maxHeld: 0 });
  for (let i = 0; i < 5; i++) {
    m.remember(tweet(i), oneHot(8, 0));
    assert.equal(m.idCount, Math.min(i + 1, 3)); // never over the bound
  }
  assert.equal(m.seen('t0'), undefined);
  assert.equal(m.seen('t1'), undefined);
  for (const i of [2, 3, 4])
    assert.deepEqual(m.seen(`t${i}`), { cluster: 100 + i, similarity: 0.5 + i / 1000 });
  assert.equal(m.heldCount, 0);
  assert.equal(m.get('t4'), undefined); // ids only: no text, no vector
});

test('the held tier keeps the last maxHeld tweets, oldest first out, and lists them oldest first', () => {
  const m = new TweetMemory({ maxIds: 0, maxHeld: 2 });
  for (let i = 0; i < 4; i++) m.remember(tweet(i, { user: `u${i}`, lang: 'en' }), oneHot(8, i));
  assert.equal(m.heldCount, 2);
  assert.equal(m.get('t0'), undefined);
  assert.equal(m.get('t1'), undefined);
  assert.deepEqual(
    [...m.heldTweets()].map((t) => t.id),
    ['t2', 't3'],
  );
  const t3 = m.get('t3');
  assert.ok(t3);
  assert.equal(t3.text, 'text 3');
  assert.equal(t3.time, T0 + 3);
  assert.equal(t3.user, 'u3');
  assert.equal(t3.lang, 'en');
  assert.equal(t3.cluster, 103);
  assert.deepEqual(denseVector(t3.vector), oneHot(8, 3));
});

test('the tiers are bounded independently', () => {
  const m = new TweetMemory({ maxIds: 10, maxHeld: 3 });
  for (let i = 0; i < 25; i++) m.remember(tweet(i), oneHot(8, i % 8));
  assert.equal(m.idCount, 10);
  assert.equal(m.heldCount, 3);
  assert.equal(m.maxIds, 10);
  assert.equal(m.maxHeld, 3);
  assert.ok(m.seen('t15'));
  assert.equal(m.seen('t14'), undefined);
  assert.equal(m.get('t21'), undefined);
  assert.ok(m.get('t22'));
});

test('seen() answers the cluster and similarity the tweet was given, from either tier', () => {
  // more held than ids: an id gone from the id tier is still answered from the held tier
  const m = new TweetMemory({ maxIds: 1, maxHeld: 3 });
  m.remember(tweet(0, { cluster: 7, similarity: 0.9 }), oneHot(4, 0));
  m.remember(tweet(1, { cluster: 8, similarity: 0.8 }), oneHot(4, 1));
  assert.equal(m.idCount, 1);
  const s0 = m.seen('t0');
  assert.ok(s0);
  assert.equal(s0.cluster, 7);
  assert.equal(s0.similarity, 0.9);
  assert.equal(m.seen('t1')?.cluster, 8);
  assert.equal(m.seen('never'), undefined);

  // ids only: the held tier is off, the id tier answers
  const ids = new TweetMemory({ maxIds: 5, maxHeld: 0 });
  ids.remember(tweet(0, { cluster: 3, similarity: 1 }), oneHot(4, 0));
  assert.deepEqual(ids.seen('t0'), { cluster: 3, similarity: 1 });
});

test('a vector with few non-zeros is held sparse and comes back exactly', () => {
  const m = new TweetMemory({ maxIds: 0, maxHeld: 10 });
  const x = new Float32Array(1024);
  x[3] = 0.25;
  x[500] = -0.5;
  x[1023] = Math.fround(Math.sqrt(0.6875));
  m.remember(tweet(0), x);
  const held = m.get('t0')?.vector;
  assert.ok(held);
  assert.equal(held.kind, 'sparse');
  assert.ok(held.kind === 'sparse');
  assert.deepEqual([...held.index], [3, 500, 1023]);
  assert.equal(held.dim, 1024);
  assert.deepEqual(denseVector(held), x);
});

test('a dense vector is held dense; the boundary is half the coordinates non-zero', () => {
  const m = new TweetMemory({ maxIds: 0, maxHeld: 10 });
  const dense = Float32Array.from({ length: 16 }, (_, i) => (i + 1) / 16);
  m.remember(tweet(0), dense);
  assert.equal(m.get('t0')?.vector.kind, 'dense');
  assert.deepEqual(denseVector(m.get('t0')?.vector ?? assert.fail()), dense);

  // sparse costs 8 bytes a non-zero, dense 4 a coordinate: 8 of 16 non-zero is no saving
  const half = new Float32Array(16);
  for (let i = 0; i < 8; i++) half[2 * i] = 1;
  m.remember(tweet(1), half);
  assert.equal(m.get('t1')?.vector.kind, 'dense');
  const under = half.slice();
  under[14] = 0; // 7 of 16
  m.remember(tweet(2), under);
  assert.equal(m.get('t2')?.vector.kind, 'sparse');
  assert.deepEqual(denseVector(m.get('t2')?.vector ?? assert.fail()), under);
});

test('the vector is copied: the caller may reuse its buffer (the embedder scratch)', () => {
  const m = new TweetMemory({ maxIds: 0, maxHeld: 10 });
  const scratch = new Float32Array(64);
  scratch[5] = 1;
  m.remember(tweet(0), scratch);
  const dense = Float32Array.from({ length: 4 }, () => 0.5);
  m.remember(tweet(1), dense);
  scratch.fill(0);
  scratch[6] = 1;
  dense.fill(0);
  assert.deepEqual(denseVector(m.get('t0')?.vector ?? assert.fail()), oneHot(64, 5));
  assert.deepEqual(
    denseVector(m.get('t1')?.vector ?? assert.fail()),
    Float32Array.from({ length: 4 }, () => 0.5),
  );
});

test('property: any vector round-trips exactly through the held tier', () => {
  const vectorArb = fc.integer({ min: 1, max: 80 }).chain((dim) =>
    fc
      .array(
        fc.oneof(
          fc.constant(0),
          // -0 is held as 0 in the sparse form (it is zero); no embedding carries one
          fc.float({ noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v)),
        ),
        { minLength: dim, maxLength: dim },
      )
      .map((a) => Float32Array.from(a)),
  );
  check(
    fc.property(vectorArb, (x) => {
      const m = new TweetMemory({ maxIds: 0, maxHeld: 1 });
      m.remember(tweet(0), x);
      const held = m.get('t0')?.vector;
      assert.ok(held);
      let nnz = 0;
      for (const v of x) if (v !== 0) nnz++;
      assert.equal(held.kind, nnz * 2 >= x.length ? 'dense' : 'sparse');
      assert.deepEqual(denseVector(held), x);
    }),
    300,
  );
});

test('approxBytes counts a sparse vector for its non-zeros only', () => {
  const sparse = new TweetMemory({ maxIds: 0, maxHeld: 1 });
  sparse.remember(tweet(0), oneHot(1024, 1));
  const dense = new TweetMemory({ maxIds: 0, maxHeld: 1 });
  dense.remember(
    tweet(0),
    Float32Array.from({ length: 1024 }, () => 1 / 32),
  );
  assert.ok(dense.approxBytes() >= 4096);
  assert.ok(sparse.approxBytes() < 1024, String(sparse.approxBytes()));
  assert.equal(new TweetMemory({ maxIds: 0, maxHeld: 0 }).approxBytes(), 0);
});

test('a bound of 0 turns its tier off', () => {
  const none = new TweetMemory({ maxIds: 0, maxHeld: 0 });
  for (let i = 0; i < 3; i++) none.remember(tweet(i), oneHot(4, 0));
  assert.equal(none.idCount, 0);
  assert.equal(none.heldCount, 0);
  assert.equal(none.seen('t0'), undefined);
  assert.equal(none.get('t0'), undefined);
  assert.deepEqual([...none.heldTweets()], []);

  const noHeld = new TweetMemory({ maxIds: 2, maxHeld: 0 });
  noHeld.remember(tweet(0), oneHot(4, 0));
  assert.equal(noHeld.idCount, 1);
  assert.equal(noHeld.heldCount, 0);

  const noIds = new TweetMemory({ maxIds: 0, maxHeld: 2 });
  noIds.remember(tweet(0), oneHot(4, 0));
  assert.equal(noIds.idCount, 0);
  assert.equal(noIds.heldCount, 1);
});

test('bad bounds are refused, naming the bound', () => {
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new TweetMemory({ maxIds: bad, maxHeld: 1 }), {
      name: 'RangeError',
      message: /^maxIds must be an integer >= 0/,
    });
    assert.throws(() => new TweetMemory({ maxIds: 1, maxHeld: bad }), {
      name: 'RangeError',
      message: /^maxHeld must be an integer >= 0/,
    });
  }
});
