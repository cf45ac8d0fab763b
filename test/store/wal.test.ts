/**
 * The write-ahead log (src/store/wal.ts) on a temp directory: records come back in order with
 * their LSNs; group commit shares fsyncs; a torn or corrupt tail (cut mid-record, garbage
 * appended, a flipped bit) is cut off and reported, appends continue after the last intact
 * record and survive another reopen; rotate + prune keep what a snapshot still needs; mode 'off'
 * writes in the background and close() flushes; and appends racing rotations land in the right
 * segment (a crash image taken after every sync resolved holds every acknowledged record).
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  cpSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import {
  listSegments,
  type OpenReport,
  segmentName,
  Wal,
  type WalRecord,
  type WalSync,
} from '../../src/store/wal.js';
import { Rng } from '../helpers/rng.js';
import { tempDir as scratchDir } from '../helpers/tmp.js';

const HEAD = 16;

const tempDir = (t: { after: (fn: () => void) => void }) => scratchDir(t, 'birdie-wal-');

/** A payload that says which record it is, of varying length (0 bytes for 5, 15, 25, ...). */
function payload(i: number): Buffer {
  if (i % 10 === 5) return Buffer.alloc(0);
  return Buffer.from(`record ${i} ${'é'.repeat(i % 13)}\u0000${'x'.repeat(i % 37)}`, 'utf8');
}

/** Every record of the log in `dir`, and the open report; the log is closed again. */
async function readAll(dir: string): Promise<{ records: WalRecord[]; report: OpenReport }> {
  const records: WalRecord[] = [];
  const { wal, report } = await Wal.open(dir, 'fsync', (r) => {
    // the payload may be a view of a buffer that is reused: copy it
    records.push({ lsn: r.lsn, payload: Buffer.from(r.payload) });
  });
  await wal.close();
  return { records, report };
}

async function writeRecords(dir: string, from: number, to: number, mode: WalSync = 'fsync'): Promise<void> {
  const { wal } = await Wal.open(dir, mode, () => {});
  for (let i = from; i <= to; i++) assert.equal(wal.append(payload(i)), i);
  await wal.sync();
  await wal.close();
}

function assertRecords(records: WalRecord[], from: number, to: number, what = ''): void {
  assert.deepStrictEqual(
    records.map((r) => r.lsn),
    Array.from({ length: to - from + 1 }, (_, k) => from + k),
    `${what}: LSNs`,
  );
  for (const r of records) assert.ok(r.payload.equals(payload(r.lsn)), `${what}: payload of ${r.lsn}`);
}

/** A record as the log writes it, for building tails by hand. */
function rawRecord(lsn: number, body: Buffer): Buffer {
  const head = Buffer.alloc(HEAD);
  head.writeUInt32LE(body.length, 0);
  head.writeDoubleLE(lsn, 8);
  head.writeUInt32LE(crc32(body, crc32(head.subarray(8, 16))), 4);
  return Buffer.concat([head, body]);
}

function lastSegment(dir: string): string {
  const last = listSegments(dir).at(-1);
  assert.ok(last !== undefined, 'a segment exists');
  return join(dir, last.name);
}

/** Opens the log, appends `extra` records after the last intact one, syncs and closes. */
async function appendAfter(dir: string, extra: number): Promise<number> {
  const { wal, report } = await Wal.open(dir, 'fsync', () => {});
  const first = report.lastLsn + 1;
  for (let k = 0; k < extra; k++) assert.equal(wal.append(payload(first + k)), first + k);
  await wal.sync();
  await wal.close();
  return first;
}

