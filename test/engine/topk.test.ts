/**
 * Space-Saving top-k (src/engine/topk.ts) against a brute-force Map of true counts on random
 * streams (fast-check, fixed seed, each property time-boxed): exact while the distinct items fit
 * in k counters; beyond that the three guarantees of Metwally et al. (every item whose true count
 * exceeds N/k is kept, a kept count never under-estimates, count - error never over-estimates),
 * which also hold for weighted adds. Plus merge, the order of top() and k validation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TopK } from '../../src/engine/topk.js';

const SEED = 0x70_9c;

/** Runs a property with the fixed seed, at most `numRuns` runs and `ms` milliseconds. */
function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 700): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

type Stream = [item: string, by: number][];

/** True counts of a stream. */
function truth(stream: Stream): Map<string, number> {
  const m = new Map<string, number>();
  for (const [item, by] of stream) m.set(item, (m.get(item) ?? 0) + by);
  return m;
}

function feed(k: number, stream: Stream): TopK {
  const s = new TopK(k);
  for (const [item, by] of stream) s.add(item, by);
  return s;
}

const total = (stream: Stream): number => stream.reduce((a, [, by]) => a + by, 0);

/**
 * Streams over `alphabet` item names, skewed (min of two uniforms: low items are frequent) so
 * that some items are heavy hitters and many are rare; weights 1 or 1..maxBy.
 */
const streamArb = (alphabet: number, maxLength: number, maxBy = 1): fc.Arbitrary<Stream> =>
  fc.array(
    fc.tuple(
      fc.tuple(fc.nat(alphabet - 1), fc.nat(alphabet - 1)).map(([a, b]) => `w${Math.min(a, b)}`),
      fc.integer({ min: 1, max: maxBy }),
    ),
    // size 'max': fast-check would otherwise keep arrays to about ten elements
    { maxLength, size: 'max' },
  );

/** Checks the Space-Saving guarantees of sketch `s` (k counters) for the true counts `t` of N. */
function assertGuarantees(s: TopK, t: Map<string, number>, n: number): void {
  const top = s.top();
  const kept = new Map(top.map((e) => [e.item, e]));
  assert.equal(s.size, Math.min(s.k, t.size), 'counters in use');
  assert.equal(top.length, s.size);
  assert.equal(kept.size, top.length, 'no item is kept twice');
  // every add increases exactly one counter by its weight
  assert.equal(
    top.reduce((a, e) => a + e.count, 0),
    n,
    'the counts add up to N',
  );
  for (const e of top) {
    const f = t.get(e.item) ?? 0;
    assert.ok(f > 0, `${e.item} was never added`);
    assert.ok(e.error >= 0, `${e.item} error ${e.error} < 0`);
    assert.ok(e.count >= f, `${e.item}: count ${e.count} < true count ${f}`);
    assert.ok(e.count - e.error <= f, `${e.item}: count ${e.count} - error ${e.error} > true count ${f}`);
  }
  for (const [item, f] of t) {
    if (f * s.k > n) assert.ok(kept.has(item), `${item} (true count ${f} > N/k = ${n}/${s.k}) was dropped`);
  }
}

// ---------------------------------------------------------------- construction

test('k must be a positive integer', () => {
  for (const k of [0, -1, 1.5, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    assert.throws(() => new TopK(k), RangeError, `k = ${k}`);
  for (const k of [1, 2, 24, 64]) {
    const s = new TopK(k);
    assert.equal(s.k, k);
    assert.equal(s.size, 0);
    assert.deepEqual(s.top(), []);
  }
});

// ---------------------------------------------------------------- exact regime

test('counts are exact (error 0) while the distinct items fit in k counters', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 16 }).chain((k) => fc.tuple(fc.constant(k), streamArb(k, 200, 5))),
      ([k, stream]) => {
        const s = feed(k, stream);
        const t = truth(stream);
        assert.equal(s.size, t.size);
        const top = s.top();
        assert.equal(top.length, t.size);
        for (const e of top) {
          assert.equal(e.count, t.get(e.item), e.item);
          assert.equal(e.error, 0, e.item);
        }
      },
    ),
    300,
  );
});

