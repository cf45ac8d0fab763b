import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildKernels } from '../../scripts/build-wasm.js';
import { CFTree } from '../../src/birch/cftree.js';
import { Rng } from '../helpers/rng.js';

test('the committed kernel bytes are a fresh build of kernels.wat', async () => {
  const committed = readFileSync(
    join(import.meta.dirname, '..', '..', 'src', 'birch', 'kernels.wasm.ts'),
    'utf8',
  );
  assert.equal(committed, await buildKernels());
});

test('the SIMD kernel and the JavaScript loops build identical trees, for every d mod 4', () => {
  const rng = new Rng(7);
  for (const d of [1, 2, 3, 5, 8, 13, 64]) {
    const rows = new Float64Array(3000 * d).map(() => rng.uniform(-1, 1));
    const trees = (['wasm', 'js'] as const).map(
      (kernel) => new CFTree({ dim: d, threshold: 0.4 * Math.sqrt(d), branchingFactor: 7, kernel }),
    );
    const ids = trees.map((t) => Array.from(t.insertBatch(rows, 3000)));
    assert.deepEqual(ids[0], ids[1], `d=${d}: same cluster for every row`);
    assert.deepEqual([...trees[0].entries()], [...trees[1].entries()], `d=${d}: same entries, bit for bit`);
    assert.deepEqual(trees[0].shape(), trees[1].shape());
  }
});

test('sizes() lists every cluster id and size in leaf-chain order, as entries() does', () => {
  const rng = new Rng(11);
  const tree = new CFTree({ dim: 6, threshold: 0.8, branchingFactor: 4 });
  for (let i = 0; i < 500; i++) tree.insert(Array.from({ length: 6 }, () => rng.uniform(-1, 1)));
  assert.deepEqual(
    [...tree.sizes()],
    [...tree.entries()].map((e) => [e.id, e.n]),
  );
});

test('the SIMD |x|^2 (emulated fused multiply-adds) equals the JavaScript one bit for bit, any magnitude', () => {
  const rng = new Rng(23);
  for (const d of [1, 3, 4, 7, 33, 384]) {
    const trees = (['wasm', 'js'] as const).map(
      (kernel) => new CFTree({ dim: d, threshold: 1e-300, branchingFactor: 8, kernel }),
    );
    for (let r = 0; r < 200; r++) {
      const x = Array.from({ length: d }, () => rng.uniform(-1, 1) * 10 ** rng.int(200) * 10 ** -100);
      for (const t of trees) t.insert(x);
    }
    const ss = trees.map((t) => [...t.entries()].map((e) => e.ss));
    assert.equal(ss[0].length, 200, 'every point its own entry');
    assert.deepEqual(ss[0], ss[1], `d=${d}`);
  }
});
