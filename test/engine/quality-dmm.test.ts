/**
 * The engine with the Dirichlet-multinomial absorb test (EngineOptions.dmm): deterministic, its
 * state round trips byte for byte at any point of the stream (the DMM's counts and weights
 * included), every tweet's cluster resolves to a live one after outliers are re-absorbed, and
 * expiry and rebuilds keep the DMM's clusters those of the tree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterEngine, type EngineOptions, type TweetInput } from '../../src/engine/engine.js';
import { TextPipeline } from '../../src/pipeline/text.js';
import { Rng } from '../helpers/rng.js';

const TOPICS = [
  'storm flood river rain warning evacuation bridge',
  'election vote governor debate ballot poll candidate',
  'match goal final striker league stadium coach',
  'phone launch battery camera screen chip release',
  'fire smoke wind acres crews containment ridge',
  'strike union workers transit wages talks bus',
];

/** Tweets of a few topics, each tweet 3 to 6 words of its topic and now and then a stray word. */
function stream(seed: number, n: number, dim = 256): { tweets: TweetInput[]; labels: number[] } {
  const rng = new Rng(seed);
  const text = new TextPipeline({ dim });
  const tweets: TweetInput[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    // topics come and go: the stream drifts through them
    const topic = (Math.floor(i / 150) + rng.int(2)) % TOPICS.length;
    const words = TOPICS[topic].split(' ');
    const k = 3 + rng.int(4);
    const parts: string[] = [];
    for (let j = 0; j < k; j++) parts.push(words[rng.int(words.length)]);
    if (rng.next() < 0.2) parts.push(`stray${rng.int(500)}`);
    const t = { id: String(i), text: parts.join(' '), time: 1_700_000_000_000 + i * 1000 };
    const { vector, terms } = text.embed({ ...t, vector: undefined });
    tweets.push({ ...t, vector: Float32Array.from(vector), terms });
    labels.push(topic);
  }
  return { tweets, labels };
}

const OPTS: EngineOptions = {
  dim: 256,
  threshold: 1,
  branchingFactor: 8,
  dmm: { alpha: 0.1, beta: 0.01, halfLife: 40, outlierSize: 3 },
};

test('DMM mode: the same stream gives the same state; a snapshot restored mid-stream goes on identically', () => {
  const { tweets } = stream(1, 900);
  const a = new ClusterEngine(OPTS);
  const outA = tweets.map((t) => a.apply(t));
  const b = new ClusterEngine(OPTS);
  assert.deepEqual(
    tweets.map((t) => b.apply(t)),
    outA,
  );
  assert.deepEqual(b.exportState(), a.exportState());

  // cut at several points, among them right before and after an outlier sweep (every 40 tweets)
  for (const cut of [1, 39, 40, 41, 333, 640]) {
    let c = new ClusterEngine(OPTS);
    const out = tweets.slice(0, cut).map((t) => c.apply(t));
    c = ClusterEngine.fromState(c.exportState());
    out.push(...tweets.slice(cut).map((t) => c.apply(t)));
    assert.deepEqual(out, outA, `cut at ${cut}`);
    assert.deepEqual(c.exportState(), a.exportState(), `cut at ${cut}`);
  }
  const st = a.exportState();
  assert.ok(st.arrays['dmm.clusters'] instanceof Float64Array);
  assert.equal((st.arrays['dmm.clusters'] as Float64Array).length / 7, a.clusterCount);
});

test('DMM mode: stale outliers are merged away, every id resolves to a live cluster, sizes add up', () => {
  const { tweets, labels } = stream(2, 1200);
  const e = new ClusterEngine(OPTS);
  const assigned = tweets.map((t) => e.apply(t).cluster);
  assert.ok(e.mergedClusters > 0, 'some outliers were re-absorbed');
  const sizes = new Map<number, number>();
  for (const c of assigned) {
    const to = e.resolve(c);
    assert.ok(to !== undefined && e.tree.has(to), `cluster ${c} resolves to a live one`);
    sizes.set(to, (sizes.get(to) ?? 0) + 1);
  }
  for (const [id, n] of e.tree.sizes()) assert.equal(sizes.get(id), n, `cluster ${id}`);
  // the planted topics come out nearly pure
  const byCluster = new Map<number, Map<number, number>>();
  assigned.forEach((c, i) => {
    const to = e.resolve(c) as number;
    const m = byCluster.get(to) ?? new Map<number, number>();
    m.set(labels[i], (m.get(labels[i]) ?? 0) + 1);
    byCluster.set(to, m);
  });
  let pure = 0;
  for (const m of byCluster.values()) pure += Math.max(...m.values());
  assert.ok(pure / tweets.length > 0.9, `purity ${pure / tweets.length}`);
  assert.ok(e.clusterCount < 100, `${e.clusterCount} clusters for ${TOPICS.length} topics`);
});

test('DMM mode: expiry and maxClusters rebuilds keep the DMM clusters those of the tree', () => {
  const { tweets } = stream(3, 900);
  const e = new ClusterEngine({ ...OPTS, expiryMs: 200_000, maxClusters: 12 });
  for (const t of tweets) e.apply(t);
  assert.ok(e.expired > 0, 'clusters expired');
  assert.ok(e.rebuilds > 0 || e.clusterCount <= 12);
  const st = e.exportState();
  const dmm = st.arrays['dmm.clusters'] as Float64Array;
  const ids = new Set<number>();
  for (let r = 0; r < dmm.length; r += 7) ids.add(dmm[r]);
  assert.deepEqual(
    [...ids].sort((x, y) => x - y),
    [...e.tree.sizes()].map(([id]) => id).sort((x, y) => x - y),
  );
  // and the restored engine carries on identically
  const f = ClusterEngine.fromState(st);
  const more = stream(4, 200).tweets.map((t, i) => ({ ...t, id: `m${i}`, time: t.time + 900_000 }));
  for (const t of more) assert.deepEqual(f.apply(t), e.apply(t));
  assert.deepEqual(f.exportState(), e.exportState());
});

test('DMM mode: a tweet without terms joins the other tweets without terms, not the largest cluster', () => {
  const { tweets } = stream(5, 300);
  const e = new ClusterEngine(OPTS);
  for (const t of tweets) e.apply(t);
  const empty = (i: number): TweetInput => {
    const v = new Float32Array(256);
    v[0] = 1;
    return { id: `e${i}`, time: tweets[tweets.length - 1].time + i, vector: v, terms: [] };
  };
  const first = e.apply(empty(1));
  assert.equal(first.created, true);
  assert.equal(e.apply(empty(2)).cluster, first.cluster);
});

test('DMM mode: dmmChoice answers what apply would do, and changes nothing', () => {
  const { tweets } = stream(6, 400);
  const e = new ClusterEngine(OPTS);
  for (const t of tweets.slice(0, 300)) e.apply(t);
  assert.equal(e.absorb, 'dmm');
  for (const t of tweets.slice(300)) {
    const before = e.exportState();
    const pick = e.dmmChoice(t.terms);
    assert.deepEqual(e.exportState(), before);
    const a = e.apply(t);
    if (pick === undefined) assert.equal(a.created, true);
    else if (!a.created) assert.equal(e.resolve(pick), a.cluster);
  }
  const cos = new ClusterEngine({ dim: 256, threshold: 1, branchingFactor: 8, minSimilarity: 0.25 });
  assert.equal(cos.absorb, 'cosine');
  assert.equal(cos.dmmChoice(['storm']), undefined);
});
