/**
 * CFTree.wouldAbsorb(id, x), the read-only preview behind predict's `would_join`, against what
 * an insert of that point into a one-entry tree actually does, in both absorb modes (cosine to
 * the centroid, sklearn's merged radius): a property over random unit vectors, dense and sparse,
 * with thresholds anywhere and right at the boundary (fast-check, fixed seed, time-boxed).
 * Plus the preview changing nothing, and the minSimilarity setter (cosine mode only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CFTree } from '../../src/birch/cftree.js';
import { cosine } from '../helpers/vectors.js';

const SEED = 0xab_50b;

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 700): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

function normalise(v: number[]): Float64Array {
  const len = Math.hypot(...v);
  return Float64Array.from(v, (x) => x / len);
}

/** A unit vector of `dim`, often with zeros (tweet vectors are sparse; the tree has a sparse path). */
const unitArb = (dim: number) =>
  fc
    .array(fc.oneof(fc.constant(0), fc.double({ min: -1, max: 1, noNaN: true })), {
      minLength: dim,
      maxLength: dim,
    })
    .filter((v) => Math.hypot(...v) > 1e-3)
    .map(normalise);

/** Cluster members (all absorbed into one entry), the point to test, and where its threshold sits. */
const caseArb = fc.integer({ min: 2, max: 24 }).chain((dim) =>
  fc.record({
    dim: fc.constant(dim),
    members: fc.array(unitArb(dim), { minLength: 1, maxLength: 5 }),
    x: unitArb(dim),
    /** x is a copy of the first member (a retweet) */
    copy: fc.boolean(),
    /** the threshold: anywhere in its range, or a hair either side of this x's own value */
    where: fc.oneof(
      fc.record({ kind: fc.constant('anywhere' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('boundary' as const), side: fc.constantFrom(-1, 1) }),
    ),
  }),
);

/** The merged entry's squared radius, SS/n - |LS/n|^2, for members + x. */
function mergedRadius2(members: readonly Float64Array[], x: Float64Array): number {
  const all = [...members, x];
  const n = all.length;
  const c = new Float64Array(x.length);
  let ss = 0;
  for (const p of all) {
    for (let i = 0; i < x.length; i++) {
      c[i] += p[i] / n;
      ss += p[i] * p[i];
    }
  }
  let cc = 0;
  for (const v of c) cc += v * v;
  return ss / n - cc;
}

/** One entry holding every member: built with a bound that absorbs anything, then tightened. */
function oneEntryTree(mode: 'cosine' | 'radius', dim: number, members: readonly Float64Array[]) {
  const tree =
    mode === 'cosine'
      ? new CFTree({ dim, threshold: 1, branchingFactor: 8, minSimilarity: -1 })
      : new CFTree({ dim, threshold: 100, branchingFactor: 8 });
  let id = -1;
  for (const m of members) id = tree.insert(m);
  // Members that cancel exactly (v and -v under a bound of -1) leave a zero centroid, which has
  // no direction: the next member starts its own entry. Unreachable from the service
  // (SIMILARITY_THRESHOLD >= 0); such cases are skipped.
  return tree.size === 1 ? { tree, id } : undefined;
}

for (const mode of ['cosine', 'radius'] as const) {
  test(`property (${mode} mode): wouldAbsorb says exactly what the insert then does`, () => {
    let absorbed = 0;
    let refused = 0;
    check(
      fc.property(caseArb, ({ dim, members, x: drawn, copy, where }) => {
        const x = copy ? members[0] : drawn;
        const one = oneEntryTree(mode, dim, members);
        if (one === undefined) return;
        const { tree, id } = one;
        if (mode === 'cosine') {
          const centroid = new Float64Array(dim);
          tree.centroidInto(id, centroid);
          // a zero centroid (see oneEntryTree): the insert refuses it (0/0), the preview
          // answers cos 0; skipped with it
          if (Math.hypot(...centroid) < 1e-9) return;
          const cos = cosine(x, centroid);
          // anywhere in [-1, 1], or 1e-9 either side of this point's cosine
          const s = where.kind === 'anywhere' ? 2 * where.at - 1 : cos + where.side * 1e-9;
          if (!(s >= -1 && s <= 1)) return; // the boundary of a copy (cos 1) + 1e-9 is out of range
          tree.minSimilarity = s;
        } else {
          const r2 = Math.max(0, mergedRadius2(members, x));
          const t =
            where.kind === 'anywhere' ? 0.01 + 1.5 * where.at : Math.sqrt(r2 * (1 + where.side * 1e-9));
          if (!(t > 0)) return; // a radius of exactly 0 (copies of one point) has no boundary to test
          tree.threshold = t;
        }
        const predicted = tree.wouldAbsorb(id, x);
        const got = tree.insert(x);
        const joined = got === id && !tree.lastCreated;
        assert.equal(
          predicted,
          joined,
          `predicted ${predicted}, the insert ${joined ? 'joined' : 'did not'}`,
        );
        assert.equal(tree.size, joined ? 1 : 2);
        if (joined) absorbed++;
        else refused++;
      }),
      400,
    );
    // both answers were exercised, or the property proves little
    assert.ok(absorbed > 20 && refused > 20, `absorbed ${absorbed}, refused ${refused}`);
  });
}

test('wouldAbsorb in cosine mode: the bound on cos(x, centroid), inclusive', () => {
  const tree = new CFTree({ dim: 2, threshold: 1, branchingFactor: 4, minSimilarity: 0.6 });
  const id = tree.insert([1, 0]);
  assert.equal(tree.wouldAbsorb(id, [0.6, 0.8]), true); // cos 0.6, at the bound
  assert.equal(tree.wouldAbsorb(id, [0.5, Math.sqrt(0.75)]), false); // cos 0.5
  assert.equal(tree.wouldAbsorb(id, [1, 0]), true); // a copy
  // the direction counts, not the length (the absorb test is an angle)
  assert.equal(tree.wouldAbsorb(id, [6, 8]), true);
});

test('wouldAbsorb in radius mode: the merged radius against the threshold', () => {
  // two points at distance D merge into radius D/2
  const tree = new CFTree({ dim: 2, threshold: 0.5, branchingFactor: 4 });
  const id = tree.insert([0, 0]);
  assert.equal(tree.wouldAbsorb(id, [0.9, 0]), true); // radius 0.45
  assert.equal(tree.wouldAbsorb(id, [1.1, 0]), false); // radius 0.55
  assert.equal(tree.wouldAbsorb(id, [0, 0]), true);
});

test('wouldAbsorb changes nothing, and answers false for a cluster not in the tree', () => {
  const tree = new CFTree({ dim: 3, threshold: 1, branchingFactor: 2, minSimilarity: 0.5 });
  const ids = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 1, 0],
  ].map((v) => tree.insert(v));
  const before = { shape: tree.shape(), entries: [...tree.entries()], nextId: tree.nextId };
  for (const id of ids) tree.wouldAbsorb(id, [1, 1, 1]);
  assert.deepEqual({ shape: tree.shape(), entries: [...tree.entries()], nextId: tree.nextId }, before);
  assert.deepEqual(tree.audit(), []);
  assert.equal(tree.wouldAbsorb(9999, [1, 0, 0]), false);
  tree.remove(ids[0]);
  assert.equal(tree.wouldAbsorb(ids[0], [1, 0, 0]), false);
});

