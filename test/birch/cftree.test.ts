/**
 * Invariants of the CF-tree under random sequences of inserts, insertCF and removes (fast-check,
 * fixed seed, each property time-boxed), plus the API contracts: ids, remove, insertCF,
 * lastCreated / lastSimilarity, constructor validation, the threshold setter.
 *
 * The invariants (sklearn's test_birch.py, river's checks): samples are conserved, no node holds
 * more than B entries, every leaf entry's radius is within the threshold, one batch equals one by
 * one, queries agree with brute force, ids are stable and never reused. The generated worlds mix
 * dimension (1..40), branching factor (2..12), threshold, data kind (uniform, clustered, unit
 * vectors, exact duplicates = retweets) and scale (1e-100 .. 1e100, the threshold scaled along).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CFTree, type LeafEntry } from '../../src/birch/cftree.js';
import { Rng } from '../helpers/rng.js';

const SEED = 0x5eed_b1d;
const EPS = Number.EPSILON;

/** Runs a property with the fixed seed, at most `numRuns` runs and `ms` milliseconds. */
function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 700): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

// ---------------------------------------------------------------- generated worlds

const KINDS = ['uniform', 'clustered', 'unit', 'unitClustered', 'sparse', 'duplicates'] as const;
type Kind = (typeof KINDS)[number];

interface WorldParams {
  dim: number;
  B: number;
  kind: Kind;
  scale: number;
  /** Position of the threshold in its kind's range, 0..1 (log scale). */
  t: number;
  seed: number;
}

interface World extends WorldParams {
  threshold: number;
  rng: Rng;
  /** The next data point (a fresh array). */
  point(): Float64Array;
}

const worldArb = (
  kinds: readonly Kind[] = KINDS,
  scales: readonly number[] = [1, 1, 1, 1e-100, 1e-8, 1e8, 1e100],
) =>
  fc.record({
    dim: fc.integer({ min: 1, max: 40 }),
    B: fc.integer({ min: 2, max: 12 }),
    kind: fc.constantFrom(...kinds),
    scale: fc.constantFrom(...scales),
    t: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
  });

/**
 * Builds the point source and the threshold of a world. Thresholds span "everything merges" to
 * "nothing merges" for each kind; duplicates get thresholds down to 1e-13 of the data, where
 * copies of one point may fail to merge through rounding (sklearn's retweet case: a whole node of
 * identical entries, split around a farthest pair at distance 0).
 */
function makeWorld(p: WorldParams): World {
  const rng = new Rng(p.seed);
  const { dim, scale, kind } = p;
  let lo: number;
  let hi: number;
  let base: () => Float64Array;
  switch (kind) {
    case 'uniform':
      [lo, hi] = [-3, 0.3];
      base = () => Float64Array.from({ length: dim }, () => rng.uniform(-1, 1));
      break;
    case 'clustered': {
      [lo, hi] = [-3, 0.3];
      const centers = Array.from({ length: 1 + rng.int(8) }, () =>
        Float64Array.from({ length: dim }, () => rng.uniform(-10, 10)),
      );
      base = () => {
        const c = rng.pick(centers);
        return c.map((v) => v + 0.3 * rng.normal());
      };
      break;
    }
    case 'unit':
      [lo, hi] = [-2, 0.2];
      base = () => rng.unitVector(dim);
      break;
    case 'unitClustered': {
      [lo, hi] = [-2, 0.2];
      const centers = Array.from({ length: 1 + rng.int(6) }, () => rng.unitVector(dim));
      base = () => {
        const v = rng.pick(centers).map((x) => x + 0.15 * rng.normal());
        const n = Math.hypot(...v);
        return n > 0 ? v.map((x) => x / n) : rng.unitVector(dim);
      };
      break;
    }
    case 'sparse': {
      // hashed TF-IDF tweets: a few positive weights on a topic's coordinates, unit length; at
      // most d/4 non-zeros, which sends the descent down its sparse dot products
      [lo, hi] = [-2, 0.2];
      const nz = Math.max(1, dim >> 2);
      const topics = Array.from({ length: 1 + rng.int(5) }, () =>
        Array.from({ length: nz }, () => rng.int(dim)),
      );
      base = () => {
        const v = new Float64Array(dim);
        const topic = rng.pick(topics);
        const k = 1 + rng.int(nz);
        for (let j = 0; j < k; j++) v[rng.pick(topic)] += rng.uniform(0.5, 2);
        const n = Math.hypot(...v);
        for (let i = 0; i < dim; i++) v[i] /= n;
        return v;
      };
      break;
    }
    case 'duplicates': {
      [lo, hi] = [-13, 0];
      const pool = Array.from({ length: 1 + rng.int(4) }, () =>
        rng.next() < 0.5 ? rng.unitVector(dim) : Float64Array.from({ length: dim }, () => rng.uniform(-1, 1)),
      );
      base = () => rng.pick(pool).slice();
      break;
    }
  }
  const spread = kind === 'uniform' || kind === 'clustered' ? Math.sqrt(dim) : 1;
  const threshold = scale * spread * 10 ** (lo + (hi - lo) * p.t);
  const point = () => {
    const x = base();
    if (scale !== 1) for (let i = 0; i < dim; i++) x[i] *= scale;
    return x;
  };
  return { ...p, threshold, rng, point };
}

