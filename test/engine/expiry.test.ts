/**
 * Cluster expiry in the engine (src/engine/engine.ts): a cluster whose last tweet is older than
 * the window leaves the tree (and the tree stays sound), the sweep runs on the tweets' own
 * clock (never the wall clock), late tweets do not move that clock back, 0 never expires,
 * a live change of the window applies at the next tweet, and the same tweets give the same
 * clusters. Plus groupTerms (a topic's merged terms) and each summary's cohesion.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterEngine, type EngineOptions, type TweetInput } from '../../src/engine/engine.js';
import { Rng } from '../helpers/rng.js';

const DIM = 16;
const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Cosine mode at 0.5: distinct axes never merge (cos 0), copies of one axis always do. */
function engine(over: Partial<EngineOptions> = {}): ClusterEngine {
  return new ClusterEngine({ dim: DIM, threshold: 0.5, branchingFactor: 4, minSimilarity: 0.5, ...over });
}

function axis(i: number, dim = DIM): Float64Array {
  const v = new Float64Array(dim);
  v[i] = 1;
  return v;
}

let ids = 0;
function at(time: number, vector: ArrayLike<number>, terms?: string[]): TweetInput {
  return { id: `t${ids++}`, text: `tweet at ${time - T0}`, time, vector, terms };
}

function clusterIds(e: ClusterEngine): number[] {
  return [...e.clusters()].map((c) => c.id).sort((a, b) => a - b);
}

// ---------------------------------------------------------------- expiry

test('a cluster whose last tweet is older than the window leaves the tree', () => {
  const e = engine({ expiryMs: HOUR });
  const a = e.apply(at(T0, axis(0))).cluster;
  const b = e.apply(at(T0 + 30 * MIN, axis(1))).cluster;
  assert.equal(e.clusterCount, 2);
  // 61 minutes after a's only tweet: a is out of the window, b (31 min old) is not
  const c = e.apply(at(T0 + 61 * MIN, axis(2))).cluster;
  assert.equal(e.tree.has(a), false);
  assert.equal(e.cluster(a), undefined);
  assert.equal(e.tree.count(a), 0);
  assert.ok(e.cluster(b));
  assert.ok(e.cluster(c));
  assert.deepEqual(clusterIds(e), [b, c]);
  assert.equal(e.clusterCount, 2);
  assert.equal(e.expired, 1);
  // its tweets leave with it; the count of tweets applied does not change
  assert.equal(e.tree.points, 2);
  assert.equal(e.tweets, 3);
  assert.deepEqual(e.tree.audit(), []);
  assert.ok(e.largest(10).every((s) => s.id !== a));
});

test('a tweet keeps its cluster alive: the window runs from the last tweet, not the first', () => {
  const e = engine({ expiryMs: HOUR });
  const a = e.apply(at(T0, axis(0))).cluster;
  assert.equal(e.apply(at(T0 + 50 * MIN, axis(0))).cluster, a);
  e.apply(at(T0 + 100 * MIN, axis(1)));
  assert.ok(e.tree.has(a));
  assert.equal(e.cluster(a)?.size, 2);
  e.apply(at(T0 + 111 * MIN, axis(2))); // 61 minutes after a's last tweet
  assert.equal(e.tree.has(a), false);
});

test('expireBefore(cutoff) removes clusters last seen strictly before it, oldest id first', () => {
  const e = engine();
  const a = e.apply(at(T0, axis(0))).cluster;
  const b = e.apply(at(T0 + 10, axis(1))).cluster;
  const c = e.apply(at(T0 + 20, axis(2))).cluster;
  assert.deepEqual(e.expireBefore(T0), []); // last seen at the cutoff is not older than it
  assert.deepEqual(e.expireBefore(T0 + 11), [a, b]);
  assert.deepEqual(clusterIds(e), [c]);
  assert.equal(e.expired, 2);
  assert.deepEqual(e.expireBefore(T0 + 11), []); // nothing left to remove there
  assert.deepEqual(e.tree.audit(), []);
  // a removed cluster's id is never reused: the next new cluster gets a fresh one
  const d = e.apply(at(T0 + 30, axis(0))).cluster;
  assert.ok(d > c);
});

