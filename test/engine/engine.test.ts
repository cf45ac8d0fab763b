/**
 * The clustering engine (src/engine/engine.ts) against a brute-force model of what it should
 * remember: every apply() is checked against the tree (the id is a live leaf entry whose size
 * counts the tweets assigned to it, `created` exactly when the id is new, the similarity is the
 * cosine to the centroid after the insert), and the summaries against a recount of the tweets:
 * sizes, first/last seen with out-of-order times, terms and hashtags counted once per tweet,
 * timeline buckets, the decayed recent count and the growth score of its documented formula,
 * and the representatives (tweets of the cluster, scored by cosine to the centroid as it is now,
 * best first, exactly the best distinct texts while they fit the candidates).
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
import { cosine } from '../helpers/vectors.js';

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
 * and 0..5 terms, some of them hashtags (with repeats, to check that a term counts once per
 * tweet). Times go forward
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
    // some terms are hashtags: they go to the cluster's hashtags, not its terms
    const terms = Array.from({ length: rng.int(6) }, () =>
      rng.next() < 0.3 ? `#${topic}h${rng.int(p.vocab)}` : `${topic}-w${rng.int(p.vocab)}`,
    );
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

/**
 * What shapes the summaries: sketches larger than any cluster's vocabulary (at most 8 topics x
 * 6 words, so their counts are exact), 1..4 representatives, buckets short enough that a stream
 * of 2 minutes spans many (and a ring short enough to drop some), trend half-lives from seconds
 * to the default 15 minutes.
 */
const summaryArb = fc.record({
  termSketchSize: fc.constant(64),
  hashtagSketchSize: fc.constant(64),
  representatives: fc.integer({ min: 1, max: 4 }),
  bucketMs: fc.constantFrom(3000, 7000, 20_000, 300_000),
  bucketCount: fc.integer({ min: 1, max: 40 }),
  trendRecentMs: fc.constantFrom(5000, 60_000, 900_000),
  trendBaselineMs: fc.constantFrom(120_000, 6 * 3_600_000),
});

/** Engine options: text mode (cosine absorb) or sklearn's radius; small B so the tree splits. */
const optionsArb = fc
  .tuple(
    fc.oneof(
      fc.record({
        dim: fc.constant(DIM),
        threshold: fc.constant(0.5),
        branchingFactor: fc.integer({ min: 3, max: 8 }),
        minSimilarity: fc.double({ min: 0.1, max: 0.95, noNaN: true }),
      }),
      fc.record({
        dim: fc.constant(DIM),
        threshold: fc.double({ min: 0.15, max: 0.8, noNaN: true }),
        branchingFactor: fc.integer({ min: 3, max: 8 }),
      }),
    ),
    summaryArb,
  )
  .map(([tree, summary]) => ({ ...tree, ...summary })) as fc.Arbitrary<EngineOptions>;

// ---------------------------------------------------------------- brute force

interface Model {
  size: number;
  firstSeen: number;
  lastSeen: number;
  /** term -> number of this cluster's tweets that contain it (hashtags apart) */
  terms: Map<string, number>;
  /** hashtag -> number of this cluster's tweets that contain it */
  hashtags: Map<string, number>;
  /** the cluster's tweets in apply order */
  tweets: TweetInput[];
  /** bucket number (time / bucketMs) -> tweets in it */
  buckets: Map<number, number>;
  /** each distinct non-empty text -> the first of the cluster's tweets with it */
  texts: Map<string, TweetInput>;
}

