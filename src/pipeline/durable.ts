/**
 * Durability: the log, snapshots, backups and recovery around the Service.
 *
 *   ingest:   service.ingest (applies, journals one record) ─> wal.sync() ─> answer
 *   snapshot: service.exportState() at LSN L (synchronous: a consistent cut) ─> encode ─>
 *             STATE_DIR/snapshots/<ts>/ (+ the backup store, S3 when configured) ─> log rotates,
 *             segments older than the previous snapshot go
 *   startup:  newest local snapshot that verifies (else the previous one; else the newest
 *             backup in the store) + replay of the log after its LSN
 *
 * A tweet is answered only after its record is durable, so an acknowledged tweet survives a
 * kill -9 or a power cut: recovery replays it into the same cluster.
 */

import { mkdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StateParts } from '../engine/state.js';
import { type BackupInfo, Backups, FsBackend, type Manifest, stamp } from '../store/backend.js';
import { decodeSnapshot, encodeSnapshotAsync, type SnapshotKey } from '../store/codec.js';
import { type OpenReport, Wal, type WalSync } from '../store/wal.js';
import { type IngestResult, Service, type ServiceOptions } from './service.js';

export interface DurableOptions {
  stateDir: string;
  walSync: WalSync;
  /** where backups go besides the local snapshots (S3); undefined: the local ones are the backups */
  remote?: Backups;
  /** keys[0] encrypts new snapshots; every key may decrypt */
  keys: SnapshotKey[];
  everyTweets: number;
  /** the tweet-count trigger waits this long after the previous backup */
  minIntervalMs?: number;
  intervalMs: number;
  keep: number;
  log: Logger;
  observer?: DurableObserver;
  /** the log failed: nothing more may be acknowledged; the process must stop */
  onFatal: (err: Error) => void;
  /** upload attempts per backup, and the first backoff (doubling); default 5 and 500 ms */
  attempts?: number;
  backoffMs?: number;
}

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DurableObserver {
  backupSucceeded?(bytes: number, seconds: number, when: number): void;
  backupFailed?(): void;
}

export interface LastBackup {
  timestamp: string;
  time: string;
  bytes: number;
  lsn: number;
  location: string;
}

/** Local snapshots kept at least: the newest and the one before it (if the newest is corrupt). */
const LOCAL_KEEP = 2;

export class Durable {
  private _service: Service;
  readonly wal: Wal;
  readonly local: Backups;
  private readonly opts: DurableOptions;
  private readonly serviceOptions: ServiceOptions;
  private sinceBackup = 0;
  /** when the last backup started (ms): the tweet-count trigger waits minIntervalMs after it */
  private lastBackupAt = 0;
  private backingUp: Promise<Manifest | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** ingests wait here while a restore swaps the state */
  private gate: Promise<void> = Promise.resolve();
  private _lastBackup: LastBackup | undefined;
  private closed = false;
  readonly recovery: { snapshot?: string; replayed: number; log: OpenReport; skipped: string[] };

  private constructor(
    service: Service,
    wal: Wal,
    local: Backups,
    opts: DurableOptions,
    serviceOptions: ServiceOptions,
    recovery: Durable['recovery'],
  ) {
    this._service = service;
    this.wal = wal;
    this.local = local;
    this.opts = opts;
    this.serviceOptions = serviceOptions;
    this.recovery = recovery;
  }

  get service(): Service {
    return this._service;
  }

  get lastBackup(): LastBackup | undefined {
    return this._lastBackup;
  }

