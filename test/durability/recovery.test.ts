/**
 * Recovery in process (makeApp on an explicit STATE_DIR: a second makeApp on the same directory
 * is a restart). The state after a restart is compared with the state before, array for array
 * (`service.exportState()`), and through the API (/clusters both ways, /tweets/:id):
 *
 *   - a clean restart, and crash images (the directory copied while the app runs, every answer
 *     given: what a kill -9 leaves) with and without a snapshot;
 *   - a corrupt newest local snapshot: the previous one + the log;
 *   - a torn log tail: cut off, startup succeeds, nothing acknowledged is lost;
 *   - ENCRYPTION_KEY: no tweet text in clear in the snapshots, same key recovers, another key
 *     fails clearly, ENCRYPTION_PREVIOUS_KEYS rotates;
 *   - POST /restore of an older backup, and what follows it across a restart;
 *   - a state from another EMBEDDING_DIM is refused, naming both dimensions.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { StateParts } from '../../src/engine/state.js';
import type { Context } from '../../src/server/context.js';
import { decodeSnapshot, parseKey } from '../../src/store/codec.js';
import { listSegments } from '../../src/store/wal.js';
import { makeApp } from '../helpers/app.js';
import { Rng } from '../helpers/rng.js';
import { tempDir as scratchDir } from '../helpers/tmp.js';

const DIM = 64;
/** Backups only when asked (POST /backup) and at shutdown. */
const BASE = { EMBEDDING_DIM: String(DIM), BACKUP_EVERY_TWEETS: '0', SIMILARITY_THRESHOLD: '0.3' };

type App = { app: FastifyInstance; ctx: Context };

const tempDir = (t: { after: (fn: () => void) => void }, name = 'birdie-recovery-') => scratchDir(t, name);

/** What kill -9 would leave: the state directory as it is now, the app still running. */
function crashImage(t: { after: (fn: () => void) => void }, dir: string): string {
  const copy = tempDir(t, 'birdie-crash-image-');
  cpSync(dir, copy, { recursive: true });
  return copy;
}

const WORDS = (
  'quake tokyo storm rain vote election fire city strike metro bus train flood river match goal ' +
  'final market stocks crash launch rocket moon festival music concert police arrest protest'
).split(' ');

/** Tweets with ids `<prefix><n>`: texts from a small vocabulary (so clusters grow), some with
 * their own embedding, a user, a language, a time; unicode now and then. */
function tweets(rng: Rng, prefix: string, n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: 3 + rng.int(5) }, () => rng.pick(WORDS));
    const t: Record<string, unknown> = { id: `${prefix}${i}`, text: words.join(' ') };
    if (i % 9 === 0) t.text = `${t.text} 東京 🌋 «${prefix}»`;
    if (i % 11 === 0) t.embedding = Array.from(rng.unitVector(DIM));
    if (i % 3 === 0) t.user = `user${rng.int(20)}`;
    if (i % 4 === 0) t.lang = rng.pick(['en', 'ja', 'de']);
    if (i % 5 === 0)
      t.created_at = new Date(Date.parse('2026-01-01T00:00:00Z') + rng.int(3_600_000)).toISOString();
    return t;
  });
}

async function ingest(app: FastifyInstance, batch: Record<string, unknown>[]) {
  const res = await app.inject({ method: 'POST', url: '/tweets', payload: { tweets: batch } });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { accepted: number; results: { id: string; cluster_id?: number }[] };
  assert.equal(body.accepted, batch.length, res.body);
  return body.results;
}

async function backup(app: FastifyInstance): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/backup' });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { timestamp: string }).timestamp;
}

interface Observed {
  parts: StateParts;
  bySize: unknown;
  byLastSeen: unknown;
  tweets: Record<string, unknown>;
}

/** The state as the service holds it and as the API shows it. */
async function observe(a: App, ids: readonly string[] = []): Promise<Observed> {
  const get = async (url: string) => {
    const res = await a.app.inject({ url });
    return { status: res.statusCode, body: res.json() as unknown };
  };
  const tweetViews: Record<string, unknown> = {};
  for (const id of ids) tweetViews[id] = await get(`/tweets/${encodeURIComponent(id)}?embedding=true`);
  return {
    parts: a.ctx.service.exportState(),
    bySize: await get('/clusters?limit=1000'),
    byLastSeen: await get('/clusters?sort=last_seen&limit=1000'),
    tweets: tweetViews,
  };
}

