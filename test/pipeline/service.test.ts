/**
 * The tweet pipeline behind the HTTP API (src/pipeline/service.ts): ingest answers each item on
 * its own (an error code per kind of bad item, good items beside them still applied), repeated
 * ids answered with their first cluster and not counted, ids made when missing; predict changes
 * nothing; cluster listing and paging; tweet lookup; topics; the ingest rate over the last
 * minute (an injected clock, no waiting); the clustering warnings; live settings.
 *
 * Most tweets here bring their own embedding, so that which tweets share a cluster is decided
 * by the test and not by the hashing embedder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BirdieError, type ErrorCode } from '../../src/errors.js';
import type { Assigned, Rejected } from '../../src/pipeline/schema.js';
import { Service, type ServiceOptions } from '../../src/pipeline/service.js';
import { MAX_TEXT_LENGTH } from '../../src/pipeline/tweet.js';

const DIM = 16;
const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const HOUR = 3_600_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A service on a clock the test moves: `clock.now = ...`. */
function make(over: Partial<ServiceOptions> = {}) {
  const clock = { now: T0 };
  const service = new Service({
    embeddingDim: DIM,
    similarityThreshold: 0.5,
    birchThreshold: undefined,
    branchingFactor: 8,
    maxTweetEmbeddings: 1000,
    maxTweetIds: 1000,
    clusterExpiryHours: 0,
    topics: 0,
    clock: () => clock.now,
    ...over,
  });
  return { service, clock };
}

/** A vector of DIM values with the given leading coordinates (the rest 0). */
function vec(...xs: number[]): number[] {
  const v = new Array<number>(DIM).fill(0);
  xs.forEach((x, i) => {
    v[i] = x;
  });
  return v;
}

/** The unit vector along axis i. */
function axis(i: number, dim = DIM): number[] {
  const v = new Array<number>(dim).fill(0);
  v[i] = 1;
  return v;
}

function assigned(r: Assigned | Rejected): Assigned {
  if ('error' in r) assert.fail(`rejected: ${JSON.stringify(r)}`);
  return r;
}

function rejected(r: Assigned | Rejected): Rejected {
  if (!('error' in r)) assert.fail(`accepted: ${JSON.stringify(r)}`);
  return r;
}