test('add defaults to one and accumulates weights', () => {
  const s = new TopK(3);
  s.add('a');
  s.add('a');
  s.add('b', 5);
  s.add('a', 2);
  assert.deepEqual(s.top(), [
    { item: 'b', count: 5, error: 0 },
    { item: 'a', count: 4, error: 0 },
  ]);
});

// ---------------------------------------------------------------- Space-Saving guarantees

test('more items than counters: heavy hitters kept, count >= true count >= count - error', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 60 }).chain((a) => streamArb(a, 400)),
      (k, stream) => assertGuarantees(feed(k, stream), truth(stream), stream.length),
    ),
    300,
    1000,
  );
});

test('the guarantees hold for weighted adds (N = total weight)', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 40 }).chain((a) => streamArb(a, 300, 7)),
      (k, stream) => assertGuarantees(feed(k, stream), truth(stream), total(stream)),
    ),
    300,
    1000,
  );
});

test('a full sketch replaces the first smallest counter and the newcomer inherits its count as error', () => {
  const s = new TopK(2);
  for (const w of ['a', 'b', 'c']) s.add(w);
  // a and b tie at 1: the first of them (a) goes; c starts at 1 + 1 with error 1
  assert.deepEqual(s.top(), [
    { item: 'c', count: 2, error: 1 },
    { item: 'b', count: 1, error: 0 },
  ]);
  s.add('b', 3);
  s.add('d');
  // b = 4, c = 2: c goes, d = 3 with error 2
  assert.deepEqual(s.top(), [
    { item: 'b', count: 4, error: 0 },
    { item: 'd', count: 3, error: 2 },
  ]);
});

// ---------------------------------------------------------------- merge

test('merge is exact when the union of items fits in k counters', () => {
  check(
    fc.property(
      fc
        .integer({ min: 1, max: 12 })
        .chain((k) => fc.tuple(fc.constant(k), streamArb(k, 100, 4), streamArb(k, 100, 4))),
      ([k, s1, s2]) => {
        const a = feed(k, s1);
        const b = feed(k, s2);
        const bBefore = b.top();
        a.merge(b);
        assert.deepEqual(b.top(), bBefore, 'merge leaves its argument alone');
        // the same as one sketch fed both streams
        assert.deepEqual(a.top(), feed(k, [...s1, ...s2]).top());
        const t = truth([...s1, ...s2]);
        for (const e of a.top()) {
          assert.equal(e.count, t.get(e.item));
          assert.equal(e.error, 0);
        }
      },
    ),
    300,
  );
});

test('merge of full sketches: the size bound holds, counts are sane, deterministic', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 30 }).chain((a) => fc.tuple(streamArb(a, 150, 3), streamArb(a, 150, 3))),
      (k, [s1, s2]) => {
        const a = feed(k, s1);
        a.merge(feed(k, s2));
        assert.ok(a.size <= k);
        // (the counts' bounds against the true counts are the next test's)
        assert.ok(a.top().every((e) => e.count >= 1 && e.error >= 0 && e.error < e.count));
        const again = feed(k, s1);
        again.merge(feed(k, s2));
        assert.deepEqual(again.top(), a.top());
      },
    ),
    300,
  );
});

/*
 * Regression (found by this test, since fixed: TopK.merge). merge() re-adds the other sketch's counters with add(item, count):
 * the other sketch's recorded errors are dropped, and an item of `this` that the other sketch
 * had evicted keeps only this sketch's count, so after a merge a count can under-estimate its
 * true count, count - error can over-estimate it, and a heavy hitter of the concatenated stream
 * can be evicted. Minimal reproduction: k = 2, this fed x x x, other fed x b c (other now holds
 * c:2 err 1, b:1). After this.merge(other): [b:3 err 2, x:3 err 0], but x's true count is 4.
 * A sound merge (Agarwal et al., "Mergeable summaries", 2012): for every item of the union add
 * both counts, using a sketch's smallest count (and as much error) where it lacks the item, then
 * keep the k largest.
 */