function newTree(w: World): CFTree {
  return new CFTree({ dim: w.dim, threshold: w.threshold, branchingFactor: w.B });
}

interface CF {
  n: number;
  ls: Float64Array;
  ss: number;
}

/** The radius^2 of a CF as the tree computes it: SS / n - |c|^2 with c = (1/n) LS. */
function radiusSq(n: number, ls: ArrayLike<number>, ss: number): number {
  const inv = 1 / n;
  let sq = 0;
  for (let i = 0; i < ls.length; i++) {
    const c = inv * ls[i];
    sq += c * c;
  }
  return ss / n - sq;
}

/**
 * A CF of a few points scattered within T/2 of a data point, so its radius is within T (a leaf
 * entry of a tree with the same threshold, as a rebuild would insert). Falls back to a single
 * point when rounding puts the computed radius over T (duplicates with a threshold near eps).
 */
function makeCF(w: World): CF {
  const center = w.point();
  const n = 1 + w.rng.int(5);
  const ls = new Float64Array(w.dim);
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const off = w.rng.unitVector(w.dim);
    const r = (w.rng.next() * w.threshold) / 2;
    for (let i = 0; i < w.dim; i++) {
      const v = center[i] + (k === 0 ? 0 : r * off[i]);
      ls[i] += v;
      ss += v * v;
    }
  }
  if (n > 1 && radiusSq(n, ls, ss) <= w.threshold * w.threshold) return { n, ls, ss };
  let ss1 = 0;
  for (let i = 0; i < w.dim; i++) ss1 += center[i] * center[i];
  return { n: 1, ls: center, ss: ss1 };
}

// ---------------------------------------------------------------- the model and the checks

/** What the tree should hold, tracked outside it from the ids its calls return. */
class Model {
  /** live id -> number of points */
  live = new Map<number, number>();
  removed = new Set<number>();
  maxSeen = 0;
  points = 0;
  inserts = 0;
  removedPoints = 0;

  add(id: number, n: number, created: boolean): void {
    if (created) {
      assert.ok(!this.live.has(id), `created id ${id} was already live`);
      assert.ok(!this.removed.has(id), `created id ${id} was removed before: ids are never reused`);
    } else {
      assert.ok(this.live.has(id), `merged into id ${id}, which is not live`);
    }
    this.live.set(id, (this.live.get(id) ?? 0) + n);
    this.maxSeen = Math.max(this.maxSeen, id);
    this.points += n;
    this.inserts += n;
  }

  remove(id: number): number {
    const n = this.live.get(id)!;
    this.live.delete(id);
    this.removed.add(id);
    this.points -= n;
    this.removedPoints += n;
    return n;
  }
}

function entriesOf(tree: CFTree): LeafEntry[] {
  return [...tree.entries()];
}

/** Leaf radius within T, computed from the copied-out entry: sqrt(ss/n - |c|^2) <= T. */
function assertRadii(tree: CFTree, entries: LeafEntry[]): void {
  const T = tree.threshold;
  for (const e of entries) {
    if (e.n === 1) continue;
    let cc = 0;
    for (let i = 0; i < e.centroid.length; i++) cc += e.centroid[i] * e.centroid[i];
    const r2 = e.ss / e.n - cc;
    // the cancellation in ss/n - |c|^2 is a few ulps of ss/n; the merge test saw the same numbers
    const slack = 1e-12 * T * T + 8 * EPS * (e.ss / e.n);
    if (r2 > T * T + slack) {
      assert.fail(`entry ${e.id} (n ${e.n}) radius ${Math.sqrt(r2)} > threshold ${T}`);
    }
  }
}

