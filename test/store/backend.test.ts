/** FsBackend and Backups on a temp directory: the layout, the order of writes, pruning, the key rule. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Backups, FsBackend, STAMP, type StorageBackend, stamp } from '../../src/store/backend.js';
import { tempDir as scratchDir } from '../helpers/tmp.js';

const META = { created: '2024-12-01T14:30:22.000Z', lsn: 7, encrypted: false, clusters: 3, tweets: 12 };

const tempRoot = (t: { after: (fn: () => void) => void }) => scratchDir(t, 'birdie-fs-backend-');

/** Every file under `dir`, '/'-separated, relative to it. */
function files(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, `${base}${e.name}/`) : [`${base}${e.name}`]))
    .sort();
}

test('write, list, read: the seed layout on disk, the manifest describing the snapshot', async (t) => {
  const root = tempRoot(t);
  const backups = new Backups(new FsBackend(root), 'birch-clustering/');
  const snapshot = Buffer.from([0, 1, 2, 253, 254, 255, ...Buffer.from('snapshot bytes')]);
  const m = await backups.write('20241201_143022', snapshot, META);

  assert.deepEqual(files(root), [
    'birch-clustering/state/20241201_143022/manifest.json',
    'birch-clustering/state/20241201_143022/snapshot.bin',
  ]);
  assert.deepEqual(m, {
    format: 'birdie-backup',
    version: 1,
    timestamp: '20241201_143022',
    bytes: snapshot.length,
    sha256: createHash('sha256').update(snapshot).digest('hex'),
    ...META,
  });
  assert.deepEqual(await backups.list(), [
    { ...m, key: 'birch-clustering/state/20241201_143022/manifest.json' },
  ]);
  const back = await backups.read('20241201_143022');
  assert.deepEqual(back.manifest, m);
  assert.ok(Buffer.isBuffer(back.snapshot));
  assert.deepEqual(back.snapshot, snapshot);
  // another prefix sees none of it
  assert.deepEqual(await new Backups(new FsBackend(root), 'other/').list(), []);
});

test('the manifest is written last: a folder with only snapshot.bin is not a backup', async (t) => {
  const root = tempRoot(t);
  const fs = new FsBackend(root);
  const order: string[] = [];
  let failSnapshot = false;
  const recording: StorageBackend = {
    kind: fs.kind,
    location: fs.location,
    put: async (key, body) => {
      order.push(key);
      if (failSnapshot && key.endsWith('/snapshot.bin')) throw new Error('disk full');
      await fs.put(key, body);
    },
    get: (key) => fs.get(key),
    list: (prefix) => fs.list(prefix),
    delete: (keys) => fs.delete(keys),
  };
  const backups = new Backups(recording);
  await backups.write('20241201_143022', Buffer.from('a'), META);
  assert.deepEqual(order, ['state/20241201_143022/snapshot.bin', 'state/20241201_143022/manifest.json']);

  // a snapshot whose write failed leaves no manifest behind
  failSnapshot = true;
  await assert.rejects(backups.write('20241201_150000', Buffer.from('b'), META), /disk full/);
  assert.equal(order.at(-1), 'state/20241201_150000/snapshot.bin');

  // a crash between the two writes: the snapshot alone is there, and is not listed
  await fs.put('state/20241202_000000/snapshot.bin', Buffer.from('half a backup'));
  assert.deepEqual(
    (await backups.list()).map((b) => b.timestamp),
    ['20241201_143022'],
  );
  assert.ok((await fs.list('state/')).includes('state/20241202_000000/snapshot.bin'));
});

test('unreadable or foreign manifests are not backups', async (t) => {
  const root = tempRoot(t);
  const fs = new FsBackend(root);
  const backups = new Backups(fs);
  await backups.write('20241201_143022', Buffer.from('ok'), META);
  await fs.put('state/20241203_000000/manifest.json', Buffer.from('{ not json'));
  await fs.put(
    'state/20241204_000000/manifest.json',
    Buffer.from(JSON.stringify({ format: 'something-else', timestamp: '20241204_000000' })),
  );
  await fs.put(
    'state/20241205_000000/manifest.json',
    Buffer.from(JSON.stringify({ format: 'birdie-backup', timestamp: 'yesterday' })),
  );
  assert.deepEqual(
    (await backups.list()).map((b) => b.timestamp),
    ['20241201_143022'],
  );
});

test('list is newest first, whatever order the backups were written in', async (t) => {
  const backups = new Backups(new FsBackend(tempRoot(t)), 'p/');
  for (const ts of ['20241201_143022', '20250101_000000', '20241130_235959', '20241201_143023'])
    await backups.write(ts, Buffer.from(ts), META);
  assert.deepEqual(
    (await backups.list()).map((b) => b.timestamp),
    ['20250101_000000', '20241201_143023', '20241201_143022', '20241130_235959'],
  );
});

