/**
 * The engine as a living stream (src/engine/engine.ts), on a fake clock made of the tweets' own
 * times: expiry by tweet time (late tweets do not move the clock back, nor keep a story alive),
 * the outlier policy (MIN_CLUSTER_SIZE, outlier expiry, storyCount), the caps under an endless
 * generated stream (maxClusters after every apply, a merge record that only leads to live
 * clusters and keeps the last 10 x cap merges), rebuilds that keep every tweet's cluster
 * reachable (a brute-force count of the tweets each id resolves to, the older id surviving, ids
 * never reused) and merge summaries (a brute-force recount after rebuilds; an exact example),
 * growth (steady stories about 0, a burst first within minutes, the timeline showing it), a
 * state round trip that continues the same stream identically, rebuilds included, and how much
 * a rebuild merges.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type Assignment,
  ClusterEngine,
  type ClusterSummary,
  type EngineOptions,
  type RebuildEvent,
  type TweetInput,
} from '../../src/engine/engine.js';
import type { StateParts } from '../../src/engine/state.js';
import { Rng } from '../helpers/rng.js';
import { cosine } from '../helpers/vectors.js';

const SEED = 0x11_71_9e;
const T0 = Date.UTC(2024, 0, 1);
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 1500): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

const DIM = 16;

/** Cosine mode at 0.5: distinct axes never merge (cos 0), copies of one axis always do. */
function engine(over: Partial<EngineOptions> = {}): ClusterEngine {
  return new ClusterEngine({ dim: DIM, threshold: 0.5, branchingFactor: 4, minSimilarity: 0.5, ...over });
}

function axis(i: number, dim = DIM): Float64Array {
  const v = new Float64Array(dim);
  v[i] = 1;
  return v;
}

let seq = 0;
/** A tweet at `time` along `vector`, with a text of its own. */
function at(time: number, vector: ArrayLike<number>, terms?: string[]): TweetInput {
  const id = `t${seq++}`;
  return { id, text: `${id} at ${(time - T0) / SEC}s`, time, vector, terms };
}

function ids(e: ClusterEngine): number[] {
  return [...e.tree.sizes()].map(([id]) => id).sort((a, b) => a - b);
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what}: ${actual}, expected ${expected}`,
  );
}

// ---------------------------------------------------------------- generated streams

interface StreamOptions {
  seed: number;
  dim: number;
  /** stories alive at any time; each lives `minLife`..`maxLife` ms of tweet time, then another starts */
  stories: number;
  minLife: number;
  maxLife: number;
  /** share of tweets about nothing (random coordinates): future outliers */
  noise: number;
  /** tweet time between consecutive tweets */
  stepMs: number;
  /** hand out one reused vector (fast, for the caps) instead of a fresh one per tweet */
  reuse?: boolean;
}

/**
 * An endless stream of sparse unit vectors: stories come and go, each owning 3 coordinates and
 * a few words and one hashtag; a tweet takes 3..5 coordinates, mostly from its story. Times move
 * forward by `stepMs` with a little jitter (some tweets arrive out of order).
 */
function* stream(o: StreamOptions): Generator<TweetInput> {
  const rng = new Rng(o.seed);
  const stories: { support: number[]; until: number; name: number }[] = [];
  let names = 0;
  const shared = new Float64Array(o.dim);
  for (let i = 0; ; i++) {
    const time = T0 + i * o.stepMs + rng.int(o.stepMs * 3);
    for (let s = stories.length - 1; s >= 0; s--) if (stories[s].until <= time) stories.splice(s, 1);
    while (stories.length < o.stories)
      stories.push({
        support: [rng.int(o.dim), rng.int(o.dim), rng.int(o.dim)],
        until: time + o.minLife + rng.int(o.maxLife - o.minLife),
        name: names++,
      });
    const v = o.reuse ? shared.fill(0) : new Float64Array(o.dim);
    const story = rng.next() < o.noise ? undefined : rng.pick(stories);
    const nnz = 3 + rng.int(3);
    for (let j = 0; j < nnz; j++)
      v[story !== undefined && rng.next() < 0.9 ? rng.pick(story.support) : rng.int(o.dim)] +=
        0.2 + rng.next();
    let len = 0;
    for (let j = 0; j < o.dim; j++) len += v[j] * v[j];
    len = Math.sqrt(len);
    for (let j = 0; j < o.dim; j++) v[j] /= len;
    const terms =
      story === undefined
        ? [`noise${rng.int(50)}`]
        : [`s${story.name}w${rng.int(3)}`, `s${story.name}w${rng.int(3)}`, `#s${story.name}`];
    yield { id: `g${i}`, text: `tweet ${i}`, time, vector: v, terms };
  }
}

function take(o: StreamOptions, n: number): TweetInput[] {
  const out: TweetInput[] = [];
  for (const t of stream(o)) {
    if (out.length === n) break;
    out.push(t);
  }
  return out;
}

// ---------------------------------------------------------------- expiry by tweet time

test("expiry runs on the tweets' clock: a cluster leaves once the clock passes its last tweet by the window", () => {
  const swept: [number, number][] = [];
  const e = engine({ expiryMs: HOUR, events: { swept: (x, o) => swept.push([x, o]) } });
  const a = e.apply(at(T0, axis(0))).cluster;
  const b = e.apply(at(T0 + 30 * MIN, axis(1))).cluster;
  // exactly one window after a's tweet: a is not older than the window yet
  e.apply(at(T0 + 60 * MIN, axis(2)));
  assert.ok(e.tree.has(a));
  // the sweep runs at most once per 1/60 of the window (1 minute): a outlives it by up to that
  e.apply(at(T0 + 60 * MIN + 59 * SEC, axis(2)));
  assert.ok(e.tree.has(a), 'no sweep within a minute of the last one');
  assert.equal(e.expired, 0);
  e.apply(at(T0 + 61 * MIN, axis(2)));
  assert.equal(e.tree.has(a), false);
  assert.equal(e.cluster(a), undefined);
  assert.equal(e.resolve(a), undefined, 'an expired id resolves to nothing');
  assert.ok(e.tree.has(b));
  assert.equal(e.expired, 1);
  assert.deepEqual(swept, [[1, 0]]);
  assert.equal(e.now, T0 + 61 * MIN);
  assert.equal(e.tree.points, 4);
  assert.deepEqual(e.tree.audit(), []);
  // a tweet on a's axis now starts a new cluster: ids are never reused
  const again = e.apply(at(T0 + 62 * MIN, axis(0)));
  assert.equal(again.created, true);
  assert.ok(again.cluster > Math.max(a, b));
});

