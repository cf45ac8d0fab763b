/**
 * Quality metrics against scikit-learn: test/fixtures/quality/reference.json holds seeded
 * labellings and sklearn's scores for them (made by scripts/quality_reference.py), so this test
 * needs no Python. Plus invariants sklearn does not state: label names do not matter, swapping
 * truth and pred swaps homogeneity and completeness and keeps NMI and ARI.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluate, formatReport, type Label, type QualityReport } from '../../src/engine/quality.js';

interface Case {
  name: string;
  truth?: Label[];
  pred?: Label[];
  formula?: string;
  n?: number;
  expected: QualityReport;
}

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'quality', 'reference.json'), 'utf8'),
) as { sklearn: string; cases: Case[] };

const SCORES = [
  'nmi',
  'nmiArithmetic',
  'ari',
  'homogeneity',
  'completeness',
  'vMeasure',
  'purity',
] as const satisfies readonly (keyof QualityReport)[];

/** Same labels as formula_labels() in scripts/quality_reference.py. */
function formulaLabels(n: number): { truth: Int32Array; pred: Int32Array } {
  const truth = new Int32Array(n);
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = ((i * i + 7 * i) % 1009) % 400;
    pred[i] = 3 * truth[i] + (i % 4 === 0 ? i % 5 : 0);
  }
  return { truth, pred };
}

function labelsOf(c: Case): { truth: ArrayLike<Label>; pred: ArrayLike<Label> } {
  if (c.formula !== undefined) return formulaLabels(c.n!);
  return { truth: c.truth!, pred: c.pred! };
}

function assertClose(got: QualityReport, want: QualityReport, what: string): void {
  for (const k of SCORES) {
    assert.ok(Math.abs(got[k] - want[k]) <= 1e-9, `${what}: ${k} = ${got[k]}, sklearn says ${want[k]}`);
  }
  assert.equal(got.n, want.n, `${what}: n`);
  assert.equal(got.labels, want.labels, `${what}: labels`);
  assert.equal(got.clusters, want.clusters, `${what}: clusters`);
}

test('fixture covers the cases the metrics special-case', () => {
  const names = fixture.cases.map((c) => c.name);
  for (const name of ['random', 'perfect', 'permuted', 'one-cluster-both', 'all-singletons-pred', 'empty']) {
    assert.ok(names.includes(name), name);
  }
  assert.ok(fixture.cases.some((c) => c.expected.labels === 300 && c.expected.n === 2000));
  assert.ok(fixture.cases.some((c) => typeof c.truth?.[0] === 'string'));
});

for (const c of fixture.cases) {
  test(`agrees with sklearn ${fixture.sklearn} on ${c.name}`, () => {
    const { truth, pred } = labelsOf(c);
    assertClose(evaluate(truth, pred), c.expected, c.name);
  });
}

test('renaming labels changes nothing', () => {
  for (const c of fixture.cases) {
    const { truth, pred } = labelsOf(c);
    const renamedTruth = Array.from(truth, (v) => `t:${v}`);
    const renamedPred = Array.from(pred, (v) => (typeof v === 'number' ? -7 * v - 1 : `${v}!`));
    assertClose(evaluate(renamedTruth, renamedPred), c.expected, `${c.name} renamed`);
  }
});

test('swapping truth and pred swaps homogeneity and completeness, keeps NMI and ARI', () => {
  for (const c of fixture.cases) {
    const { truth, pred } = labelsOf(c);
    const swapped = evaluate(pred, truth);
    const e = c.expected;
    const mirrored: QualityReport = {
      ...e,
      homogeneity: e.completeness,
      completeness: e.homogeneity,
      labels: e.clusters,
      clusters: e.labels,
      purity: swapped.purity,
    };
    assertClose(swapped, mirrored, `${c.name} swapped`);
  }
});

test('typed arrays are accepted as labels', () => {
  const truth = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const pred = Float64Array.from([5, 5, 5, 6, 6, 6]);
  const r = evaluate(truth, pred);
  assert.deepEqual(r, evaluate(Array.from(truth), Array.from(pred)));
  assert.equal(r.purity, 4 / 6);
  assert.equal(r.clusters, 2);
  assert.equal(r.labels, 3);
});

test('labels of different lengths are rejected', () => {
  assert.throws(() => evaluate([1, 2, 3], [1, 2]), RangeError);
});

test('formatReport aligns one metric a line', () => {
  const r = fixture.cases.find((c) => c.name === 'noisy')!.expected;
  const lines = formatReport(r).split('\n');
  assert.equal(lines.length, 10);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'all lines the same width');
  assert.match(lines[0], /^rows\s+500$/);
  assert.match(lines.find((l) => l.startsWith('NMI (geometric)'))!, / 0\.5104$/);
  assert.match(lines.find((l) => l.startsWith('ARI'))!, / 0\.4993$/);
});