test('the sweep runs on tweet time, not the wall clock', () => {
  // Tweets from 2001, replayed today: decades older than the window by the wall clock, but
  // within it by their own clock, so nothing expires (a replay must rebuild the same tree).
  const old = Date.UTC(2001, 0, 1);
  const e = engine({ expiryMs: HOUR });
  for (let i = 0; i < 8; i++) e.apply(at(old + i * MIN, axis(i)));
  assert.equal(e.clusterCount, 8);
  assert.equal(e.expired, 0);
  assert.equal(e.now, old + 7 * MIN);
  // and tweets dated in the future are not "too new": the engine's clock is the tweets'
  const future = Date.UTC(2100, 0, 1);
  const f = engine({ expiryMs: HOUR });
  for (let i = 0; i < 4; i++) f.apply(at(future + i * MIN, axis(i)));
  assert.equal(f.clusterCount, 4);
  assert.equal(f.now, future + 3 * MIN);
});

test('without a tweet, time does not pass: nothing expires on its own', async () => {
  const e = engine({ expiryMs: 1 });
  e.apply(at(T0, axis(0)));
  e.apply(at(T0, axis(1)));
  await new Promise((resolve) => setTimeout(resolve, 5)); // a 1 ms window, 5 ms of wall clock
  assert.equal(e.clusterCount, 2);
  assert.equal(e.expired, 0);
});

test('now is -Infinity before the first tweet, then the latest tweet time', () => {
  const e = engine();
  assert.equal(e.now, Number.NEGATIVE_INFINITY);
  e.apply(at(T0 + 5, axis(0)));
  assert.equal(e.now, T0 + 5);
});

test('a late tweet does not move the clock back, and expires at the next sweep when too old', () => {
  const e = engine({ expiryMs: HOUR });
  const a = e.apply(at(T0 + 2 * HOUR, axis(0))).cluster;
  // late: two hours before the latest tweet, outside the window already
  const late = e.apply(at(T0, axis(1))).cluster;
  assert.equal(e.now, T0 + 2 * HOUR);
  // a late copy of a's tweet joins a: its window widens back, its last tweet stays the latest
  assert.equal(e.apply(at(T0 + 10 * MIN, axis(0))).cluster, a);
  assert.equal(e.cluster(a)?.firstSeen, T0 + 10 * MIN);
  assert.equal(e.cluster(a)?.lastSeen, T0 + 2 * HOUR);
  assert.equal(e.now, T0 + 2 * HOUR);

  e.apply(at(T0 + 2 * HOUR + 5 * MIN, axis(2)));
  assert.equal(e.tree.has(late), false, 'the late cluster is older than the window');
  assert.ok(e.tree.has(a), 'a was last seen 5 minutes ago by the tweet clock');
  assert.deepEqual(e.tree.audit(), []);
});

test('expiry 0 (or unset) never removes a cluster', () => {
  for (const e of [engine(), engine({ expiryMs: 0 })]) {
    assert.equal(e.expiryMs, 0);
    for (let i = 0; i < 10; i++) e.apply(at(T0 + i * 365 * 24 * HOUR, axis(i)));
    assert.equal(e.clusterCount, 10);
    assert.equal(e.expired, 0);
  }
});

test('a live change of the window takes effect at the next tweet', () => {
  // from never to one hour
  const e = engine();
  const a = e.apply(at(T0, axis(0))).cluster;
  e.apply(at(T0 + 2 * HOUR, axis(1)));
  assert.ok(e.tree.has(a));
  e.expiryMs = HOUR;
  assert.equal(e.expiryMs, HOUR);
  e.apply(at(T0 + 2 * HOUR + 1, axis(2)));
  assert.equal(e.tree.has(a), false);

  // shorter: the next tweet sweeps with the new window even when the old one had just swept
  // (a 10 h window sweeps at most every 10 minutes; this tweet comes one second later)
  const f = engine({ expiryMs: 10 * HOUR });
  const b = f.apply(at(T0, axis(0))).cluster;
  f.apply(at(T0 + 2 * HOUR, axis(1)));
  assert.ok(f.tree.has(b));
  f.expiryMs = HOUR;
  f.apply(at(T0 + 2 * HOUR + 1000, axis(2)));
  assert.equal(f.tree.has(b), false);

  // longer: a cluster the old window would have removed stays
  const g = engine({ expiryMs: HOUR });
  const c = g.apply(at(T0, axis(0))).cluster;
  g.expiryMs = 3 * HOUR;
  g.apply(at(T0 + 2 * HOUR, axis(1)));
  assert.ok(g.tree.has(c));

  // back to 0: nothing expires any more
  g.expiryMs = 0;
  g.apply(at(T0 + 100 * HOUR, axis(2)));
  assert.ok(g.tree.has(c));
});