  /** Recovers the state (snapshot + log) and opens the log for appends. */
  static async open(opts: DurableOptions, serviceOptions: ServiceOptions): Promise<Durable> {
    lockStateDir(opts.stateDir, opts.log);
    const local = new Backups(new FsBackend(join(opts.stateDir, 'snapshots')));
    const skipped: string[] = [];
    let service: Service | undefined;
    let snapshotLsn = 0;
    let from: string | undefined;
    const candidates: { store: Backups; info: BackupInfo }[] = (await local.list()).map((info) => ({
      store: local,
      info,
    }));
    if (candidates.length === 0 && opts.remote !== undefined) {
      // a new machine: nothing local, start from the newest backup in the store
      for (const info of await opts.remote.list()) candidates.push({ store: opts.remote, info });
    }
    for (const c of candidates) {
      try {
        const { snapshot } = await c.store.read(c.info.timestamp);
        const { parts, meta } = decodeSnapshot(snapshot, opts.keys);
        service = Service.fromState(parts, serviceOptions);
        snapshotLsn = meta.lsn;
        from = `${c.store.backend.location}/state/${c.info.timestamp}`;
        break;
      } catch (err) {
        const why = `${c.info.timestamp}: ${(err as Error).message}`;
        skipped.push(why);
        opts.log.error(
          { snapshot: c.info.timestamp, err: (err as Error).message },
          'snapshot unusable, trying an older one',
        );
      }
    }
    if (candidates.length > 0 && service === undefined)
      throw new Error(`no snapshot could be loaded: ${skipped.join('; ')}`);
    const svc = service ?? new Service(serviceOptions);
    let replayed = 0;
    let firstSeen: number | undefined;
    const { wal, report } = await Wal.open(join(opts.stateDir, 'wal'), opts.walSync, (r) => {
      firstSeen ??= r.lsn;
      if (r.lsn <= snapshotLsn) return;
      if (isRestoreMarker(r.payload)) {
        // The state was replaced by a backup here, and the snapshot the restore wrote is not the
        // one loaded: replaying on would apply later tweets to the state before the restore.
        const { from } = JSON.parse(r.payload.toString('utf8')) as { from: string };
        throw new Error(
          `the log records a restore of backup ${from} at record ${r.lsn}, but the snapshot written then cannot be loaded (${skipped.join('; ') || 'missing'}): run \`birdie restore --timestamp ${from}\` to restore it again`,
        );
      }
      svc.replay(r.payload);
      replayed++;
    });
    if (firstSeen !== undefined && firstSeen > snapshotLsn + 1)
      throw new Error(
        `the log starts at record ${firstSeen} but the snapshot covers only up to ${snapshotLsn}: records are missing`,
      );
    if (report.lastLsn < snapshotLsn)
      opts.log.warn(
        { snapshot_lsn: snapshotLsn, log_lsn: report.lastLsn },
        'the log ends before the snapshot',
      );
    if (report.truncated !== undefined)
      opts.log.warn(
        { ...report.truncated },
        'cut a torn or corrupt tail off the log (records never acknowledged)',
      );
    const d = new Durable(svc, wal, local, opts, serviceOptions, {
      snapshot: from,
      replayed,
      log: report,
      skipped,
    });
    d.attach(svc);
    if (service === undefined && report.records === 0) {
      // A new state: its first snapshot records what the log's records depend on (embedder,
      // dimension, mode, thresholds), so a restart with other settings is refused or journaled
      // as a change, never applied silently to the tweets already clustered.
      await d.snapshotLocal('initial');
    }
    const newest = candidates.find((c) => from?.endsWith(c.info.timestamp));
    if (newest !== undefined)
      d._lastBackup = {
        timestamp: newest.info.timestamp,
        time: newest.info.created,
        bytes: newest.info.bytes,
        lsn: newest.info.lsn,
        location: newest.store.backend.location,
      };
    if (opts.intervalMs > 0)
      d.timer = setInterval(() => void d.backup('interval').catch(() => {}), opts.intervalMs).unref();
    return d;
  }

  private attach(svc: Service): void {
    svc.journal = (payload) => {
      this.wal.append(payload);
    };
  }

  /** What every manifest says of a snapshot besides its counts: when, where in the log, which key. */
  private manifestFields(created: string, lsn: number) {
    const key = this.opts.keys[0];
    return { created, lsn, encrypted: key !== undefined, ...(key !== undefined ? { keyId: key.id } : {}) };
  }