/** Everything the tree and the model must agree on; the tree's own audit first. */
function checkTree(tree: CFTree, model: Model): void {
  assert.deepEqual(tree.audit(), []);
  const B = tree.branchingFactor;
  const shape = tree.shape();
  const entries = entriesOf(tree);

  // samples conserved
  assert.equal(tree.points, model.inserts - model.removedPoints);
  assert.equal(tree.points, model.points);
  assert.equal(shape.points, model.points);
  assert.equal(tree.size, model.live.size);
  assert.equal(shape.entries, entries.length);
  assert.equal(shape.entries, tree.size);

  // ids: unique, exactly the live ones, each with the points the model gave it
  const ids = entries.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  assert.deepEqual(
    [...ids].sort((a, b) => a - b),
    [...model.live.keys()].sort((a, b) => a - b),
  );
  let sumCounts = 0;
  let sumN = 0;
  for (const e of entries) {
    assert.ok(Number.isInteger(e.id) && e.id > 0, `id ${e.id} is a positive integer`);
    assert.equal(e.n, model.live.get(e.id), `points of id ${e.id}`);
    assert.ok(tree.has(e.id));
    sumCounts += tree.count(e.id);
    sumN += e.n;
  }
  assert.equal(sumCounts, tree.points);
  assert.equal(sumN, tree.points);
  for (const id of model.removed) {
    if (model.live.has(id)) continue;
    assert.equal(tree.has(id), false, `removed id ${id} is gone`);
    assert.equal(tree.count(id), 0);
  }

  // shape: no node over B, height consistent with the node counts
  assert.equal(shape.height, tree.height);
  assert.ok(shape.height >= 1);
  const leaves = tree.leaves();
  for (const leaf of leaves) assert.ok(leaf.length <= B, `a leaf holds ${leaf.length} > B = ${B} entries`);
  assert.equal(leaves.flat().length, entries.length);
  if (tree.size > 0) assert.equal(leaves.length, shape.leaves);
  else assert.deepEqual(shape, { height: 1, nodes: 1, leaves: 1, entries: 0, points: 0 });
  assert.ok(shape.leaves <= B ** (shape.height - 1), 'at most B^(h-1) leaves');
  assert.ok(shape.entries <= B ** shape.height, 'at most B^h entries');
  assert.ok(shape.nodes >= shape.leaves + (shape.height > 1 ? 1 : 0));
  assert.equal(shape.height === 1, shape.nodes === 1, 'height 1 iff a single node');

  assertRadii(tree, entries);
}

// ---------------------------------------------------------------- random operation sequences

/** 0..5 insert a point, 6..7 insert a CF, 8 remove a live id, 9 remove an unknown or dead id. */
const opsArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 220, size: 'large' });

test('random inserts, insertCFs and removes conserve samples and keep audit() clean', () => {
  check(
    fc.property(worldArb(), opsArb, (p, ops) => {
      const w = makeWorld(p);
      const tree = newTree(w);
      const model = new Model();
      let step = 0;
      for (const op of ops) {
        if (op <= 5) {
          const x = w.point();
          const before = tree.descend(x);
          const nextId = tree.nextId;
          const id = tree.insert(x);
          model.add(id, 1, tree.lastCreated);
          if (tree.lastCreated) {
            assert.equal(id, nextId, 'a new cluster gets nextId');
          } else {
            // the insert merged into the entry descend() pointed at
            assert.equal(id, before);
          }
        } else if (op <= 7) {
          const cf = makeCF(w);
          const keep = w.rng.next() < 0.5 ? tree.nextId + w.rng.int(3) : undefined;
          const id = tree.insertCF(cf.n, cf.ls, cf.ss, keep);
          model.add(id, cf.n, tree.lastCreated);
          if (tree.lastCreated && keep !== undefined) assert.equal(id, keep, 'insertCF keeps the given id');
        } else if (op === 8 && model.live.size > 0) {
          const live = [...model.live.keys()];
          const id = live[w.rng.int(live.length)];
          const pointsBefore = tree.points;
          assert.equal(tree.count(id), model.live.get(id));
          assert.equal(tree.remove(id), true);
          const n = model.remove(id);
          assert.equal(tree.points, pointsBefore - n);
          assert.equal(tree.has(id), false);
        } else {
          const dead = [...model.removed];
          const id = dead.length > 0 && w.rng.next() < 0.5 ? w.rng.pick(dead) : tree.nextId + w.rng.int(5);
          assert.equal(tree.remove(id), false);
        }
        assert.deepEqual(tree.audit(), [], `audit after op ${step} (${op})`);
        assert.equal(tree.points, model.points);
        if (++step % 16 === 0) checkTree(tree, model);
      }
      checkTree(tree, model);
    }),
    100,
    2000,
  );
});

