/**
 * The append-only log of applied changes, in segment files `wal/<first lsn, 20 digits>.log`.
 *
 *   record = u32 length | u32 crc32(lsn bytes + payload) | f64 lsn | payload (length bytes)
 *
 * Records are numbered from 1 (the LSN), without gaps. An answer waits for `sync()` (group
 * commit): everything appended while a write+fsync is in flight goes out in the next single
 * write+fsync, so the cost of an fsync is shared by every request that arrived meanwhile.
 *
 * A crash can only tear the tail: a record is acknowledged after its bytes are durable, and
 * nothing is written after a record before it is. Opening the log cuts a torn or corrupt tail
 * off and reports it.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
} from 'node:fs';
import { type FileHandle, open as openAsync } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** fsync: durable before the answer (default). write: in the OS before the answer (survives a
 * killed process, not a power cut). off: answered at once, written within ~100 ms. */
export type WalSync = 'fsync' | 'write' | 'off';

const HEAD = 16;
/** A record longer than this is corrupt, not large: a batch of BATCH_SIZE tweets is far smaller. */
const MAX_RECORD = 256 * 1024 * 1024;

export interface WalRecord {
  lsn: number;
  payload: Buffer;
}

export interface OpenReport {
  /** records found intact */
  records: number;
  lastLsn: number;
  /** bytes cut off a torn or corrupt tail, and why */
  truncated?: { segment: string; offset: number; bytes: number; reason: string };
}

export class Wal {
  readonly dir: string;
  readonly mode: WalSync;
  private fh: FileHandle | undefined;
  private segmentFirst = 0;
  private _lastLsn = 0;
  private durableLsn = 0;
  private pending: Buffer[] = [];
  private pendingLsn = 0;
  private flushing: Promise<void> | undefined;
  private io: Promise<void> = Promise.resolve();
  private waiters: { lsn: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private failed: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private _bytes = 0;
  private _syncs = 0;

  private constructor(dir: string, mode: WalSync) {
    this.dir = dir;
    this.mode = mode;
  }

  /**
   * Opens the log in `dir`, reading every intact record (for replay), and cutting off a torn or
   * corrupt tail. Appends continue after the last intact record.
   */
  static async open(
    dir: string,
    mode: WalSync,
    onRecord: (r: WalRecord) => void,
  ): Promise<{ wal: Wal; report: OpenReport }> {
    mkdirSync(dir, { recursive: true });
    const wal = new Wal(dir, mode);
    const report: OpenReport = { records: 0, lastLsn: 0 };
    const segments = listSegments(dir);
    let expected = 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const path = join(dir, seg.name);
      const buf = readFileSync(path);
      let off = 0;
      let reason: string | undefined;
      if (expected !== 0 && seg.first !== expected)
        reason = `segment starts at ${seg.first}, expected ${expected}`;
      while (reason === undefined && off < buf.length) {
        if (buf.length - off < HEAD) {
          reason = 'a record header is cut short';
          break;
        }
        const len = buf.readUInt32LE(off);
        const crc = buf.readUInt32LE(off + 4);
        if (len > MAX_RECORD || off + HEAD + len > buf.length) {
          reason = 'a record is cut short';
          break;
        }
        const body = buf.subarray(off + 8, off + HEAD + len);
        if (crc32(body) !== crc) {
          reason = 'a record fails its checksum';
          break;
        }
        const lsn = buf.readDoubleLE(off + 8);
        const want = expected === 0 ? seg.first : expected;
        if (lsn !== want) {
          reason = `record number ${lsn} where ${want} was expected`;
          break;
        }
        onRecord({ lsn, payload: buf.subarray(off + HEAD, off + HEAD + len) });
        report.records++;
        expected = lsn + 1;
        off += HEAD + len;
      }
      if (reason !== undefined) {
        report.truncated = { segment: seg.name, offset: off, bytes: buf.length - off, reason };
        if (off === 0 && i > 0) {
          // nothing of it is usable, and its name claims records it does not hold: appends must
          // go on in the previous segment instead
          unlinkSync(path);
        } else {
          const fd = openSync(path, 'r+');
          ftruncateSync(fd, off);
          fsyncSync(fd);
          closeSync(fd);
        }
        // later segments can only hold records after the cut: unacknowledged, or unreachable
        for (const later of segments.slice(i + 1)) unlinkSync(join(dir, later.name));
        break;
      }
    }
    wal._lastLsn = expected === 0 ? 0 : expected - 1;
    if (expected === 0 && segments.length > 0) wal._lastLsn = segments[0].first - 1;
    wal.durableLsn = wal._lastLsn;
    wal.pendingLsn = wal._lastLsn;
    report.lastLsn = wal._lastLsn;
    const last = listSegments(dir).at(-1);
    await wal.openSegment(last?.first ?? wal._lastLsn + 1);
    if (mode === 'off') wal.timer = setInterval(() => void wal.flush().catch(() => {}), 100).unref();
    return { wal, report };
  }

  get lastLsn(): number {
    return this._lastLsn;
  }