function modelOf(
  tweets: readonly TweetInput[],
  assignments: readonly Assignment[],
  bucketMs = 300_000,
): Map<number, Model> {
  const out = new Map<number, Model>();
  tweets.forEach((t, i) => {
    const id = assignments[i].cluster;
    let m = out.get(id);
    if (m === undefined) {
      m = {
        size: 0,
        firstSeen: t.time,
        lastSeen: t.time,
        terms: new Map(),
        hashtags: new Map(),
        tweets: [],
        buckets: new Map(),
        texts: new Map(),
      };
      out.set(id, m);
    }
    m.size++;
    m.firstSeen = Math.min(m.firstSeen, t.time);
    m.lastSeen = Math.max(m.lastSeen, t.time);
    for (const w of new Set(t.terms ?? [])) {
      const counts = w.startsWith('#') ? m.hashtags : m.terms;
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    m.tweets.push(t);
    const b = Math.floor(t.time / bucketMs);
    m.buckets.set(b, (m.buckets.get(b) ?? 0) + 1);
    if (t.text !== undefined && t.text !== '' && !m.texts.has(t.text)) m.texts.set(t.text, t);
  });
  return out;
}

/**
 * The model's top terms (or hashtags): by count, ties by term (what the sketch gives when it is
 * exact), and only those in at least 2 of the cluster's tweets and 5% of them (or all, for a
 * tiny cluster).
 */
function topTerms(m: Model, n: number, counts = m.terms): { term: string; count: number }[] {
  const floor = Math.min(m.size, Math.max(2, Math.ceil(0.05 * m.size)));
  return [...counts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .filter(([, count]) => count >= floor)
    .map(([term, count]) => ({ term, count }));
}

/** The mean of the cluster's vectors, by brute force. */
function centroidOf(m: Model, dim = DIM): Float64Array {
  const c = new Float64Array(dim);
  for (const t of m.tweets) for (let i = 0; i < dim; i++) c[i] += t.vector[i];
  for (let i = 0; i < dim; i++) c[i] /= m.size;
  return c;
}

/**
 * The timeline a recount gives: one bucket per bucketMs from the cluster's first bucket (or the
 * oldest the ring keeps, `bucketCount` back from the engine's clock) to the clock's bucket.
 */
function timelineOf(m: Model, now: number, bucketMs: number, bucketCount: number) {
  const last = Math.floor(now / bucketMs);
  const first = Math.max(Math.floor(m.firstSeen / bucketMs), last - bucketCount + 1);
  const out: { start: number; count: number }[] = [];
  for (let b = first; b <= last; b++) out.push({ start: b * bucketMs, count: m.buckets.get(b) ?? 0 });
  return out;
}

/**
 * The decayed counts and growth score of ClusterEngine.growthOf's documented formula, from the
 * tweets' times. F (recent) = sum of 2^-(age of tweet / recent half-life), S the same with the
 * baseline half-life; the baseline rate is (S - F) over its weights' integral on the cluster's
 * age, with a prior of one tweet an hour weighing 15 minutes; expected = that rate over F's
 * horizon; growth = (F - expected) / sqrt(expected + 1). (If the formula changes, change this.)
 */
function growthOf(m: Model, now: number, recentMs: number, baselineMs: number) {
  let recent = 0;
  let slow = 0;
  for (const t of m.tweets) {
    recent += 2 ** ((t.time - now) / recentMs);
    slow += 2 ** ((t.time - now) / baselineMs);
  }
  const age = now - m.firstSeen;
  const horizon = (h: number) => (h / Math.LN2) * (1 - 2 ** (-age / h));
  const priorMs = 15 * 60_000;
  const rate =
    (Math.max(0, slow - recent) + priorMs / 3_600_000) /
    (Math.max(0, horizon(baselineMs) - horizon(recentMs)) + priorMs);
  const expected = rate * horizon(recentMs);
  return { recent, growth: (recent - expected) / Math.sqrt(expected + 1) };
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what}: ${actual}, expected ${expected}`,
  );
}

/**
 * The representatives against a recount: each is a tweet of the cluster with its text, its
 * similarity the cosine of the tweet to the brute-force centroid (the engine keeps
 * candidates' vectors in float32: 1e-6), best first, distinct texts, min(representatives,
 * distinct texts) of them; and while the distinct texts fit the 2 x representatives candidates,
 * exactly the best of them by the recount (ties by id), unless two are within 1e-6 of each other.
 */
function checkRepresentatives(s: ClusterSummary, m: Model, shown: number): void {
  const c = centroidOf(m);
  const reps = s.representatives;
  assert.equal(reps.length, Math.min(shown, m.texts.size), `representatives of ${s.id}`);
  assert.equal(new Set(reps.map((r) => r.text)).size, reps.length, 'representatives repeat a text');
  for (const [i, r] of reps.entries()) {
    const t = m.tweets.find((x) => x.id === r.id);
    assert.ok(t !== undefined && t.text === r.text, `representative ${r.id} is not a tweet of ${s.id}`);
    close(r.similarity, cosine(t.vector, c), 1e-6, `similarity of ${r.id} to the centroid of ${s.id}`);
    if (i > 0) assert.ok(reps[i - 1].similarity >= r.similarity, `representatives of ${s.id} out of order`);
  }
  assert.equal(s.example, reps[0]?.text, 'the example is the first representative');
  if (m.texts.size > 2 * shown) return;
  const all = [...m.texts.values()]
    .map((t) => ({ id: t.id, text: t.text, similarity: cosine(t.vector, c) }))
    .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : 1));
  const want = all.slice(0, shown);
  for (const [i, w] of want.entries())
    close(reps[i].similarity, w.similarity, 1e-6, `representative ${i} of ${s.id}`);
  const nearTie = all.some((x, i) => i > 0 && Math.abs(all[i - 1].similarity - x.similarity) < 1e-6);
  if (!nearTie)
    assert.deepEqual(
      reps.map((r) => r.id),
      want.map((w) => w.id),
      `the best representatives of ${s.id}`,
    );
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
      const bucketMs = opts.bucketMs as number;
      const model = modelOf(tweets, out, bucketMs);
      const now = Math.max(...tweets.map((t) => t.time));
      assert.equal(engine.now, now, "the engine's clock is the latest tweet time");
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
        // at most 8 topics x 6 words fit the 64 counters: the counts are exact
        assert.ok(m.terms.size <= 64 && m.hashtags.size <= 64);
        assert.deepEqual(s.terms, topTerms(m, 1000), `terms of ${s.id}`);
        assert.deepEqual(s.hashtags, topTerms(m, 1000, m.hashtags), `hashtags of ${s.id}`);
        assert.deepEqual(
          s.timeline,
          timelineOf(m, now, bucketMs, opts.bucketCount as number),
          `timeline of ${s.id}`,
        );
        const g = growthOf(m, now, opts.trendRecentMs as number, opts.trendBaselineMs as number);
        close(s.recent, g.recent, 1e-9, `recent of ${s.id}`);
        close(s.growth, g.growth, 1e-9, `growth of ${s.id}`);
        checkRepresentatives(s, m, opts.representatives as number);
        assert.deepEqual(engine.cluster(s.id, 1000), s);
        assert.deepEqual(engine.cluster(s.id, 2)!.terms, topTerms(m, 2));
        assert.deepEqual(engine.cluster(s.id, 2)!.hashtags, topTerms(m, 2, m.hashtags));
        assert.deepEqual(engine.cluster(s.id)!.terms, topTerms(m, 10), 'ten terms by default');
      }
      assert.equal(total, tweets.length);
      // index() is the listing's view of the same summaries
      assert.deepEqual(
        [...engine.index()].sort((a, b) => a.id - b.id),
        all
          .map((s) => ({ id: s.id, size: s.size, lastSeen: s.lastSeen, growth: s.growth }))
          .sort((a, b) => a.id - b.id),
      );
    }),
    150,
    1500,
  );
});

test('firstSeen/lastSeen widen for out-of-order tweets; representatives follow the centroid as it moves', () => {
  // cosine mode at 0: every tweet of the first quadrant joins one cluster; 2 shown, 4 candidates
  const e = new ClusterEngine({
    dim: 2,
    threshold: 0.5,
    branchingFactor: 4,
    minSimilarity: 0,
    representatives: 2,
  });
  const sent: number[][] = [];
  const add = (id: string, text: string | undefined, time: number, vector: number[]) => {
    sent.push(vector);
    return e.apply({ id, text, time, vector });
  };
  /** cosine of v to the centroid of every vector sent so far (all in one cluster) */
  const simNow = (v: number[]) =>
    cosine(
      v,
      [0, 1].map((i) => sent.reduce((s, x) => s + x[i], 0)),
    );
  const shown = () => e.cluster(a.cluster)!.representatives;
  /** the representatives shown are these, similarities within float32 rounding */
  const reps = (want: [id: string, text: string, similarity: number][]) => {
    const got = shown();
    assert.deepEqual(
      got.map((r) => [r.id, r.text]),
      want.map(([id, text]) => [id, text]),
    );
    for (const [i, r] of got.entries()) close(r.similarity, want[i][2], 1e-7, `similarity of ${r.id}`);
  };
  const shownIds = () => shown().map((r) => r.id);
  const a = add('a', 'first', 5000, [1, 0]);
  assert.equal(a.created, true);
  assert.equal(a.similarity, 1);
  assert.equal(add('b', 'second', 9000, [1, 0]).cluster, a.cluster);
  assert.equal(add('c', 'late', 1000, [1, 0]).cluster, a.cluster);
  assert.equal(add('d', undefined, 7000, [1, 0]).cluster, a.cluster);
  let s = e.cluster(a.cluster)!;
  assert.equal(s.size, 4);
  assert.equal(s.firstSeen, 1000);
  assert.equal(s.lastSeen, 9000);
  // copies of one vector all sit on the centroid: equal similarity, older id first
  reps([
    ['a', 'first', 1],
    ['b', 'second', 1],
  ]);
  assert.equal(s.example, 'first');
  // a retweet of a candidate's text is not a second candidate (else it would fill the 4th slot
  // and keep 'off' out below)
  add('r', 'first', 9500, [1, 0]);
  // 'off' at 90 degrees: the centroid is (5, 1)/6, the copies score 5/sqrt(26), 'off' 1/sqrt(26);
  // it takes the 4th and last candidate slot but is not shown
  const x = add('x', 'off', 0, [0, 1]);
  assert.equal(x.cluster, a.cluster);
  assert.ok(Math.abs(x.similarity - 1 / Math.sqrt(26)) < 1e-12);
  s = e.cluster(a.cluster)!;
  assert.equal(s.firstSeen, 0, 'a late tweet moves firstSeen back');
  assert.equal(s.lastSeen, 9500);
  reps([
    ['a', 'first', 5 / Math.sqrt(26)],
    ['b', 'second', 5 / Math.sqrt(26)],
  ]);
  // 'typical' lies on the centroid's direction: it replaces the least typical candidate ('off')
  const typical = [5 / Math.sqrt(26), 1 / Math.sqrt(26)];
  assert.ok(Math.abs(add('y', 'typical', 9600, typical).similarity - 1) < 1e-12);
  assert.deepEqual(shownIds(), ['y', 'a']);
  // a tweet less typical than every candidate is not taken ('far' would be 2nd to last)
  add('z', 'far', 9700, [0, 1]);
  assert.deepEqual(shownIds(), ['y', 'a']);
  // the centroid drifts towards (0.6, 0.8): the second 'drift' tweet is more typical than the
  // copies of (1, 0) and replaces the first of them ('a'); later copies of its text are not taken
  const drift = [0.6, 0.8];
  add('w1', 'drift', 9800, drift);
  assert.ok(simNow(drift) < simNow([1, 0]), 'the first drift tweet is still the least typical');
  assert.deepEqual(shownIds(), ['y', 'a']);
  add('w2', 'drift', 9900, drift);
  assert.ok(simNow(drift) > simNow([1, 0]));
  assert.deepEqual(shownIds(), ['y', 'w2']);
  for (let k = 3; k <= 6; k++) add(`w${k}`, 'drift', 10_000 + k, drift);
  // now the drift is the story: its tweet comes first, re-scored against the moved centroid
  s = e.cluster(a.cluster)!;
  reps([
    ['w2', 'drift', simNow(drift)],
    ['y', 'typical', simNow(typical)],
  ]);
  for (const r of s.representatives) assert.ok(Number.isFinite(r.similarity));
  assert.equal(s.example, 'drift');
  assert.equal(s.size, 14);
  // a cluster started by a tweet without text has no example until a tweet with text
  const o = e.apply({ id: 'e', time: 0, vector: [-1, 0] });
  assert.equal(o.created, true);
  assert.equal(e.cluster(o.cluster)!.example, undefined);
  assert.deepEqual(e.cluster(o.cluster)!.representatives, []);
  e.apply({ id: 'f', text: 'has text', time: 0, vector: [-1, 0] });
  assert.equal(e.cluster(o.cluster)!.example, 'has text');
  assert.deepEqual(e.cluster(o.cluster)!.representatives, [{ id: 'f', text: 'has text', similarity: 1 }]);
});

test('hashtags go to their own sketch, once per tweet; terms keep the rest', () => {
  const e = new ClusterEngine({ dim: 2, threshold: 0.5, branchingFactor: 4, minSimilarity: 0.5 });
  const v = [0.6, 0.8];
  const id = e.apply({ id: '1', time: 0, vector: v, terms: ['#storm', 'rain', '#storm'] }).cluster;
  e.apply({ id: '2', time: 0, vector: v, terms: ['#storm', 'wind', 'rain'] });
  e.apply({ id: '3', time: 0, vector: v, terms: ['#flood', 'rain', '#storm'] });
  const s = e.cluster(id)!;
  // a tag or term in 1 of 3 tweets is below the display floor of 2
  assert.deepEqual(s.hashtags, [{ term: '#storm', count: 3 }]);
  assert.deepEqual(s.terms, [{ term: 'rain', count: 3 }]);
  e.apply({ id: '4', time: 0, vector: v, terms: ['#flood'] });
  assert.deepEqual(e.cluster(id)!.hashtags, [
    { term: '#storm', count: 3 },
    { term: '#flood', count: 2 },
  ]);
  assert.deepEqual(e.cluster(id, 1)!.hashtags, [{ term: '#storm', count: 3 }]);
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
        // termCount bounds the hashtags shown too
        top.map((s) => ({ ...s, terms: s.terms.slice(0, 1), hashtags: s.hashtags.slice(0, 1) })),
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
