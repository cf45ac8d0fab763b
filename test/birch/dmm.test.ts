/**
 * The Dirichlet-multinomial absorb test (src/birch/dmm.ts) against its formula computed the
 * slow way, over every cluster: choose() picks the best score above a new cluster's 0 (ties to
 * the older id), bestPartner() the best block probability; state round trips; merges and
 * removals keep the counts and the inverted index in step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DmmModel, type DmmOptions } from '../../src/birch/dmm.js';
import { Rng } from '../helpers/rng.js';

const OPTS: DmmOptions = { alpha: 0.1, beta: 0.01, halfLife: 50, outlierSize: 3 };

/** A slow model of the same state: every cluster's docs' terms, weights replayed from the log. */
interface Slow {
  id: number;
  /** clock of each document counted in */
  times: number[];
  terms: Map<number, number>;
  words: number;
  last: number;
}

function doc(rng: Rng, vocab: number): { terms: number[]; counts: number[] } {
  const n = 1 + rng.int(6);
  const m = new Map<number, number>();
  // a few "topics": terms near a topic's base, so that clusters share terms
  const base = rng.int(5) * 7;
  for (let i = 0; i < n; i++) {
    const t = (base + rng.int(12)) % vocab;
    m.set(t, (m.get(t) ?? 0) + 1);
  }
  return { terms: [...m.keys()], counts: [...m.values()] };
}

function lnRising(x: number, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) s += Math.log(x + i);
  return s;
}

function slowScore(
  c: Slow,
  d: { terms: number[]; counts: number[] },
  o: DmmOptions,
  now: number,
  vocab: number,
  total: number,
): number {
  const words = d.counts.reduce((a, b) => a + b, 0);
  const vb = vocab * o.beta;
  let w = 0;
  for (const t of c.times) w += 2 ** ((t - now) / o.halfLife);
  let s = Math.log(w) - Math.log(o.alpha * (total + 1));
  d.terms.forEach((t, i) => {
    s += lnRising((c.terms.get(t) ?? 0) + o.beta, d.counts[i]) - lnRising(o.beta, d.counts[i]);
  });
  return s - lnRising(c.words + vb, words) + lnRising(vb, words);
}

function sharesTerm(c: Slow, d: { terms: number[] }): boolean {
  return d.terms.some((t) => c.terms.has(t));
}

test('choose() picks the best formula score over the clusters sharing a term, or -1 when none beats a new cluster', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const model = new DmmModel(OPTS);
    const slow = new Map<number, Slow>();
    let nextId = 1;
    let total = 0;
    for (let now = 1; now <= 400; now++) {
      const d = doc(rng, 40);
      const vocab = new Set<number>();
      for (const c of slow.values()) for (const t of c.terms.keys()) vocab.add(t);
      for (const t of d.terms) vocab.add(t);
      let best = -1;
      let bestScore = 0;
      for (const c of slow.values()) {
        if (!sharesTerm(c, d)) continue;
        const s = slowScore(c, d, OPTS, now, vocab.size, total);
        if (s > bestScore + 1e-9 || (Math.abs(s - bestScore) <= 1e-9 && best !== -1 && c.id < best)) {
          bestScore = s;
          best = c.id;
        }
      }
      const got = model.choose(d.terms, d.counts, d.terms.length, now);
      assert.equal(got, best, `seed ${seed}, doc ${now}`);
      const id = got === -1 ? nextId++ : got;
      model.add(id, d.terms, d.counts, d.terms.length, now);
      let c = slow.get(id);
      if (c === undefined) {
        c = { id, times: [], terms: new Map(), words: 0, last: now };
        slow.set(id, c);
      }
      c.times.push(now);
      c.last = now;
      d.terms.forEach((t, i) => {
        c.terms.set(t, (c.terms.get(t) ?? 0) + d.counts[i]);
        c.words += d.counts[i];
      });
      total = total * 2 ** (-1 / OPTS.halfLife) + 1;
    }
    assert.equal(model.size, slow.size);
    assert.ok(model.size > 5 && model.size < 200, `${model.size} clusters`);
  }
});

test('a document sharing no term with any cluster starts a new one; an empty model answers -1', () => {
  const model = new DmmModel(OPTS);
  assert.equal(model.choose([1, 2], [1, 1], 2, 1), -1);
  model.add(7, [1, 2], [1, 1], 2, 1);
  assert.equal(model.choose([3, 4], [1, 1], 2, 2), -1);
  // the same words again join it
  assert.equal(model.choose([1, 2], [1, 1], 2, 2), 7);
  assert.equal(model.vocabulary, 2);
});

test('a story that went quiet loses its pull: the same document starts a new cluster after many half-lives', () => {
  const model = new DmmModel({ ...OPTS, halfLife: 10 });
  for (let now = 1; now <= 20; now++) model.add(1, [1, 2, 3], [1, 1, 1], 3, now);
  assert.equal(model.choose([1, 2], [1, 1], 2, 21), 1);
  // 10,000 documents later the story weighs 2^-1000 of what it did
  for (let now = 21; now <= 10_000; now++) model.add(2 + (now % 50), [100 + now], [1], 1, now);
  assert.equal(model.choose([1, 2], [1, 1], 2, 10_001), -1);
});

test('ties go to the older cluster', () => {
  const model = new DmmModel(OPTS);
  model.add(5, [1], [1], 1, 1);
  model.add(3, [1], [1], 1, 1);
  assert.equal(model.choose([1], [1], 1, 1), 3);
});

