/**
 * The clustering engine (src/engine/engine.ts) against a brute-force model of what it should
 * remember: every apply() is checked against the tree (the id is a live leaf entry whose size
 * counts the tweets assigned to it, `created` exactly when the id is new, the similarity is the
 * cosine to the centroid after the insert), and the summaries against a recount of the tweets
 * (sizes, first/last seen with out-of-order times, terms counted once per tweet, the example).
 * Plus refusals that change nothing, predict() without side effects, largest(), topics() and
 * determinism. Generated streams (fast-check, fixed seed, time-boxed) are sparse unit vectors
 * around a few topics, in both absorb modes (cosine text mode and sklearn's radius).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type Assignment,
  ClusterEngine,
  type ClusterSummary,
  type EngineOptions,
  type TweetInput,
} from '../../src/engine/engine.js';
import { Rng } from '../helpers/rng.js';

const SEED = 0xe1_61e;

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 900): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

const DIM = 48;
const T0 = Date.UTC(2024, 0, 1);

// ---------------------------------------------------------------- generated streams

interface StreamParams {
  seed: number;
  n: number;
  topics: number;
  /** Words per topic vocabulary (the terms a tweet of the topic draws from). */
  vocab: number;
  /** Chance that a tweet has no text (then no example if it starts a cluster). */
  noText: number;
}

/**
 * Tweets about a few topics: each topic owns a few coordinates and a vocabulary; a tweet takes
 * 2..5 coordinates mostly from its topic (sometimes anywhere), positive weights, normalised,
 * and 0..5 terms (with repeats, to check that a term counts once per tweet). Times go forward
 * with jitter, so some arrive out of order. A few tweets are exact copies (retweets).
 */
function makeTweets(p: StreamParams, dim = DIM): TweetInput[] {
  const rng = new Rng(p.seed);
  const support = Array.from({ length: p.topics }, () => Array.from({ length: 5 }, () => rng.int(dim)));
  const out: TweetInput[] = [];
  for (let i = 0; i < p.n; i++) {
    if (i > 0 && rng.next() < 0.08) {
      const src = out[rng.int(out.length)];
      out.push({ ...src, id: `t${i}`, time: T0 + i * 1000 + rng.int(20_000) - 10_000 });
      continue;
    }
    const topic = rng.int(p.topics);
    const v = new Float64Array(dim);
    const nnz = 2 + rng.int(4);
    for (let j = 0; j < nnz; j++) {
      const c = rng.next() < 0.8 ? rng.pick(support[topic]) : rng.int(dim);
      v[c] += 0.2 + rng.next();
    }
    const len = Math.hypot(...v);
    for (let j = 0; j < dim; j++) v[j] /= len;
    const terms = Array.from({ length: rng.int(6) }, () => `${topic}-w${rng.int(p.vocab)}`);
    out.push({
      id: `t${i}`,
      text: rng.next() < p.noText ? undefined : `tweet ${i} about ${topic}`,
      time: T0 + i * 1000 + rng.int(20_000) - 10_000,
      vector: v,
      terms,
    });
  }
  return out;
}

const streamArb = (maxN = 120) =>
  fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    n: fc.integer({ min: 1, max: maxN }),
    topics: fc.integer({ min: 1, max: 8 }),
    vocab: fc.integer({ min: 1, max: 6 }),
    noText: fc.constantFrom(0, 0.3),
  });

/** Engine options: text mode (cosine absorb) or sklearn's radius; small B so the tree splits. */
const optionsArb = fc.oneof(
  fc.record({
    dim: fc.constant(DIM),
    threshold: fc.constant(0.5),
    branchingFactor: fc.integer({ min: 3, max: 8 }),
    minSimilarity: fc.double({ min: 0.1, max: 0.95, noNaN: true }),
    termSketchSize: fc.constant(64),
  }),
  fc.record({
    dim: fc.constant(DIM),
    threshold: fc.double({ min: 0.15, max: 0.8, noNaN: true }),
    branchingFactor: fc.integer({ min: 3, max: 8 }),
    termSketchSize: fc.constant(64),
  }),
) as fc.Arbitrary<EngineOptions>;

// ---------------------------------------------------------------- brute force

interface Model {
  size: number;
  firstSeen: number;
  lastSeen: number;
  example: string | undefined;
  /** the example's similarity at its insert (-Infinity while it is the first tweet) */
  exampleSimilarity: number;
  /** term -> number of this cluster's tweets that contain it */
  terms: Map<string, number>;
}