test('prune keeps the newest N, deletes the rest with their folders, spares a write in progress', async (t) => {
  const root = tempRoot(t);
  const fs = new FsBackend(root);
  const backups = new Backups(fs, 'p/');
  const stamps = [
    '20241201_000000',
    '20241202_000000',
    '20241203_000000',
    '20241204_000000',
    '20241205_000000',
  ];
  for (const ts of stamps) await backups.write(ts, Buffer.from(ts), META);
  // a backup being written right now: its snapshot is there, its manifest not yet
  await fs.put('p/state/20241206_000000/snapshot.bin', Buffer.from('in progress'));

  assert.deepEqual(await backups.prune(10), []);
  assert.equal((await backups.list()).length, 5);

  const dropped = await backups.prune(2);
  assert.deepEqual(dropped, ['20241203_000000', '20241202_000000', '20241201_000000']);
  assert.deepEqual(
    (await backups.list()).map((b) => b.timestamp),
    ['20241205_000000', '20241204_000000'],
  );
  assert.deepEqual(await fs.list('p/state/'), [
    'p/state/20241204_000000/manifest.json',
    'p/state/20241204_000000/snapshot.bin',
    'p/state/20241205_000000/manifest.json',
    'p/state/20241205_000000/snapshot.bin',
    'p/state/20241206_000000/snapshot.bin',
  ]);
  // the dropped folders are gone from disk, not left empty
  assert.deepEqual(readdirSync(join(root, 'p', 'state')).sort(), [
    '20241204_000000',
    '20241205_000000',
    '20241206_000000',
  ]);

  assert.deepEqual(await backups.prune(0), ['20241205_000000', '20241204_000000']);
  assert.deepEqual(await backups.list(), []);
});

test('prune also removes leftovers without a manifest older than the oldest kept backup', async (t) => {
  const fs = new FsBackend(tempRoot(t));
  const backups = new Backups(fs);
  await fs.put('state/20241130_000000/snapshot.bin', Buffer.from('cut short long ago'));
  for (const ts of ['20241201_000000', '20241202_000000']) await backups.write(ts, Buffer.from(ts), META);
  await fs.put('state/20241203_000000/snapshot.bin', Buffer.from('being written now'));
  assert.deepEqual(await backups.prune(1), ['20241201_000000', '20241130_000000']);
  assert.deepEqual(await fs.list('state/'), [
    'state/20241202_000000/manifest.json',
    'state/20241202_000000/snapshot.bin',
    'state/20241203_000000/snapshot.bin',
  ]);
});

test('writes are atomic: no temp files left behind, and a crashed one is never listed', async (t) => {
  const root = tempRoot(t);
  const fs = new FsBackend(root);
  const backups = new Backups(fs);
  await backups.write('20241201_143022', Buffer.alloc(256 * 1024, 7), META);
  await fs.put('state/20241201_143022/snapshot.bin', Buffer.from('overwritten in place'));
  assert.deepEqual(files(root), [
    'state/20241201_143022/manifest.json',
    'state/20241201_143022/snapshot.bin',
  ]);

  // what a crash mid-write leaves: a temp file next to the real one
  writeFileSync(join(root, 'state', '20241201_143022', 'snapshot.bin.tmp-4242'), 'torn');
  mkdirSync(join(root, 'state', '20241202_000000'));
  writeFileSync(join(root, 'state', '20241202_000000', 'manifest.json.tmp-4242'), '{"format":');
  assert.deepEqual(await fs.list('state/'), [
    'state/20241201_143022/manifest.json',
    'state/20241201_143022/snapshot.bin',
  ]);
  assert.deepEqual(
    (await backups.list()).map((b) => b.timestamp),
    ['20241201_143022'],
  );
  assert.equal((await backups.read('20241201_143022')).snapshot.toString(), 'overwritten in place');
});

test('bad keys are rejected before touching the disk', async (t) => {
  const root = tempRoot(t);
  const fs = new FsBackend(join(root, 'inside'));
  for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/', '', '..']) {
    await assert.rejects(fs.put(key, Buffer.from('x')), /bad storage key/, key);
    await assert.rejects(fs.get(key), /bad storage key/, key);
    await assert.rejects(fs.delete([key]), /bad storage key/, key);
  }
  assert.equal(existsSync(join(root, 'x')), false);
  assert.deepEqual(files(root), []);
  // a missing key is an error of its own, not a bad key
  await assert.rejects(fs.get('state/nothing/here'), { code: 'ENOENT' });
  // deleting what is not there is fine
  await fs.delete(['state/nothing/here']);
});

test('stamp(): UTC, zero-padded, YYYYMMDD_HHMMSS, sorting as time does', () => {
  assert.equal(stamp(Date.UTC(2024, 11, 1, 14, 30, 22)), '20241201_143022');
  assert.equal(stamp(Date.UTC(2025, 0, 2, 3, 4, 5, 999)), '20250102_030405');
  assert.equal(stamp(0), '19700101_000000');
  const times = [Date.UTC(2024, 8, 9, 23, 59, 59), Date.UTC(2024, 9, 1), Date.UTC(2024, 9, 1, 0, 0, 1)];
  const s = times.map(stamp);
  assert.deepEqual([...s].sort(), s);
  for (const x of s) assert.match(x, STAMP);
  assert.doesNotMatch('2024-12-01_143022', STAMP);
  assert.doesNotMatch('20241201_143022.bak', STAMP);
});