test('merge keeps the Space-Saving guarantees of the concatenated stream', () => {
  const a = feed(2, [
    ['x', 1],
    ['x', 1],
    ['x', 1],
  ]);
  const b = feed(2, [
    ['x', 1],
    ['b', 1],
    ['c', 1],
  ]);
  a.merge(b);
  const x = a.top().find((e) => e.item === 'x');
  assert.ok(x !== undefined && x.count >= 4, `x: true count 4, merged sketch says ${JSON.stringify(x)}`);

  check(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 30 }).chain((n) => fc.tuple(streamArb(n, 150), streamArb(n, 150))),
      (k, [s1, s2]) => {
        const m = feed(k, s1);
        m.merge(feed(k, s2));
        const t = truth([...s1, ...s2]);
        const n = s1.length + s2.length;
        for (const e of m.top()) {
          const f = t.get(e.item) ?? 0;
          assert.ok(e.count >= f, `${e.item}: count ${e.count} < true count ${f}`);
          assert.ok(e.count - e.error <= f, `${e.item}: count ${e.count} - error ${e.error} > ${f}`);
        }
        const kept = new Set(m.top().map((e) => e.item));
        for (const [item, f] of t)
          if (f * k > n) assert.ok(kept.has(item), `${item} (${f} > ${n}/${k}) dropped`);
      },
    ),
    300,
  );
});

// ---------------------------------------------------------------- top()

test('top() orders by count, then by item (code units), whatever the insertion order', () => {
  const s = new TopK(8);
  for (const w of ['pear', 'fig', 'z', 'é', 'apple', 'Zebra', 'fig', 'pear']) s.add(w);
  assert.deepEqual(
    s.top().map((e) => [e.item, e.count]),
    [
      ['fig', 2],
      ['pear', 2],
      ['Zebra', 1],
      ['apple', 1],
      ['z', 1],
      ['é', 1],
    ],
  );
  check(
    fc.property(
      fc.integer({ min: 1, max: 12 }).chain((k) =>
        fc.tuple(
          fc.constant(k),
          streamArb(k, 80, 3).chain((s) =>
            fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length }).map((p) => [s, p] as const),
          ),
        ),
      ),
      ([k, [stream, permuted]]) => {
        const top = feed(k, stream).top();
        // exact regime: the answer depends only on the multiset of adds
        assert.deepEqual(feed(k, permuted).top(), top);
        for (let i = 1; i < top.length; i++) {
          const [p, q] = [top[i - 1], top[i]];
          assert.ok(
            p.count > q.count || (p.count === q.count && p.item < q.item),
            `${p.item} before ${q.item}`,
          );
        }
      },
    ),
    300,
  );
});

test('top(n) is the first n of top(); n beyond the size gives every item; the default is k', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 25 }).chain((a) => streamArb(a, 120, 2)),
      fc.nat(14),
      (k, stream, n) => {
        const s = feed(k, stream);
        const all = s.top();
        assert.deepEqual(s.top(n), all.slice(0, n));
        assert.deepEqual(s.top(k), all);
        assert.equal(s.top(n).length, Math.min(n, s.size));
        // top() copies out: changing its answer does not change the sketch
        if (all.length > 0) all[0].count = -1;
        assert.deepEqual(s.top(), feed(k, stream).top());
      },
    ),
    200,
  );
});

test('two sketches fed the same stream agree exactly, evictions included', () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 40 }).chain((a) => streamArb(a, 200, 3)),
      (k, stream) => assert.deepEqual(feed(k, stream).top(), feed(k, stream).top()),
    ),
    200,
  );
});

test('reliable() ranks by the guaranteed count (count - error), so late arrivals in a busy sketch rank last', () => {
  const t = new TopK(3);
  for (let i = 0; i < 10; i++) t.add('storm');
  for (let i = 0; i < 5; i++) t.add('flood');
  t.add('a');
  t.add('b'); // evicts 'a' (count 1): 'b' has count 2, error 1
  t.add('c'); // evicts 'b' (count 2): 'c' has count 3, error 2
  assert.deepEqual(
    t.reliable().map((e) => [e.item, e.count - e.error]),
    [
      ['storm', 10],
      ['flood', 5],
      ['c', 1],
    ],
  );
  assert.deepEqual(t.reliable(2), t.reliable().slice(0, 2));
});
