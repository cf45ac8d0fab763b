/**
 * The living stream through the service (src/pipeline/service.ts), in process, on its injected
 * clock: tweets without created_at expire by arrival time as the clock advances (and only when a
 * tweet comes); a created_at more than 15 minutes ahead of arrival counts as arrival; listings by
 * growth and /trending order, with MIN_CLUSTER_SIZE filtering and the stories count in the stats;
 * MAX_CLUSTERS_IN_MEMORY under a stream (old ids answer with the survivor and `merged_from`,
 * tweets follow their merged cluster); MAX_TWEET_EMBEDDINGS keeps the newest; live settings are
 * journaled and a replay of the journal gives the same state.
 *
 * Tweets bring their own embedding, so which tweets share a cluster is the test's choice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BirdieError, type ErrorCode } from '../../src/errors.js';
import type { Assigned, Rejected } from '../../src/pipeline/schema.js';
import { Service, type ServiceOptions, TRENDING_GROWTH } from '../../src/pipeline/service.js';
import { Rng } from '../helpers/rng.js';

const DIM = 16;
const T0 = Date.parse('2026-01-02T00:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

const base: ServiceOptions = {
  embeddingDim: DIM,
  similarityThreshold: 0.5,
  birchThreshold: undefined,
  branchingFactor: 8,
  maxTweetEmbeddings: 100_000,
  maxTweetIds: 100_000,
  clusterExpiryHours: 0,
  topics: 0,
};

/** A service on a clock the test moves: `clock.now = ...`. */
function make(over: Partial<ServiceOptions> = {}) {
  const clock = { now: T0 };
  const service = new Service({ ...base, clock: () => clock.now, ...over });
  return { service, clock };
}

/** The unit vector along axis i. */
function axis(i: number, dim = DIM): number[] {
  const v = new Array<number>(dim).fill(0);
  v[i] = 1;
  return v;
}

const iso = (ms: number) => new Date(ms).toISOString();

function assigned(r: Assigned | Rejected): Assigned {
  if ('error' in r) assert.fail(`rejected: ${JSON.stringify(r)}`);
  return r;
}

function one(service: Service, item: Record<string, unknown>): Assigned {
  return assigned(service.ingest([item]).results[0]);
}

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

/**
 * Sparse unit vectors around `stories` stories that come and go (a story owns 3 coordinates);
 * a `noise` share of them anywhere (future outliers).
 */
function* generated(seed: number, stories: number, noise = 0, dim = DIM): Generator<number[]> {
  const rng = new Rng(seed);
  const own = Array.from({ length: stories }, () => [rng.int(dim), rng.int(dim), rng.int(dim)]);
  for (;;) {
    const v = new Array<number>(dim).fill(0);
    const story = rng.next() < noise ? undefined : rng.pick(own);
    for (let j = 0; j < 3; j++)
      v[story !== undefined && rng.next() < 0.85 ? rng.pick(story) : rng.int(dim)] += 0.2 + rng.next();
    const len = Math.hypot(...v);
    yield v.map((x) => x / len);
    // stories are replaced now and then
    if (rng.next() < 0.01) own[rng.int(stories)] = [rng.int(dim), rng.int(dim), rng.int(dim)];
  }
}

// ---------------------------------------------------------------- expiry by arrival time

test('tweets without created_at expire by arrival time as the clock advances, and only when a tweet comes', () => {
  const { service, clock } = make({ clusterExpiryHours: 1 });
  const a = one(service, { id: 'a', text: 'first', embedding: axis(0) });
  assert.equal(service.tweet('a', false).time, iso(T0), 'the arrival time is the tweet time');
  clock.now = T0 + 30 * MIN;
  const b = one(service, { id: 'b', text: 'second', embedding: axis(1) });
  // time passes on the clock, but the engine's clock is the tweets': nothing expires yet
  clock.now = T0 + 5 * HOUR;
  assert.equal(service.cluster(a.cluster_id).id, a.cluster_id);
  assert.equal(service.listClusters('size', 0, 10).total, 2);
  assert.equal(service.engine.now, T0 + 30 * MIN);
  // the next tweet arrives 61 minutes after 'a': a's cluster leaves, b's too (it is 4.5 h old)
  clock.now = T0 + 61 * MIN;
  one(service, { id: 'c', text: 'third', embedding: axis(2) });
  birdieError('BRD_ERR_CLUSTER_NOT_FOUND', () => service.cluster(a.cluster_id));
  assert.equal(service.cluster(b.cluster_id).id, b.cluster_id, 'b is 31 minutes old');
  const gone = service.tweet('a', false);
  assert.equal(gone.cluster_active, false);
  assert.equal(gone.cluster_id, a.cluster_id);
  assert.equal('assigned_cluster_id' in gone, false);
  assert.equal(service.tweet('b', false).cluster_active, true);
  assert.equal(service.clusteringStats().expired_clusters, 1);
  clock.now = T0 + 5 * HOUR;
  one(service, { id: 'd', text: 'fourth', embedding: axis(3) });
  birdieError('BRD_ERR_CLUSTER_NOT_FOUND', () => service.cluster(b.cluster_id));
  assert.equal(service.clusteringStats().expired_clusters, 3);
  assert.equal(service.listClusters('size', 0, 10).total, 1);
});