test('ids are stable across splits and never reused after remove', () => {
  check(
    fc.property(
      worldArb(),
      fc.integer({ min: 1, max: 150 }),
      fc.integer({ min: 1, max: 150 }),
      (p, n1, n2) => {
        const w = makeWorld(p);
        const tree = newTree(w);
        const model = new Model();
        for (let i = 0; i < n1; i++) {
          const id = tree.insert(w.point());
          model.add(id, 1, tree.lastCreated);
        }
        // remove about half of the clusters, then insert more: new ids exceed every id ever seen
        for (const id of [...model.live.keys()]) {
          if (w.rng.next() < 0.5) {
            assert.equal(tree.remove(id), true);
            model.remove(id);
          }
        }
        const seen = model.maxSeen;
        for (let i = 0; i < n2; i++) {
          const id = tree.insert(w.point());
          if (tree.lastCreated) assert.ok(id > seen, `new id ${id} <= ${seen}, an id seen before`);
          model.add(id, 1, tree.lastCreated);
        }
        checkTree(tree, model);
      },
    ),
    150,
  );
});

test('insertBatch(rows, count) equals a loop of insert: same ids, identical entries()', () => {
  check(
    fc.property(worldArb(), fc.integer({ min: 0, max: 200 }), fc.boolean(), (p, count, withOut) => {
      const w = makeWorld(p);
      const rows = new Float64Array(count * w.dim);
      for (let r = 0; r < count; r++) rows.set(w.point(), r * w.dim);
      const batch = newTree(w);
      const out = withOut ? new Float64Array(count) : undefined;
      const ids = batch.insertBatch(rows, count, out);
      if (out) assert.equal(ids, out, 'fills the given array');
      const loop = newTree(w);
      const loopIds = Array.from({ length: count }, (_, r) => loop.insert(rows, r * w.dim));
      assert.deepEqual(Array.from(ids), loopIds);
      assert.deepEqual(entriesOf(batch), entriesOf(loop));
      assert.deepEqual(batch.shape(), loop.shape());
      assert.deepEqual(batch.audit(), []);
    }),
    100,
  );
});

// ---------------------------------------------------------------- queries

function sqDist(x: ArrayLike<number>, c: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += (x[i] - c[i]) ** 2;
  return s;
}

function sqNorm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

function cosine(x: ArrayLike<number>, c: ArrayLike<number>): number {
  let dp = 0;
  for (let i = 0; i < c.length; i++) dp += x[i] * c[i];
  return dp / Math.sqrt(sqNorm(x) * sqNorm(c));
}

/** A tree from `w` with some inserts, CFs and removes, and the query points to ask it. */
function buildForQueries(w: World, n: number): { tree: CFTree; queries: Float64Array[] } {
  const tree = newTree(w);
  const inserted: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    if (w.rng.next() < 0.15) {
      const cf = makeCF(w);
      tree.insertCF(cf.n, cf.ls, cf.ss);
    } else {
      const x = w.point();
      inserted.push(x);
      tree.insert(x);
    }
  }
  for (const e of entriesOf(tree)) if (w.rng.next() < 0.2) tree.remove(e.id);
  const queries: Float64Array[] = [];
  for (let q = 0; q < 12; q++) queries.push(w.point());
  for (let q = 0; q < 4 && inserted.length > 0; q++) queries.push(w.rng.pick(inserted));
  // a centroid itself, and a point far outside the data
  const es = entriesOf(tree);
  if (es.length > 0) queries.push(w.rng.pick(es).centroid);
  queries.push(Float64Array.from({ length: w.dim }, () => w.scale * 100 * w.rng.normal()));
  return { tree, queries };
}

/**
 * `id` is (one of) the entries of `among` whose centroid is nearest to x, ties allowed within
 * 1e-12 relative to the terms of |c|^2 - 2 c.x + |x|^2, the form the tree computes.
 */
function assertNearestAmong(x: Float64Array, id: number, among: LeafEntry[], what: string): void {
  const chosen = among.find((e) => e.id === id);
  if (!chosen) assert.fail(`${what} returned ${id}, not one of the ${among.length} candidates`);
  let best = among[0];
  for (const e of among) if (sqDist(x, e.centroid) < sqDist(x, best.centroid)) best = e;
  const dMin = sqDist(x, best.centroid);
  const dGot = sqDist(x, chosen.centroid);
  const slack = 1e-12 * (dMin + sqNorm(x) + sqNorm(best.centroid) + sqNorm(chosen.centroid));
  if (dGot > dMin + slack) assert.fail(`${what}: ${id} at ${dGot}, but ${best.id} at ${dMin}`);
}