/** The same state: JSON and every array (bytes, so -0 and NaN too), then the API's answers. */
function assertSameState(got: Observed, want: Observed, what: string): void {
  assert.deepStrictEqual(got.parts.json, want.parts.json, `${what}: state JSON`);
  assert.deepStrictEqual(
    Object.keys(got.parts.arrays),
    Object.keys(want.parts.arrays),
    `${what}: array names`,
  );
  const differ = Object.keys(want.parts.arrays).filter(
    (k) => !isDeepStrictEqual(got.parts.arrays[k], want.parts.arrays[k]),
  );
  assert.deepStrictEqual(differ, [], `${what}: arrays that differ`);
  assert.deepStrictEqual(got.bySize, want.bySize, `${what}: /clusters`);
  assert.deepStrictEqual(got.byLastSeen, want.byLastSeen, `${what}: /clusters?sort=last_seen`);
  assert.deepStrictEqual(got.tweets, want.tweets, `${what}: /tweets/:id`);
}

function snapshotFile(dir: string, ts: string): string {
  return join(dir, 'snapshots', 'state', ts, 'snapshot.bin');
}

function flipByte(file: string, at: (length: number) => number): void {
  const bytes = readFileSync(file);
  bytes[at(bytes.length)] ^= 0x20;
  writeFileSync(file, bytes);
}

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const SOME_IDS = ['a0', 'a1', 'a9', 'a11', 'b0', 'b5', 'c0', 'c3', 'd0', 'd2', 'nope'];

test('a restart recovers the same state: clean shutdown, crash image from the log alone, and snapshot + log', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(1);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 120));
  await ingest(first.app, tweets(rng, 'b', 80));
  // no snapshot yet: the log alone
  const logOnly = crashImage(t, dir);
  const atLogOnly = await observe(first, SOME_IDS);
  await backup(first.app);
  await ingest(first.app, tweets(rng, 'c', 60));
  // a snapshot, then a log tail to replay
  const withTail = crashImage(t, dir);
  const before = await observe(first, SOME_IDS);
  assert.ok(first.ctx.service.engine.clusterCount > 5, 'enough clusters to be worth comparing');
  await first.app.close();

  const second = await makeApp(env);
  assert.match(second.ctx.durable?.recovery.snapshot ?? '', /state\/\d{8}_\d{6}$/);
  assert.equal(second.ctx.durable?.recovery.replayed, 0, 'the shutdown snapshot covers everything');
  assertSameState(await observe(second, SOME_IDS), before, 'clean restart');
  await second.app.close();

  const fromLog = await makeApp({ ...env, STATE_DIR: logOnly });
  // the state's first snapshot (taken when it was created, at log record 0) and the whole log
  assert.match(fromLog.ctx.durable?.recovery.snapshot ?? '', /state\/\d{8}_\d{6}$/);
  assert.equal(fromLog.ctx.durable?.recovery.replayed, 2);
  assertSameState(await observe(fromLog, SOME_IDS), atLogOnly, 'crash image, log only');
  await fromLog.app.close();

  const fromTail = await makeApp({ ...env, STATE_DIR: withTail });
  assert.ok(fromTail.ctx.durable?.recovery.snapshot !== undefined);
  assert.equal(fromTail.ctx.durable?.recovery.replayed, 1);
  assertSameState(await observe(fromTail, SOME_IDS), before, 'crash image, snapshot + log tail');
  await fromTail.app.close();

  // and once more on the cleanly restarted directory: nothing drifts
  const third = await makeApp(env);
  assertSameState(await observe(third, SOME_IDS), before, 'second restart');
  await third.app.close();
});

test('a corrupt newest local snapshot: recovery uses the previous snapshot + the log, same state', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(2);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 80));
  const b1 = await backup(first.app);
  await ingest(first.app, tweets(rng, 'b', 60));
  const b2 = await backup(first.app);
  await ingest(first.app, tweets(rng, 'c', 40));
  const image = crashImage(t, dir);
  const before = await observe(first, SOME_IDS);
  await first.app.close();

  // the crash image: b2 is the newest; corrupt it
  flipByte(snapshotFile(image, b2), (n) => Math.floor(n / 2));
  const a = await makeApp({ ...env, STATE_DIR: image });
  const r = a.ctx.durable?.recovery;
  assert.ok(r?.snapshot?.endsWith(`state/${b1}`), `recovered from ${r?.snapshot}, want ${b1}`);
  assert.deepStrictEqual(r?.skipped, [
    `${b2}: the checksum does not match: the file is truncated or corrupt`,
  ]);
  assert.equal(r?.replayed, 2, 'the b and c batches come from the log');
  assertSameState(await observe(a, SOME_IDS), before, 'crash image, newest snapshot corrupt');
  await a.app.close();

  // the clean shutdown wrote a third snapshot; corrupt that one (its last byte: the checksum)
  const newest = readdirSync(join(dir, 'snapshots', 'state'))
    .sort()
    .at(-1) as string;
  assert.ok(newest > b2, 'a shutdown snapshot was written');
  flipByte(snapshotFile(dir, newest), (n) => n - 1);
  const b = await makeApp(env);
  assert.ok(b.ctx.durable?.recovery.snapshot?.endsWith(`state/${b2}`));
  assert.equal(b.ctx.durable?.recovery.skipped.length, 1);
  assertSameState(await observe(b, SOME_IDS), before, 'clean shutdown, newest snapshot corrupt');
  await b.app.close();
  // and again: the state stays
  const c = await makeApp(env);
  assertSameState(await observe(c, SOME_IDS), before, 'restart after the fallback');
  await c.app.close();
});