test('a late tweet does not move the clock back; it joins a live story but does not keep it alive', () => {
  const e = engine({ expiryMs: HOUR });
  const a = e.apply(at(T0, axis(0))).cluster;
  e.apply(at(T0 + 50 * MIN, axis(0)));
  e.apply(at(T0 + 100 * MIN, axis(1)));
  // 130 minutes behind the clock, older than the window: it still joins a, which is live
  const late = e.apply(at(T0 - 30 * MIN, axis(0)));
  assert.equal(late.cluster, a);
  assert.equal(late.created, false);
  assert.equal(e.now, T0 + 100 * MIN, 'the clock did not move back');
  let s = e.cluster(a)!;
  assert.equal(s.size, 3);
  assert.equal(s.firstSeen, T0 - 30 * MIN);
  assert.equal(s.lastSeen, T0 + 50 * MIN, 'lastSeen is the newest tweet, not the latest to arrive');
  // the timeline (5-minute buckets, 36 kept) runs from the late tweet's bucket to the clock's
  assert.equal(s.timeline.length, 27);
  assert.deepEqual(s.timeline[0], { start: T0 - 30 * MIN, count: 1 });
  assert.deepEqual(s.timeline[6], { start: T0, count: 1 });
  assert.deepEqual(s.timeline[16], { start: T0 + 50 * MIN, count: 1 });
  assert.equal(
    s.timeline.reduce((n, b) => n + b.count, 0),
    3,
  );
  // a leaves 60 minutes after its newest tweet (T0 + 50 min), though a tweet came at T0 + 100 min
  e.apply(at(T0 + 110 * MIN, axis(1)));
  assert.ok(e.tree.has(a));
  e.apply(at(T0 + 111 * MIN, axis(1)));
  assert.equal(e.tree.has(a), false);
  assert.equal(e.expired, 1);
  // a late tweet whose time is before the ring of buckets counts in the size, not the timeline
  const f = engine({ bucketCount: 4 });
  const c = f.apply(at(T0 + 60 * MIN, axis(3))).cluster;
  f.apply(at(T0, axis(3)));
  s = f.cluster(c)!;
  assert.equal(s.size, 2);
  assert.equal(s.firstSeen, T0);
  assert.deepEqual(
    s.timeline.map((b) => [b.start - T0, b.count]),
    [
      [45 * MIN, 0],
      [50 * MIN, 0],
      [55 * MIN, 0],
      [60 * MIN, 1],
    ],
  );
});

test('a late tweet older than the window that starts a cluster leaves at the next sweep', () => {
  const swept: [number, number][] = [];
  const e = engine({ expiryMs: HOUR, events: { swept: (x, o) => swept.push([x, o]) } });
  e.apply(at(T0 + 3 * HOUR, axis(0)));
  const old = e.apply(at(T0, axis(5)));
  assert.equal(old.created, true);
  assert.ok(e.tree.has(old.cluster), 'it is answered and clustered');
  assert.equal(e.cluster(old.cluster)!.lastSeen, T0);
  // the next sweep is due a minute (1/60 of the window) after the last: until then it stays
  e.apply(at(T0 + 3 * HOUR + 30 * SEC, axis(0)));
  assert.ok(e.tree.has(old.cluster));
  e.apply(at(T0 + 3 * HOUR + MIN, axis(0)));
  assert.equal(e.tree.has(old.cluster), false);
  assert.equal(e.expired, 1);
  assert.deepEqual(swept, [[1, 0]]);
  assert.equal(e.clusterCount, 1);
});

// ---------------------------------------------------------------- outliers

test('outliers: under minClusterSize and quiet for outlierExpiryMs they leave; stories stay until expiryMs', () => {
  const swept: [number, number][] = [];
  const e = engine({
    expiryMs: HOUR,
    minClusterSize: 3,
    outlierExpiryMs: 10 * MIN,
    events: { swept: (x, o) => swept.push([x, o]) },
  });
  assert.equal(e.minClusterSize, 3);
  assert.equal(e.outlierExpiryMs, 10 * MIN);
  const single = e.apply(at(T0, axis(0))).cluster;
  const pair = e.apply(at(T0, axis(1))).cluster;
  e.apply(at(T0 + SEC, axis(1)));
  const story = e.apply(at(T0, axis(2))).cluster;
  e.apply(at(T0 + SEC, axis(2)));
  e.apply(at(T0 + 2 * SEC, axis(2)));
  assert.equal(e.clusterCount, 3);
  assert.equal(e.storyCount, 1, 'only a cluster of 3 tweets is a story');
  assert.equal(e.isStory(2), false);
  assert.equal(e.isStory(3), true);
  // 10 minutes after the single tweet: not older than the outlier window yet
  const r = e.apply(at(T0 + 10 * MIN, axis(3))).cluster;
  assert.deepEqual(ids(e), [single, pair, story, r]);
  // the sweep runs every 1/60 of the shorter window (10 s): the single and the pair leave
  e.apply(at(T0 + 10 * MIN + 10 * SEC, axis(3)));
  assert.deepEqual(ids(e), [story, r]);
  assert.equal(e.outliersRemoved, 2);
  assert.equal(e.expired, 0);
  assert.deepEqual(swept, [[0, 2]]);
  assert.equal(e.storyCount, 1);
  // r grows to a story with its third tweet; a story stays while it is in the expiry window,
  // however long quiet (49 minutes for both here)
  e.apply(at(T0 + 10 * MIN + 20 * SEC, axis(3)));
  assert.equal(e.storyCount, 2);
  e.apply(at(T0 + 59 * MIN, axis(3)));
  assert.deepEqual(ids(e), [story, r]);
  assert.equal(e.storyCount, 2);
  e.apply(at(T0 + 61 * MIN, axis(3)));
  assert.deepEqual(ids(e), [r], 'the story left by the expiry window');
  assert.equal(e.expired, 1);
  assert.equal(e.outliersRemoved, 2);
  assert.deepEqual(swept, [
    [0, 2],
    [1, 0],
  ]);
  // a returning single tweet starts a new cluster, with a new id
  const back = e.apply(at(T0 + 62 * MIN, axis(0)));
  assert.equal(back.created, true);
  assert.ok(back.cluster > r);
  // raising the size live makes r (5 tweets) an outlier; it goes once quiet for the outlier window
  assert.equal(e.cluster(r)!.size, 5);
  e.minClusterSize = 6;
  assert.equal(e.storyCount, 0);
  e.apply(at(T0 + 62 * MIN + 10 * SEC, axis(0)));
  assert.deepEqual(ids(e), [r, back.cluster], 'r had a tweet a minute ago');
  e.apply(at(T0 + 71 * MIN + 5 * SEC, axis(0)));
  assert.deepEqual(ids(e), [back.cluster], 'r was quiet for 10 minutes 5 seconds');
  assert.equal(e.outliersRemoved, 3);
  assert.equal(e.expired, 1);
  // a longer outlier window applies from the next tweet
  e.outlierExpiryMs = 0;
  assert.equal(e.outlierExpiryMs, 0);
  e.apply(at(T0 + 100 * MIN, axis(9)));
  assert.deepEqual(ids(e), [back.cluster, back.cluster + 1], 'back (3 tweets) is now left to the hour');
  assert.deepEqual(e.tree.audit(), []);
});