test('nearest(x) agrees with brute force over entries()', () => {
  check(
    fc.property(worldArb(), fc.integer({ min: 0, max: 160 }), (p, n) => {
      const w = makeWorld(p);
      const { tree, queries } = buildForQueries(w, n);
      const entries = entriesOf(tree);
      for (const x of queries) {
        const id = tree.nearest(x);
        if (entries.length === 0) assert.equal(id, -1);
        else assertNearestAmong(x, id, entries, 'nearest');
      }
    }),
    150,
  );
});

test('descend(x) returns the nearest entry of the leaf it reaches, and does not change the tree', () => {
  check(
    fc.property(worldArb(), fc.integer({ min: 0, max: 160 }), (p, n) => {
      const w = makeWorld(p);
      const { tree, queries } = buildForQueries(w, n);
      const probe = w.point();
      tree.insert(probe);
      const last = { created: tree.lastCreated, sim: tree.lastSimilarity(probe) };
      const before = { entries: entriesOf(tree), shape: tree.shape(), nextId: tree.nextId };
      const leafOf = new Map<number, LeafEntry[]>();
      for (const leaf of tree.leaves()) for (const e of leaf) leafOf.set(e.id, leaf);
      for (const x of queries) {
        const d = tree.descend(x);
        assert.ok(tree.has(d), `descend returned ${d}, not a live id`);
        // the descent's last step is an exact argmin over one leaf (the sparse dot products too)
        assertNearestAmong(x, d, leafOf.get(d)!, 'descend, within its leaf');
        if (tree.height === 1) assertNearestAmong(x, d, before.entries, 'descend in a one-leaf tree');
        assert.ok(tree.has(tree.nearest(x)));
      }
      assert.deepEqual(entriesOf(tree), before.entries);
      assert.deepEqual(tree.shape(), before.shape);
      assert.equal(tree.nextId, before.nextId);
      assert.equal(tree.lastCreated, last.created);
      assert.equal(tree.lastSimilarity(probe), last.sim);
      assert.deepEqual(tree.audit(), []);
    }),
    150,
  );
});

test('empty tree: nearest and descend return -1', () => {
  const tree = new CFTree({ dim: 3, threshold: 0.5, branchingFactor: 4 });
  assert.equal(tree.nearest([1, 2, 3]), -1);
  assert.equal(tree.descend([1, 2, 3]), -1);
  assert.deepEqual(tree.shape(), { height: 1, nodes: 1, leaves: 1, entries: 0, points: 0 });
  assert.deepEqual(entriesOf(tree), []);
  assert.deepEqual(tree.leaves(), []);
  assert.deepEqual(tree.audit(), []);
});

// ---------------------------------------------------------------- duplicates (retweets)

