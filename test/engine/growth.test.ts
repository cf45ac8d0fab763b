/**
 * The growth score (ClusterEngine.growthOf) on the cases the README quotes: a new burst scores
 * high, a steady story about 0 however old and busy, a steady story that doubles its rate
 * scores well above its steady self, and two tweets are not a big trend. Times are the tweets'
 * own, so the engine's clock is the fake clock here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterEngine } from '../../src/engine/engine.js';

const DIM = 8;
const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

function engine(): ClusterEngine {
  return new ClusterEngine({ dim: DIM, threshold: 1, branchingFactor: 8, minSimilarity: 0.5 });
}

function axis(i: number): Float64Array {
  const v = new Float64Array(DIM);
  v[i] = 1;
  return v;
}

/** `perMinute` tweets a minute, evenly spaced, for `minutes` minutes from `from`; returns the cluster. */
function steady(e: ClusterEngine, from: number, minutes: number, perMinute: number, tag: string): number {
  let c = -1;
  for (let m = 0; m < minutes; m++)
    for (let k = 0; k < perMinute; k++)
      c = e.apply({
        id: `${tag}${m}-${k}`,
        text: tag,
        time: from + m * MIN + (k * MIN) / perMinute,
        vector: axis(1),
      }).cluster;
  return c;
}

const growth = (e: ClusterEngine, c: number) => (e.cluster(c) as { growth: number }).growth;

test('a new story of 20 tweets in 5 minutes scores high', () => {
  const e = engine();
  let c = -1;
  for (let i = 0; i < 20; i++)
    c = e.apply({ id: `a${i}`, text: `x${i}`, time: T0 + i * 15_000, vector: axis(0) }).cluster;
  const s = e.cluster(c)!;
  assert.ok(Math.abs(s.growth - 13.69) < 0.01, String(s.growth));
  // 20 tweets within 5 minutes, decayed with a 15-minute half-life
  assert.ok(s.recent > 17.9 && s.recent < 20, String(s.recent));
});

test('a steady story scores about 0 after a day, and well above that when its rate doubles', () => {
  const e = engine();
  const c = steady(e, T0, 24 * 60, 10, 's');
  const calm = growth(e, c);
  assert.ok(Math.abs(calm - 0.5) < 0.05, String(calm));
  steady(e, T0 + 24 * 60 * MIN, 15, 20, 'd');
  const burst = growth(e, c);
  assert.ok(Math.abs(burst - 7.78) < 0.05, String(burst));
});

test('a slow steady story scores about 0; two tweets a minute apart score about 2', () => {
  const e = engine();
  const c = steady(e, T0, 24 * 60, 1, 'q');
  assert.ok(Math.abs(growth(e, c)) < 0.3, String(growth(e, c)));
  const f = engine();
  const one = f.apply({ id: 'one', text: 'a', time: T0, vector: axis(2) }).cluster;
  f.apply({ id: 'two', text: 'b', time: T0 + MIN, vector: axis(2) });
  assert.ok(Math.abs(growth(f, one) - 1.92) < 0.01, String(growth(f, one)));
});

test('growth fades as the clock moves on without the story', () => {
  const e = engine();
  let c = -1;
  for (let i = 0; i < 20; i++)
    c = e.apply({ id: `a${i}`, text: `x${i}`, time: T0 + i * 15_000, vector: axis(0) }).cluster;
  const hot = growth(e, c);
  // another story's tweets move the clock 2 hours on
  e.apply({ id: 'later', text: 'other', time: T0 + 120 * MIN, vector: axis(3) });
  const cold = growth(e, c);
  assert.ok(cold < 1 && cold < hot / 10, `${hot} -> ${cold}`);
  assert.ok(e.cluster(c)!.recent < 20 / 2 ** 7, String(e.cluster(c)!.recent));
});