test('a torn log tail: startup succeeds, the tail is reported, the state is as before the tear', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(3);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 80));
  await backup(first.app);
  await ingest(first.app, tweets(rng, 'b', 50));
  await ingest(first.app, tweets(rng, 'c', 50));
  const image = crashImage(t, dir);
  const before = await observe(first, SOME_IDS);
  await first.app.close();
  const garbage = randomBytes(100);

  // the crash image: its last segment holds the b and c records, then the garbage
  const imageSegment = join(image, 'wal', listSegments(join(image, 'wal')).at(-1)?.name as string);
  appendFileSync(imageSegment, garbage);
  const a = await makeApp({ ...env, STATE_DIR: image });
  const r = a.ctx.durable?.recovery;
  assert.equal(r?.replayed, 2);
  assert.equal(r?.log.truncated?.bytes, 100, JSON.stringify(r?.log));
  assertSameState(await observe(a, SOME_IDS), before, 'crash image, torn tail');
  // appends continue after the cut, and survive a crash and a restart
  await ingest(a.app, tweets(rng, 'd', 30));
  const later = await observe(a, SOME_IDS);
  const image2 = crashImage(t, image);
  await a.app.close();
  const a2 = await makeApp({ ...env, STATE_DIR: image2 });
  assert.equal(a2.ctx.durable?.recovery.log.truncated, undefined);
  assertSameState(await observe(a2, SOME_IDS), later, 'crash after the cut');
  await a2.app.close();
  const a3 = await makeApp({ ...env, STATE_DIR: image });
  assertSameState(await observe(a3, SOME_IDS), later, 'clean restart after the cut');
  await a3.app.close();

  // the cleanly closed directory: the tear lands in the segment after the shutdown snapshot
  const segment = join(dir, 'wal', listSegments(join(dir, 'wal')).at(-1)?.name as string);
  appendFileSync(segment, garbage);
  const b = await makeApp(env);
  assert.equal(b.ctx.durable?.recovery.log.truncated?.bytes, 100);
  assertSameState(await observe(b, SOME_IDS), before, 'clean shutdown, torn tail');
  await b.app.close();
});