test('records come back in order with their LSNs after reopen; appends continue after the last', async (t) => {
  const dir = tempDir(t);
  const empty = await readAll(dir);
  assert.deepStrictEqual(empty.report, { records: 0, lastLsn: 0 });
  await writeRecords(dir, 1, 120);
  const { records, report } = await readAll(dir);
  assertRecords(records, 1, 120, 'first reopen');
  assert.deepStrictEqual(report, { records: 120, lastLsn: 120 });
  const { wal } = await Wal.open(dir, 'fsync', () => {});
  assert.equal(wal.lastLsn, 120);
  assert.equal(wal.append(payload(121)), 121);
  // a large binary payload too
  const big = Buffer.alloc(300_000, 0xab);
  assert.equal(wal.append(big), 122);
  await wal.sync();
  await wal.close();
  const again = await readAll(dir);
  assertRecords(again.records.slice(0, 121), 1, 121, 'second reopen');
  assert.equal(again.records[121].lsn, 122);
  assert.ok(again.records[121].payload.equals(big));
  assert.equal(again.report.truncated, undefined);
});

test('group commit: concurrent syncs share datasyncs, and each resolves only once its record is on disk', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'fsync', () => {});
  const file = lastSegment(dir);
  const N = 300;
  // the file size each record needs
  const endOf: number[] = [0];
  for (let i = 1; i <= N; i++) endOf.push(endOf[i - 1] + HEAD + payload(i).length);
  const done: Promise<void>[] = [];
  let early = 0;
  for (let i = 1; i <= N; i++) {
    const lsn = wal.append(payload(i));
    done.push(
      wal.sync().then(() => {
        if (statSync(file).size < endOf[lsn]) early++;
      }),
    );
    // requests arrive over several turns of the event loop, while fsyncs are in flight
    if (i % 7 === 0) await tick();
  }
  await Promise.all(done);
  assert.equal(early, 0, 'a sync resolved before its record was written');
  const { syncs, bytes } = wal.stats;
  assert.ok(syncs >= 1 && syncs < N, `${syncs} datasyncs for ${N} records`);
  assert.equal(bytes, endOf[N]);
  // nothing pending: no new datasync
  await wal.sync();
  assert.equal(wal.stats.syncs, syncs);
  await wal.close();
  assertRecords((await readAll(dir)).records, 1, N, 'after reopen');
});

test('a torn tail (the last segment cut anywhere inside its last record) is cut off; appends continue and survive', async (t) => {
  const dir = tempDir(t);
  await writeRecords(dir, 1, 20);
  const file = lastSegment(dir);
  const whole = readFileSync(file);
  const lastStart = whole.length - HEAD - payload(20).length;
  for (let cut = lastStart + 1; cut < whole.length; cut++) {
    writeFileSync(file, whole.subarray(0, cut));
    const { records, report } = await readAll(dir);
    assertRecords(records, 1, 19, `cut at ${cut}`);
    assert.deepStrictEqual(report.truncated, {
      segment: segmentName(1),
      offset: lastStart,
      bytes: cut - lastStart,
      reason: cut - lastStart < HEAD ? 'a record header is cut short' : 'a record is cut short',
    });
    assert.equal(report.lastLsn, 19);
    assert.equal(statSync(file).size, lastStart, 'the tail is cut off the file');
  }
  // appends go after record 19, and survive another reopen
  assert.equal(await appendAfter(dir, 3), 20);
  const { records, report } = await readAll(dir);
  assertRecords(records, 1, 22, 'after appending');
  assert.equal(report.truncated, undefined);
});

