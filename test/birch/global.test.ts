/**
 * The global step (groupEntries) against a brute-force average linkage written here, which
 * averages the cosine over the actual member tweets of two groups (so it checks the identity
 * avg cos = LS_A . LS_B / (n_A n_B) as well as the agglomeration), on entries built from
 * explicit unit tweet vectors. Both engines: the exact one, and the sparse one given a complete
 * candidate graph, must equal it; the sparse one with its default graph must honour nClusters,
 * recover planted topics, and be deterministic. Plus the modes' contracts, the edge cases
 * (n = 0, 1, identical entries), weighting by n, and a size run (timed, not asserted).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type GroupInput, type GroupOptions, groupEntries } from '../../src/birch/global.js';
import { Rng } from '../helpers/rng.js';

const SEED = 0x91_0ba1;

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 2000): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

// ---------------------------------------------------------------- entries from tweets

/** Entries as lists of unit tweet vectors, and the CF input they make (n, LS). */
interface Tweets {
  dim: number;
  entries: Float64Array[][];
}

function toInput({ dim, entries }: Tweets): GroupInput {
  const count = entries.length;
  const n = new Float64Array(count);
  const ls = new Float64Array(count * dim);
  entries.forEach((tweets, i) => {
    n[i] = tweets.length;
    for (const x of tweets) for (let t = 0; t < dim; t++) ls[i * dim + t] += x[t];
  });
  return { n, ls, count, dim };
}

function randomTweets(seed: number, count: number, dim: number, maxTweets: number): Tweets {
  const rng = new Rng(seed);
  const entries = Array.from({ length: count }, () =>
    Array.from({ length: 1 + rng.int(maxTweets) }, () => rng.unitVector(dim)),
  );
  return { dim, entries };
}

/**
 * Planted topics: `topics` random directions; each entry holds 1..4 tweets of one topic, each
 * the direction plus Gaussian noise of norm about `noise`, normalised.
 */
function plantedTweets(seed: number, count: number, dim: number, topics: number, noise: number) {
  const rng = new Rng(seed);
  const centres = Array.from({ length: topics }, () => rng.unitVector(dim));
  const truth = new Int32Array(count);
  const entries = Array.from({ length: count }, (_, i) => {
    const c = rng.int(topics);
    truth[i] = c;
    return Array.from({ length: 1 + rng.int(4) }, () => {
      const x = rng.gaussian(dim);
      let nn = 0;
      for (let t = 0; t < dim; t++) {
        x[t] = centres[c][t] + (noise * x[t]) / Math.sqrt(dim);
        nn += x[t] * x[t];
      }
      nn = Math.sqrt(nn);
      for (let t = 0; t < dim; t++) x[t] /= nn;
      return x;
    });
  });
  return { tweets: { dim, entries }, truth };
}

/** Planted topics straight as CF input (no tweet objects): for the large runs. */
function plantedInput(seed: number, count: number, dim: number, topics: number, noise: number) {
  const rng = new Rng(seed);
  const centres = Array.from({ length: topics }, () => rng.unitVector(dim));
  const truth = new Int32Array(count);
  const n = new Float64Array(count);
  const ls = new Float64Array(count * dim);
  const x = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    const c = rng.int(topics);
    truth[i] = c;
    n[i] = 1 + rng.int(4);
    for (let j = 0; j < n[i]; j++) {
      let nn = 0;
      for (let t = 0; t < dim; t++) {
        x[t] = centres[c][t] + (noise * rng.normal()) / Math.sqrt(dim);
        nn += x[t] * x[t];
      }
      nn = Math.sqrt(nn);
      for (let t = 0; t < dim; t++) ls[i * dim + t] += x[t] / nn;
    }
  }
  return { input: { n, ls, count, dim }, truth };
}

// ---------------------------------------------------------------- the reference

interface Reference {
  labels: Int32Array;
  /** Some step's best pair was within 1e-9 of the next best or of the threshold, but not equal. */
  nearTie: boolean;
  /** Some step had two best pairs of exactly equal similarity. */
  exactTie: boolean;
}