test('a created_at more than 15 minutes ahead of arrival counts as arrival; up to 15 minutes it is kept', () => {
  let late = 0;
  const { service, clock } = make({ clusterExpiryHours: 1, observer: { late: () => late++ } });
  one(service, { id: 'ahead16', text: 'x', embedding: axis(0), created_at: iso(T0 + 16 * MIN) });
  assert.equal(service.tweet('ahead16', false).time, iso(T0));
  assert.equal(service.engine.now, T0, 'the clock did not jump ahead');
  one(service, { id: 'ahead15', text: 'x', embedding: axis(0), created_at: iso(T0 + 15 * MIN) });
  assert.equal(service.tweet('ahead15', false).time, iso(T0 + 15 * MIN));
  assert.equal(service.engine.now, T0 + 15 * MIN);
  // a past created_at is the tweet's time, even far behind (a late tweet, counted)
  one(service, { id: 'past', text: 'x', embedding: axis(1), created_at: iso(T0 - 3 * HOUR) });
  assert.equal(service.tweet('past', false).time, iso(T0 - 3 * HOUR));
  assert.equal(late, 1);
  assert.equal(service.engine.now, T0 + 15 * MIN);
  // more than a day ahead is refused
  const r = service.ingest([{ id: 'far', text: 'x', embedding: axis(0), created_at: iso(T0 + 25 * HOUR) }]);
  assert.equal(r.rejected, 1);
  assert.equal((r.results[0] as Rejected).error.code, 'BRD_ERR_INVALID_TWEET');
  // a tweet 16 minutes ahead when the clock moved: its time is its arrival again
  clock.now = T0 + 2 * HOUR;
  one(service, { id: 'ahead16b', text: 'x', embedding: axis(2), created_at: iso(T0 + 2 * HOUR + 16 * MIN) });
  assert.equal(service.tweet('ahead16b', false).time, iso(T0 + 2 * HOUR));
  assert.equal(service.engine.now, T0 + 2 * HOUR);
  // the first cluster (last tweet at T0 + 15 min) expired by then; 'past' left at once
  assert.equal(service.tweet('ahead15', false).cluster_active, false);
  assert.equal(service.tweet('past', false).cluster_active, false);
  assert.equal(service.tweet('ahead16b', false).cluster_active, true);
});

// ---------------------------------------------------------------- growth and trending