  /** Bytes written and fsyncs done since open (for metrics). */
  get stats(): { bytes: number; syncs: number } {
    return { bytes: this._bytes, syncs: this._syncs };
  }

  /** Adds a record (in memory until the next flush); returns its LSN. Synchronous, in order. */
  append(payload: Buffer): number {
    if (this.failed) throw this.failed;
    const lsn = ++this._lastLsn;
    const head = Buffer.alloc(HEAD);
    head.writeUInt32LE(payload.length, 0);
    head.writeDoubleLE(lsn, 8);
    head.writeUInt32LE(crc32(payload, crc32(head.subarray(8, 16))), 4);
    this.pending.push(head, payload);
    this.pendingLsn = lsn;
    return lsn;
  }

  /**
   * Resolves once the records up to `lsn` are written (and fsynced in fsync mode), whatever the
   * mode: what a snapshot covering them needs.
   */
  written(lsn: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (lsn <= this.durableLsn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ lsn, resolve, reject });
      void this.flush().catch(() => {});
    });
  }

  /** Resolves when every record appended so far is as durable as the mode promises. */
  sync(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const lsn = this._lastLsn;
    if (lsn <= this.durableLsn || this.mode === 'off') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ lsn, resolve, reject });
      void this.flush().catch(() => {});
    });
  }

  /**
   * Writes (and fsyncs, in fsync mode) everything pending. Every use of the file goes through
   * one queue (`io`): a flush, a rotation and the close never overlap, so no write lands in a
   * file that a rotation has closed, or in the wrong segment.
   */
  flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    const run = this.exclusive(() => this.writePending());
    this.flushing = run.finally(() => {
      this.flushing = undefined;
      // a record appended after the last write of that run, waited for by someone
      if (this.pending.length > 0 && this.waiters.length > 0 && this.failed === undefined)
        void this.flush().catch(() => {});
    });
    return this.flushing;
  }

  /**
   * Writes what is pending, and what arrives meanwhile, until nothing is (a flush); with `once`,
   * only what is pending now: under steady load with WAL_SYNC=off the queue never empties, and a
   * rotation waiting for that would never come.
   */
  private async writePending(once = false): Promise<void> {
    try {
      for (let first = true; this.pending.length > 0 && (first || !once); first = false) {
        const bufs = this.pending;
        const upTo = this.pendingLsn;
        this.pending = [];
        const fh = this.fh as FileHandle;
        const { bytesWritten } = await fh.writev(bufs);
        const want = bufs.reduce((s, b) => s + b.length, 0);
        if (bytesWritten !== want)
          throw new Error(`short write to the log: ${bytesWritten} of ${want} bytes`);
        this._bytes += want;
        if (this.mode === 'fsync') {
          await fh.datasync();
          this._syncs++;
        }
        this.durableLsn = upTo;
        const ready = this.waiters.filter((w) => w.lsn <= upTo);
        this.waiters = this.waiters.filter((w) => w.lsn > upTo);
        for (const w of ready) w.resolve();
      }
    } catch (err) {
      // The state in memory now holds changes the log may not: nothing more may be
      // acknowledged. The caller stops the process; recovery replays what is durable.
      this.failed = err as Error;
      for (const w of this.waiters) w.reject(this.failed);
      this.waiters = [];
      throw err;
    }
  }

  /** Runs `f` alone on the file, after whatever is queued before it. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.io.then(f, f);
    this.io = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Starts a new segment (after a snapshot), so old ones can be dropped whole. The new segment
   * is named by the first record it will hold: everything appended so far is written to the old
   * one first, inside the same turn of the queue.
   */
  rotate(): Promise<void> {
    return this.exclusive(async () => {
      await this.writePending(true);
      if (this.mode !== 'fsync' && this.fh) await this.fh.datasync();
      await this.openSegment(this.durableLsn + 1);
    });
  }

  /** Deletes segments whose records all have LSN <= `lsn` (kept by an older snapshot). */
  prune(lsn: number): string[] {
    const segs = listSegments(this.dir);
    const gone: string[] = [];
    for (let i = 0; i + 1 < segs.length; i++) {
      // a segment ends where the next begins
      if (segs[i + 1].first - 1 <= lsn && segs[i].first !== this.segmentFirst) {
        unlinkSync(join(this.dir, segs[i].name));
        gone.push(segs[i].name);
      }
    }
    return gone;
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return this.exclusive(async () => {
      try {
        await this.writePending();
        if (this.fh && this.mode !== 'fsync') await this.fh.datasync();
      } finally {
        await this.fh?.close();
        this.fh = undefined;
      }
    });
  }

  private async openSegment(first: number): Promise<void> {
    const old = this.fh;
    const name = segmentName(first);
    this.fh = await openAsync(join(this.dir, name), 'a');
    this.segmentFirst = first;
    if (old) await old.close();
    // the new file's directory entry must be durable too
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

export function segmentName(first: number): string {
  return `${String(first).padStart(20, '0')}.log`;
}

export function listSegments(dir: string): { name: string; first: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{20}\.log$/.test(n))
    .map((name) => ({ name, first: Number(name.slice(0, 20)) }))
    .sort((a, b) => a.first - b.first);
}