test('minClusterSize 1 makes no outliers; outlierExpiryMs 0 leaves outliers to the expiry window', () => {
  const e = engine({ outlierExpiryMs: 10 * MIN });
  const a = e.apply(at(T0, axis(0))).cluster;
  e.apply(at(T0 + 5 * HOUR, axis(1)));
  assert.ok(e.tree.has(a), 'a single tweet is a story when minClusterSize is 1');
  assert.equal(e.storyCount, 2);
  const f = engine({ minClusterSize: 2, expiryMs: HOUR });
  const b = f.apply(at(T0, axis(0))).cluster;
  f.apply(at(T0 + 59 * MIN, axis(1)));
  assert.ok(f.tree.has(b));
  assert.equal(f.storyCount, 0);
  f.apply(at(T0 + 61 * MIN, axis(1)));
  assert.equal(f.tree.has(b), false);
  assert.equal(f.expired, 1, 'counted as expired, not as an outlier');
  assert.equal(f.outliersRemoved, 0);
  assert.throws(() => engine({ minClusterSize: 0 }), RangeError);
  assert.throws(() => engine({ outlierExpiryMs: -1 }), RangeError);
  assert.throws(() => engine({ maxClusters: 1.5 }), RangeError);
});

// ---------------------------------------------------------------- caps

test('caps hold under an endless generated stream: maxClusters after every apply, a bounded merge record', () => {
  const runs: { name: string; n: number; opts: Partial<EngineOptions>; s: Partial<StreamOptions> }[] = [
    { name: 'cosine d=256', n: 60_000, opts: { minSimilarity: 0.6 }, s: { dim: 256 } },
    { name: 'cosine d=64', n: 60_000, opts: { minSimilarity: 0.6 }, s: { dim: 64 } },
    { name: 'radius d=128', n: 30_000, opts: { minSimilarity: undefined, threshold: 0.4 }, s: { dim: 128 } },
  ];
  const cap = 300;
  for (const run of runs) {
    const dim = run.s.dim as number;
    const events: RebuildEvent[] = [];
    const e = new ClusterEngine({
      dim,
      threshold: 1,
      branchingFactor: 12,
      maxClusters: cap,
      expiryMs: 2 * HOUR,
      minClusterSize: 3,
      outlierExpiryMs: 20 * MIN,
      ...run.opts,
      events: { rebuilt: (ev) => events.push(ev) },
    });
    let maxRecord = 0;
    let i = 0;
    const checkpoint = () => {
      // every record leads from an id gone from the tree to an older one in it
      const parts = e.exportState();
      const from = parts.arrays['merged.from'] as Float64Array;
      const to = parts.arrays['merged.to'] as Float64Array;
      assert.equal(from.length, e.mergeRecordSize);
      for (let k = 0; k < from.length; k++) {
        assert.ok(!e.tree.has(from[k]) && e.tree.has(to[k]) && to[k] < from[k], `${run.name}: record`);
        assert.equal(e.resolve(from[k]), to[k]);
      }
      // one summary per cluster, and no more representatives than the candidates allow
      assert.equal((parts.arrays['clusters.ids'] as Float64Array).length, e.clusterCount);
      assert.ok((parts.arrays['reps.sims'] as Float64Array).length <= e.clusterCount * 6);
    };
    for (const t of stream({
      seed: 99,
      stories: 60,
      minLife: 10 * MIN,
      maxLife: 130 * MIN,
      noise: 0.05,
      stepMs: SEC,
      reuse: true,
      ...run.s,
      dim,
    })) {
      if (i++ === run.n) break;
      e.apply(t);
      if (e.clusterCount > cap) assert.fail(`${run.name}: ${e.clusterCount} clusters after tweet ${i}`);
      if (e.mergeRecordSize > maxRecord) maxRecord = e.mergeRecordSize;
      // the record keeps the last 10 x cap merges (at least 1,000)
      if (e.mergeRecordSize > 10 * cap) assert.fail(`${run.name}: a merge record of ${e.mergeRecordSize}`);
      if (i % 20_000 === 0) checkpoint();
    }
    checkpoint();
    assert.ok(e.rebuilds > 0, `${run.name}: no rebuild`);
    assert.equal(events.length, e.rebuilds);
    for (const ev of events) {
      assert.ok(ev.clustersBefore > cap && ev.clustersAfter <= Math.floor(cap * 0.9), JSON.stringify(ev));
      assert.equal(ev.clustersBefore - ev.clustersAfter, ev.merged);
      assert.ok(ev.passes >= 1);
      if (e.tree.minSimilarity !== undefined) assert.ok(ev.thresholdAfter < ev.thresholdBefore);
      else assert.ok(ev.thresholdAfter > ev.thresholdBefore);
    }
    assert.equal(
      e.mergedClusters,
      events.reduce((n, ev) => n + ev.merged, 0),
    );
    assert.ok(e.expired > 0 && e.outliersRemoved > 0, `${run.name}: expiry never acted`);
    // records leave with their survivor (or once 10 x cap newer ones are kept)
    assert.ok(e.mergeRecordSize <= e.mergedClusters);
    assert.ok(maxRecord > 0);
    assert.equal(e.tweets, run.n);
    assert.deepEqual(e.tree.audit(), []);
  }
});

