/** `birdie tune`: the table, the suggestion's rule, usage errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { suggest, type TuneRow } from '../../src/cli/tune.js';
import { birdie } from '../helpers/cli.js';

const row = (threshold: number, aloneShare: number, largestShare: number): TuneRow => ({
  threshold,
  clusters: 10,
  singletons: 1,
  singletonShare: 0.1,
  aloneShare,
  largestShare,
  meanSize: 3,
});

test('suggest: the strictest threshold within both bounds (cosine: highest; radius: smallest)', () => {
  const rows = [row(0.1, 0.01, 0.5), row(0.2, 0.05, 0.1), row(0.3, 0.2, 0.05), row(0.4, 0.3, 0.02)];
  assert.equal(suggest(rows, false).threshold, 0.3);
  const radius = [row(0.3, 0.6, 0.01), row(0.5, 0.2, 0.05), row(0.7, 0.05, 0.1), row(0.9, 0.01, 0.4)];
  assert.equal(suggest(radius, true).threshold, 0.5);
  // none within both: the nearest
  assert.equal(suggest([row(0.1, 0.01, 0.9), row(0.2, 0.3, 0.3)], false).threshold, 0.2);
});

test('birdie tune on the sample stream: one row per threshold, a suggestion that meets its rule', () => {
  const r = birdie(['tune', 'samples/stream.jsonl', '--label-field', 'story']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^400 tweets sampled of 400 in samples\/stream\.jsonl, cosine mode$/m);
  const lines = r.stdout.split('\n').filter((l) => /^\s+0\.\d+( <)?\s/.test(l));
  assert.equal(lines.length, 10);
  const parsed = lines.map((l) => {
    const c = l.trim().split(/\s+/);
    const marked = c[1] === '<';
    const v = marked ? [c[0], ...c.slice(2)] : c;
    return {
      t: Number(v[0]),
      marked,
      alone: Number(v[4].replace('%', '')),
      largest: Number(v[5].replace('%', '')),
    };
  });
  const pick = parsed.filter((p) => p.marked);
  assert.equal(pick.length, 1);
  assert.ok(pick[0].alone <= 25 && pick[0].largest <= 20);
  for (const p of parsed)
    if (p.t > pick[0].t) assert.ok(p.alone > 25 || p.largest > 20, `${p.t} was stricter and fit`);
  assert.match(r.stdout, new RegExp(`^suggested: SIMILARITY_THRESHOLD=${pick[0].t} `, 'm'));
});

test('birdie tune: radius mode, and usage errors exit 2', () => {
  const r = birdie(['tune', 'samples/stream.jsonl', '--mode', 'radius', '--sample', '100']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^suggested: BIRCH_THRESHOLD=\d/m);
  assert.equal(birdie(['tune']).code, 2);
  assert.equal(birdie(['tune', 'samples/stream.jsonl', '--mode', 'sideways']).code, 2);
  assert.equal(birdie(['tune', 'samples/stream.jsonl', '--sample', '3']).code, 2);
});