test('retweets: copies that fail to merge fill whole nodes with identical entries; audit stays clean', () => {
  // With T = 1e-12 and |x| ~ 1 the radius of two copies, SS/n - |c|^2, rounds to a few ulps of
  // 1 (> T^2) or to <= 0, so some copies start entries of their own: leaves of identical
  // centroids, split around a farthest pair at distance 0.
  const rng = new Rng(7);
  const dim = 8;
  const x = rng.unitVector(dim);
  const tree = new CFTree({ dim, threshold: 1e-12, branchingFactor: 3 });
  const model = new Model();
  for (let i = 0; i < 200; i++) {
    const id = tree.insert(x);
    model.add(id, 1, tree.lastCreated);
    assert.deepEqual(tree.audit(), []);
  }
  checkTree(tree, model);
  assert.ok(tree.height >= 3, `height ${tree.height}: the copies should have split nodes`);
  const fullIdentical = tree
    .leaves()
    .filter(
      (leaf) => leaf.length === 3 && leaf.every((e) => e.n === 1 && e.centroid.every((v, i) => v === x[i])),
    );
  assert.ok(fullIdentical.length > 0, 'some leaf is a whole node of identical points');
  const nn = tree.nearest(x);
  const c = new Float64Array(dim);
  assert.ok(tree.centroidInto(nn, c));
  assert.ok(sqDist(x, c) <= 1e-24);

  // remove every copy in a random order
  const ids = [...model.live.keys()];
  for (let i = ids.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  for (const id of ids) {
    assert.equal(tree.remove(id), true);
    model.remove(id);
    assert.deepEqual(tree.audit(), []);
  }
  checkTree(tree, model);
  assert.equal(tree.size, 0);
});

// ---------------------------------------------------------------- remove

test('remove: false for unknown ids, and the tree is unchanged', () => {
  const tree = new CFTree({ dim: 2, threshold: 0.5, branchingFactor: 3 });
  assert.equal(tree.remove(1), false);
  const rng = new Rng(3);
  for (let i = 0; i < 40; i++) tree.insert([rng.uniform(-5, 5), rng.uniform(-5, 5)]);
  const before = entriesOf(tree);
  const shape = tree.shape();
  for (const id of [0, -1, tree.nextId, tree.nextId + 100, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(tree.remove(id), false, `remove(${id})`);
  }
  assert.deepEqual(entriesOf(tree), before);
  assert.deepEqual(tree.shape(), shape);
  const id = before[0].id;
  assert.equal(tree.remove(id), true);
  assert.equal(tree.remove(id), false, 'a second remove of the same id');
  assert.deepEqual(tree.audit(), []);
});

test('removing every entry in random order leaves an empty tree that accepts new inserts', () => {
  check(
    fc.property(worldArb(), fc.integer({ min: 1, max: 150 }), (p, n) => {
      const w = makeWorld(p);
      const tree = newTree(w);
      const model = new Model();
      for (let i = 0; i < n; i++) {
        if (w.rng.next() < 0.2) {
          const cf = makeCF(w);
          model.add(tree.insertCF(cf.n, cf.ls, cf.ss), cf.n, tree.lastCreated);
        } else {
          model.add(tree.insert(w.point()), 1, tree.lastCreated);
        }
      }
      const ids = [...model.live.keys()];
      for (let i = ids.length - 1; i > 0; i--) {
        const j = w.rng.int(i + 1);
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
      for (const id of ids) {
        const n0 = tree.count(id);
        const points = tree.points;
        assert.equal(tree.remove(id), true);
        assert.equal(model.remove(id), n0);
        assert.equal(tree.points, points - n0);
        assert.equal(tree.has(id), false);
        assert.deepEqual(tree.audit(), [], `audit after removing ${id}`);
      }
      assert.equal(tree.size, 0);
      assert.equal(tree.points, 0);
      assert.equal(tree.height, 1);
      assert.deepEqual(tree.shape(), { height: 1, nodes: 1, leaves: 1, entries: 0, points: 0 });
      assert.deepEqual(entriesOf(tree), []);
      assert.equal(tree.nearest(w.point()), -1);
      assert.equal(tree.descend(w.point()), -1);
      // and it grows again, with fresh ids
      const seen = model.maxSeen;
      for (let i = 0; i < n; i++) {
        const id = tree.insert(w.point());
        if (tree.lastCreated) assert.ok(id > seen);
        model.add(id, 1, tree.lastCreated);
      }
      checkTree(tree, model);
    }),
    80,
    1000,
  );
});

test('remove keeps the ancestors equal to the sum of their children with mixed magnitudes', () => {
  // Removal subtracts the entry's CF from every ancestor entry. When the removed entry dominates
  // its ancestor, the difference keeps few of the small points' digits: with 1e5 next to 0.1 and
  // 3.3 the ancestor's SS is off by 4e-7 (audit's tolerance is 1e-9 relative); with 1e10 it ends
  // with ss = 0 and ls = 0 for two points that sum to ss 10.9 and ls 3.4, and descents then route
  // by that wrong centroid.
  for (const big of [1e5, 1e10]) {
    const tree = new CFTree({ dim: 1, threshold: 0.01, branchingFactor: 2 });
    for (const v of [big, 0.1, 2 * big, 3.3]) tree.insert([v]);
    assert.deepEqual(tree.audit(), []);
    assert.equal(tree.remove(1), true);
    assert.deepEqual(tree.audit(), [], `after removing the point ${big}`);
  }
});

// ---------------------------------------------------------------- insertCF

test('insertCF keeps the given id when it creates an entry, and the next ids follow it', () => {
  const tree = new CFTree({ dim: 2, threshold: 0.5, branchingFactor: 4 });
  // three points (1,1), (1.2,1), (1,1.2): n 3, LS (3.2, 3.2), SS 2 + 2.44 + 2.44
  const id = tree.insertCF(3, [3.2, 3.2], 6.88, 42);
  assert.equal(id, 42);
  assert.equal(tree.lastCreated, true);
  assert.equal(tree.count(42), 3);
  assert.equal(tree.points, 3);
  assert.equal(tree.nextId, 43);
  const c = new Float64Array(2);
  assert.ok(tree.centroidInto(42, c));
  assert.ok(Math.abs(c[0] - 3.2 / 3) < 1e-15 && Math.abs(c[1] - 3.2 / 3) < 1e-15);
  // a CF that merges returns the entry it merged into; the given id is then not used
  assert.equal(tree.insertCF(1, [1.1, 1.1], 2.42, 7), 42);
  assert.equal(tree.lastCreated, false);
  assert.equal(tree.count(42), 4);
  assert.equal(tree.has(7), false);
  // without an id: the next fresh one
  assert.equal(tree.insert([-5, -5]), 43);
  assert.deepEqual(tree.audit(), []);
});

test('insertCF rejects an id that is already live, and leaves the tree unchanged', () => {
  const tree = new CFTree({ dim: 2, threshold: 0.1, branchingFactor: 4 });
  tree.insertCF(1, [0, 0], 0, 7);
  tree.insert([3, 3]);
  const before = entriesOf(tree);
  const shape = tree.shape();
  // far from both entries: this CF would start a new entry, with an id that is taken
  assert.throws(() => tree.insertCF(1, [5, 5], 50, 7), /already in the tree/);
  assert.deepEqual(tree.audit(), []);
  assert.deepEqual(tree.shape(), shape);
  assert.deepEqual(entriesOf(tree), before);
  assert.equal(tree.points, 2);
});

// ---------------------------------------------------------------- lastCreated, lastSimilarity

test('lastCreated and lastSimilarity follow each insert of a unit vector', () => {
  check(
    fc.property(
      worldArb(['unit', 'unitClustered', 'sparse', 'duplicates'], [1]),
      fc.integer({ min: 1, max: 150 }),
      (p, n) => {
        const w = makeWorld(p);
        const tree = newTree(w);
        const c = new Float64Array(w.dim);
        for (let i = 0; i < n; i++) {
          const x = w.rng.next() < 0.3 || p.kind === 'duplicates' ? w.point() : w.rng.unitVector(w.dim);
          const wasLive = new Set(entriesOf(tree).map((e) => e.id));
          const id = tree.insert(x);
          assert.equal(tree.lastCreated, !wasLive.has(id));
          const s = tree.lastSimilarity(x);
          if (tree.lastCreated) assert.ok(Math.abs(s - 1) <= 1e-12, `first point of a cluster: ${s}`);
          // the cosine with the centroid of the cluster it went to
          assert.ok(tree.centroidInto(id, c));
          const cos = cosine(x, c);
          assert.ok(Math.abs(s - cos) <= 1e-12, `lastSimilarity ${s}, cosine with the centroid ${cos}`);
          assert.ok(s >= -1 - 1e-12 && s <= 1 + 1e-12);
        }
      },
    ),
    150,
  );
});

test('lastSimilarity is a cosine: never outside [-1, 1]', () => {
  // For the first point of a cluster the centroid is x, and |x|^2 is summed two ways (the loop in
  // lastSimilarity and the fma dot of insert), so x.c / sqrt(|x|^2 |c|^2) can round to 1 + 2 ulps;
  // Math.acos of it is NaN. The smallest case: (1/3, 2/3, 2/3) gives 1.0000000000000002.
  const tiny = new CFTree({ dim: 3, threshold: 0.1, branchingFactor: 4 });
  const x3 = [1 / 3, 2 / 3, 2 / 3];
  tiny.insert(x3);
  assert.ok(tiny.lastSimilarity(x3) <= 1, `lastSimilarity ${tiny.lastSimilarity(x3)} > 1`);
  const rng = new Rng(11);
  for (let dim = 1; dim <= 40; dim++) {
    const tree = new CFTree({ dim, threshold: 0.3, branchingFactor: 5 });
    for (let i = 0; i < 20; i++) {
      const x = rng.unitVector(dim);
      tree.insert(x);
      const s = tree.lastSimilarity(x);
      if (!(s >= -1 && s <= 1)) assert.fail(`dim ${dim}, insert ${i}: lastSimilarity ${s} outside [-1, 1]`);
      if (tree.lastCreated) assert.ok(Math.abs(s - 1) <= 4 * EPS);
    }
  }
});

test('lastSimilarity still refers to the last insert after other entries of its leaf are removed', () => {
  // three clusters in one leaf, the last insert in slot 2; removing slot 0 shifts it to slot 1
  const tree = new CFTree({ dim: 2, threshold: 0.1, branchingFactor: 10 });
  tree.insert([1, 0]);
  tree.insert([0, 1]);
  tree.insert([-1, 0]);
  assert.equal(tree.lastSimilarity([-1, 0]), 1);
  assert.equal(tree.remove(1), true);
  assert.equal(tree.lastSimilarity([-1, 0]), 1);
});

test('lastSimilarity tracks the last insert across random removes of other clusters', () => {
  check(
    fc.property(worldArb(['unit', 'unitClustered', 'sparse'], [1]), opsArb, (p, ops) => {
      const w = makeWorld(p);
      const tree = newTree(w);
      let last: { x: Float64Array; id: number } | null = null;
      const c = new Float64Array(w.dim);
      for (const op of ops) {
        if (op < 7 || tree.size === 0) {
          const x = w.point();
          last = { x, id: tree.insert(x) };
        } else {
          const ids = entriesOf(tree)
            .map((e) => e.id)
            .filter((id) => id !== last?.id);
          if (ids.length > 0) tree.remove(w.rng.pick(ids));
        }
        if (last === null) continue;
        assert.ok(tree.centroidInto(last.id, c));
        const cos = cosine(last.x, c);
        const s = tree.lastSimilarity(last.x);
        if (Math.abs(s - cos) > 1e-12)
          assert.fail(`lastSimilarity ${s}, cosine with cluster ${last.id} ${cos}`);
      }
    }),
    150,
  );
});

test('lastSimilarity is 0 before any insert and after the last cluster is removed', () => {
  const tree = new CFTree({ dim: 2, threshold: 0.5, branchingFactor: 3 });
  assert.equal(tree.lastSimilarity([1, 0]), 0);
  const id = tree.insert([1, 0]);
  assert.equal(tree.lastCreated, true);
  assert.equal(tree.lastSimilarity([1, 0]), 1);
  assert.equal(tree.insert([1, 0.1]), id);
  assert.equal(tree.lastCreated, false);
  tree.remove(id);
  assert.equal(tree.lastSimilarity([1, 0]), 0);
});

// ---------------------------------------------------------------- options

test('constructor rejects dim < 1, B < 2, non-integers and thresholds that are not positive and finite', () => {
  const ok = { dim: 3, threshold: 0.5, branchingFactor: 4 };
  for (const dim of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new CFTree({ ...ok, dim }), RangeError, `dim ${dim}`);
  }
  for (const branchingFactor of [1, 0, -3, 2.5, Number.NaN]) {
    assert.throws(() => new CFTree({ ...ok, branchingFactor }), RangeError, `B ${branchingFactor}`);
  }
  for (const threshold of [0, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new CFTree({ ...ok, threshold }), RangeError, `threshold ${threshold}`);
  }
  const smallest = new CFTree({ dim: 1, threshold: Number.MIN_VALUE, branchingFactor: 2 });
  assert.equal(smallest.dim, 1);
  assert.equal(smallest.branchingFactor, 2);
});

test('threshold setter validates and changes later inserts only', () => {
  const tree = new CFTree({ dim: 1, threshold: 1, branchingFactor: 4 });
  for (const t of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => {
      tree.threshold = t;
    }, RangeError);
  }
  assert.equal(tree.threshold, 1);
  const a = tree.insert([0]);
  assert.equal(tree.insert([1]), a, 'radius 0.5 <= 1: merged');
  const before = entriesOf(tree);
  tree.threshold = 0.1;
  assert.equal(tree.threshold, 0.1);
  assert.deepEqual(entriesOf(tree), before, 'existing entries are not re-checked');
  // {0, 1, 2} has radius sqrt(2/3) = 0.82: merged under T = 1, a new cluster under T = 0.1
  const b = tree.insert([2]);
  assert.notEqual(b, a);
  assert.equal(tree.lastCreated, true);
  assert.equal(tree.count(a), 2);
  tree.threshold = 2;
  assert.equal(tree.insert([3.5]), b, 'radius of {2, 3.5} is 0.75 <= 2: merged');
  assert.equal(tree.points, 4);
});

test('similarity(id, x) is the cosine with centroidInto(id); linearSums() matches entries()', () => {
  const rng = new Rng(31);
  const t = new CFTree({ dim: 5, threshold: 0.7, branchingFactor: 4 });
  for (let i = 0; i < 300; i++) t.insert(Array.from({ length: 5 }, () => rng.uniform(-1, 1)));
  const c = new Float64Array(5);
  for (const e of t.entries()) {
    const x = Array.from({ length: 5 }, () => rng.uniform(-1, 1));
    assert.ok(t.centroidInto(e.id, c));
    const dotXC = x.reduce((s, v, i) => s + v * c[i], 0);
    const cos = dotXC / Math.hypot(...x) / Math.hypot(...c);
    assert.ok(Math.abs(t.similarity(e.id, x) - cos) < 1e-12, `cluster ${e.id}`);
  }
  assert.equal(t.similarity(-5, [1, 0, 0, 0, 0]), 0, 'unknown id');
  const { ids, n, ls } = t.linearSums();
  const all = [...t.entries()];
  assert.deepEqual(
    Array.from(ids),
    all.map((e) => e.id),
  );
  assert.deepEqual(
    Array.from(n),
    all.map((e) => e.n),
  );
  for (const [r, e] of all.entries()) assert.deepEqual(ls.subarray(r * 5, (r + 1) * 5), e.ls);
});
