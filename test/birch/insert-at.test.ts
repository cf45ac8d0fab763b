/**
 * CFTree.insertAt and absorbInto: the absorb decision taken outside the tree (the engine's DMM).
 * Invariants under random sequences: points conserved, audit() clean (every inner CF the sum of
 * its child's, no node over B, the id index and the leaf chain right), the chosen entry grows by
 * exactly the point, ids of new entries fresh and never reused; both kernels build the same tree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CFTree } from '../../src/birch/cftree.js';
import { Rng } from '../helpers/rng.js';

/** A sparse unit vector (a tweet of a few hashed terms) or, one time in five, a dense one. */
function point(rng: Rng, dim: number): Float64Array {
  if (rng.int(5) === 0) return rng.unitVector(dim);
  const x = new Float64Array(dim);
  const k = 1 + rng.int(4);
  for (let i = 0; i < k; i++) x[rng.int(dim)] += rng.next() < 0.5 ? -1 : 1;
  let s = 0;
  for (const v of x) s += v * v;
  if (s === 0) x[0] = 1;
  else for (let i = 0; i < dim; i++) x[i] /= Math.sqrt(s);
  return x;
}

function entryOf(tree: CFTree, id: number) {
  for (const e of tree.entries()) if (e.id === id) return e;
  return undefined;
}

function run(kernel: 'wasm' | 'js', seed: number, dim: number, B: number) {
  const rng = new Rng(seed);
  const tree = new CFTree({ dim, threshold: 1, branchingFactor: B, minSimilarity: 0, kernel });
  const live: number[] = [];
  let points = 0;
  const seen = new Set<number>();
  for (let step = 0; step < 600; step++) {
    const r = rng.next();
    if (r < 0.08 && live.length >= 2) {
      const a = live.splice(rng.int(live.length), 1)[0];
      const b = live[rng.int(live.length)];
      const na = tree.count(a);
      const nb = tree.count(b);
      const ea = entryOf(tree, a);
      const eb = entryOf(tree, b);
      tree.absorbInto(a, b);
      assert.equal(tree.has(a), false);
      assert.equal(tree.count(b), na + nb);
      const e = entryOf(tree, b);
      for (let i = 0; i < dim; i++)
        assert.ok(Math.abs((e?.ls[i] ?? 0) - ((ea?.ls[i] ?? 0) + (eb?.ls[i] ?? 0))) < 1e-9, 'LS adds');
      continue;
    }
    const x = point(rng, dim);
    const target = live.length === 0 || rng.next() < 0.3 ? -1 : live[rng.int(live.length)];
    const before = target === -1 ? 0 : tree.count(target);
    const id = tree.insertAt(x, target);
    points++;
    if (target === -1) {
      assert.equal(tree.lastCreated, true);
      assert.ok(!seen.has(id), `id ${id} reused`);
      seen.add(id);
      live.push(id);
    } else {
      assert.equal(id, target);
      assert.equal(tree.lastCreated, false);
      assert.equal(tree.count(id), before + 1);
      // lastSimilarity refers to the entry the point went to
      assert.ok(Math.abs(tree.lastSimilarity(x) - tree.similarity(id, x)) < 1e-12);
    }
  }
  assert.equal(tree.points, points);
  assert.equal(tree.size, live.length);
  assert.deepEqual(tree.audit(1e-7), []);
  return tree;
}

test('insertAt / absorbInto: points conserved, audit clean, the chosen entry grows by the point', () => {
  for (const [seed, dim, B] of [
    [1, 16, 3],
    [2, 64, 5],
    [3, 37, 2],
    [4, 128, 8],
  ])
    run('js', seed, dim, B);
});

test('insertAt / absorbInto: the SIMD kernel and the JavaScript loops build identical trees', () => {
  const a = run('wasm', 7, 64, 4).exportState();
  const b = run('js', 7, 64, 4).exportState();
  assert.deepEqual(a.meta, b.meta);
  assert.deepEqual(a.nodes, b.nodes);
});

test('insertAt refuses an unknown cluster and leaves the tree as it was; absorbInto refuses itself and unknown ids', () => {
  const tree = new CFTree({ dim: 4, threshold: 1, branchingFactor: 3, minSimilarity: 0 });
  const id = tree.insertAt([1, 0, 0, 0], -1);
  const before = tree.exportState();
  assert.throws(() => tree.insertAt([0, 1, 0, 0], 99), RangeError);
  assert.throws(() => tree.absorbInto(id, id), RangeError);
  assert.throws(() => tree.absorbInto(id, 99), RangeError);
  assert.throws(() => tree.absorbInto(99, id), RangeError);
  assert.deepEqual(tree.exportState(), before);
});
