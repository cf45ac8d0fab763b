/**
 * The quality claim of the README, held as a test where the labelled data exists: with default
 * settings birdie beats scikit-learn's best BIRCH on the MStream tweets (NMI .757 with 9,425
 * clusters) with far fewer clusters. ../shared is not part of the repository: without it the
 * test is skipped and says why.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { birdie } from '../helpers/cli.js';

const data = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'mstream-tweets', 'Tweets.jsonl');
const skip = existsSync(data)
  ? false
  : `needs ${data} (the labelled benchmark data, not shipped with birdie)`;
if (skip) process.stdout.write(`# skipped: ${skip}\n`);

test('default settings beat sklearn Birch on the MStream tweets with a third of its clusters', {
  skip,
}, () => {
  const metrics = join(mkdtempSync(join(tmpdir(), 'birdie-q-')), 'm.json');
  const r = birdie([
    'cluster',
    data,
    '--text-field',
    'textCleaned',
    '--id-field',
    'Id',
    '--label-field',
    'clusterNo',
    '--quiet',
    '--metrics-json',
    metrics,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { nmi: number; clusters: number; n: number };
  assert.equal(m.n, 30322);
  assert.ok(m.nmi > 0.757, `NMI ${m.nmi}`);
  assert.ok(m.clusters < 9425 / 2, `${m.clusters} clusters`);
});