  /** A local snapshot only (no upload): for the state's first one. */
  private async snapshotLocal(reason: string): Promise<void> {
    const lsn = this.wal.lastLsn;
    const parts = this._service.exportState();
    const ts = stamp(Date.now());
    const created = new Date().toISOString();
    const bytes = await encodeSnapshotAsync(parts, { lsn, created, info: { reason } }, this.opts.keys[0]);
    const m = await this.local.write(ts, bytes, {
      ...this.manifestFields(created, lsn),
      clusters: this._service.engine.clusterCount,
      tweets: this._service.engine.tweets,
    });
    this._lastBackup = {
      timestamp: ts,
      time: created,
      bytes: m.bytes,
      lsn,
      location: this.local.backend.location,
    };
  }

  /** Applies a batch and answers once its record is durable. */
  async ingest(items: readonly unknown[]): Promise<IngestResult> {
    await this.gate;
    // validation and embedding may wait (a model, a remote service); the apply does not, and
    // runs on the service of the moment (a restore may have swapped it meanwhile)
    const prepared = await this._service.prepare(items);
    await this.gate;
    const out = this._service.applyPrepared(prepared);
    try {
      await this.wal.sync();
    } catch (err) {
      this.opts.onFatal(err as Error);
      throw err;
    }
    this.sinceBackup += out.accepted;
    if (
      this.opts.everyTweets > 0 &&
      this.sinceBackup >= this.opts.everyTweets &&
      this.backingUp === undefined &&
      Date.now() - this.lastBackupAt >= (this.opts.minIntervalMs ?? 0)
    )
      void this.backup('tweets').catch(() => {});
    return out;
  }

  /** Live settings: applied (and journaled) and made durable like a tweet. */
  async setLive(s: Parameters<Service['setLive']>[0]): Promise<void> {
    await this.gate;
    this._service.setLive(s);
    await this.wal.sync();
  }

  /**
   * Takes a snapshot now and writes it locally and to the backup store. One at a time: a call
   * while one runs waits for it and returns its result. Failures to reach the store are retried
   * with backoff and counted; the local snapshot does not depend on them.
   */
  backup(reason: string): Promise<Manifest | undefined> {
    if (this.backingUp !== undefined) return this.backingUp;
    this.backingUp = this.doBackup(reason).finally(() => {
      this.backingUp = undefined;
    });
    return this.backingUp;
  }

  private async doBackup(reason: string): Promise<Manifest | undefined> {
    const t0 = performance.now();
    this.lastBackupAt = Date.now();
    // the seed's timestamps have one-second resolution: one backup per second at most
    let ts = stamp(Date.now());
    if (this._lastBackup?.timestamp === ts) {
      await sleep(1000 - (Date.now() % 1000) + 5);
      ts = stamp(Date.now());
    }
    // The cut first (synchronous: the state and the LSN are consistent), then a wait for the log
    // up to that LSN only: waiting for an empty queue starves under steady load with WAL_SYNC=off.
    const lsn = this.wal.lastLsn;
    const parts = this._service.exportState();
    this.sinceBackup = 0;
    const manifest = await this.writeSnapshot(ts, parts, lsn, reason);
    const seconds = (performance.now() - t0) / 1000;
    if (manifest !== undefined) {
      this._lastBackup = {
        timestamp: ts,
        time: manifest.created,
        bytes: manifest.bytes,
        lsn,
        location: (this.opts.remote ?? this.local).backend.location,
      };
      this.opts.observer?.backupSucceeded?.(manifest.bytes, seconds, Date.now());
      this.opts.log.info({ timestamp: ts, lsn, bytes: manifest.bytes, seconds, reason }, 'backup written');
    }
    return manifest;
  }