test('garbage appended to the last segment: cut off with the reason; appends continue and survive', async (t) => {
  const rng = new Rng(31);
  const cases: [string, Buffer, RegExp][] = [
    ['5 random bytes', Buffer.from([1, 2, 3, 4, 5]), /^a record header is cut short$/],
    [
      'a huge length',
      Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(40, 7)]),
      /^a record is cut short$/,
    ],
    ['zeros (a zero-filled tail)', Buffer.alloc(4096), /^a record fails its checksum$/],
    [
      'a well-formed record with a stale LSN',
      rawRecord(7, Buffer.from('stale')),
      /^record number 7 where 21 was expected$/,
    ],
    [
      'a well-formed record from the future',
      rawRecord(25, Buffer.from('gap')),
      /^record number 25 where 21 was expected$/,
    ],
    ['200 random bytes', Buffer.from(Array.from({ length: 200 }, () => rng.int(256))), /./],
  ];
  for (const [name, garbage, reason] of cases) {
    const dir = tempDir(t);
    await writeRecords(dir, 1, 20);
    const file = lastSegment(dir);
    const size = statSync(file).size;
    appendFileSync(file, garbage);
    const { records, report } = await readAll(dir);
    assertRecords(records, 1, 20, name);
    assert.ok(report.truncated !== undefined, `${name}: reported`);
    assert.equal(report.truncated.segment, segmentName(1), name);
    assert.equal(report.truncated.offset, size, name);
    assert.equal(report.truncated.bytes, garbage.length, name);
    assert.match(report.truncated.reason, reason, name);
    assert.equal(statSync(file).size, size, `${name}: cut off the file`);
    assert.equal(await appendAfter(dir, 2), 21, name);
    const again = await readAll(dir);
    assertRecords(again.records, 1, 22, `${name}, after appending`);
    assert.equal(again.report.truncated, undefined, name);
  }
});

test('a flipped bit in the last record drops it (whichever bit); in an earlier record, it and all later ones', async (t) => {
  const dir = tempDir(t);
  await writeRecords(dir, 1, 20);
  const file = lastSegment(dir);
  const whole = readFileSync(file);
  const lastStart = whole.length - HEAD - payload(20).length;
  const rng = new Rng(32);
  // every bit of the record's head (length, crc, lsn) and 48 bits of its payload
  const bits = Array.from({ length: HEAD * 8 }, (_, b) => lastStart * 8 + b);
  for (let k = 0; k < 48; k++) bits.push((lastStart + HEAD) * 8 + rng.int(payload(20).length * 8));
  for (const bit of bits) {
    const f = Buffer.from(whole);
    f[bit >> 3] ^= 1 << (bit & 7);
    writeFileSync(file, f);
    const { records, report } = await readAll(dir);
    assertRecords(records, 1, 19, `bit ${bit}`);
    assert.equal(report.truncated?.offset, lastStart, `bit ${bit}`);
    assert.match(report.truncated?.reason ?? '', /fails its checksum|cut short/, `bit ${bit}`);
  }
  // a flip in record 8's payload: records 8..20 go (nothing after a corrupt record is trusted)
  writeFileSync(file, whole);
  let at = 0;
  for (let i = 1; i < 8; i++) at += HEAD + payload(i).length;
  const f = Buffer.from(whole);
  f[at + HEAD + 2] ^= 0x10;
  writeFileSync(file, f);
  const { records, report } = await readAll(dir);
  assertRecords(records, 1, 7, 'flip in record 8');
  assert.deepStrictEqual(report.truncated, {
    segment: segmentName(1),
    offset: at,
    bytes: whole.length - at,
    reason: 'a record fails its checksum',
  });
  assert.equal(await appendAfter(dir, 1), 8);
  assertRecords((await readAll(dir)).records, 1, 8, 'after appending');
});

test('corruption in an older segment: the rest of it and every later segment go; appends continue in it', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'fsync', () => {});
  for (let i = 1; i <= 30; i++) {
    wal.append(payload(i));
    if (i % 10 === 0) {
      await wal.sync();
      await wal.rotate();
    }
  }
  await wal.close();
  assert.deepStrictEqual(
    listSegments(dir).map((s) => s.first),
    [1, 11, 21, 31],
  );
  // flip a bit in record 15 (segment 11)
  const seg = join(dir, segmentName(11));
  const bytes = readFileSync(seg);
  let at = 0;
  for (let i = 11; i < 15; i++) at += HEAD + payload(i).length;
  bytes[at + 9] ^= 4; // in the LSN field
  writeFileSync(seg, bytes);
  const { records, report } = await readAll(dir);
  assertRecords(records, 1, 14, 'corrupt record 15');
  assert.equal(report.truncated?.segment, segmentName(11));
  assert.equal(report.truncated?.reason, 'a record fails its checksum');
  assert.deepStrictEqual(
    listSegments(dir).map((s) => s.first),
    [1, 11],
  );
  assert.equal(await appendAfter(dir, 2), 15);
  const again = await readAll(dir);
  assertRecords(again.records, 1, 16, 'after appending');
  assert.equal(again.report.truncated, undefined);
});