/**
 * Greedy average linkage by definition: the similarity of two groups is the mean cosine over
 * every pair of their member tweets; the best pair merges (ties: the pair whose groups' first
 * entries are smallest, as (smaller, larger)); stop at nClusters groups or below the threshold.
 */
function bruteForce({ dim, entries }: Tweets, opts: GroupOptions): Reference {
  const tweets = entries.flat();
  const owner = entries.flatMap((ts, i) => ts.map(() => i));
  const T = tweets.map((x) =>
    tweets.map((y) => {
      let s = 0;
      for (let t = 0; t < dim; t++) s += x[t] * y[t];
      return s;
    }),
  );
  // groups in order of their first entry; members are tweet indices
  let groups = entries.map((_, i) => ({ first: i, entries: [i], members: [] as number[] }));
  for (let k = 0; k < owner.length; k++) groups[owner[k]].members.push(k);
  let nearTie = false;
  let exactTie = false;
  const target = opts.nClusters ?? 1;
  while (groups.length > target) {
    let best = Number.NEGATIVE_INFINITY;
    let second = Number.NEGATIVE_INFINITY;
    let bp = -1;
    let bq = -1;
    for (let p = 0; p < groups.length; p++) {
      for (let q = p + 1; q < groups.length; q++) {
        let sum = 0;
        for (const x of groups[p].members) for (const y of groups[q].members) sum += T[x][y];
        const avg = sum / (groups[p].members.length * groups[q].members.length);
        if (avg > best) {
          second = best;
          best = avg;
          bp = p;
          bq = q;
        } else if (avg > second) {
          second = avg;
        }
      }
    }
    if (best === second) exactTie = true;
    else if (best - second < 1e-9) nearTie = true;
    if (opts.threshold !== undefined) {
      if (Math.abs(best - opts.threshold) < 1e-9) nearTie = true;
      if (best < opts.threshold) break;
    }
    const a = groups[bp];
    const b = groups[bq];
    const merged = {
      first: a.first,
      entries: [...a.entries, ...b.entries],
      members: [...a.members, ...b.members],
    };
    groups = groups.filter((_, i) => i !== bp && i !== bq);
    groups.push(merged);
    groups.sort((x, y) => x.first - y.first);
  }
  const labels = new Int32Array(entries.length);
  groups.forEach((g, k) => {
    for (const e of g.entries) labels[e] = k;
  });
  return { labels, nearTie, exactTie };
}

// ---------------------------------------------------------------- helpers

/** Topics are numbered 0, 1, ... in order of their first entry. */
function assertCanonical(labels: Int32Array): void {
  let next = 0;
  for (let i = 0; i < labels.length; i++) {
    assert.ok(labels[i] >= 0 && labels[i] <= next, `label ${labels[i]} at ${i} is not canonical`);
    if (labels[i] === next) next++;
  }
}

function topicCount(labels: Int32Array): number {
  let k = 0;
  for (const v of labels) k = Math.max(k, v + 1);
  return k;
}