test('ENCRYPTION_KEY: no tweet text in clear on disk in snapshots; same key recovers, another fails clearly, previous keys rotate', async (t) => {
  const dir = tempDir(t);
  const k1 = randomBytes(32).toString('base64');
  const k2 = randomBytes(32).toString('base64');
  const id1 = parseKey(k1).id;
  const id2 = parseKey(k2).id;
  const env1 = { ...BASE, STATE_DIR: dir, ENCRYPTION_KEY: k1 };
  const rng = new Rng(4);
  const marker = 'zebracornflakes';
  const secretId = 'secret-tweet-id-8841';
  const first = await makeApp(env1);
  await ingest(first.app, tweets(rng, 'a', 60));
  await ingest(first.app, [{ id: secretId, text: `${marker} quake tokyo ${marker}` }]);
  await backup(first.app);
  await ingest(first.app, tweets(rng, 'b', 20));
  const ids = [...SOME_IDS, secretId];
  const before = await observe(first, ids);
  await first.app.close();

  const snapshots = filesUnder(join(dir, 'snapshots')).filter((f) => f.endsWith('snapshot.bin'));
  assert.equal(snapshots.length, 3, "the state's first snapshot, the backup and the shutdown snapshot");
  for (const f of filesUnder(join(dir, 'snapshots'))) {
    const bytes = readFileSync(f);
    for (const needle of [marker, secretId, 'quake tokyo', 'user1'])
      assert.ok(!bytes.includes(Buffer.from(needle)), `${f} holds "${needle}" in clear`);
  }
  for (const f of snapshots) {
    const bytes = readFileSync(f);
    assert.equal(bytes.readUInt16LE(10) & 2, 2, `${f} is flagged encrypted`);
    // the text is in there, under the key
    const { parts } = decodeSnapshot(bytes, [parseKey(k1)]);
    const manifest = JSON.parse(readFileSync(join(f, '..', 'manifest.json'), 'utf8'));
    // (the state's first snapshot holds no tweets yet)
    if (manifest.tweets > 0) assert.ok(JSON.stringify(parts.json).includes(marker));
    assert.equal(manifest.encrypted, true);
    assert.equal(manifest.keyId, id1);
  }

  const same = await makeApp(env1);
  assertSameState(await observe(same, ids), before, 'same key');
  await same.app.close();

  await assert.rejects(makeApp({ ...env1, ENCRYPTION_KEY: k2 }), (err: Error) => {
    assert.match(err.message, /^no snapshot could be loaded: /);
    assert.ok(
      err.message.includes(`the snapshot is encrypted with key id ${id1}; the configured keys are ${id2}`),
      err.message,
    );
    return true;
  });
  const noKey: Record<string, string> = { ...BASE, STATE_DIR: dir };
  await assert.rejects(makeApp(noKey), (err: Error) => {
    assert.ok(
      err.message.includes(`the snapshot is encrypted (key id ${id1}) and no ENCRYPTION_KEY is set`),
      err.message,
    );
    return true;
  });

  // rotation: the new key encrypts, the old one still decrypts
  const rotated = await makeApp({ ...env1, ENCRYPTION_KEY: k2, ENCRYPTION_PREVIOUS_KEYS: k1 });
  assertSameState(await observe(rotated, ids), before, 'new key with the old as previous');
  await ingest(rotated.app, tweets(rng, 'c', 20));
  const ts = await backup(rotated.app);
  const after = await observe(rotated, ids);
  await rotated.app.close();
  const manifest = JSON.parse(readFileSync(join(dir, 'snapshots', 'state', ts, 'manifest.json'), 'utf8'));
  assert.equal(manifest.keyId, id2, 'new snapshots use the new key');
  // the newest snapshot is under the new key: the old key may go
  const newOnly = await makeApp({ ...env1, ENCRYPTION_KEY: k2 });
  assertSameState(await observe(newOnly, ids), after, 'new key alone, after rotation');
  await newOnly.app.close();
});

test('POST /restore of an older backup: its state exactly; later tweets survive restarts; tweets after the backup are gone', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(5);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 80));
  const b1 = await backup(first.app);
  const atB1 = await observe(first, SOME_IDS);
  await ingest(first.app, tweets(rng, 'b', 60));
  await backup(first.app);
  await ingest(first.app, tweets(rng, 'c', 30));
  assert.equal((await first.app.inject({ url: '/tweets/b5' })).statusCode, 200);

  const res = await first.app.inject({ method: 'POST', url: '/restore', payload: { timestamp: b1 } });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { restored: { timestamp: string; tweets: number }; tweets: number };
  assert.equal(body.restored.timestamp, b1);
  assert.equal(body.tweets, 80);
  assertSameState(await observe(first, SOME_IDS), atB1, 'right after the restore');
  for (const id of ['b0', 'b5', 'c0', 'c3']) {
    const r = await first.app.inject({ url: `/tweets/${id}` });
    assert.equal(r.statusCode, 404, `${id} was ingested after the backup: ${r.body}`);
    assert.equal(r.json().error.code, 'BRD_ERR_TWEET_NOT_FOUND');
  }
  assert.equal((await first.app.inject({ url: '/tweets/a1' })).statusCode, 200);

  // tweets after the restore: they survive a crash and a clean restart
  await ingest(first.app, tweets(rng, 'd', 40));
  const after = await observe(first, SOME_IDS);
  const image = crashImage(t, dir);
  await first.app.close();
  const crashed = await makeApp({ ...env, STATE_DIR: image });
  assertSameState(await observe(crashed, SOME_IDS), after, 'crash after the restore');
  await crashed.app.close();
  const restarted = await makeApp(env);
  assertSameState(await observe(restarted, SOME_IDS), after, 'clean restart after the restore');
  assert.equal((await restarted.app.inject({ url: '/tweets/d2' })).statusCode, 200);
  assert.equal((await restarted.app.inject({ url: '/tweets/b5' })).statusCode, 404);
  await restarted.app.close();
});