// ---------------------------------------------------------------- rebuilds

test("a rebuild keeps every tweet's cluster reachable: ids resolve to the cluster that holds the tweet", () => {
  for (const opts of [
    { minSimilarity: 0.7, threshold: 1 },
    { minSimilarity: undefined, threshold: 0.3 },
  ]) {
    const cap = 40;
    const e = new ClusterEngine({ dim: 32, branchingFactor: 6, maxClusters: cap, ...opts });
    const assigned: number[] = [];
    let maxId = 0;
    let rebuilds = 0;
    for (const t of stream({
      seed: 5,
      dim: 32,
      stories: 30,
      minLife: 5 * MIN,
      maxLife: 60 * MIN,
      noise: 0.1,
      stepMs: SEC,
      reuse: true,
    })) {
      if (assigned.length === 15_000) break;
      const nextId = e.tree.nextId;
      const a = e.apply(t);
      assert.ok(e.clusterCount <= cap);
      assert.ok(e.tree.has(a.cluster), 'the answer is a cluster in the tree');
      if (a.created) {
        // a new id is newer than every id seen before
        assert.equal(a.cluster, nextId);
        assert.ok(a.cluster > maxId);
        maxId = a.cluster;
      } else {
        assert.ok(a.cluster <= maxId);
      }
      assert.ok(e.tree.nextId === nextId || e.tree.nextId === nextId + 1, 'at most one id per tweet');
      if (e.tree.nextId > maxId + 1) maxId = e.tree.nextId - 1; // made, then absorbed at once
      assigned.push(a.cluster);
      if (e.rebuilds > rebuilds) {
        rebuilds = e.rebuilds;
        // after each rebuild every earlier answer still leads to a cluster, an older or same id
        for (const id of assigned) {
          const to = e.resolve(id);
          assert.ok(to !== undefined && to <= id, `id ${id} lost after rebuild ${rebuilds}`);
        }
      }
    }
    assert.ok(e.rebuilds >= 5, `only ${e.rebuilds} rebuilds`);
    // fewer merges than the record keeps (1,000): none forgotten, every id must resolve
    assert.ok(e.mergedClusters < 1000 && e.mergeRecordSize === e.mergedClusters, String(e.mergedClusters));
    // brute force: the tweets whose answer resolves to a cluster are exactly its size
    const count = new Map<number, number>();
    for (const id of assigned) {
      const to = e.resolve(id) as number;
      count.set(to, (count.get(to) ?? 0) + 1);
    }
    assert.deepEqual(
      [...count].sort((x, y) => x[0] - y[0]),
      [...e.tree.sizes()].sort((x, y) => x[0] - y[0]),
    );
    assert.equal(e.tree.points, assigned.length);
    // the record holds every id answered and absorbed since
    for (const id of new Set(assigned)) if (!e.tree.has(id)) assert.ok(e.resolve(id)! < id);
    assert.deepEqual(e.tree.audit(), []);
  }
});

// The brute-force model: each cluster's tweets, by the id their answer resolves to now.
interface Model {
  tweets: TweetInput[];
  firstSeen: number;
  lastSeen: number;
  terms: Map<string, number>;
  hashtags: Map<string, number>;
  buckets: Map<number, number>;
}