test("listClusters('growth') and trending(): fastest growing first; MIN_CLUSTER_SIZE filters; stories in the stats", () => {
  const { service, clock } = make({ minClusterSize: 3 });
  clock.now = T0 + 9 * HOUR;
  const items: Record<string, unknown>[] = [];
  // five steady stories (axes 0..4), one tweet every 10 minutes for 8 hours, at different phases
  for (let c = 0; c < 5; c++)
    for (let t = c * MIN; t < 8 * HOUR; t += 10 * MIN)
      items.push({ id: `s${c}-${t}`, text: `steady ${c}`, embedding: axis(c), created_at: iso(T0 + t) });
  // story 5: 12 tweets in 2 minutes, ending 8 minutes before the last tweet; story 6: 12 tweets
  // in the last hour; a pair and a single tweet at the end
  for (let k = 0; k < 12; k++) {
    items.push({
      id: `burst${k}`,
      text: `burst ${k}`,
      embedding: axis(5),
      created_at: iso(T0 + 7 * HOUR + 50 * MIN + k * 10 * SEC),
    });
    items.push({
      id: `warm${k}`,
      text: `warm ${k}`,
      embedding: axis(6),
      created_at: iso(T0 + 7 * HOUR + k * 5 * MIN),
    });
  }
  items.push({ id: 'pair0', text: 'pair', embedding: axis(7), created_at: iso(T0 + 8 * HOUR - 2 * MIN) });
  items.push({ id: 'pair1', text: 'pair', embedding: axis(7), created_at: iso(T0 + 8 * HOUR - MIN) });
  items.push({ id: 'single', text: 'single', embedding: axis(8), created_at: iso(T0 + 8 * HOUR - MIN) });
  items.sort((x, y) => Date.parse(x.created_at as string) - Date.parse(y.created_at as string));
  const r = service.ingest(items);
  assert.equal(r.accepted, items.length);
  const cluster = (id: string) => service.tweet(id, false).cluster_id;
  const [burst, warm, pair, single] = ['burst0', 'warm0', 'pair0', 'single'].map(cluster);
  const steady = [0, 1, 2, 3, 4].map((c) => cluster(`s${c}-${c * MIN}`));

  const all = service.listClusters('growth', 0, 100);
  assert.equal(all.sort, 'growth');
  assert.equal(all.min_size, 3);
  assert.equal(all.total, 7, 'five steady stories, the burst and the warm one; not the pair nor the single');
  const ids = all.clusters.map((c) => c.id);
  assert.deepEqual(new Set(ids), new Set([...steady, burst, warm]));
  for (let i = 1; i < all.clusters.length; i++) {
    const [p, q] = [all.clusters[i - 1], all.clusters[i]];
    assert.ok(
      p.growth > q.growth || (p.growth === q.growth && p.id < q.id),
      'growth descending, older id first',
    );
  }
  assert.equal(ids[0], burst, 'the burst grows fastest');
  assert.equal(ids[1], warm);
  for (const c of all.clusters.slice(2)) assert.ok(Math.abs(c.growth) < 1, `steady story grows ${c.growth}`);
  // pages of the same order
  assert.deepEqual(
    [0, 2, 4, 6].flatMap((o) => service.listClusters('growth', o, 2).clusters.map((c) => c.id)),
    ids,
  );
  // min_size 1 lists the pair and the single too, each in its place by growth
  const every = service.listClusters('growth', 0, 100, 1);
  assert.equal(every.total, 9);
  assert.deepEqual(
    every.clusters.filter((c) => c.id !== pair && c.id !== single).map((c) => c.id),
    ids,
  );
  const pairGrowth = every.clusters.find((c) => c.id === pair)!.growth;
  assert.ok(pairGrowth > 0, 'two tweets a minute apart grow from nothing');
  // trending: stories with growth >= 2 (TRENDING_GROWTH), fastest first, and not the pair
  // (under MIN_CLUSTER_SIZE); no steady story
  const t = service.trending(20);
  assert.equal(t.as_of, iso(T0 + 8 * HOUR - MIN), "the engine's clock: the latest tweet time");
  const growing = all.clusters.filter((c) => c.growth >= TRENDING_GROWTH);
  // the burst trends; the warm story (12 tweets an hour for its whole hour) grows, but less
  // than 2 standard deviations over its own rate
  assert.deepEqual(
    growing.map((c) => c.id),
    [burst],
  );
  const warmGrowth = all.clusters.find((c) => c.id === warm)!.growth;
  assert.ok(warmGrowth > 0 && warmGrowth < TRENDING_GROWTH, String(warmGrowth));
  assert.equal(t.total, growing.length);
  assert.deepEqual(
    t.clusters.map((c) => c.id),
    growing.map((c) => c.id),
  );
  assert.equal(
    t.clusters.some((c) => c.id === pair),
    false,
  );
  assert.deepEqual(
    service.trending(1).clusters.map((c) => c.id),
    [burst],
  );
  assert.equal(service.trending(1).total, t.total);
  // a summary in the listing: the burst's counts
  const b = service.cluster(burst);
  assert.equal(b.size, 12);
  assert.equal(b.representatives.length, 3);
  assert.deepEqual(
    b.timeline?.filter((x) => x.count > 0),
    [{ start: iso(T0 + 7 * HOUR + 50 * MIN), count: 12 }],
  );
  // the stats count stories apart from clusters
  const stats = service.clusteringStats();
  assert.equal(stats.clusters, 9);
  assert.equal(stats.stories, 7);
  assert.equal(stats.min_cluster_size, 3);
  assert.equal(stats.singletons, 1);
  // other sorts filter the same way
  assert.equal(service.listClusters('size', 0, 100).total, 7);
  assert.equal(service.listClusters('last_seen', 0, 100).clusters[0].id, warm, 'warm has the latest tweet');
  assert.equal(service.listClusters('size', 0, 100, 13).total, 5, 'only the steady stories have 48 tweets');
});