function modelOf(tweets: readonly TweetInput[], assignments: readonly Assignment[]): Map<number, Model> {
  const out = new Map<number, Model>();
  tweets.forEach((t, i) => {
    const id = assignments[i].cluster;
    let m = out.get(id);
    if (m === undefined) {
      m = {
        size: 0,
        firstSeen: t.time,
        lastSeen: t.time,
        example: t.text,
        exampleSimilarity: Number.NEGATIVE_INFINITY,
        terms: new Map(),
      };
      out.set(id, m);
    } else if (t.text !== undefined && t.text !== '' && assignments[i].similarity > m.exampleSimilarity) {
      // the example: the most typical tweet at its insert, once the cluster has a second tweet
      m.example = t.text;
      m.exampleSimilarity = assignments[i].similarity;
    }
    m.size++;
    m.firstSeen = Math.min(m.firstSeen, t.time);
    m.lastSeen = Math.max(m.lastSeen, t.time);
    for (const w of new Set(t.terms ?? [])) m.terms.set(w, (m.terms.get(w) ?? 0) + 1);
  });
  return out;
}

/**
 * The model's top terms: by count, ties by term (what the sketch gives when it is exact), and
 * only those in at least 2 of the cluster's tweets and 5% of them (or all, for a tiny cluster).
 */