test('after a restore, a corrupt newest snapshot still recovers the restored state', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(6);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 60));
  const b1 = await backup(first.app);
  await ingest(first.app, tweets(rng, 'b', 60));
  const res = await first.app.inject({ method: 'POST', url: '/restore', payload: { timestamp: b1 } });
  assert.equal(res.statusCode, 200, res.body);
  await ingest(first.app, tweets(rng, 'd', 30));
  const after = await observe(first, SOME_IDS);
  const image = crashImage(t, dir);
  await first.app.close();
  const restoreSnapshot = readdirSync(join(image, 'snapshots', 'state'))
    .sort()
    .at(-1) as string;
  assert.ok(restoreSnapshot > b1, 'the restore wrote the newest local snapshot');
  flipByte(snapshotFile(image, restoreSnapshot), (n) => Math.floor(n / 2));
  // either the restored state comes back, or startup refuses: never the replaced state revived
  let a: App;
  try {
    a = await makeApp({ ...env, STATE_DIR: image });
  } catch (err) {
    assert.match((err as Error).message, /restore/);
    return;
  }
  try {
    assert.equal(
      (await a.app.inject({ url: '/tweets/b5' })).statusCode,
      404,
      'a tweet the restore removed is back',
    );
    assertSameState(await observe(a, SOME_IDS), after, 'restored state + later tweets');
  } finally {
    // before the temp dirs go (t.after): close() writes a shutdown snapshot
    await a.app.close();
  }
});

test('a state from another EMBEDDING_DIM: startup fails naming both dimensions, and the state is untouched', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(7);
  const first = await makeApp(env);
  await ingest(first.app, tweets(rng, 'a', 50));
  const before = await observe(first, SOME_IDS);
  await first.app.close();
  await assert.rejects(makeApp({ ...env, EMBEDDING_DIM: '32' }), (err: Error) => {
    assert.match(err.message, /^no snapshot could be loaded: \d{8}_\d{6}: /);
    assert.match(
      err.message,
      /the state was made with embedder \S+ \(dimension 64\); this service runs \S+ \(dimension 32\)/,
    );
    return true;
  });
  const again = await makeApp(env);
  assertSameState(await observe(again, SOME_IDS), before, 'the original dimension after the refusal');
  await again.app.close();
});

test('a log (no snapshot yet) from another EMBEDDING_DIM: startup fails naming both dimensions', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(8);
  const first = await makeApp(env);
  const acked = await ingest(
    first.app,
    tweets(rng, 'a', 150).map(({ embedding: _, ...rest }) => rest),
  );
  const image = crashImage(t, dir);
  await first.app.close();
  let a: App;
  try {
    a = await makeApp({ ...env, STATE_DIR: image, EMBEDDING_DIM: '32' });
  } catch (err) {
    assert.match((err as Error).message, /64/);
    assert.match((err as Error).message, /32/);
    return;
  }
  try {
    const moved: string[] = [];
    for (const r of acked) {
      const got = (await a.app.inject({ url: `/tweets/${r.id}` })).json() as { cluster_id: number };
      if (got.cluster_id !== r.cluster_id) moved.push(r.id);
    }
    assert.fail(
      `started on a dimension-64 log with EMBEDDING_DIM=32 (dimension now ${a.ctx.service.dim}); ${moved.length} of ${acked.length} acknowledged tweets changed cluster`,
    );
  } finally {
    // before the temp dirs go (t.after): close() writes a shutdown snapshot
    await a.app.close();
  }
});

test('a log (no snapshot yet) replayed after SIMILARITY_THRESHOLD changed: acknowledged tweets keep their clusters', async (t) => {
  const dir = tempDir(t);
  const env = { ...BASE, STATE_DIR: dir };
  const rng = new Rng(9);
  const first = await makeApp(env);
  const acked = await ingest(first.app, tweets(rng, 'a', 150));
  const image = crashImage(t, dir);
  await first.app.close();
  const a = await makeApp({ ...env, STATE_DIR: image, SIMILARITY_THRESHOLD: '0.6' });
  try {
    const moved: string[] = [];
    for (const r of acked) {
      const got = (await a.app.inject({ url: `/tweets/${r.id}` })).json() as { cluster_id: number };
      if (got.cluster_id !== r.cluster_id) moved.push(r.id);
    }
    assert.equal(moved.length, 0, `${moved.length} of ${acked.length} acknowledged tweets changed cluster`);
  } finally {
    // before the temp dirs go (t.after): close() writes a shutdown snapshot
    await a.app.close();
  }
});
