/**
 * Where snapshots (backups) are kept: a local directory (`fs`, default) or an S3 bucket (`s3`,
 * src/store/s3.ts). Keys are '/'-separated paths under the backend's root, in the seed's form:
 *
 *   state/20241201_143022/snapshot.bin
 *   state/20241201_143022/manifest.json     written last: a backup without it does not exist
 *
 * Writes are atomic for readers: temp file + rename on fs; on S3 an object appears whole, and
 * the manifest written after the snapshot marks the backup complete.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

export interface StorageBackend {
  /** 'fs' or 's3', and where: for logs and /stats */
  readonly kind: 'fs' | 's3';
  readonly location: string;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** every key under `prefix` */
  list(prefix: string): Promise<string[]>;
  delete(keys: readonly string[]): Promise<void>;
}

export class FsBackend implements StorageBackend {
  readonly kind = 'fs' as const;
  readonly location: string;

  constructor(root: string) {
    this.location = root;
    mkdirSync(root, { recursive: true });
  }

  async put(key: string, body: Buffer): Promise<void> {
    const path = this.path(key);
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // the rename itself must survive a power cut
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  async get(key: string): Promise<Buffer> {
    return readFileSync(this.path(key));
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(dir, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (!n.includes('.tmp-')) out.push(relative(this.location, p).split(sep).join('/'));
      }
    };
    walk(this.location);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) rmSync(this.path(k), { force: true });
    // empty backup folders go too
    for (const k of keys) {
      const d = dirname(this.path(k));
      try {
        if (readdirSync(d).length === 0) rmSync(d, { recursive: true, force: true });
      } catch {
        // already gone
      }
    }
  }

  private path(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === '') || key.startsWith('/'))
      throw new Error(`bad storage key "${key}"`);
    return join(this.location, ...key.split('/'));
  }
}

/** The seed's timestamp form, in UTC: 20241201_143022. */
export function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}_${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export const STAMP = /^\d{8}_\d{6}$/;

export interface Manifest {
  format: 'birdie-backup';
  version: 1;
  timestamp: string;
  created: string;
  lsn: number;
  bytes: number;
  sha256: string;
  encrypted: boolean;
  keyId?: string;
  clusters: number;
  tweets: number;
}

export interface BackupInfo extends Manifest {
  key: string;
}

/** Backups (snapshot + manifest) on a backend, under `prefix` (e.g. `birch-clustering/`). */
export class Backups {
  readonly backend: StorageBackend;
  readonly prefix: string;

  constructor(backend: StorageBackend, prefix = '') {
    this.backend = backend;
    this.prefix = prefix;
  }

  key(ts: string, file: string): string {
    return `${this.prefix}state/${ts}/${file}`;
  }

  async write(
    ts: string,
    snapshot: Buffer,
    m: Omit<Manifest, 'format' | 'version' | 'timestamp' | 'bytes' | 'sha256'>,
  ): Promise<Manifest> {
    const manifest: Manifest = {
      format: 'birdie-backup',
      version: 1,
      timestamp: ts,
      bytes: snapshot.length,
      sha256: createHash('sha256').update(snapshot).digest('hex'),
      ...m,
    };
    await this.backend.put(this.key(ts, 'snapshot.bin'), snapshot);
    await this.backend.put(
      this.key(ts, 'manifest.json'),
      Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
    );
    return manifest;
  }

  /** Complete backups (with a readable manifest), newest first. */
  async list(): Promise<BackupInfo[]> {
    const keys = await this.backend.list(`${this.prefix}state/`);
    const out: BackupInfo[] = [];
    for (const k of keys) {
      if (!k.endsWith('/manifest.json')) continue;
      try {
        const m = JSON.parse((await this.backend.get(k)).toString('utf8')) as Manifest;
        if (m.format === 'birdie-backup' && STAMP.test(m.timestamp)) out.push({ ...m, key: k });
      } catch {
        // an unreadable manifest: not a backup we can use
      }
    }
    return out.sort((a, b) =>
      a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : b.lsn - a.lsn,
    );
  }

  async read(ts: string): Promise<{ manifest: Manifest; snapshot: Buffer }> {
    const manifest = JSON.parse(
      (await this.backend.get(this.key(ts, 'manifest.json'))).toString('utf8'),
    ) as Manifest;
    const snapshot = await this.backend.get(this.key(ts, 'snapshot.bin'));
    return { manifest, snapshot };
  }

  /**
   * Keeps the newest `keep` backups; deletes the rest, and leftovers without a manifest that are
   * older than the oldest kept backup (an upload cut short). A folder newer than every complete
   * backup may be one being written right now: it stays.
   */
  async prune(keep: number): Promise<string[]> {
    const all = await this.list();
    const kept = new Set(all.slice(0, keep).map((b) => b.timestamp));
    const oldestKept = all.slice(0, keep).at(-1)?.timestamp;
    const root = `${this.prefix}state/`;
    const keys = await this.backend.list(root);
    const drop = new Set<string>();
    for (const k of keys) {
      const ts = k.slice(root.length).split('/')[0];
      if (kept.has(ts)) continue;
      if (all.some((b) => b.timestamp === ts) || (oldestKept !== undefined && ts < oldestKept)) drop.add(ts);
    }
    await this.backend.delete(keys.filter((k) => drop.has(k.slice(root.length).split('/')[0])));
    return [...drop].sort().reverse();
  }
}