  private async writeSnapshot(
    ts: string,
    parts: StateParts,
    lsn: number,
    reason: string,
  ): Promise<Manifest | undefined> {
    const created = new Date().toISOString();
    const svc = this._service;
    const info = { clusters: svc.engine.clusterCount, tweets: svc.engine.tweets };
    // counted at the cut (the caller's synchronous export); now the log up to it must be written
    await this.wal.written(lsn);
    const bytes = await encodeSnapshotAsync(
      parts,
      { lsn, created, info: { ...info, reason } },
      this.opts.keys[0],
    );
    const m = { ...this.manifestFields(created, lsn), ...info };
    let manifest: Manifest;
    try {
      manifest = await this.local.write(ts, bytes, m);
      await this.local.prune(
        this.opts.remote === undefined ? Math.max(LOCAL_KEEP, this.opts.keep) : LOCAL_KEEP,
      );
      // the log now restarts after this snapshot; what the previous snapshot covers can go
      await this.wal.rotate();
      const kept = await this.local.list();
      if (kept.length >= LOCAL_KEEP) this.wal.prune(kept[LOCAL_KEEP - 1].lsn);
    } catch (err) {
      this.opts.observer?.backupFailed?.();
      this.opts.log.error({ err: (err as Error).message, timestamp: ts }, 'local snapshot failed');
      throw err;
    }
    if (this.opts.remote === undefined) return manifest;
    const remote = this.opts.remote;
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await remote.write(ts, bytes, m);
        await remote.prune(this.opts.keep);
        return written;
      } catch (err) {
        this.opts.observer?.backupFailed?.();
        this.opts.log.warn({ err: (err as Error).message, attempt, timestamp: ts }, 'backup upload failed');
        if (attempt >= (this.opts.attempts ?? 5) || this.closed) throw err;
        await sleep(Math.min(30_000, (this.opts.backoffMs ?? 500) * 2 ** (attempt - 1)));
      }
    }
  }

  /** Where backups go: the S3 bucket or the local directory. */
  get storeLocation(): string {
    return (this.opts.remote ?? this.local).backend.location;
  }

  /** Backups in the store (S3, else the local snapshots), newest first. */
  list(): Promise<BackupInfo[]> {
    return (this.opts.remote ?? this.local).list();
  }

  /**
   * Replaces the state with a backup's (the newest, or the one at `timestamp`), atomically for
   * readers. Ingest pauses while the restored state is written as the new local snapshot and the
   * log restarts after it, so that a crash right after still recovers the restored state.
   */
  async restore(timestamp?: string): Promise<BackupInfo> {
    const store = this.opts.remote ?? this.local;
    const all = await store.list();
    const info = timestamp === undefined ? all[0] : all.find((b) => b.timestamp === timestamp);
    if (info === undefined)
      throw new RestoreError(timestamp === undefined ? 'there are no backups' : `no backup ${timestamp}`);
    const { snapshot } = await store.read(info.timestamp);
    const { parts } = decodeSnapshot(snapshot, this.opts.keys);
    const restored = Service.fromState(parts, this.serviceOptions);
    let release!: () => void;
    const previous = this.gate;
    this.gate = new Promise((r) => {
      release = r;
    });
    try {
      await previous;
      await this.backingUp?.catch(() => {});
      // the marker goes first, inside what the new snapshot covers: a recovery that loads this
      // snapshot skips it; one that cannot, and starts from an older one, stops at it
      this.wal.append(Buffer.from(JSON.stringify({ t: 'restore', from: info.timestamp })));
      await this.wal.sync();
      const lsn = this.wal.lastLsn;
      let ts = stamp(Date.now());
      if (this._lastBackup?.timestamp === ts || ts === info.timestamp) {
        await sleep(1000 - (Date.now() % 1000) + 5);
        ts = stamp(Date.now());
      }
      const created = new Date().toISOString();
      const bytes = await encodeSnapshotAsync(
        parts,
        { lsn, created, info: { restoredFrom: info.timestamp } },
        this.opts.keys[0],
      );
      const written = await this.local.write(ts, bytes, {
        ...this.manifestFields(created, lsn),
        clusters: restored.engine.clusterCount,
        tweets: restored.engine.tweets,
      });
      await this.wal.rotate();
      this.sinceBackup = 0;
      this._lastBackup = {
        timestamp: ts,
        time: created,
        bytes: written.bytes,
        lsn,
        location: this.local.backend.location,
      };
      this.attach(restored);
      this._service.journal = undefined;
      this._service = restored;
      this.opts.log.info({ timestamp: info.timestamp, lsn }, 'state restored from backup');
      return info;
    } finally {
      release();
    }
  }

  /** Final snapshot and log close (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await this.backingUp?.catch(() => {});
      if (
        this.sinceBackup > 0 ||
        this._lastBackup === undefined ||
        this._lastBackup.lsn !== this.wal.lastLsn
      ) {
        // the local snapshot is written before the upload: a store that is down costs the
        // upload, not the state (the log still holds everything since the last snapshot)
        await this.backup('shutdown').catch((err: Error) =>
          this.opts.log.error({ err: err.message }, 'shutdown backup failed'),
        );
      }
    } finally {
      this.closed = true;
      await this.wal.close();
      unlockStateDir(this.opts.stateDir);
    }
  }
}

/**
 * One writer per state directory: a second process appending to the same log would interleave
 * records. The LOCK file holds the owner's pid and host name, and the owner touches it every
 * LOCK_REFRESH_MS. On the same host a lock whose process is gone (kill -9) is taken over at
 * once. A lock from another host (another container on a shared volume: every container's
 * process is pid 1) is taken over only once it has not been touched for LOCK_STALE_MS, so that
 * a replacement task starts after a crash while a live writer elsewhere is never joined.
 */