/** Adjusted Rand index from pair counts (same-same, etc.) of two labellings. */
function ari(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const cells = new Map<string, number>();
  const ca = new Map<number, number>();
  const cb = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]},${b[i]}`;
    cells.set(key, (cells.get(key) ?? 0) + 1);
    ca.set(a[i], (ca.get(a[i]) ?? 0) + 1);
    cb.set(b[i], (cb.get(b[i]) ?? 0) + 1);
  }
  const pairs = (c: number) => (c * (c - 1)) / 2;
  let both = 0;
  for (const c of cells.values()) both += pairs(c);
  let inA = 0;
  for (const c of ca.values()) inA += pairs(c);
  let inB = 0;
  for (const c of cb.values()) inB += pairs(c);
  const expected = (inA * inB) / pairs(n);
  const max = (inA + inB) / 2;
  return max === expected ? 1 : (both - expected) / (max - expected);
}

const unit2 = (deg: number) =>
  Float64Array.of(Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180));

// ---------------------------------------------------------------- against brute force

const worldArb = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  count: fc.integer({ min: 0, max: 22 }),
  dim: fc.integer({ min: 1, max: 6 }),
  maxTweets: fc.integer({ min: 1, max: 4 }),
  nClusters: fc.integer({ min: 1, max: 8 }),
  threshold: fc.double({ min: -0.6, max: 0.95, noNaN: true }),
  byThreshold: fc.boolean(),
});

test('equals brute-force average linkage over the member tweets (exact engine)', () => {
  let compared = 0;
  check(
    fc.property(worldArb, (w) => {
      const tweets = randomTweets(w.seed, w.count, w.dim, w.maxTweets);
      const opts = w.byThreshold ? { threshold: w.threshold } : { nClusters: w.nClusters };
      const ref = bruteForce(tweets, opts);
      // a near tie can go either way through rounding; an exact one is settled by the tie rule
      if (ref.nearTie) return;
      const got = groupEntries(toInput(tweets), opts);
      assert.deepEqual(got, ref.labels);
      compared++;
    }),
    1000,
    4000,
  );
  assert.ok(compared >= 300, `only ${compared} worlds compared`);
});

test('the sparse engine with a complete candidate graph equals brute force too', () => {
  let compared = 0;
  check(
    fc.property(worldArb, (w) => {
      const tweets = randomTweets(w.seed, w.count, w.dim, w.maxTweets);
      const opts = w.byThreshold ? { threshold: w.threshold } : { nClusters: w.nClusters };
      const ref = bruteForce(tweets, opts);
      // the sparse engine takes its first linkages from cosines: exact ties may round apart
      if (ref.nearTie || ref.exactTie) return;
      const got = groupEntries(toInput(tweets), { ...opts, exactLimit: 0, neighbors: Math.max(1, w.count) });
      assert.deepEqual(got, ref.labels);
      compared++;
    }),
    1000,
    4000,
  );
  assert.ok(compared >= 300, `only ${compared} worlds compared`);
});

test('exact ties are broken by the smallest first entries (1-D tweets: every cosine is +-1)', () => {
  // copies tie at 1 with each other; the pair with the smallest first entries merges first
  const tweets: Tweets = {
    dim: 1,
    entries: [
      [Float64Array.of(1)],
      [Float64Array.of(-1)],
      [Float64Array.of(1)],
      [Float64Array.of(-1)],
      [Float64Array.of(1)],
    ],
  };
  for (const k of [1, 2, 3, 4, 5]) {
    const ref = bruteForce(tweets, { nClusters: k });
    assert.deepEqual(groupEntries(toInput(tweets), { nClusters: k }), ref.labels, `nClusters ${k}`);
  }
  assert.deepEqual([...groupEntries(toInput(tweets), { nClusters: 4 })], [0, 1, 0, 2, 3]);
  assert.deepEqual([...groupEntries(toInput(tweets), { nClusters: 3 })], [0, 1, 0, 2, 0]);
  assert.deepEqual([...groupEntries(toInput(tweets), { nClusters: 2 })], [0, 1, 0, 1, 0]);
});

// ---------------------------------------------------------------- modes

test('threshold and nClusters cut the same dendrogram (average linkage is reducible)', () => {
  check(
    fc.property(
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.integer({ min: 2, max: 60 }),
      fc.double({ min: -0.3, max: 0.9, noNaN: true }),
      (seed, count, threshold) => {
        const input = toInput(randomTweets(seed, count, 4, 3));
        const byT = groupEntries(input, { threshold });
        const byK = groupEntries(input, { nClusters: topicCount(byT) });
        assert.deepEqual(byK, byT);
      },
    ),
    200,
  );
});

test('nClusters: exactly min(nClusters, count) topics, canonically numbered, both engines', () => {
  check(
    fc.property(
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 6 }),
      (seed, count, nClusters, neighbors) => {
        const input = toInput(randomTweets(seed, count, 8, 2));
        for (const opts of [{ nClusters }, { nClusters, exactLimit: 0, neighbors }]) {
          const labels = groupEntries(input, opts);
          assert.equal(labels.length, count);
          assert.equal(topicCount(labels), Math.min(nClusters, count));
          assertCanonical(labels);
        }
      },
    ),
    60,
    4000,
  );
});

test('threshold: nothing above the largest possible similarity merges, everything at -1 does', () => {
  const input = toInput(randomTweets(7, 40, 5, 3));
  assert.deepEqual([...groupEntries(input, { threshold: 1.0000001 })], [...Array(40).keys()]);
  assert.deepEqual([...groupEntries(input, { threshold: -1 })], new Array(40).fill(0));
  assert.deepEqual([...groupEntries(input, { threshold: 1.0000001, exactLimit: 0 })], [...Array(40).keys()]);
  assert.deepEqual([...groupEntries(input, { threshold: -1, exactLimit: 0 })], new Array(40).fill(0));
});

test('options are validated', () => {
  const input = toInput(randomTweets(1, 5, 3, 2));
  const bad: GroupOptions[] = [
    {},
    { nClusters: 2, threshold: 0.5 },
    { nClusters: 0 },
    { nClusters: 1.5 },
    { nClusters: Number.NaN },
    { threshold: Number.NaN },
    { threshold: Number.POSITIVE_INFINITY },
    { nClusters: 2, neighbors: 0 },
    { nClusters: 2, exactLimit: -1 },
  ];
  for (const opts of bad) assert.throws(() => groupEntries(input, opts), RangeError, JSON.stringify(opts));
  // an explicit undefined is "not given"
  assert.equal(groupEntries(input, { nClusters: 2, threshold: undefined }).length, 5);

  const { n, ls } = input;
  const badInputs: GroupInput[] = [
    { n, ls, count: -1, dim: 3 },
    { n, ls, count: 5, dim: 0 },
    { n, ls, count: 6, dim: 3 },
    { n: [1, 1, 0, 1, 1], ls, count: 5, dim: 3 },
    { n: [1, 1, Number.NaN, 1, 1], ls, count: 5, dim: 3 },
    { n, ls: Float64Array.of(...ls.subarray(0, 14), Number.NaN), count: 5, dim: 3 },
  ];
  for (const inp of badInputs) assert.throws(() => groupEntries(inp, { nClusters: 1 }), RangeError);
});

// ---------------------------------------------------------------- edge cases

test('no entries and one entry', () => {
  const none = { n: [], ls: new Float64Array(0), count: 0, dim: 4 };
  assert.deepEqual(groupEntries(none, { nClusters: 3 }), new Int32Array(0));
  assert.deepEqual(groupEntries(none, { threshold: 0.5 }), new Int32Array(0));
  const one = { n: [3], ls: Float64Array.of(0.5, 1, 0, 0.2), count: 1, dim: 4 };
  assert.deepEqual(groupEntries(one, { nClusters: 1 }), Int32Array.of(0));
  assert.deepEqual(groupEntries(one, { nClusters: 5 }), Int32Array.of(0));
  assert.deepEqual(groupEntries(one, { threshold: -5 }), Int32Array.of(0));
});

test('identical entries group together first; the input is not modified', () => {
  const rng = new Rng(11);
  const a = rng.unitVector(16);
  const b = rng.unitVector(16);
  const entries: Float64Array[][] = [];
  // 6 copies of a, 6 of b, interleaved with 6 unrelated tweets
  for (let i = 0; i < 6; i++) entries.push([a], [rng.unitVector(16)], [b]);
  const input = toInput({ dim: 16, entries });
  const before = input.ls.slice();
  const labels = groupEntries(input, { threshold: 0.999 });
  assert.deepEqual(input.ls, before);
  const ofA = new Set(entries.flatMap((e, i) => (e[0] === a ? [labels[i]] : [])));
  const ofB = new Set(entries.flatMap((e, i) => (e[0] === b ? [labels[i]] : [])));
  assert.equal(ofA.size, 1);
  assert.equal(ofB.size, 1);
  assert.notDeepEqual([...ofA], [...ofB]);
  assert.equal(topicCount(labels), 2 + 6);
});

test('thousands of copies of a few tweets (retweets) through the sparse engine', () => {
  const rng = new Rng(5);
  const dim = 24;
  const base = Array.from({ length: 5 }, () => rng.unitVector(dim));
  const count = 4000;
  const n = new Float64Array(count);
  const ls = new Float64Array(count * dim);
  const truth = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(5);
    truth[i] = c;
    n[i] = 1 + rng.int(3);
    for (let t = 0; t < dim; t++) ls[i * dim + t] = n[i] * base[c][t];
  }
  const labels = groupEntries({ n, ls, count, dim }, { nClusters: 5 });
  assert.equal(ari(labels, truth), 1);
  assert.equal(ari(groupEntries({ n, ls, count, dim }, { threshold: 0.99 }), truth), 1);
});

// ---------------------------------------------------------------- weighting

test('weighted by n: a heavy entry pulls its group towards itself', () => {
  // on the circle: A at 0 deg, B at 20, C at 50, D at 95. A and B merge first (cos 20 deg);
  // then C joins AB (mean of cos 50 and cos 30 = 0.754 > cos 45 = 0.707, C with D) unless A
  // weighs 10 tweets: (10 cos 50 + cos 30) / 11 = 0.663 < 0.707, and C goes with D.
  const light: Tweets = { dim: 2, entries: [[unit2(0)], [unit2(20)], [unit2(50)], [unit2(95)]] };
  const heavy: Tweets = {
    dim: 2,
    entries: [Array(10).fill(unit2(0)), [unit2(20)], [unit2(50)], [unit2(95)]],
  };
  assert.deepEqual([...groupEntries(toInput(light), { nClusters: 2 })], [0, 0, 0, 1]);
  assert.deepEqual([...groupEntries(toInput(heavy), { nClusters: 2 })], [0, 0, 1, 1]);
  for (const t of [light, heavy]) {
    assert.deepEqual(groupEntries(toInput(t), { nClusters: 2 }), bruteForce(t, { nClusters: 2 }).labels);
  }
  // the same in threshold mode: AB-C at 0.754 passes 0.72, at 0.663 it does not
  assert.deepEqual([...groupEntries(toInput(light), { threshold: 0.72 })], [0, 0, 0, 1]);
  assert.deepEqual([...groupEntries(toInput(heavy), { threshold: 0.72 })], [0, 0, 1, 2]);
});

// ---------------------------------------------------------------- planted topics

test('planted topics on the sphere are recovered (exact engine)', () => {
  const { tweets, truth } = plantedTweets(3, 600, 32, 12, 0.6);
  const input = toInput(tweets);
  assert.equal(ari(groupEntries(input, { nClusters: 12 }), truth), 1);
  // within a topic the mean cosine is ~0.75, between topics ~0
  assert.equal(ari(groupEntries(input, { threshold: 0.4 }), truth), 1);
});

test('planted topics are recovered by the sparse engine, deterministically', () => {
  const { input, truth } = plantedInput(4, 8000, 64, 40, 1);
  const a = groupEntries(input, { nClusters: 40 });
  assert.ok(ari(a, truth) > 0.99, `ARI ${ari(a, truth)}`);
  const b = groupEntries(input, { nClusters: 40 });
  assert.deepEqual(a, b);
  const byT = groupEntries(input, { threshold: 0.3 });
  assert.ok(ari(byT, truth) > 0.99, `ARI ${ari(byT, truth)}`);
});

test('noisy planted topics: the sparse engine stays close to the exact one', () => {
  // a tweet's cosine with its topic ~0.55, two tweets of a topic ~0.3: average linkage itself
  // recovers the topics only in part (exact vs planted ARI 0.91)
  const { input, truth } = plantedInput(8, 2500, 48, 20, 1.5);
  const exact = groupEntries(input, { nClusters: 20 });
  const sparse = groupEntries(input, { nClusters: 20, exactLimit: 0 });
  assert.ok(ari(sparse, exact) > 0.9, `ARI sparse vs exact ${ari(sparse, exact)}`);
  assert.ok(ari(sparse, truth) > ari(exact, truth) - 0.03, `ARI sparse vs planted ${ari(sparse, truth)}`);
});

// ---------------------------------------------------------------- size

test('20,000 entries x 256 dims', (t) => {
  const { input, truth } = plantedInput(9, 20_000, 256, 100, 2);
  const t0 = performance.now();
  const labels = groupEntries(input, { nClusters: 100 });
  const ms = performance.now() - t0;
  t.diagnostic(
    `20,000 x 256 -> 100 topics in ${Math.round(ms)} ms, ARI vs planted ${ari(labels, truth).toFixed(3)}`,
  );
  assert.equal(topicCount(labels), 100);
});