// ---------------------------------------------------------------- memory caps

test('MAX_CLUSTERS_IN_MEMORY under a stream: old ids answer with the survivor, tweets follow their cluster', () => {
  const rebuilt: number[] = [];
  const { service, clock } = make({
    maxClustersInMemory: 25,
    similarityThreshold: 0.7,
    observer: { rebuilt: (e) => rebuilt.push(e.merged) },
  });
  const answers = new Map<string, number>();
  const vectors = generated(17, 12);
  for (let batch = 0; batch < 60; batch++) {
    clock.now = T0 + batch * MIN;
    const items = Array.from({ length: 50 }, (_, k) => ({
      id: `t${batch * 50 + k}`,
      text: `tweet ${batch * 50 + k}`,
      embedding: vectors.next().value as number[],
    }));
    const r = service.ingest(items);
    for (const a of r.results) {
      const x = assigned(a);
      answers.set(x.id, x.cluster_id);
    }
    assert.ok(service.engine.clusterCount <= 25);
  }
  const e = service.engine;
  assert.ok(e.rebuilds > 0, 'no rebuild');
  assert.equal(rebuilt.length, e.rebuilds);
  const stats = service.clusteringStats();
  assert.equal(stats.rebuilds, e.rebuilds);
  assert.equal(stats.merged_clusters, e.mergedClusters);
  assert.equal(stats.max_clusters_in_memory, 25);
  assert.ok(stats.warnings.some((w) => /MAX_CLUSTERS_IN_MEMORY \(25\)/.test(w)));
  assert.ok((stats.threshold_in_use as { similarity_threshold: number }).similarity_threshold < 0.7);
  let merged = 0;
  const sizes = new Map<number, number>();
  for (const [id, answer] of answers) {
    const now = e.resolve(answer);
    assert.ok(now !== undefined && now <= answer, `tweet ${id}: cluster ${answer} lost`);
    sizes.set(now, (sizes.get(now) ?? 0) + 1);
    // the old id answers with the survivor, and says so
    const c = service.cluster(answer);
    assert.equal(c.id, now);
    if (now !== answer) {
      merged++;
      assert.equal(c.merged_from, answer);
    } else {
      assert.equal('merged_from' in c, false);
    }
    // the tweet follows its cluster
    const t = service.tweet(id, false);
    assert.equal(t.cluster_active, true);
    assert.equal(t.cluster_id, now);
    if (now !== answer) assert.equal(t.assigned_cluster_id, answer);
    else assert.equal('assigned_cluster_id' in t, false);
  }
  assert.ok(merged > 0, 'no tweet was answered with an id merged since');
  // brute force: the tweets that resolve to a cluster are its size
  for (const [id, n] of sizes) assert.equal(service.cluster(id).size, n);
  assert.equal(sizes.size, e.clusterCount);
  // a repeated id is answered with where its first answer leads now
  const [firstId, firstAnswer] = [...answers].find(([, c]) => e.resolve(c) !== c)!;
  const again = assigned(service.ingest([{ id: firstId, text: 'again', embedding: axis(0) }]).results[0]);
  assert.equal(again.duplicate, true);
  assert.equal(again.cluster_id, e.resolve(firstAnswer));
  // an id never made is not found
  birdieError('BRD_ERR_CLUSTER_NOT_FOUND', () => service.cluster(e.tree.nextId + 5));
});

test('MAX_TWEET_EMBEDDINGS holds only the newest tweets; heldDropped counts the rest', () => {
  const { service } = make({ maxTweetEmbeddings: 100, maxTweetIds: 1000 });
  for (let i = 0; i < 250; i++) one(service, { id: `t${i}`, text: `tweet ${i}`, embedding: axis(i % DIM) });
  assert.equal(service.memory.heldCount, 100);
  assert.equal(service.memory.heldDropped, 150);
  birdieError('BRD_ERR_TWEET_NOT_FOUND', () => service.tweet('t149', false));
  for (const i of [150, 200, 249]) assert.equal(service.tweet(`t${i}`, true).embedding?.length, DIM);
  assert.deepEqual(
    [...service.memory.heldTweets()].map((t) => t.id),
    Array.from({ length: 100 }, (_, k) => `t${150 + k}`),
  );
  // the ids outlive the held tweets: a repeat of t0 is still a duplicate
  const r = service.ingest([{ id: 't0', text: 'again', embedding: axis(5) }]);
  assert.equal(r.duplicates, 1);
  assert.equal(service.memory.heldDropped, 150, 'a duplicate holds nothing');
});