test('a missing middle segment: the cut is reported, and records appended after it survive another reopen', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'fsync', () => {});
  for (let i = 1; i <= 9; i++) {
    wal.append(payload(i));
    await wal.sync();
    if (i % 3 === 0) await wal.rotate();
  }
  await wal.close();
  unlinkSync(join(dir, segmentName(4))); // records 4..6 lost (a bad disk, a careless hand)
  const first = await readAll(dir);
  assertRecords(first.records, 1, 3, 'records before the gap');
  assert.equal(first.report.truncated?.reason, 'segment starts at 7, expected 4');
  assert.equal(await appendAfter(dir, 2), 4);
  const again = await readAll(dir);
  assertRecords(again.records, 1, 5, 'records appended after the cut (they were acknowledged)');
  assert.equal(again.report.truncated, undefined);
});

test('rotate + prune: segments older than the given LSN go, the records after it survive reopen', async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'fsync', () => {});
  for (let i = 1; i <= 15; i++) {
    wal.append(payload(i));
    if (i % 5 === 0) await wal.rotate();
  }
  // a second rotation with nothing appended opens no new segment
  await wal.rotate();
  assert.deepStrictEqual(
    listSegments(dir).map((s) => s.first),
    [1, 6, 11, 16],
  );
  // records 1..5 are all <= 7, 6..10 are not: only the first segment may go
  assert.deepStrictEqual(wal.prune(7), [segmentName(1)]);
  assert.deepStrictEqual(wal.prune(7), []);
  for (let i = 16; i <= 18; i++) wal.append(payload(i));
  await wal.sync();
  await wal.close();
  let got = await readAll(dir);
  assertRecords(got.records, 6, 18, 'after prune(7)');
  assert.equal(got.report.lastLsn, 18);

  const w2 = (await Wal.open(dir, 'fsync', () => {})).wal;
  await w2.rotate();
  // far past every record: everything but the segment being written goes
  assert.deepStrictEqual(w2.prune(1000), [segmentName(6), segmentName(11), segmentName(16)]);
  assert.deepStrictEqual(
    listSegments(dir).map((s) => s.first),
    [19],
  );
  await w2.close();
  // no record left: the numbering goes on from the segment's name
  got = await readAll(dir);
  assert.deepStrictEqual(got.report, { records: 0, lastLsn: 18 });
  assert.equal(await appendAfter(dir, 2), 19);
  got = await readAll(dir);
  assertRecords(got.records, 19, 20, 'after appending');
  assert.equal(got.report.truncated, undefined);
});

test("mode 'off': sync resolves at once, the record is written within ~100 ms; close() flushes the rest", async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'off', () => {});
  const file = lastSegment(dir);
  const want = HEAD + payload(1).length;
  wal.append(payload(1));
  await wal.sync();
  assert.equal(statSync(file).size, 0, 'sync waited for the write');
  const t0 = performance.now();
  while (statSync(file).size < want && performance.now() - t0 < 2000) await sleep(5);
  const ms = performance.now() - t0;
  assert.equal(statSync(file).size, want);
  assert.ok(ms < 500, `written after ${Math.round(ms)} ms`);
  for (let i = 2; i <= 50; i++) wal.append(payload(i));
  await wal.sync();
  await wal.close();
  assert.equal(wal.stats.syncs, 0, 'no datasync per batch');
  const { records, report } = await readAll(dir);
  assertRecords(records, 1, 50, 'after close');
  assert.equal(report.truncated, undefined);
});