const LOCK_REFRESH_MS = 10_000;
const LOCK_STALE_MS = 30_000;
const lockTimers = new Map<string, NodeJS.Timeout>();

function lockStateDir(dir: string, log?: { warn(o: object, m: string): void }): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  const mine = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
  try {
    writeFileSync(path, mine, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = readLock(path);
    const sameHost = owner.host === undefined || owner.host === hostname();
    if (sameHost) {
      if (owner.pid > 0 && owner.pid !== process.pid && alive(owner.pid))
        throw new Error(
          `STATE_DIR ${dir} is in use by process ${owner.pid} (its LOCK file): one birdie per state directory`,
        );
    } else {
      const age = Date.now() - statSync(path).mtimeMs;
      if (age < LOCK_STALE_MS)
        throw new Error(
          `STATE_DIR ${dir} is in use by process ${owner.pid} on host ${owner.host} (its LOCK file was refreshed ${Math.round(age / 1000)} s ago): one birdie per state directory; a lock not refreshed for ${LOCK_STALE_MS / 1000} s is taken over`,
        );
      log?.warn(
        { host: owner.host, pid: owner.pid, age_ms: Math.round(age) },
        'taking over a stale LOCK left by another host',
      );
    }
    writeFileSync(path, mine);
  }
  const timer = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // the directory went away: close() follows
    }
  }, LOCK_REFRESH_MS);
  timer.unref();
  lockTimers.set(dir, timer);
}

function readLock(path: string): { pid: number; host: string | undefined } {
  const raw = readFileSync(path, 'utf8').trim();
  try {
    const o = JSON.parse(raw) as { pid?: unknown; host?: unknown };
    if (typeof o === 'object' && o !== null)
      return { pid: Number(o.pid) || 0, host: typeof o.host === 'string' ? o.host : undefined };
  } catch {
    // a lock of an earlier version: the pid alone
  }
  const pid = Number(raw);
  return { pid: Number.isInteger(pid) ? pid : 0, host: undefined };
}

function unlockStateDir(dir: string): void {
  clearInterval(lockTimers.get(dir));
  lockTimers.delete(dir);
  const path = join(dir, 'LOCK');
  try {
    const owner = readLock(path);
    if (owner.pid === process.pid && (owner.host === undefined || owner.host === hostname()))
      unlinkSync(path);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const RESTORE_PREFIX = Buffer.from('{"t":"restore"');

function isRestoreMarker(payload: Buffer): boolean {
  return (
    payload.length > RESTORE_PREFIX.length &&
    payload.subarray(0, RESTORE_PREFIX.length).equals(RESTORE_PREFIX)
  );
}

export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}