function topTerms(m: Model, n: number): { term: string; count: number }[] {
  const floor = Math.min(m.size, Math.max(2, Math.ceil(0.05 * m.size)));
  return [...m.terms]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .filter(([, count]) => count >= floor)
    .map(([term, count]) => ({ term, count }));
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

function dist2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

/** Everything observable about an engine, to compare before and after. */
function snapshot(e: ClusterEngine) {
  return {
    tweets: e.tweets,
    clusterCount: e.clusterCount,
    shape: e.shape(),
    nextId: e.tree.nextId,
    entries: [...e.tree.entries()],
    clusters: [...e.clusters(100)],
  };
}

function run(
  opts: EngineOptions,
  tweets: readonly TweetInput[],
): { engine: ClusterEngine; out: Assignment[] } {
  const engine = new ClusterEngine(opts);
  return { engine, out: tweets.map((t) => engine.apply(t)) };
}

// ---------------------------------------------------------------- apply()

test('apply(): the id is a live cluster of the tree, created exactly when new, similarity = cosine to the new centroid', () => {
  check(
    fc.property(optionsArb, streamArb(), (opts, p) => {
      const tweets = makeTweets(p);
      const engine = new ClusterEngine(opts);
      const seen = new Map<number, number>();
      const c = new Float64Array(DIM);
      for (const t of tweets) {
        const before = engine.tree.nextId;
        const a = engine.apply(t);
        assert.equal(a.id, t.id);
        assert.ok(engine.tree.has(a.cluster), `cluster ${a.cluster} is not in the tree`);
        assert.equal(a.created, !seen.has(a.cluster), 'created iff the id is new');
        assert.equal(a.created, engine.tree.lastCreated);
        if (a.created) assert.equal(a.cluster, before, 'a new cluster takes the next id');
        seen.set(a.cluster, (seen.get(a.cluster) ?? 0) + 1);
        assert.equal(engine.tree.count(a.cluster), seen.get(a.cluster), 'the entry counts its tweets');
        assert.ok(a.similarity >= -1 && a.similarity <= 1, `similarity ${a.similarity}`);
        assert.ok(engine.tree.centroidInto(a.cluster, c));
        assert.ok(
          Math.abs(a.similarity - cosine(t.vector, c)) < 1e-12,
          'cosine to the centroid after the insert',
        );
        if (a.created)
          assert.ok(Math.abs(a.similarity - 1) < 1e-12, `first tweet: similarity ${a.similarity}`);
      }
      // no cluster was lost or merged behind the engine's back
      assert.equal(engine.clusterCount, seen.size);
      assert.equal(engine.tweets, tweets.length);
      assert.equal(engine.tree.points, tweets.length);
    }),
    150,
    1200,
  );
});

test('summaries equal a brute-force recount of the tweets assigned to each cluster', () => {
  check(
    fc.property(optionsArb, streamArb(), (opts, p) => {
      const tweets = makeTweets(p);
      const { engine, out } = run(opts, tweets);
      const model = modelOf(tweets, out);
      const all = [...engine.clusters(1000)];
      assert.equal(all.length, model.size);
      assert.deepEqual(new Set(all.map((s) => s.id)), new Set(model.keys()));
      let total = 0;
      for (const s of all) {
        const m = model.get(s.id)!;
        total += s.size;
        assert.equal(s.size, m.size, `size of ${s.id}`);
        assert.equal(s.firstSeen, m.firstSeen, `firstSeen of ${s.id}`);
        assert.equal(s.lastSeen, m.lastSeen, `lastSeen of ${s.id}`);
        assert.equal(s.example, m.example, `example of ${s.id}`);
        // at most 6 topics x 6 words fit the 64 counters: the counts are exact
        assert.ok(m.terms.size <= 64);
        assert.deepEqual(s.terms, topTerms(m, 1000), `terms of ${s.id}`);
        assert.deepEqual(engine.cluster(s.id, 1000), s);
        assert.deepEqual(engine.cluster(s.id, 2)!.terms, topTerms(m, 2));
        assert.deepEqual(engine.cluster(s.id)!.terms, topTerms(m, 10), 'ten terms by default');
      }
      assert.equal(total, tweets.length);
    }),
    150,
    1200,
  );
});

test('firstSeen/lastSeen widen for out-of-order tweets; the example is the most typical tweet', () => {
  const e = new ClusterEngine({ dim: 2, threshold: 0.5, branchingFactor: 4, minSimilarity: 0.5 });
  const v = [1, 0];
  const a = e.apply({ id: 'a', text: 'first', time: 5000, vector: v });
  assert.equal(a.created, true);
  assert.equal(a.similarity, 1);
  assert.equal(e.apply({ id: 'b', text: 'second', time: 9000, vector: v }).cluster, a.cluster);
  assert.equal(e.apply({ id: 'c', text: 'late', time: 1000, vector: v }).cluster, a.cluster);
  assert.equal(e.apply({ id: 'd', time: 7000, vector: v }).cluster, a.cluster);
  const s = e.cluster(a.cluster)!;
  assert.equal(s.size, 4);
  assert.equal(s.firstSeen, 1000);
  assert.equal(s.lastSeen, 9000);
  // copies of one vector all sit on the centroid: the first of the later tweets stays
  assert.equal(s.example, 'second');
  // a tweet nearer the centroid than the example replaces it; one farther away does not
  const x = e.apply({ id: 'x', text: 'off', time: 0, vector: [0.8, 0.6] });
  const y = e.apply({ id: 'y', text: 'typical', time: 0, vector: [0.95, Math.sqrt(1 - 0.95 ** 2)] });
  assert.equal(x.cluster, a.cluster);
  assert.equal(y.cluster, a.cluster);
  assert.equal(e.cluster(a.cluster)!.example, 'second');
  // a cluster started by a tweet without text takes the next tweet with text
  const o = e.apply({ id: 'e', time: 0, vector: [0, 1] });
  assert.equal(o.created, true);
  assert.equal(e.cluster(o.cluster)!.example, undefined);
  e.apply({ id: 'f', text: 'has text', time: 0, vector: [0, 1] });
  assert.equal(e.cluster(o.cluster)!.example, 'has text');
});

test('a term counts once per tweet; terms come out by count, then alphabetically', () => {
  const e = new ClusterEngine({
    dim: 2,
    threshold: 0.5,
    branchingFactor: 4,
    minSimilarity: 0.5,
    termSketchSize: 8,
  });
  const v = [0.6, 0.8];
  const id = e.apply({ id: '1', time: 0, vector: v, terms: ['storm', 'storm', 'storm', 'rain'] }).cluster;
  e.apply({ id: '2', time: 0, vector: v, terms: ['rain', 'wind', 'rain'] });
  e.apply({ id: '3', time: 0, vector: v, terms: [] });
  e.apply({ id: '4', time: 0, vector: v });
  e.apply({ id: '5', time: 0, vector: v, terms: ['alert', 'storm'] });
  // terms in a single tweet of this 5-tweet cluster are below the display floor of 2
  assert.deepEqual(e.cluster(id)!.terms, [
    { term: 'rain', count: 2 },
    { term: 'storm', count: 2 },
  ]);
  assert.deepEqual(e.cluster(id, 1)!.terms, [{ term: 'rain', count: 2 }]);
  assert.deepEqual(e.cluster(id, 0)!.terms, []);
});

test('a small term sketch keeps the Space-Saving bounds per cluster', () => {
  check(
    fc.property(streamArb(100), fc.integer({ min: 1, max: 5 }), (p, k) => {
      const tweets = makeTweets({ ...p, vocab: 12 });
      const opts = { dim: DIM, threshold: 0.5, branchingFactor: 5, minSimilarity: 0.3, termSketchSize: k };
      const { engine, out } = run(opts, tweets);
      const model = modelOf(tweets, out);
      for (const s of engine.clusters(k)) {
        const m = model.get(s.id)!;
        const n = [...m.terms.values()].reduce((a, b) => a + b, 0);
        assert.ok(s.terms.length <= k);
        // summaries show the guaranteed count (count - error): never more than the truth
        for (const t of s.terms) assert.ok(t.count <= (m.terms.get(t.term) ?? 0), `${t.term} over-counted`);
        const kept = new Set(s.terms.map((t) => t.term));
        const floor = Math.min(m.size, Math.max(2, Math.ceil(0.05 * m.size)));
        // a heavy hitter is kept by the sketch; it is shown when it surely clears the floor
        for (const [w, f] of m.terms)
          if (f * k > n && f - n / k >= floor) assert.ok(kept.has(w), `heavy term ${w} dropped`);
      }
    }),
    100,
  );
});

// ---------------------------------------------------------------- refusals

test('a vector of the wrong dimension throws RangeError and changes nothing', () => {
  const tweets = makeTweets({ seed: 11, n: 60, topics: 4, vocab: 4, noText: 0 });
  for (const opts of [
    { dim: DIM, threshold: 0.5, branchingFactor: 4, minSimilarity: 0.3 },
    { dim: DIM, threshold: 0.6, branchingFactor: 4 },
  ]) {
    const { engine } = run(opts, tweets.slice(0, 40));
    const before = snapshot(engine);
    for (const len of [0, 1, DIM - 1, DIM + 1]) {
      const vector = new Float64Array(len);
      if (len > 0) vector[0] = 1;
      assert.throws(
        () => engine.apply({ id: 'bad', text: 'x', time: T0, vector, terms: ['x'] }),
        (err: unknown) => err instanceof RangeError && /dimension/.test(err.message),
      );
      assert.throws(() => engine.predict(vector), RangeError);
    }
    assert.deepEqual(snapshot(engine), before);
    // and the engine goes on exactly as one that never saw the bad tweets
    const rest = tweets.slice(40).map((t) => engine.apply(t));
    assert.deepEqual(rest, run(opts, tweets).out.slice(40));
  }
});

// ---------------------------------------------------------------- predict()

test('predict() answers the nearest cluster (by Euclidean distance to the centroid) and changes nothing', () => {
  check(
    fc.property(optionsArb, streamArb(80), fc.integer({ min: 0, max: 0x7fffffff }), (opts, p, qseed) => {
      const tweets = makeTweets(p);
      const plain = run(opts, tweets).out;
      // the same stream with predictions between the applies
      const engine = new ClusterEngine(opts);
      assert.equal(engine.predict(tweets[0].vector), undefined, 'no cluster yet');
      const queries = makeTweets({ ...p, seed: qseed, n: 8 }).map((t) => t.vector);
      const c = new Float64Array(DIM);
      tweets.forEach((t, i) => {
        assert.deepEqual(engine.apply(t), plain[i], 'predict() between applies changes no assignment');
        const q = queries[i % queries.length];
        const before = snapshot(engine);
        const r = engine.predict(q)!;
        assert.deepEqual(snapshot(engine), before);
        let best = Number.POSITIVE_INFINITY;
        for (const e of engine.tree.entries()) best = Math.min(best, dist2(q, e.centroid));
        assert.ok(engine.tree.centroidInto(r.cluster, c));
        assert.ok(dist2(q, c) <= best + 1e-12, `predict ${r.cluster} at ${dist2(q, c)}, nearest at ${best}`);
        assert.ok(Math.abs(r.similarity - cosine(q, c)) < 1e-12);
        // a tweet's own vector: its cluster or one at least as near
        const own = engine.predict(t.vector)!;
        assert.ok(engine.tree.centroidInto(plain[i].cluster, c));
        const mine = dist2(t.vector, c);
        assert.ok(engine.tree.centroidInto(own.cluster, c));
        assert.ok(dist2(t.vector, c) <= mine + 1e-12);
      });
    }),
    60,
    1200,
  );
});

// ---------------------------------------------------------------- largest(), topics()

test('largest(n): by size descending, then older id first; a prefix of the full order', () => {
  check(
    fc.property(optionsArb, streamArb(), fc.nat(30), (opts, p, n) => {
      const { engine } = run(opts, makeTweets(p));
      const all = [...engine.clusters()].sort((a, b) => b.size - a.size || a.id - b.id);
      const top = engine.largest(n);
      assert.equal(top.length, Math.min(n, engine.clusterCount));
      assert.deepEqual(top, all.slice(0, n));
      for (let i = 1; i < top.length; i++)
        assert.ok(
          top[i - 1].size > top[i].size || (top[i - 1].size === top[i].size && top[i - 1].id < top[i].id),
        );
      assert.deepEqual(
        engine.largest(n, 1),
        top.map((s) => ({ ...s, terms: s.terms.slice(0, 1) })),
      );
    }),
    100,
  );
  assert.deepEqual(new ClusterEngine({ dim: 3, threshold: 0.5, branchingFactor: 3 }).largest(5), []);
});

test('topics() maps every cluster id to a topic; nClusters gives that many topics', () => {
  check(
    fc.property(optionsArb, streamArb(), fc.integer({ min: 1, max: 10 }), (opts, p, k) => {
      const { engine } = run(opts, makeTweets(p));
      const ids = new Set([...engine.clusters()].map((s) => s.id));
      const byK = engine.topics({ nClusters: k });
      assert.deepEqual(new Set(byK.keys()), ids);
      const labels = new Set(byK.values());
      for (const l of labels) assert.ok(Number.isInteger(l) && l >= 0);
      assert.equal(labels.size, Math.min(k, ids.size));
      const byT = engine.topics({ threshold: 0.3 });
      assert.deepEqual(new Set(byT.keys()), ids);
      for (const l of byT.values()) assert.ok(Number.isInteger(l) && l >= 0);
      // grouping reads the tree without changing it
      const before = snapshot(engine);
      engine.topics({ nClusters: k });
      assert.deepEqual(snapshot(engine), before);
    }),
    80,
  );
  const empty = new ClusterEngine({ dim: 3, threshold: 0.5, branchingFactor: 3, minSimilarity: 0.2 });
  assert.equal(empty.topics({ nClusters: 3 }).size, 0);
  assert.throws(() => empty.topics({}), RangeError);
});

// ---------------------------------------------------------------- determinism

test('two engines fed the same tweets agree on every id and summary', () => {
  check(
    fc.property(optionsArb, streamArb(), (opts, p) => {
      const tweets = makeTweets(p);
      const a = run(opts, tweets);
      // the second engine gets copies (Float32 where exact) so no state is shared
      const b = run(
        opts,
        tweets.map((t) => ({ ...t, vector: Float64Array.from(t.vector), terms: t.terms && [...t.terms] })),
      );
      assert.deepEqual(b.out, a.out);
      const sorted = (e: ClusterEngine): ClusterSummary[] => [...e.clusters(100)].sort((x, y) => x.id - y.id);
      assert.deepEqual(sorted(b.engine), sorted(a.engine));
      assert.deepEqual(b.engine.largest(5), a.engine.largest(5));
      assert.deepEqual(b.engine.shape(), a.engine.shape());
      assert.deepEqual(b.engine.topics({ nClusters: 3 }), a.engine.topics({ nClusters: 3 }));
    }),
    80,
  );
});

test('cluster() of an unknown id is undefined; counters start at zero', () => {
  const e = new ClusterEngine({ dim: 4, threshold: 0.5, branchingFactor: 3, minSimilarity: 0.2 });
  assert.equal(e.tweets, 0);
  assert.equal(e.clusterCount, 0);
  assert.equal(e.cluster(1), undefined);
  assert.deepEqual([...e.clusters()], []);
  const { cluster } = e.apply({ id: 'x', time: 1, vector: [0, 0, 0, 1] });
  assert.notEqual(e.cluster(cluster), undefined);
  assert.equal(e.cluster(cluster + 1), undefined);
  assert.equal(e.cluster(-1), undefined);
  assert.equal(e.tweets, 1);
  assert.equal(e.clusterCount, 1);
});

test('a non-finite vector is refused and changes nothing', () => {
  const engine = new ClusterEngine({ dim: 3, threshold: 0.5, branchingFactor: 4 });
  engine.apply({ id: 'a', time: 0, vector: [1, 0, 0] });
  for (const bad of [
    [Number.NaN, 0, 0],
    [0, Number.POSITIVE_INFINITY, 0],
  ]) {
    assert.throws(() => engine.apply({ id: 'b', time: 1, vector: bad }), /non-finite value/);
  }
  assert.equal(engine.tweets, 1);
  assert.deepEqual(engine.tree.audit(), []);
  assert.equal(engine.tree.points, 1);
});