test('a bad window is refused and the old one stays', () => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => engine({ expiryMs: bad }), RangeError);
    const e = engine({ expiryMs: HOUR });
    assert.throws(() => {
      e.expiryMs = bad;
    }, RangeError);
    assert.equal(e.expiryMs, HOUR);
  }
});

/**
 * A stream in bursts: topics (a few axes each) that come and go, times with jitter (some out of
 * order) and gaps longer than the window, so that many clusters expire along the way.
 */
function burstyStream(seed: number, n: number): TweetInput[] {
  const rng = new Rng(seed);
  const out: TweetInput[] = [];
  let time = T0;
  for (let i = 0; i < n; i++) {
    time += rng.next() < 0.03 ? 3 * HOUR : rng.int(2 * MIN);
    const v = new Float64Array(DIM);
    const base = (Math.floor(time / (4 * HOUR)) * 3) % DIM;
    for (let k = 0; k < 3; k++) v[(base + rng.int(4)) % DIM] += 0.2 + rng.next();
    const len = Math.hypot(...v);
    for (let k = 0; k < DIM; k++) v[k] /= len;
    const terms = [`w${base}`, `w${rng.int(20)}`];
    out.push({ id: `s${i}`, text: `s${i}`, time: time - rng.int(10 * MIN), vector: v, terms });
  }
  return out;
}

test('determinism: the same tweets give the same clusters, with expiry, in both modes', () => {
  const tweets = burstyStream(0xb1_7d, 600);
  for (const opts of [
    { minSimilarity: 0.6, expiryMs: HOUR },
    { minSimilarity: undefined, threshold: 0.4, expiryMs: HOUR },
  ]) {
    const runs = [0, 1].map(() => {
      const e = engine({ ...opts, branchingFactor: 3 });
      const assigned = tweets.map((t) => e.apply(t));
      return { e, assigned };
    });
    const [first, second] = runs;
    assert.ok(first.e.expired > 10, `expiry barely ran (${first.e.expired})`);
    assert.deepEqual(second.assigned, first.assigned);
    assert.deepEqual([...second.e.clusters(5)], [...first.e.clusters(5)]);
    assert.deepEqual(second.e.shape(), first.e.shape());
    assert.equal(second.e.expired, first.e.expired);
    // many removals from a tree of several levels leave it sound
    assert.deepEqual(first.e.tree.audit(), []);
    let points = 0;
    for (const c of first.e.clusters()) points += c.size;
    assert.equal(points, first.e.tree.points);
    // every cluster ever made is either in the tree or expired
    const made = new Set(first.assigned.map((a) => a.cluster)).size;
    assert.equal(first.e.clusterCount + first.e.expired, made);
  }
});

// ---------------------------------------------------------------- groupTerms