test("mode 'write': the bytes are in the file when sync resolves, without a datasync", async (t) => {
  const dir = tempDir(t);
  const { wal } = await Wal.open(dir, 'write', () => {});
  const file = lastSegment(dir);
  let end = 0;
  for (let i = 1; i <= 20; i++) {
    wal.append(payload(i));
    end += HEAD + payload(i).length;
    await wal.sync();
    assert.equal(statSync(file).size, end, `record ${i}`);
  }
  assert.equal(wal.stats.syncs, 0);
  await wal.close();
  assertRecords((await readAll(dir)).records, 1, 20, 'after close');
});

/** The LSN of each segment's first record, read from the bytes: must match the segment's name. */
function assertSegmentsNamedByFirstRecord(dir: string, what: string): void {
  const segs = listSegments(dir);
  segs.forEach((s, i) => {
    const bytes = readFileSync(join(dir, s.name));
    if (bytes.length === 0) {
      assert.equal(i, segs.length - 1, `${what}: an empty segment ${s.name} before the last`);
      return;
    }
    assert.equal(bytes.readDoubleLE(8), s.first, `${what}: segment ${s.name} starts with another record`);
  });
}

test('appends during rotations land in the right segment: every acknowledged record survives a crash, LSNs contiguous', async (t) => {
  for (const [seed, mode] of [
    [1, 'fsync'],
    [2, 'write'],
    [3, 'fsync'],
    [4, 'off'],
  ] as const) {
    const dir = tempDir(t);
    const rng = new Rng(seed);
    const { wal } = await Wal.open(dir, mode, () => {});
    const acked = new Set<number>();
    const pending: Promise<unknown>[] = [];
    let rotations = 0;
    let appended = 0;
    const N = 400;
    while (appended < N) {
      const r = rng.next();
      if (r < 0.6) {
        const lsn = wal.append(payload(appended + 1));
        appended++;
        assert.equal(lsn, appended);
        pending.push(wal.sync().then(() => acked.add(lsn)));
      } else if (r < 0.65) {
        // appended, not waited for: may or may not survive, but never out of order
        wal.append(payload(appended + 1));
        appended++;
      } else if (r < 0.8) {
        rotations++;
        pending.push(wal.rotate());
      } else if (r < 0.95) {
        await tick();
      } else {
        await pending[rng.int(pending.length)];
      }
    }
    await Promise.all(pending);
    const syncedUpTo = Math.max(...acked);
    // a crash image: the files as they are now, without close()
    const image = tempDir(t);
    cpSync(dir, image, { recursive: true });
    await wal.close();
    assert.ok(rotations > 20, `${rotations} rotations`);
    assertSegmentsNamedByFirstRecord(image, `seed ${seed}, crash image`);
    const crashed = await readAll(image);
    assert.equal(crashed.report.truncated, undefined, `seed ${seed}: ${JSON.stringify(crashed.report)}`);
    const n = crashed.records.length;
    assertRecords(crashed.records, 1, n, `seed ${seed}, crash image`);
    // 'off' acknowledges at once and may lose the last ~100 ms: its promise is only the order
    if (mode !== 'off') {
      assert.ok(n >= syncedUpTo, `seed ${seed}: ${n} records survived, ${syncedUpTo} were acknowledged`);
      for (const lsn of acked) assert.ok(lsn <= n, `seed ${seed}: acknowledged record ${lsn} is missing`);
    }
    // after close(): everything appended
    assertSegmentsNamedByFirstRecord(dir, `seed ${seed}, closed`);
    const closed = await readAll(dir);
    assert.equal(closed.report.truncated, undefined);
    assertRecords(closed.records, 1, N, `seed ${seed}, closed`);
  }
});

test('the segment layout is what recovery expects: names are 20-digit first LSNs', async (t) => {
  const dir = tempDir(t);
  await writeRecords(dir, 1, 3);
  assert.deepStrictEqual(readdirSync(dir), ['00000000000000000001.log']);
  assert.equal(segmentName(12345), '00000000000000012345.log');
  // a stray file is not a segment
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  writeFileSync(join(dir, '123.log'), 'short name');
  assertRecords((await readAll(dir)).records, 1, 3, 'with stray files');
});
