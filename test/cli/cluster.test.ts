/**
 * `birdie cluster` end to end, in a child process as a user runs it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { birdie } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'birdie-cli-'));
const sample = join(import.meta.dirname, '..', '..', 'samples', 'stream.jsonl');
const sampleRows = readFileSync(sample, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { id: string });
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('clusters the sample stream: --out in input order, --clusters-out, --metrics-json', () => {
  const out = join(dir, 'out.jsonl');
  const clusters = join(dir, 'clusters.jsonl');
  const metrics = join(dir, 'metrics.json');
  const r = birdie([
    'cluster',
    sample,
    '--label-field',
    'story',
    '--out',
    out,
    '--clusters-out',
    clusters,
    '--metrics-json',
    metrics,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^birdie: 400 tweets into \d+ clusters/);
  assert.match(r.stdout, /largest clusters:/);
  assert.match(r.stdout, /NMI \(geometric\)/);

  const rows = lines(out);
  assert.deepEqual(
    rows.map((x) => x.id),
    sampleRows.map((x) => x.id),
  );
  for (const x of rows) assert.equal(typeof x.cluster, 'number');
  assert.ok(!('topic' in rows[0]), 'no topic without --topics');

  const cl = lines(clusters);
  const sizes = new Map<unknown, number>();
  for (const x of rows) sizes.set(x.cluster, (sizes.get(x.cluster) ?? 0) + 1);
  assert.equal(cl.length, sizes.size, 'one line per cluster');
  for (const c of cl) {
    assert.equal(c.n, sizes.get(c.id), `cluster ${c.id} size`);
    assert.equal((c.centroid as number[]).length, 1024);
    assert.ok(Array.isArray(c.terms));
  }
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as Record<string, number>;
  assert.equal(m.n, 400);
  assert.equal(m.labels, 13);
  assert.equal(m.clusters, sizes.size);
  // a perfect score is MI / H computed in floating point: 1 within a few ulps, either side
  for (const k of ['nmi', 'nmiArithmetic', 'homogeneity', 'completeness', 'purity'])
    assert.ok(m[k] > 0 && m[k] <= 1 + 1e-12, `${k} ${m[k]}`);
  // a pinned floor on the seeded sample: the 12 stories must come out nearly pure
  assert.ok(m.homogeneity > 0.9, `homogeneity ${m.homogeneity}`);
});

test('bad rows are reported with their line and skipped; --strict stops with exit code 2', () => {
  const file = join(dir, 'bad.jsonl');
  writeFileSync(
    file,
    [
      '{"id":"a","text":"storm hits the coast tonight"}',
      '{"id":"b","text":', // malformed JSON
      '{"id":"c"}', // no text
      '[1,2,3]', // not an object
      '{"id":"d","text":"storm hits the coast again"}',
      '',
    ].join('\n'),
  );
  const out = join(dir, 'bad-out.jsonl');
  const r = birdie(['cluster', file, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /line 2: malformed JSON/);
  assert.match(r.stderr, /line 3: no text in field "text"/);
  assert.match(r.stderr, /line 4: not a JSON object/);
  assert.match(r.stdout, /birdie: 2 tweets into 1 clusters/);
  assert.match(r.stdout, /skipped 3 of 5 rows/);
  const rows = lines(out);
  assert.equal(rows.length, 5, 'one output line per input row');
  assert.deepEqual(rows[0], { id: 'a', cluster: rows[0].cluster });
  assert.equal(rows[1].cluster, null);
  assert.match(String(rows[1].error), /malformed JSON/);
  assert.equal(rows[4].cluster, rows[0].cluster, 'the two storm tweets share a cluster');

  const strict = birdie(['cluster', file, '--strict']);
  assert.equal(strict.code, 2);
  assert.match(strict.stderr, /line 2: malformed JSON/);
});

test('precomputed vectors bypass the embedder; a wrong dimension is skipped with its line', () => {
  const file = join(dir, 'vec.jsonl');
  const rows = [
    { id: 1, v: [1, 0, 0] },
    { id: 2, v: [0.99, 0.01, 0] },
    { id: 3, v: [0, 0, 5] },
    { id: 4, v: [1, 0] },
    { id: 5, v: [0, 0, 0] },
    { id: 6, v: ['x', 0, 0] },
  ];
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  const out = join(dir, 'vec-out.jsonl');
  const clusters = join(dir, 'vec-clusters.jsonl');
  const r = birdie([
    'cluster',
    file,
    '--vector-field',
    'v',
    '--threshold',
    '0.2',
    '--out',
    out,
    '--clusters-out',
    clusters,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /line 4: field "v" has dimension 2, expected 3/);
  assert.match(r.stderr, /line 5: field "v" is the zero vector/);
  assert.match(r.stderr, /line 6: field "v" has a non-numeric value at 0/);
  const got = lines(out);
  assert.equal(got[0].cluster, got[1].cluster);
  assert.notEqual(got[0].cluster, got[2].cluster);
  const cl = lines(clusters);
  const c3 = cl.find((c) => c.id === got[2].cluster)!;
  assert.deepEqual(c3.centroid, [0, 0, 1], 'vectors are normalised to unit length');
});

test('CSV input with quoted fields and topics', () => {
  const file = join(dir, 'tweets.csv');
  const csv = [
    'tweet id, tweet, label',
    `'1',"Flood waters rising in the valley, roads closed",flood`,
    `'2',"Valley flood: roads closed, ""stay home"" say police",flood`,
    `'3',"Great match tonight, what a goal!",sport`,
    `'4',"What a goal in the match tonight",sport`,
  ].join('\n');
  writeFileSync(file, csv);
  const out = join(dir, 'csv-out.jsonl');
  const metrics = join(dir, 'csv-metrics.json');
  const r = birdie([
    'cluster',
    file,
    '--id-field',
    'tweet id',
    '--text-field',
    'tweet',
    '--label-field',
    'label',
    '--topics',
    '2',
    '--out',
    out,
    '--metrics-json',
    metrics,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = lines(out);
  assert.deepEqual(
    rows.map((x) => x.id),
    ["'1'", "'2'", "'3'", "'4'"],
  );
  const topics = new Set(rows.map((x) => x.topic));
  assert.equal(topics.size, 2);
  assert.equal(rows[0].topic, rows[1].topic);
  assert.equal(rows[2].topic, rows[3].topic);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { topics: { nmi: number; clusters: number } };
  assert.equal(m.topics.clusters, 2);
  assert.equal(m.topics.nmi, 1, 'the two topics are the two labels');
});

test('reads stdin; usage errors exit 2 with one line', () => {
  const r = birdie(['cluster', '-', '--quiet'], '{"text":"hello world"}\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');

  const bad = birdie(['cluster', sample, '--threshold', 'abc']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'birdie: --threshold: invalid value "abc"\n');

  const unknown = birdie(['cluster', sample, '--nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^birdie: Unknown option '--nope'/);

  const missing = birdie(['cluster', join(dir, 'does-not-exist.jsonl')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*does-not-exist\.jsonl: ENOENT/);
  assert.ok(!existsSync(join(dir, 'does-not-exist.jsonl')));
});