function modelOf(
  e: ClusterEngine,
  tweets: readonly TweetInput[],
  out: readonly Assignment[],
  bucketMs: number,
): Map<number, Model> {
  const model = new Map<number, Model>();
  tweets.forEach((t, i) => {
    const id = e.resolve(out[i].cluster);
    assert.ok(id !== undefined, `tweet ${t.id}'s cluster ${out[i].cluster} is lost`);
    let m = model.get(id);
    if (m === undefined) {
      m = {
        tweets: [],
        firstSeen: t.time,
        lastSeen: t.time,
        terms: new Map(),
        hashtags: new Map(),
        buckets: new Map(),
      };
      model.set(id, m);
    }
    m.tweets.push(t);
    m.firstSeen = Math.min(m.firstSeen, t.time);
    m.lastSeen = Math.max(m.lastSeen, t.time);
    for (const w of new Set(t.terms ?? [])) {
      const counts = w.startsWith('#') ? m.hashtags : m.terms;
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const b = Math.floor(t.time / bucketMs);
    m.buckets.set(b, (m.buckets.get(b) ?? 0) + 1);
  });
  return model;
}

function shown(m: Model, counts: Map<string, number>): { term: string; count: number }[] {
  const size = m.tweets.length;
  const floor = Math.min(size, Math.max(2, Math.ceil(0.05 * size)));
  return [...counts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .filter(([, count]) => count >= floor)
    .map(([term, count]) => ({ term, count }));
}

function checkAgainstModel(s: ClusterSummary, m: Model, e: ClusterEngine, o: EngineOptions): void {
  const size = m.tweets.length;
  assert.equal(s.size, size, `size of ${s.id}`);
  assert.equal(s.firstSeen, m.firstSeen, `firstSeen of ${s.id}`);
  assert.equal(s.lastSeen, m.lastSeen, `lastSeen of ${s.id}`);
  assert.deepEqual(s.terms, shown(m, m.terms), `terms of ${s.id}`);
  assert.deepEqual(s.hashtags, shown(m, m.hashtags), `hashtags of ${s.id}`);
  const bucketMs = o.bucketMs as number;
  const last = Math.floor(e.now / bucketMs);
  const first = Math.max(Math.floor(m.firstSeen / bucketMs), last - (o.bucketCount as number) + 1);
  const timeline: { start: number; count: number }[] = [];
  for (let b = first; b <= last; b++) timeline.push({ start: b * bucketMs, count: m.buckets.get(b) ?? 0 });
  assert.deepEqual(s.timeline, timeline, `timeline of ${s.id}`);
  let recent = 0;
  for (const t of m.tweets) recent += 2 ** ((t.time - e.now) / (o.trendRecentMs as number));
  close(s.recent, recent, 1e-9, `recent of ${s.id}`);
  // representatives: tweets of the cluster with their text, scored against the centroid now
  const c = new Float64Array(e.dim);
  for (const t of m.tweets) for (let i = 0; i < e.dim; i++) c[i] += t.vector[i] / size;
  const texts = new Map<string, TweetInput>();
  for (const t of m.tweets) if (t.text && !texts.has(t.text)) texts.set(t.text, t);
  const reps = s.representatives;
  assert.equal(reps.length, Math.min(o.representatives as number, texts.size), `representatives of ${s.id}`);
  assert.equal(new Set(reps.map((r) => r.text)).size, reps.length);
  reps.forEach((r, i) => {
    const t = m.tweets.find((x) => x.id === r.id);
    assert.ok(t !== undefined && t.text === r.text, `representative ${r.id} is not a tweet of ${s.id}`);
    close(r.similarity, cosine(t.vector, c), 1e-6, `similarity of representative ${r.id}`);
    if (i > 0) assert.ok(reps[i - 1].similarity >= r.similarity);
  });
}

test('after rebuilds, summaries equal a recount of the tweets whose answers resolve to each cluster', () => {
  let rebuilt = 0;
  check(
    fc.property(
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.integer({ min: 50, max: 400 }),
      fc.integer({ min: 2, max: 15 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 2, max: 12 }),
      (seed, n, cap, cosineMode, representatives, bucketCount) => {
        const o: EngineOptions = {
          dim: 24,
          threshold: cosineMode ? 1 : 0.3,
          minSimilarity: cosineMode ? 0.7 : undefined,
          branchingFactor: 4,
          maxClusters: cap,
          // sketches larger than any cluster's vocabulary: exact counts
          termSketchSize: 256,
          hashtagSketchSize: 256,
          representatives,
          bucketMs: 30 * SEC,
          bucketCount,
          trendRecentMs: 2 * MIN,
          trendBaselineMs: 20 * MIN,
        };
        const tweets = take(
          { seed, dim: 24, stories: 6, minLife: MIN, maxLife: 10 * MIN, noise: 0.1, stepMs: 2 * SEC },
          n,
        );
        const e = new ClusterEngine(o);
        const out = tweets.map((t) => e.apply(t));
        if (e.rebuilds > 0) rebuilt++;
        const model = modelOf(e, tweets, out, o.bucketMs as number);
        assert.deepEqual(
          [...model.keys()].sort((a, b) => a - b),
          ids(e),
        );
        for (const s of e.clusters(1000)) checkAgainstModel(s, model.get(s.id)!, e, o);
      },
    ),
    200,
    1500,
  );
  assert.ok(rebuilt >= 10, `only ${rebuilt} streams rebuilt`);
});

test('a rebuild merges summaries: sizes, terms, hashtags, timeline, first/last seen add up (radius mode, exact)', () => {
  const events: RebuildEvent[] = [];
  const e = new ClusterEngine({
    dim: DIM,
    threshold: 0.3,
    branchingFactor: 16,
    maxClusters: 10,
    termSketchSize: 8,
    events: { rebuilt: (ev) => events.push(ev) },
  });
  // 45 degrees from its axis: two such tweets have radius sin(22.5) = 0.383 > 0.3 (apart), and
  // with 3 tweets on the axis or 2 on it and 1 off it, 0.331 or 0.361 (together once T = 0.375)
  const tilt = (i: number, j: number) => {
    const v = new Float64Array(DIM);
    v[i] = Math.SQRT1_2;
    v[j] = Math.SQRT1_2;
    return v;
  };
  const A = e.apply(at(T0 + 10 * MIN, axis(0), ['quake', '#quake'])).cluster;
  e.apply(at(T0 + 11 * MIN, axis(0), ['quake', 'damage']));
  e.apply(at(T0 + 12 * MIN, axis(0), ['quake', '#quake', '#breaking']));
  const B = e.apply(at(T0 + 20 * MIN, axis(1), ['rain'])).cluster;
  e.apply(at(T0 + 21 * MIN, axis(1), ['rain', '#flood']));
  const others = [2, 3, 4, 5, 6, 7, 8].map((i) => e.apply(at(T0 + 30 * MIN, axis(i), ['other'])).cluster);
  assert.deepEqual([A, B, ...others], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // A' (older tweets, arriving late) and B': 11 clusters > 10 rebuild at B'
  const a2 = e.apply(at(T0, tilt(0, 10), ['tsunami', 'quake', '#quake']));
  assert.equal(a2.cluster, 10);
  assert.equal(e.rebuilds, 0);
  const before = new Map([A, B].map((id) => [id, e.cluster(id, 100)!]));
  const a2Summary = e.cluster(10, 100)!;
  const b2 = e.apply(at(T0 + 40 * MIN, tilt(1, 11), ['rain', '#flood']));
  // the tweet that made cluster 11 is answered with its survivor, B
  assert.equal(b2.cluster, B);
  assert.equal(b2.created, false);
  assert.equal(e.tree.nextId, 12, 'the absorbed id is not given again');
  assert.deepEqual(events, [
    {
      clustersBefore: 11,
      clustersAfter: 9,
      thresholdBefore: 0.3,
      thresholdAfter: 0.375,
      passes: 1,
      merged: 2,
    },
  ]);
  assert.equal(e.tree.threshold, 0.375, 'the looser threshold stays');
  assert.equal(e.rebuilds, 1);
  assert.equal(e.mergedClusters, 2);
  assert.equal(e.mergeRecordSize, 2);
  assert.equal(e.resolve(10), A);
  assert.equal(e.resolve(11), B);
  assert.deepEqual(ids(e), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const a = e.cluster(A, 100)!;
  assert.equal(a.size, before.get(A)!.size + a2Summary.size);
  assert.equal(a.size, 4);
  assert.equal(a.firstSeen, T0, 'the earliest of both');
  assert.equal(a.lastSeen, T0 + 12 * MIN, 'the latest of both');
  // 'damage' and 'tsunami' (1 of 4 tweets each) are below the display floor of 2
  assert.deepEqual(a.terms, [{ term: 'quake', count: 4 }]);
  assert.deepEqual(a.hashtags, [{ term: '#quake', count: 3 }]);
  assert.deepEqual(
    a.timeline.filter((b) => b.count > 0),
    [
      { start: T0, count: 1 },
      { start: T0 + 10 * MIN, count: 3 },
    ],
  );
  // the decayed count of the survivor is the sum of both, decayed 10 more minutes to the clock
  close(
    a.recent,
    (before.get(A)!.recent + a2Summary.recent) * 2 ** (-10 / 15),
    1e-12,
    'recent of the merged cluster',
  );
  // representatives of both, re-scored against the merged centroid (3 on the axis, 1 tilted)
  const centroid = new Float64Array(DIM);
  centroid[0] = (3 + Math.SQRT1_2) / 4;
  centroid[10] = Math.SQRT1_2 / 4;
  assert.deepEqual(
    a.representatives.map((r) => r.text),
    before.get(A)!.representatives.map((r) => r.text),
    'the three axis tweets stay the most typical',
  );
  for (const r of a.representatives) close(r.similarity, cosine(axis(0), centroid), 1e-7, r.id);
  const b = e.cluster(B, 100)!;
  assert.equal(b.size, 3);
  assert.deepEqual(b.terms, [{ term: 'rain', count: 3 }]);
  assert.deepEqual(b.hashtags, [{ term: '#flood', count: 2 }]);
  assert.equal(b.firstSeen, T0 + 20 * MIN);
  assert.equal(b.lastSeen, T0 + 40 * MIN);
  assert.equal(b.representatives.length, 3);
  // the tilted tweet is the least typical of B's three
  assert.equal(b.representatives[2].id, b2.id);
  assert.deepEqual(e.tree.audit(), []);
});

test('expiry of a survivor drops the merge records that lead to it', () => {
  const e = new ClusterEngine({
    dim: DIM,
    threshold: 0.3,
    branchingFactor: 16,
    maxClusters: 3,
    expiryMs: HOUR,
  });
  const tilt = (i: number, j: number) => {
    const v = new Float64Array(DIM);
    v[i] = Math.SQRT1_2;
    v[j] = Math.SQRT1_2;
    return v;
  };
  const A = e.apply(at(T0, axis(0))).cluster;
  e.apply(at(T0, axis(0)));
  e.apply(at(T0, axis(0)));
  const B = e.apply(at(T0, axis(1))).cluster;
  e.apply(at(T0, axis(1)));
  assert.equal(e.apply(at(T0, tilt(0, 10))).cluster, 3);
  // a 4th cluster: the rebuild (down to 2, 90% of 3) merges 3 into A and 4 into B
  assert.equal(e.apply(at(T0 + 30 * MIN, tilt(1, 11))).cluster, B);
  assert.equal(e.rebuilds, 1);
  assert.equal(e.mergeRecordSize, 2);
  assert.equal(e.resolve(3), A);
  assert.equal(e.resolve(4), B);
  // B has a tweet in the window, A not: A leaves and the record to it with it
  e.apply(at(T0 + 90 * MIN, axis(1)));
  assert.deepEqual(ids(e), [B]);
  assert.equal(e.mergeRecordSize, 1);
  assert.equal(e.resolve(3), undefined);
  assert.equal(e.resolve(A), undefined);
  assert.equal(e.resolve(4), B);
  e.apply(at(T0 + 3 * HOUR, axis(7)));
  assert.equal(e.resolve(4), undefined);
  assert.equal(e.mergeRecordSize, 0);
  assert.equal(e.expired, 2);
});

test('the merge record keeps the last max(1000, 10 x cap) merges; a forgotten id resolves to nothing', () => {
  // cap 1: every new cluster is merged into cluster 1 at once. The bound is reset before each
  // tweet (as a live change would), so that every tweet makes a new cluster and a merge.
  const e = new ClusterEngine({
    dim: DIM,
    threshold: 1,
    branchingFactor: 4,
    minSimilarity: 0.99,
    maxClusters: 1,
  });
  const rng = new Rng(8);
  const first = e.apply(at(T0, rng.unitVector(DIM))).cluster;
  assert.equal(first, 1);
  for (let i = 1; i <= 1100; i++) {
    e.tree.minSimilarity = 0.99;
    const a = e.apply(at(T0 + i * SEC, rng.unitVector(DIM)));
    assert.equal(a.cluster, 1);
    assert.equal(e.tree.nextId, i + 2, 'each tweet made a new cluster');
    assert.equal(e.mergeRecordSize, Math.min(i, 1000));
  }
  assert.equal(e.mergedClusters, 1100);
  assert.equal(e.rebuilds, 1100);
  assert.equal(e.clusterCount, 1);
  // ids 2..101 were forgotten, oldest first; 102..1101 lead to cluster 1
  for (let id = 2; id <= 101; id++) assert.equal(e.resolve(id), undefined, `forgotten ${id}`);
  for (let id = 102; id <= 1101; id++) assert.equal(e.resolve(id), 1, `kept ${id}`);
  // the record survives a state round trip as it is, oldest first
  const back = ClusterEngine.fromState(e.exportState());
  assert.equal(back.mergeRecordSize, 1000);
  assert.equal(back.resolve(102), 1);
  assert.equal(back.resolve(101), undefined);
});

test('after a rebuild at a lowered cap, apply() answers the similarity to the cluster as it is now', () => {
  // A live change of the cap (MAX_CLUSTERS_IN_MEMORY) rebuilds at the next tweet, and that tweet
  // may join a cluster that absorbs another in the rebuild. Its answer should say how typical it
  // is of the cluster it names (what apply() promises for a tweet answered with a survivor, and
  // what POST /tweets and GET /tweets/:id report), not of that cluster before the merge.
  const e = new ClusterEngine({ dim: DIM, threshold: 0.3, branchingFactor: 16 });
  const tilt = (i: number, j: number) => {
    const v = new Float64Array(DIM);
    v[i] = Math.SQRT1_2;
    v[j] = Math.SQRT1_2;
    return v;
  };
  const A = e.apply(at(T0, axis(0))).cluster;
  e.apply(at(T0, axis(0)));
  const tiltA = e.apply(at(T0, tilt(0, 10))).cluster;
  e.apply(at(T0, axis(1)));
  e.apply(at(T0, axis(1)));
  e.apply(at(T0, tilt(1, 11)));
  e.apply(at(T0, axis(5)));
  assert.equal(e.clusterCount, 5);
  e.maxClusters = 4;
  const r = e.apply(at(T0 + MIN, axis(0)));
  assert.equal(e.rebuilds, 1);
  assert.equal(e.resolve(tiltA), A, 'the tilted cluster merged into the axis one');
  assert.equal(r.cluster, A);
  assert.equal(r.created, false);
  // 3 tweets on the axis and 1 at 45 degrees: the axis is at cos 0.982 to the centroid, not 1
  const c = new Float64Array(DIM);
  c[0] = 3 + Math.SQRT1_2;
  c[10] = Math.SQRT1_2;
  close(e.tree.similarity(A, axis(0)), cosine(axis(0), c), 1e-12, 'the merged centroid');
  close(r.similarity, cosine(axis(0), c), 1e-12, 'the answer: similarity to the merged cluster');
});

// ---------------------------------------------------------------- growth

test('growth: steady stories score about 0; a new burst ranks first within a minute; an old story that bursts too', () => {
  const dim = 64;
  const e = new ClusterEngine({ dim, threshold: 1, branchingFactor: 8, minSimilarity: 0.5 });
  const tweets: TweetInput[] = [];
  // 50 steady stories, one tweet each every 10 minutes (phases 12 s apart), for 13 hours
  for (let c = 0; c < 50; c++)
    for (let t = c * 12 * SEC; t < 13 * HOUR; t += 10 * MIN)
      tweets.push({ id: `s${c}-${t}`, text: `steady ${c} ${t}`, time: T0 + t, vector: axis(c, dim) });
  // at 12 h a new story: 30 tweets in 5 minutes; at 12 h 40 min story 7 bursts the same way
  for (let k = 0; k < 30; k++) {
    tweets.push({
      id: `new${k}`,
      text: `new ${k}`,
      time: T0 + 12 * HOUR + k * 10 * SEC,
      vector: axis(50, dim),
    });
    tweets.push({
      id: `old${k}`,
      text: `old ${k}`,
      time: T0 + 12 * HOUR + 40 * MIN + k * 10 * SEC,
      vector: axis(7, dim),
    });
  }
  tweets.sort((x, y) => x.time - y.time || (x.id < y.id ? -1 : 1));
  const rank = (id: number) =>
    [...e.index()].sort((x, y) => y.growth - x.growth || x.id - y.id).findIndex((c) => c.id === id) + 1;
  const cluster = new Map<string, number>();
  let steadyMax = Number.NEGATIVE_INFINITY;
  let steadyMin = Number.POSITIVE_INFINITY;
  let newRank1At = Number.POSITIVE_INFINITY;
  let oldRank1At = Number.POSITIVE_INFINITY;
  for (const t of tweets) {
    const a = e.apply(t);
    if (t.id === 's0-0' || t.id === 'new0') cluster.set(t.id, a.cluster);
    if (t.id === 's7-84000') cluster.set('s7', a.cluster);
    const since = t.time - T0 - 12 * HOUR;
    if (t.id.startsWith('new') && rank(a.cluster) === 1) newRank1At = Math.min(newRank1At, since);
    if (t.id.startsWith('old') && rank(a.cluster) === 1) oldRank1At = Math.min(oldRank1At, since - 40 * MIN);
    // after 6 hours (a baseline's half-life) every steady story scores about 0
    if (t.time >= T0 + 6 * HOUR && t.time < T0 + 12 * HOUR && t.id.startsWith('s')) {
      const g = e.cluster(a.cluster)!.growth;
      steadyMax = Math.max(steadyMax, g);
      steadyMin = Math.min(steadyMin, g);
    }
    if (t.id === 'new29') {
      const s = e.cluster(a.cluster)!;
      assert.ok(s.growth > 10, `the burst scores ${s.growth}`);
      assert.equal(rank(a.cluster), 1);
      // the timeline shows it: all 30 in the 5-minute bucket from 12 h
      assert.deepEqual(s.timeline, [{ start: T0 + 12 * HOUR, count: 30 }]);
    }
    if (t.id === 'old29') {
      const s = e.cluster(a.cluster)!;
      assert.equal(s.id, cluster.get('s7'));
      assert.ok(s.growth > 10, `the old story's burst scores ${s.growth}`);
      assert.equal(rank(a.cluster), 1);
      // its timeline: one tweet per 5-minute bucket for 3 hours, then the burst's bucket
      const last = s.timeline[s.timeline.length - 1];
      assert.deepEqual(last, { start: T0 + 12 * HOUR + 40 * MIN, count: 31 });
      assert.equal(s.timeline.length, 36);
      assert.ok(s.timeline.slice(0, -1).every((b) => b.count <= 1));
    }
  }
  assert.ok(steadyMax < 0.5 && steadyMin > -0.5, `steady growth in [${steadyMin}, ${steadyMax}]`);
  assert.ok(newRank1At <= MIN, `the new story ranked first ${newRank1At / SEC} s into its burst`);
  assert.ok(oldRank1At <= 2 * MIN, `the old story ranked first ${oldRank1At / SEC} s into its burst`);
  // when the bursts are over, their growth fades below the steady stories'
  const end = e.cluster(cluster.get('new0')!)!;
  assert.ok(end.growth < 0.5, `the new story still scores ${end.growth} 1 hour on`);
});

// ---------------------------------------------------------------- state

/** A copy of the parts as a snapshot would store them: json through JSON, arrays copied. */
function copyParts(p: StateParts): StateParts {
  const arrays: StateParts['arrays'] = {};
  for (const [k, v] of Object.entries(p.arrays)) arrays[k] = v.slice() as typeof v;
  return { json: JSON.parse(JSON.stringify(p.json)), arrays };
}

test('state round trip: exportState -> fromState -> exportState is identical, and both go on identically', () => {
  for (const mode of [
    { minSimilarity: 0.6, threshold: 1 },
    { minSimilarity: undefined, threshold: 0.35 },
  ]) {
    const o: EngineOptions = {
      dim: 48,
      branchingFactor: 6,
      // under the number of live stories: outliers are evicted first, and rebuilds still come
      maxClusters: 40,
      expiryMs: 40 * MIN,
      minClusterSize: 3,
      outlierExpiryMs: 5 * MIN,
      bucketMs: MIN,
      bucketCount: 12,
      representatives: 2,
      ...mode,
    };
    const tweets = take(
      { seed: 3, dim: 48, stories: 25, minLife: 5 * MIN, maxLife: 50 * MIN, noise: 0.1, stepMs: SEC },
      16_000,
    );
    const a = new ClusterEngine(o);
    for (const t of tweets.slice(0, 8000)) a.apply(t);
    assert.ok(
      a.rebuilds > 0 && a.expired > 0 && a.outliersRemoved > 0 && a.mergeRecordSize > 0,
      `rebuilds ${a.rebuilds}, expired ${a.expired}, outliers ${a.outliersRemoved}, merge record ${a.mergeRecordSize}`,
    );
    const parts = a.exportState();
    const b = ClusterEngine.fromState(copyParts(parts));
    assert.deepEqual(b.exportState(), parts);
    assert.deepEqual(b.exportState(), a.exportState(), 'exporting changes nothing');
    for (const k of ['now', 'tweets', 'expired', 'outliersRemoved', 'rebuilds', 'mergedClusters'] as const)
      assert.equal(b[k], a[k], k);
    assert.equal(b.maxClusters, 40);
    assert.equal(b.minClusterSize, 3);
    assert.equal(b.outlierExpiryMs, 5 * MIN);
    assert.equal(b.expiryMs, 40 * MIN);
    const byId = (e: ClusterEngine) => [...e.clusters(100)].sort((x, y) => x.id - y.id);
    assert.deepEqual(byId(b), byId(a));
    // the same stream on both: the same answers (through rebuilds, sweeps), the same state; a
    // lower cap on both (a live change) makes the continuation rebuild in both modes
    const rebuildsBefore = a.rebuilds;
    a.maxClusters = 20;
    b.maxClusters = 20;
    for (const t of tweets.slice(8000)) assert.deepEqual(b.apply(t), a.apply(t));
    assert.ok(a.rebuilds > rebuildsBefore, 'the continuation rebuilt too');
    assert.deepEqual(b.exportState(), a.exportState());
    assert.deepEqual(byId(b), byId(a));
  }
});

test('state round trip without expiry windows: the json is identical too (the next sweep is never)', () => {
  // Without expiry the next sweep is at +Infinity; num() (src/engine/state.ts) writes +Infinity
  // as NaN, which JSON stores as null and unnum() reads back as -Infinity: the restored engine
  // exports null where the first exported NaN. Harmless today (the next apply() recomputes it),
  // but the state does not survive a round trip as it is.
  const e = engine();
  e.apply(at(T0, axis(0)));
  const parts = e.exportState();
  const back = ClusterEngine.fromState(copyParts(parts));
  assert.deepEqual(back.exportState().json, parts.json);
});

// ---------------------------------------------------------------- rebuild quality

/** Every rebuild of a cap-40 engine over a generated stream of 25 stories at a time. */
function rebuildsOf(mode: Partial<EngineOptions>): { events: RebuildEvent[]; e: ClusterEngine } {
  const events: RebuildEvent[] = [];
  const e = new ClusterEngine({
    dim: 48,
    threshold: 1,
    branchingFactor: 6,
    maxClusters: 40,
    expiryMs: 20 * MIN,
    minClusterSize: 3,
    outlierExpiryMs: 5 * MIN,
    ...mode,
    events: { rebuilt: (ev) => events.push(ev) },
  });
  for (const t of take(
    { seed: 3, dim: 48, stories: 25, minLife: 5 * MIN, maxLife: 50 * MIN, noise: 0.1, stepMs: SEC },
    12_000,
  ))
    e.apply(t);
  return { events, e };
}

test('cosine mode: a rebuild merges about the needed number of clusters, not most of them', () => {
  // README (memory caps): "the new bound comes from the similarities between neighbouring
  // entries within the leaves ... so that about the needed number merge". The target is 90% of
  // the cap (36 of 40: 5 merges); a rebuild that leaves fewer than half the cap merged 4 times
  // what it needed.
  const { events } = rebuildsOf({ minSimilarity: 0.6 });
  assert.ok(events.length > 0);
  const tooMany = events.filter((ev) => ev.clustersAfter < 20);
  assert.deepEqual(
    tooMany.map((ev) => `${ev.clustersBefore} -> ${ev.clustersAfter} at ${ev.thresholdAfter.toFixed(3)}`),
    [],
  );
});

test('radius mode: rebuilds never widen the radius to where every tweet joins one cluster', () => {
  // Unit vectors have a merged radius below 1, so at a threshold >= 1 every tweet is absorbed:
  // the tree collapses to one cluster and stays so for the rest of the stream (the radius
  // never shrinks). Each pass widens it by 25% without looking at the entries.
  const { events, e } = rebuildsOf({ threshold: 0.35 });
  assert.ok(events.length > 0);
  for (const ev of events)
    assert.ok(
      ev.thresholdAfter < 1 && ev.clustersAfter > 1,
      `rebuild ${ev.clustersBefore} -> ${ev.clustersAfter} clusters at radius ${ev.thresholdAfter}`,
    );
  assert.ok(e.clusterCount > 1, `${e.clusterCount} cluster(s) at the end`);
});

test('at the cap, the longest quiet outliers go first; a rebuild comes only when they are too few', () => {
  const evicted: number[] = [];
  const e = new ClusterEngine({
    dim: DIM,
    threshold: 0.5,
    branchingFactor: 4,
    minSimilarity: 0.5,
    minClusterSize: 2,
    maxClusters: 10,
    events: { evicted: (n) => evicted.push(n) },
  });
  // two stories of two tweets each, then single tweets on distinct axes, a minute apart
  const story = [e.apply(at(T0, axis(0))).cluster, e.apply(at(T0 + 1, axis(1))).cluster];
  e.apply(at(T0 + 2, axis(0)));
  e.apply(at(T0 + 3, axis(1)));
  const singles: number[] = [];
  for (let i = 2; i < 11; i++) singles.push(e.apply(at(T0 + i * MIN, axis(i))).cluster);
  // 11 clusters > 10: back to 9 (90% of the cap) by removing the two quietest singles
  assert.deepEqual(evicted, [2]);
  assert.equal(e.clusterCount, 9);
  assert.equal(e.rebuilds, 0);
  assert.equal(e.outliersRemoved, 2);
  assert.deepEqual(
    ids(e),
    [...story, ...singles.slice(2)].sort((a, b) => a - b),
  );
  // only stories left beyond the cap: a rebuild must merge
  const f = new ClusterEngine({
    dim: DIM,
    threshold: 0.5,
    branchingFactor: 4,
    minSimilarity: 0.5,
    minClusterSize: 2,
    maxClusters: 4,
  });
  for (let i = 0; i < 5; i++) {
    const v = axis(i);
    f.apply(at(T0 + i, v));
    f.apply(at(T0 + i, v));
  }
  assert.equal(f.outliersRemoved, 0);
  assert.equal(f.rebuilds, 1);
  assert.ok(f.clusterCount <= 4, `${f.clusterCount} clusters`);
});