test('groupTerms merges the clusters’ terms: counts add, ordered by count then term', () => {
  const e = engine();
  let a = -1;
  let b = -1;
  for (let i = 0; i < 4; i++) a = e.apply(at(T0 + i, axis(0), ['storm', 'rain', 'storm'])).cluster;
  for (let i = 0; i < 3; i++) b = e.apply(at(T0 + 10 + i, axis(1), ['storm', 'wind'])).cluster;
  e.apply(at(T0 + 20, axis(0), ['rare']));
  // a term counts once per tweet ('storm' twice in one tweet is one)
  assert.deepEqual(e.groupTerms([a, b]), [
    { term: 'storm', count: 7 },
    { term: 'rain', count: 4 },
    { term: 'wind', count: 3 },
    // 'rare' is in one tweet of 8: under the floor of 2 tweets, not shown
  ]);
  assert.deepEqual(e.groupTerms([a]), [
    { term: 'rain', count: 4 },
    { term: 'storm', count: 4 },
  ]);
  assert.deepEqual(e.groupTerms([a, b], 1), [{ term: 'storm', count: 7 }]);
  // unknown ids are skipped; no ids, no terms
  assert.deepEqual(e.groupTerms([a, 9999]), e.groupTerms([a]));
  assert.deepEqual(e.groupTerms([]), []);
  // a cluster's own terms agree with a group of one
  assert.deepEqual(e.cluster(a)?.terms, e.groupTerms([a]));
});

test('groupTerms skips an expired cluster', () => {
  const e = engine({ expiryMs: HOUR });
  const a = e.apply(at(T0, axis(0), ['old'])).cluster;
  e.apply(at(T0 + 1, axis(0), ['old']));
  const b = e.apply(at(T0 + 2 * HOUR, axis(1), ['new'])).cluster;
  e.apply(at(T0 + 2 * HOUR + 1, axis(1), ['new']));
  assert.equal(e.tree.has(a), false);
  assert.deepEqual(e.groupTerms([a, b]), [{ term: 'new', count: 2 }]);
});

// ---------------------------------------------------------------- cohesion

test('cohesion: 1 for identical tweets, sqrt(0.5) for two orthogonal ones', () => {
  const e = engine({ minSimilarity: 0 }); // cos 0 >= 0: two orthogonal tweets share a cluster
  let same = -1;
  for (let i = 0; i < 5; i++) same = e.apply(at(T0, axis(3))).cluster;
  assert.equal(e.cluster(same)?.cohesion, 1);
  assert.equal(e.cluster(same)?.size, 5);

  const f = engine({ minSimilarity: 0 });
  const pair = f.apply(at(T0, axis(0))).cluster;
  assert.equal(f.apply(at(T0, axis(1))).cluster, pair);
  const c = f.cluster(pair)?.cohesion;
  assert.ok(c !== undefined && Math.abs(c - Math.sqrt(0.5)) < 1e-12, String(c));

  // a single tweet is its own centroid; a general (non-axis) unit vector repeated stays ~1
  const g = engine({ minSimilarity: 0.9 });
  const v = Float64Array.from({ length: DIM }, (_, i) => (i % 3) - 1);
  const len = Math.hypot(...v);
  for (let i = 0; i < DIM; i++) v[i] /= len;
  let id = -1;
  for (let i = 0; i < 7; i++) id = g.apply(at(T0, v)).cluster;
  const gc = g.cluster(id)?.cohesion ?? Number.NaN;
  assert.ok(gc <= 1 && gc > 1 - 1e-12, String(gc));
});

test('cohesion is the mean cosine of the cluster’s tweets to its centroid direction', () => {
  const rng = new Rng(0xc0_4e);
  const e = engine({ minSimilarity: -1 }); // every tweet joins the one cluster
  const xs: Float64Array[] = [];
  let id = -1;
  for (let i = 0; i < 40; i++) {
    const x = rng.unitVector(DIM);
    x[0] += 2; // a common direction, so the centroid is not near zero
    const len = Math.hypot(...x);
    for (let k = 0; k < DIM; k++) x[k] /= len;
    xs.push(x);
    id = e.apply(at(T0, x)).cluster;
  }
  assert.equal(e.clusterCount, 1);
  const c = new Float64Array(DIM);
  for (const x of xs) for (let k = 0; k < DIM; k++) c[k] += x[k] / xs.length;
  const cl = Math.hypot(...c);
  let mean = 0;
  for (const x of xs) {
    let dp = 0;
    for (let k = 0; k < DIM; k++) dp += x[k] * c[k];
    mean += dp / cl / xs.length;
  }
  const cohesion = e.cluster(id)?.cohesion ?? Number.NaN;
  assert.ok(Math.abs(cohesion - mean) < 1e-9, `${cohesion} vs ${mean}`);
  assert.ok(cohesion > 0 && cohesion < 1);
});