// ---------------------------------------------------------------- the minSimilarity setter

test('minSimilarity can be changed in cosine mode, and the next insert uses it', () => {
  const tree = new CFTree({ dim: 2, threshold: 1, branchingFactor: 4, minSimilarity: 0.5 });
  const a = tree.insert([1, 0]);
  const x = [0.6, 0.8]; // cos 0.6 with a
  assert.equal(tree.wouldAbsorb(a, x), true);
  tree.minSimilarity = 0.7;
  assert.equal(tree.minSimilarity, 0.7);
  assert.equal(tree.wouldAbsorb(a, x), false);
  tree.insert(x);
  assert.equal(tree.lastCreated, true);
  // the bounds of the range are allowed
  tree.minSimilarity = -1;
  tree.minSimilarity = 1;
  assert.equal(tree.minSimilarity, 1);
});

test('the setter refuses switching mode, and a bound out of [-1, 1]; the old value stays', () => {
  const radius = new CFTree({ dim: 2, threshold: 0.5, branchingFactor: 4 });
  // a radius tree's entries and splits have another shape than one built by angle
  assert.throws(() => {
    radius.minSimilarity = 0.5;
  }, RangeError);
  assert.equal(radius.minSimilarity, undefined);

  const cosine = new CFTree({ dim: 2, threshold: 1, branchingFactor: 4, minSimilarity: 0.5 });
  assert.throws(() => {
    cosine.minSimilarity = undefined;
  }, RangeError);
  assert.equal(cosine.minSimilarity, 0.5);
  for (const bad of [1.5, -1.01, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => {
        cosine.minSimilarity = bad;
      },
      { name: 'RangeError', message: /\[-1, 1\]/ },
    );
    assert.equal(cosine.minSimilarity, 0.5);
  }
  // the constructor checks the same range
  assert.throws(() => new CFTree({ dim: 2, threshold: 1, branchingFactor: 4, minSimilarity: 2 }), RangeError);
});