/** The BirdieError `f` throws, checked for its code. */
function birdieError(code: ErrorCode, f: () => unknown): BirdieError {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof BirdieError, `expected a BirdieError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

/** What a read must not change. */
function state(s: Service) {
  return {
    tweets: s.engine.tweets,
    clusters: [...s.engine.clusters(10)],
    shape: s.engine.shape(),
    nextId: s.engine.tree.nextId,
    ids: s.memory.idCount,
    held: s.memory.heldCount,
    duplicates: s.duplicates,
    rejected: s.rejectedCount,
  };
}

// ---------------------------------------------------------------- ingest: bad items

test('each kind of bad item gets its own error code and message, by position', () => {
  const codes: ErrorCode[] = [];
  const { service } = make({ observer: { rejected: (code) => codes.push(code) } });
  const cases: [item: unknown, code: ErrorCode, says: RegExp][] = [
    ['a string', 'BRD_ERR_INVALID_TWEET', /must be a JSON object/],
    [42, 'BRD_ERR_INVALID_TWEET', /must be a JSON object/],
    [null, 'BRD_ERR_INVALID_TWEET', /must be a JSON object/],
    [[{ text: 'in an array' }], 'BRD_ERR_INVALID_TWEET', /must be a JSON object/],
    [{ id: 'no-text' }, 'BRD_ERR_INVALID_TWEET', /needs text/],
    [{ text: 5 }, 'BRD_ERR_INVALID_TWEET', /^text /],
    [{ text: '' }, 'BRD_ERR_INVALID_TWEET', /text is empty/],
    [{ text: '  \n ' }, 'BRD_ERR_INVALID_TWEET', /text is empty/],
    [{ text: 'x', embedding: [1, 2, 3] }, 'BRD_ERR_EMBEDDING_DIMENSION', /dimension 3, expected 16/],
    [{ text: 'x', embedding: axis(0, DIM + 1) }, 'BRD_ERR_EMBEDDING_DIMENSION', /dimension 17/],
    [{ text: 'x', embedding: vec() }, 'BRD_ERR_INVALID_TWEET', /zero vector/],
    [{ text: 'x', embedding: ['a', ...axis(0).slice(1)] }, 'BRD_ERR_INVALID_TWEET', /embedding/],
    [{ text: 'x', created_at: 'yesterday' }, 'BRD_ERR_INVALID_TWEET', /created_at is not a date/],
    [{ text: 'x', created_at: true }, 'BRD_ERR_INVALID_TWEET', /created_at/],
    [{ text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }, 'BRD_ERR_INVALID_TWEET', /text .*10000/],
    [{ text: 'x', id: 'i'.repeat(257) }, 'BRD_ERR_INVALID_TWEET', /^id /],
    [{ text: 'x', id: 1.5 }, 'BRD_ERR_INVALID_TWEET', /^id /],
    [{ text: 'x', user: { name: 'u' } }, 'BRD_ERR_INVALID_TWEET', /^user /],
  ];
  const r = service.ingest(cases.map(([item]) => item));
  assert.equal(r.accepted, 0);
  assert.equal(r.rejected, cases.length);
  cases.forEach(([item, code, says], i) => {
    const bad = rejected(r.results[i]);
    assert.equal(bad.index, i);
    assert.equal(bad.error.code, code, JSON.stringify(item).slice(0, 80));
    assert.match(bad.error.message, says, JSON.stringify(item).slice(0, 80));
  });
  assert.deepEqual(
    codes,
    cases.map(([, code]) => code),
  );
  assert.equal(service.engine.tweets, 0);
  assert.equal(service.rejectedCount, cases.length);
});

test('a rejected item carries its id when it has a usable one, and never an over-long one', () => {
  const { service } = make();
  const r = service.ingest([
    { id: 'bad-1', text: '' },
    { id: 77, text: '' },
    { id: 'i'.repeat(257), text: 'x' },
  ]);
  assert.equal(rejected(r.results[0]).id, 'bad-1');
  assert.equal(rejected(r.results[1]).id, '77');
  assert.equal('id' in rejected(r.results[2]), false);
  // a rejected id is not remembered: the same id may come again, fixed
  const again = service.ingest([{ id: 'bad-1', text: 'now with text' }]);
  assert.equal(assigned(again.results[0]).duplicate, false);
});

test('the limits themselves are accepted: text of MAX_TEXT_LENGTH, empty text with an embedding', () => {
  const { service } = make();
  const r = service.ingest([
    { text: 'word '.repeat(MAX_TEXT_LENGTH / 5) },
    { text: '', embedding: axis(3) },
    { text: 'x', id: 'i'.repeat(256) },
  ]);
  assert.equal(r.accepted, 3);
  assert.equal(assigned(r.results[2]).id, 'i'.repeat(256));
});

test('good items in a batch with bad ones are applied, in order, each answered at its index', () => {
  const { service } = make();
  const r = service.ingest([
    { id: 'g1', text: '', embedding: axis(0) },
    { id: 'b1', text: '' },
    { id: 'g2', text: '', embedding: axis(1) },
    'junk',
    { id: 'g3', text: '', embedding: axis(0) },
  ]);
  assert.equal(r.accepted, 3);
  assert.equal(r.rejected, 2);
  assert.equal(r.duplicates, 0);
  const [g1, g2, g3] = [0, 2, 4].map((i) => assigned(r.results[i]));
  assert.equal(rejected(r.results[1]).index, 1);
  assert.equal(rejected(r.results[3]).index, 3);
  assert.deepEqual([g1.id, g2.id, g3.id], ['g1', 'g2', 'g3']);
  assert.equal(g1.new_cluster, true);
  assert.equal(g2.new_cluster, true);
  assert.notEqual(g1.cluster_id, g2.cluster_id);
  // the third joins the first: the bad items in between changed nothing
  assert.equal(g3.cluster_id, g1.cluster_id);
  assert.equal(g3.new_cluster, false);
  assert.equal(g3.similarity, 1);
  assert.equal(service.engine.tweets, 3);
});

// ---------------------------------------------------------------- ingest: ids and duplicates

test('a repeated id is answered with its first cluster and not counted again', () => {
  const { service } = make();
  const first = assigned(service.ingest([{ id: 'a', text: '', embedding: axis(0) }]).results[0]);
  const tweets = service.engine.tweets;
  const before = state(service);
  // the same id with another vector: still the first answer, and the tree does not move
  const r = service.ingest([{ id: 'a', text: 'different', embedding: axis(5) }]);
  assert.deepEqual(r.results[0], { ...first, new_cluster: false, duplicate: true });
  assert.equal(r.accepted, 0);
  assert.equal(r.duplicates, 1);
  assert.equal(service.engine.tweets, tweets);
  assert.deepEqual({ ...state(service), duplicates: before.duplicates }, before);
  assert.equal(service.duplicates, 1);
  assert.equal(service.memory.get('a')?.text, ''); // the first tweet is what is held
});

test('a repeat inside one batch is a duplicate too; a numeric id equals its string', () => {
  const { service } = make();
  const r = service.ingest([
    { id: 'x', text: '', embedding: axis(0) },
    { id: 'x', text: '', embedding: axis(1) },
    { id: 12, text: '', embedding: axis(2) },
    { id: '12', text: '', embedding: axis(3) },
  ]);
  assert.equal(r.accepted, 2);
  assert.equal(r.duplicates, 2);
  assert.equal(assigned(r.results[1]).cluster_id, assigned(r.results[0]).cluster_id);
  assert.equal(assigned(r.results[1]).duplicate, true);
  assert.equal(assigned(r.results[3]).cluster_id, assigned(r.results[2]).cluster_id);
  assert.equal(service.engine.tweets, 2);
  assert.equal(service.engine.clusterCount, 2);
});

test('the first answer outlives the held tweet: the id tier remembers more than the held one', () => {
  const { service } = make({ maxTweetEmbeddings: 1, maxTweetIds: 100 });
  const a = assigned(service.ingest([{ id: 'a', text: '', embedding: axis(0) }]).results[0]);
  service.ingest([{ id: 'b', text: '', embedding: axis(1) }]);
  assert.equal(service.memory.get('a'), undefined);
  const again = assigned(service.ingest([{ id: 'a', text: '', embedding: axis(1) }]).results[0]);
  assert.equal(again.duplicate, true);
  assert.equal(again.cluster_id, a.cluster_id);
});

test('missing ids become distinct UUIDs; numeric ids become strings', () => {
  const { service } = make();
  const r = service.ingest([{ text: 'one' }, { text: 'two' }, { text: 'three' }, { id: 12345, text: 'n' }]);
  const ids = r.results.map((x) => assigned(x).id);
  for (const id of ids.slice(0, 3)) assert.match(id, UUID);
  assert.equal(new Set(ids).size, 4);
  assert.equal(ids[3], '12345');
  // the made ids are the tweets' ids from then on
  for (const id of ids) assert.equal(service.tweet(id, false).id, id);
  assert.equal(r.duplicates, 0);
});

// ---------------------------------------------------------------- predict

test('predict changes nothing and says whether the tweet would join', () => {
  const { service } = make();
  const r = service.ingest([
    { id: 'a', text: 'storm over the city', embedding: axis(0) },
    { id: 'b', text: 'football final tonight', embedding: axis(1) },
  ]);
  const before = state(service);
  const near = service.predict({ embedding: vec(1, 0.2) });
  const far = service.predict({ embedding: vec(0, 0, 1) });
  service.predict({ text: 'storm storm storm' });
  assert.deepEqual(state(service), before);

  assert.equal(near.cluster_id, assigned(r.results[0]).cluster_id);
  assert.ok(near.similarity !== null && Math.abs(near.similarity - 1 / Math.hypot(1, 0.2)) < 1e-6);
  assert.equal(near.would_join, true); // cos 0.98 >= 0.5
  assert.equal(far.would_join, false); // cos 0 with every cluster
  // and ingesting then does what predict said
  const joined = assigned(service.ingest([{ text: '', embedding: vec(1, 0.2) }]).results[0]);
  assert.equal(joined.cluster_id, near.cluster_id);
  assert.equal(joined.new_cluster, false);
  assert.equal(
    assigned(service.ingest([{ text: '', embedding: vec(0, 0, 1) }]).results[0]).new_cluster,
    true,
  );
});

test('predict on an empty service: no cluster', () => {
  const { service } = make();
  assert.deepEqual(service.predict({ text: 'anything' }), {
    cluster_id: null,
    similarity: null,
    would_join: false,
  });
  assert.equal(service.engine.tweets, 0);
});

test('predict wants a text or an embedding of the right dimension', () => {
  const { service } = make();
  birdieError('BRD_ERR_VALIDATION', () => service.predict({}));
  birdieError('BRD_ERR_VALIDATION', () => service.predict({ text: 'x', embedding: axis(0) }));
  birdieError('BRD_ERR_EMBEDDING_DIMENSION', () => service.predict({ embedding: [1, 0] }));
  birdieError('BRD_ERR_VALIDATION', () => service.predict({ embedding: vec() })); // zero vector
});

test('predict answers what ingest then does (cosine mode, after the threshold was raised live)', () => {
  const { service } = make({ similarityThreshold: 0 });
  // cluster B: two tweets 83 degrees apart (cos 0.125 >= 0), its centroid of length 0.75 on axis 0
  const r = 0.75;
  const h = Math.sqrt(1 - r * r);
  const b = service.ingest([
    { id: 'b1', text: '', embedding: vec(r, h) },
    { id: 'b2', text: '', embedding: vec(r, -h) },
  ]);
  const B = assigned(b.results[1]).cluster_id;
  assert.equal(assigned(b.results[1]).new_cluster, false);
  service.setLive({ similarityThreshold: 0.98, birchThreshold: undefined, clusterExpiryHours: 0 });
  // x: cos 0.99 with B's direction; A: a tweet at cos 0.97 from x (and 0.93 from B: its own cluster)
  const ax = Math.acos(0.99);
  const aa = ax + Math.acos(0.97);
  const x = vec(Math.cos(ax), 0, Math.sin(ax));
  const A = assigned(
    service.ingest([{ id: 'a', text: '', embedding: vec(Math.cos(aa), 0, Math.sin(aa)) }]).results[0],
  );
  assert.equal(A.new_cluster, true);

  const p = service.predict({ embedding: x });
  const got = assigned(service.ingest([{ id: 'x', text: '', embedding: x }]).results[0]);
  // ingest puts x in B (cos 0.99 >= 0.98); predict answered A (cos 0.97) and would_join false,
  // because A's centroid is nearer in euclidean distance (|c|^2 - 2 c.x: -0.94 vs -0.735)
  assert.equal(got.cluster_id, B);
  assert.equal(got.new_cluster, false);
  assert.equal(p.would_join, true);
  assert.equal(p.cluster_id, B);
});

// ---------------------------------------------------------------- clusters

/** Three clusters: A (3 tweets, last at +10 s), B (1, at +30 s), C (2, last at +20 s). */
function threeClusters() {
  const made = make();
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  const r = made.service.ingest([
    { id: 'a1', text: 'alpha', embedding: axis(0), created_at: at(0) },
    { id: 'c1', text: 'gamma', embedding: axis(2), created_at: at(1) },
    { id: 'a2', text: 'alpha', embedding: axis(0), created_at: at(5) },
    { id: 'b1', text: 'beta', embedding: axis(1), created_at: at(30) },
    { id: 'c2', text: 'gamma', embedding: axis(2), created_at: at(20) },
    { id: 'a3', text: 'alpha', embedding: axis(0), created_at: at(10) },
  ]);
  const id = (i: number) => assigned(r.results[i]).cluster_id;
  return { ...made, A: id(0), C: id(1), B: id(3), at };
}

test('listClusters sorts by size or by last tweet, ties older id first, and pages', () => {
  const { service, A, B, C, at } = threeClusters();
  const bySize = service.listClusters('size', 0, 10);
  assert.equal(bySize.total, 3);
  assert.deepEqual(
    bySize.clusters.map((c) => [c.id, c.size]),
    [
      [A, 3],
      [C, 2],
      [B, 1],
    ],
  );
  assert.deepEqual(
    service.listClusters('last_seen', 0, 10).clusters.map((c) => c.id),
    [B, C, A],
  );
  const a = bySize.clusters[0];
  assert.equal(a.first_seen, at(0));
  assert.equal(a.last_seen, at(10));
  assert.equal(a.cohesion, 1);
  assert.equal(a.example, 'alpha');
  assert.equal('topic' in a, false); // no topic step ran

  // pages: offset and limit, total unchanged
  const page = service.listClusters('size', 1, 1);
  assert.deepEqual(
    { total: page.total, offset: page.offset, limit: page.limit, sort: page.sort },
    { total: 3, offset: 1, limit: 1, sort: 'size' },
  );
  assert.deepEqual(
    page.clusters.map((c) => c.id),
    [C],
  );
  assert.deepEqual(service.listClusters('size', 3, 10).clusters, []);
  assert.deepEqual(
    service.listClusters('size', 2, 10).clusters.map((c) => c.id),
    [B],
  );

  // equal sizes: the older cluster first, whatever the order of the leaves
  service.ingest([{ id: 'b2', text: 'beta', embedding: axis(1), created_at: at(40) }]);
  assert.deepEqual(
    service.listClusters('size', 0, 10).clusters.map((c) => c.id),
    [A, Math.min(B, C), Math.max(B, C)],
  );
});

test('cluster(id) answers one cluster, or BRD_ERR_CLUSTER_NOT_FOUND', () => {
  const { service, A } = threeClusters();
  assert.equal(service.cluster(A).size, 3);
  const err = birdieError('BRD_ERR_CLUSTER_NOT_FOUND', () => service.cluster(999));
  assert.equal(err.status, 404);
});

// ---------------------------------------------------------------- tweet lookup

test('tweet(id) gives the held tweet, its embedding on request', () => {
  const { service } = make();
  const r = assigned(
    service.ingest([
      {
        id: 't1',
        text: 'hello there',
        embedding: vec(3, 4),
        user: 42,
        lang: 'en',
        created_at: '2025-06-01T00:00:00Z',
      },
    ]).results[0],
  );
  assert.deepEqual(service.tweet('t1', false), {
    id: 't1',
    cluster_id: r.cluster_id,
    cluster_active: true,
    similarity: 1,
    time: '2025-06-01T00:00:00.000Z',
    text: 'hello there',
    user: '42',
    lang: 'en',
  });
  // the embedding as applied: L2-normalised, float32
  const e = service.tweet('t1', true).embedding;
  assert.ok(e);
  assert.equal(e.length, DIM);
  assert.ok(Math.abs(e[0] - 0.6) < 1e-7 && Math.abs(e[1] - 0.8) < 1e-7);
  // no user or lang given: none shown; no created_at: the arrival time
  service.ingest([{ id: 't2', text: 'plain' }]);
  const t2 = service.tweet('t2', false);
  assert.equal('user' in t2, false);
  assert.equal('lang' in t2, false);
  assert.equal(t2.time, new Date(T0).toISOString());
});

test('tweet(id) of an unknown or evicted id is BRD_ERR_TWEET_NOT_FOUND', () => {
  const { service } = make({ maxTweetEmbeddings: 2 });
  service.ingest([
    { id: 'a', text: 'one' },
    { id: 'b', text: 'two' },
    { id: 'c', text: 'three' },
  ]);
  const err = birdieError('BRD_ERR_TWEET_NOT_FOUND', () => service.tweet('nope', false));
  assert.equal(err.status, 404);
  assert.match(err.message, /"nope"/);
  birdieError('BRD_ERR_TWEET_NOT_FOUND', () => service.tweet('a', false)); // the oldest went first
  assert.equal(service.tweet('c', false).text, 'three');
});

test('a held tweet whose cluster expired says so', () => {
  const { service, clock } = make({ clusterExpiryHours: 1 });
  service.ingest([{ id: 'old', text: '', embedding: axis(0), created_at: T0 }]);
  clock.now = T0 + 2 * HOUR;
  service.ingest([{ id: 'new', text: '', embedding: axis(1), created_at: T0 + 2 * HOUR }]);
  assert.equal(service.tweet('old', false).cluster_active, false);
  assert.equal(service.tweet('new', false).cluster_active, true);
  assert.equal(service.clusteringStats().expired_clusters, 1);
});

test('one tweet dated far in the future is refused and expires nothing', () => {
  const { service } = make({ clusterExpiryHours: 24 });
  service.ingest([0, 1, 2].map((i) => ({ id: `t${i}`, text: '', embedding: axis(i) })));
  assert.equal(service.engine.clusterCount, 3);
  // a client clock off by decades, or epoch microseconds read as milliseconds
  const r = service.ingest([
    { id: 'future', text: '', embedding: axis(3), created_at: '2100-01-01T00:00:00Z' },
  ]);
  assert.deepEqual(r.results[0], {
    index: 0,
    id: 'future',
    error: { code: 'BRD_ERR_INVALID_TWEET', message: 'created_at is more than a day in the future' },
  });
  assert.equal(service.engine.clusterCount, 3, 'the clusters of the last minute were expired');
  // within a day ahead (time zones, skew) is accepted, and counts as its arrival: the clock
  // that expires stories does not jump ahead with it
  const ok = service.ingest([{ id: 'soon', text: '', embedding: axis(3), created_at: T0 + 23 * HOUR }]);
  assert.equal(ok.accepted, 1);
  assert.equal(service.tweet('soon', false).time, new Date(T0).toISOString());
  assert.equal(service.engine.now, T0);
  assert.equal(service.engine.clusterCount, 4);
  // a few minutes ahead is a clock's skew: kept as given
  service.ingest([{ id: 'skew', text: '', embedding: axis(4), created_at: T0 + 5 * 60_000 }]);
  assert.equal(service.tweet('skew', false).time, new Date(T0 + 5 * 60_000).toISOString());
});

// ---------------------------------------------------------------- topics

test('topics disabled: BRD_ERR_TOPICS_DISABLED, and the step never runs', () => {
  const { service } = make({ topics: 0 });
  service.ingest([{ text: 'x' }]);
  assert.equal(service.topicsEnabled, false);
  const err = birdieError('BRD_ERR_TOPICS_DISABLED', () => service.topics());
  assert.equal(err.status, 404);
  assert.equal(service.refreshTopics(), false);
});

test('topics enabled: the step groups the clusters; sizes add up to the tweets', () => {
  const { service, clock } = make({ topics: 2, similarityThreshold: 0.95 });
  assert.deepEqual(service.topics(), { computed_at: null, clusters: 0, topics: [] });
  // two stories, each in two clusters (cos 0.83 < 0.95 between them, 0 across stories)
  const story = (at: number, sign: number) => {
    const v = vec();
    v[at] = 1;
    v[at + 1] = sign * 0.3;
    return v;
  };
  const tweets = [
    ...Array.from({ length: 3 }, () => ({ text: 'storm rain', embedding: story(0, 1) })),
    { text: 'storm wind', embedding: story(0, -1) },
    ...Array.from({ length: 2 }, () => ({ text: 'final goal', embedding: story(5, 1) })),
    { text: 'final match', embedding: story(5, -1) },
  ];
  const r = service.ingest(tweets);
  assert.equal(r.accepted, 7);
  assert.equal(service.engine.clusterCount, 4);
  clock.now = T0 + 5000;
  assert.equal(service.refreshTopics(), true);
  const view = service.topics();
  assert.equal(view.computed_at, new Date(T0 + 5000).toISOString());
  assert.equal(view.clusters, 4);
  assert.equal(view.topics.length, 2);
  assert.equal(
    view.topics.reduce((s, t) => s + t.size, 0),
    service.engine.tweets,
  );
  // the largest topic first; its clusters largest first; each story's clusters together
  const [storm, football] = view.topics;
  const ids = r.results.map((x) => assigned(x).cluster_id);
  assert.equal(storm.size, 4);
  assert.deepEqual(storm.clusters, [ids[0], ids[3]]);
  assert.equal(football.size, 3);
  assert.deepEqual(football.clusters, [ids[4], ids[6]]);
  // the terms of a topic: in how many of its tweets ('wind', in one of four, is below the floor)
  assert.deepEqual(storm.terms, [
    { term: 'storm', count: 4 },
    { term: 'rain', count: 3 },
  ]);
  // every cluster's view names its topic
  for (const t of view.topics) {
    for (const id of t.clusters) assert.equal(service.cluster(id).topic, t.topic);
  }
  // nothing new: the step does not run again; a new tweet makes it run
  assert.equal(service.refreshTopics(), false);
  service.ingest([{ text: 'more', embedding: axis(9) }]);
  assert.equal(service.refreshTopics(), true);
  assert.equal(
    service.topics().topics.reduce((s, t) => s + t.size, 0),
    8,
  );
});

test('topics with fewer clusters than asked: one topic a cluster', () => {
  const { service } = make({ topics: 10 });
  service.ingest([
    { text: '', embedding: axis(0) },
    { text: '', embedding: axis(1) },
  ]);
  assert.equal(service.refreshTopics(), true);
  assert.equal(service.topics().topics.length, 2);
});

// ---------------------------------------------------------------- ingest rate

test('ingestRate: tweets applied per second over the last 60 s of the injected clock', () => {
  const { service, clock } = make();
  const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `tweet ${i}` }));
  assert.equal(service.ingestRate(), 0);
  service.ingest(batch(30));
  // under a second of uptime: the span is one second, not a fraction
  clock.now = T0 + 500;
  assert.equal(service.ingestRate(), 30);
  clock.now = T0 + 10_000;
  assert.equal(service.ingestRate(), 3);
  clock.now = T0 + 59_000;
  assert.ok(Math.abs(service.ingestRate() - 30 / 59) < 1e-12);
  // a minute later those 30 have left the window
  clock.now = T0 + 60_000;
  assert.equal(service.ingestRate(), 0);
  service.ingest(batch(60));
  clock.now = T0 + 90_000;
  assert.equal(service.ingestRate(), 1); // 60 in the last 60 s
  // a long silence empties the window
  clock.now = T0 + 3_600_000;
  assert.equal(service.ingestRate(), 0);
});

test('ingestRate counts applied tweets only, not rejected ones or duplicates', () => {
  const { service, clock } = make();
  service.ingest([{ id: 'a', text: 'one' }, { id: 'a', text: 'one' }, { text: '' }, 'junk']);
  clock.now = T0 + 1000;
  assert.equal(service.ingestRate(), 1);
});

// ---------------------------------------------------------------- clustering stats

test('clusteringStats warns when nearly every cluster is a single tweet', () => {
  const dim = 128;
  const { service } = make({ embeddingDim: dim });
  service.ingest(Array.from({ length: 99 }, (_, i) => ({ text: '', embedding: axis(i, dim) })));
  // under 100 tweets the shares mean little: no warning yet
  assert.deepEqual(service.clusteringStats().warnings, []);
  service.ingest([{ text: '', embedding: axis(99, dim) }]);
  const s = service.clusteringStats();
  assert.equal(s.clusters, 100);
  assert.equal(s.singletons, 100);
  assert.equal(s.singleton_fraction, 1);
  assert.equal(s.warnings.length, 1);
  assert.match(s.warnings[0], /100% of clusters are single tweets/);
  assert.match(s.warnings[0], /too strict/);
});

test('clusteringStats warns when one cluster holds most tweets', () => {
  const { service } = make();
  service.ingest(Array.from({ length: 100 }, () => ({ text: '', embedding: axis(0) })));
  service.ingest([
    { id: 'd', text: '', embedding: axis(1) },
    { id: 'd', text: '', embedding: axis(1) },
    'junk',
  ]);
  const s = service.clusteringStats();
  assert.equal(s.clusters, 2);
  assert.equal(s.tweets_in_clusters, 101);
  assert.equal(s.largest_cluster_size, 100);
  assert.equal(s.mean_cluster_size, 50.5);
  assert.equal(s.duplicates, 1);
  assert.equal(s.rejected, 1);
  assert.equal(s.warnings.length, 1);
  assert.match(s.warnings[0], /one cluster holds 99% of tweets/);
  assert.match(s.warnings[0], /too loose/);
});

test('clusteringStats on an empty service: zeros and no warning', () => {
  const { service } = make();
  const s = service.clusteringStats();
  assert.equal(s.clusters, 0);
  assert.equal(s.singleton_fraction, 0);
  assert.equal(s.mean_cluster_size, 0);
  assert.deepEqual(s.warnings, []);
});

// ---------------------------------------------------------------- live settings

test('setLive changes the similarity threshold of the next tweets (cosine mode)', () => {
  const { service } = make({ similarityThreshold: 0.5 });
  service.ingest([{ text: '', embedding: axis(0) }]);
  const x = vec(0.6, 0.8); // cos 0.6 with the cluster
  assert.equal(service.predict({ embedding: x }).would_join, true);
  service.setLive({ similarityThreshold: 0.7, birchThreshold: undefined, clusterExpiryHours: 0 });
  assert.equal(service.engine.tree.minSimilarity, 0.7);
  assert.equal(service.predict({ embedding: x }).would_join, false);
  assert.equal(assigned(service.ingest([{ text: '', embedding: x }]).results[0]).new_cluster, true);
});

test('setLive changes the radius in radius mode, and the expiry window in both', () => {
  const { service } = make({ birchThreshold: 0.5 });
  assert.equal(service.engine.tree.minSimilarity, undefined);
  assert.equal(service.engine.tree.threshold, 0.5);
  service.setLive({ similarityThreshold: 0.25, birchThreshold: 0.3, clusterExpiryHours: 2 });
  assert.equal(service.engine.tree.threshold, 0.3);
  assert.equal(service.engine.tree.minSimilarity, undefined); // the mode stays
  assert.equal(service.engine.expiryMs, 2 * HOUR);
});