test('merge adds the counts and moves the postings; remove forgets a cluster', () => {
  const rng = new Rng(9);
  const a = new DmmModel(OPTS);
  const docsOf = new Map<number, { terms: number[]; counts: number[] }[]>();
  for (let now = 1; now <= 60; now++) {
    const d = doc(rng, 30);
    const id = 1 + (now % 4);
    a.add(id, d.terms, d.counts, d.terms.length, now);
    docsOf.set(id, [...(docsOf.get(id) ?? []), d]);
  }
  a.merge(2, 1, 60);
  a.remove(3, 60);
  const st = a.exportState();
  assert.equal(st.clusters.length / 7, 2);
  // in the order the clusters were made (2, 3, 4, 1), less the two gone
  const ids = [st.clusters[0], st.clusters[7]];
  assert.deepEqual(ids, [4, 1]);
  // cluster 1 holds the term counts of the documents of 1 and 2
  const want = new Map<number, number>();
  for (const d of [...(docsOf.get(1) ?? []), ...(docsOf.get(2) ?? [])])
    d.terms.forEach((t, i) => {
      want.set(t, (want.get(t) ?? 0) + d.counts[i]);
    });
  const from = st.clusters[6];
  const got = new Map<number, number>();
  for (let k = from; k < st.terms.length; k++) got.set(st.terms[k], st.counts[k]);
  assert.deepEqual(
    [...got].sort((x, y) => x[0] - y[0]),
    [...want].sort((x, y) => x[0] - y[0]),
  );
  assert.equal(st.clusters[7 + 3], (docsOf.get(1)?.length ?? 0) + (docsOf.get(2)?.length ?? 0));
  // the vocabulary is that of the live clusters
  const live = new Set<number>();
  for (const id of [1, 2, 4]) for (const d of docsOf.get(id) ?? []) for (const t of d.terms) live.add(t);
  assert.equal(a.vocabulary, live.size);
});

test('bestPartner: the formula over clusters at least as large that share a term; staleOutliers: small and two half-lives old', () => {
  const model = new DmmModel({ ...OPTS, halfLife: 10 });
  // a big story on terms 1..5, a smaller one on 6..9, an outlier with terms of the first
  for (let now = 1; now <= 30; now++) model.add(1, [1 + (now % 5), 2], [1, 1], 2, now);
  for (let now = 31; now <= 40; now++) model.add(2, [6 + (now % 4), 9], [1, 1], 2, now);
  model.add(3, [1, 2, 6, 42], [1, 1, 1, 1], 4, 41);
  model.add(4, [77], [1], 1, 41);
  assert.deepEqual(model.staleOutliers(50), []);
  assert.deepEqual(model.staleOutliers(61), [3, 4]);
  assert.equal(model.bestPartner(3), 1);
  // by the formula: the block's words in each urn, by that cluster's size (cluster 4 is smaller)
  const two = new DmmModel({ ...OPTS, halfLife: 10 });
  two.add(1, [1, 2], [3, 3], 2, 1);
  two.add(2, [6, 9], [2, 2], 2, 2);
  two.add(3, [1, 6], [1, 1], 2, 3);
  const vb = 4 * OPTS.beta;
  const score = (docs: number, words: number, n1: number, n6: number) =>
    Math.log(docs) +
    Math.log(n1 + OPTS.beta) +
    Math.log(n6 + OPTS.beta) -
    Math.log(words + vb) -
    Math.log(words + vb + 1);
  assert.equal(two.bestPartner(3), score(1, 6, 3, 0) > score(1, 4, 0, 2) ? 1 : 2);
  // nothing shares term 77
  assert.equal(model.bestPartner(4), -1);
  assert.equal(new DmmModel({ ...OPTS, outlierSize: 1 }).staleOutliers(1e9).length, 0);
});

test('exportState / fromState: the same bytes again, and the same choices afterwards', () => {
  const rng = new Rng(4);
  const a = new DmmModel(OPTS);
  let next = 1;
  const step = (m: DmmModel, d: { terms: number[]; counts: number[] }, now: number, id?: number) => {
    const got = m.choose(d.terms, d.counts, d.terms.length, now);
    const c = id ?? (got === -1 ? next++ : got);
    m.add(c, d.terms, d.counts, d.terms.length, now);
    return got;
  };
  for (let now = 1; now <= 300; now++) step(a, doc(rng, 50), now);
  a.merge(2, 1, 300);
  const st = a.exportState();
  const b = DmmModel.fromState(st);
  assert.deepEqual(b.exportState(), st);
  for (let now = 301; now <= 500; now++) {
    const d = doc(rng, 50);
    const ga = a.choose(d.terms, d.counts, d.terms.length, now);
    const gb = b.choose(d.terms, d.counts, d.terms.length, now);
    assert.equal(ga, gb, `doc ${now}`);
    const id = ga === -1 ? next++ : ga;
    step(a, d, now, id);
    step(b, d, now, id);
  }
  assert.deepEqual(b.exportState(), a.exportState());
});

test('fromState refuses parts that do not fit together; options are validated', () => {
  const a = new DmmModel(OPTS);
  a.add(1, [1, 2], [1, 1], 2, 1);
  const st = a.exportState();
  assert.throws(() => DmmModel.fromState({ ...st, counts: st.counts.slice(1) }), /terms and counts/);
  assert.throws(
    () => DmmModel.fromState({ ...st, terms: st.terms.slice(1), counts: st.counts.slice(1) }),
    /overrun/,
  );
  assert.throws(() => DmmModel.fromState({ ...st, clusters: st.clusters.slice(1) }), /cluster columns/);
  assert.throws(() => new DmmModel({ ...OPTS, alpha: 0 }), RangeError);
  assert.throws(() => new DmmModel({ ...OPTS, beta: -1 }), RangeError);
  assert.throws(() => new DmmModel({ ...OPTS, halfLife: 0 }), RangeError);
  assert.throws(() => new DmmModel({ ...OPTS, outlierSize: 1.5 }), RangeError);
});