// ---------------------------------------------------------------- live settings and replay

test('setLive changes minClusterSize, outlierExpiryHours, maxClustersInMemory; the journal replays to the same state', () => {
  const records: Buffer[] = [];
  const opts: Partial<ServiceOptions> = { clusterExpiryHours: 2, minClusterSize: 1, outlierExpiryHours: 0 };
  const { service: a, clock } = make(opts);
  a.journal = (p) => records.push(p);
  const vectors = generated(5, 20, 0.3);
  let n = 0;
  const feed = (batches: number) => {
    for (let b = 0; b < batches; b++) {
      clock.now += 20 * SEC;
      const items = Array.from({ length: 20 }, () => {
        const i = n++;
        // some with created_at (a few minutes back), some with text only (embedded here)
        return i % 7 === 0
          ? { id: `t${i}`, text: `story ${i % 5} words #tag${i % 3}` }
          : {
              id: `t${i}`,
              text: `tweet ${i}`,
              embedding: vectors.next().value as number[],
              ...(i % 3 === 0 ? { created_at: iso(clock.now - (i % 5) * MIN) } : {}),
            };
      });
      a.ingest(items);
    }
  };
  feed(30);
  const before = records.length;
  const settings = {
    similarityThreshold: 0.5,
    birchThreshold: undefined,
    clusterExpiryHours: 2,
  };
  // the same settings change nothing and journal nothing
  a.setLive({ ...settings, minClusterSize: 1, outlierExpiryHours: 0, maxClustersInMemory: 0 });
  assert.equal(records.length, before);
  a.setLive({ ...settings, minClusterSize: 3, outlierExpiryHours: 0.05, maxClustersInMemory: 20 });
  assert.equal(records.length, before + 1);
  assert.deepEqual(JSON.parse(records[before].toString('utf8')), {
    t: 'live',
    similarity: 0.5,
    threshold: 1,
    expiryMs: 2 * HOUR,
    minClusterSize: 3,
    outlierMs: 3 * MIN,
    maxClusters: 20,
  });
  assert.equal(a.engine.minClusterSize, 3);
  assert.equal(a.engine.outlierExpiryMs, 3 * MIN);
  assert.equal(a.engine.maxClusters, 20);
  assert.equal(a.clusteringStats().min_cluster_size, 3);
  feed(60);
  assert.ok(a.engine.clusterCount <= 20);
  assert.ok(a.engine.rebuilds > 0, 'the lower cap rebuilt');
  assert.ok(a.engine.outliersRemoved > 0, 'the outlier window acted');
  // every record replays into a fresh service: the same state, byte for byte
  const b = new Service({ ...base, clock: () => clock.now, ...opts });
  for (const r of records) b.replay(r);
  assert.deepEqual(b.exportState(), a.exportState());
  assert.equal(b.engine.minClusterSize, 3);
  assert.equal(b.engine.maxClusters, 20);
  assert.deepEqual(b.clusteringStats(), { ...a.clusteringStats(), duplicates: 0, rejected: 0 });
  assert.deepEqual(b.listClusters('growth', 0, 50), a.listClusters('growth', 0, 50));
});

test('setLive with unchanged settings after a rebuild keeps the loosened threshold and journals nothing', () => {
  // README: "the looser threshold stays". setLive compares the configured SIMILARITY_THRESHOLD
  // with the tree's bound, which a rebuild loosened: the same settings look like a change, so
  // the bound goes back to the configured one and a 'live' record is journaled. app.ts calls
  // setLive(config) at every start, and /config/reload does for any change (LOG_LEVEL too).
  const records: Buffer[] = [];
  const { service, clock } = make({ maxClustersInMemory: 25, similarityThreshold: 0.7 });
  service.journal = (p) => records.push(p);
  const vectors = generated(17, 12);
  for (let i = 0; i < 1000; i++) {
    clock.now = T0 + i * SEC;
    one(service, { id: `t${i}`, text: `tweet ${i}`, embedding: vectors.next().value as number[] });
  }
  assert.ok(service.engine.rebuilds > 0);
  const inUse = service.thresholdInUse();
  const journaled = records.length;
  service.setLive({
    similarityThreshold: 0.7,
    birchThreshold: undefined,
    clusterExpiryHours: 0,
    minClusterSize: 1,
    outlierExpiryHours: 0,
    maxClustersInMemory: 25,
  });
  assert.deepEqual(service.thresholdInUse(), inUse);
  assert.equal(records.length, journaled);
});
