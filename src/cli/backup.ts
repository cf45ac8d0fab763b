/**
 * `birdie backup list`, `birdie backup verify [--timestamp T]`, `birdie restore [--timestamp T]`:
 * the backups of the state that `birdie serve` would use (same environment: STATE_DIR,
 * S3_BUCKET_NAME, S3_PREFIX, S3_ENDPOINT, ENCRYPTION_KEY...).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { Durable } from '../pipeline/durable.js';
import { Service } from '../pipeline/service.js';
import { embedderFor, remoteBackups, serviceOptions, snapshotKeys } from '../server/app.js';
import { Metrics } from '../server/metrics.js';
import { Backups, FsBackend } from '../store/backend.js';
import { decodeSnapshot } from '../store/codec.js';
import { UsageError } from './cluster.js';

export const BACKUP_HELP = `Usage:
  birdie backup list [--json]            the backups in the store, newest first
  birdie backup verify [--timestamp T]   check one backup (default: the newest): manifest,
                                         checksums, decryption, a full load into a scratch
                                         engine and its invariants; exit 0 only if all is well
  birdie restore [--timestamp T]         make a backup (default: the newest) the state in
                                         STATE_DIR; birdie serve must not be running on it

The store is S3 when S3_BUCKET_NAME is set, else STATE_DIR/snapshots; the settings come from
the environment and .env, as for birdie serve. Timestamps look like 20241201_143022.
`;

function store(config: Config): Backups {
  return remoteBackups(config) ?? new Backups(new FsBackend(join(config.stateDir, 'snapshots')));
}

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export async function backupCommand(argv: string[], config: Config): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
    const list = await store(config).list();
    if (values.json) {
      out(JSON.stringify(list, null, 2));
      return 0;
    }
    out(`${list.length} backup${list.length === 1 ? '' : 's'} in ${store(config).backend.location}`);
    if (list.length === 0) return 0;
    const rows = [['timestamp', 'created', 'log record', 'clusters', 'tweets', 'bytes', 'encrypted']];
    for (const b of list)
      rows.push([
        b.timestamp,
        b.created,
        String(b.lsn),
        String(b.clusters),
        String(b.tweets),
        String(b.bytes),
        b.encrypted ? `yes (key ${b.keyId})` : 'no',
      ]);
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) out(r.map((c, i) => c.padEnd(w[i])).join('  '));
    return 0;
  }
  if (sub === 'verify') {
    const { values } = parseArgs({ args: rest, options: { timestamp: { type: 'string' } } });
    return verify(config, values.timestamp);
  }
  throw new UsageError(`unknown backup command "${sub ?? ''}"\n\n${BACKUP_HELP}`);
}

/** The seed's verify_backup: every check, one line each, exit 0 only when all pass. */
async function verify(config: Config, timestamp: string | undefined): Promise<number> {
  const s = store(config);
  const list = await s.list();
  const info = timestamp === undefined ? list[0] : list.find((b) => b.timestamp === timestamp);
  if (info === undefined) {
    process.stderr.write(
      `birdie: ${timestamp === undefined ? 'there are no backups' : `no backup ${timestamp}`} in ${s.backend.location}\n`,
    );
    return 1;
  }
  out(`backup ${info.timestamp} in ${s.backend.location}`);
  let ok = true;
  const check = (name: string, pass: boolean, detail: string) => {
    out(`  ${pass ? 'ok  ' : 'FAIL'}  ${name}: ${detail}`);
    if (!pass) ok = false;
    return pass;
  };
  const { manifest, snapshot } = await s.read(info.timestamp);
  check('size', snapshot.length === manifest.bytes, `${snapshot.length} bytes (manifest: ${manifest.bytes})`);
  const sha = createHash('sha256').update(snapshot).digest('hex');
  check('manifest checksum', sha === manifest.sha256, `sha256 ${sha.slice(0, 16)}...`);
  let parts: ReturnType<typeof decodeSnapshot>['parts'] | undefined;
  try {
    const d = decodeSnapshot(snapshot, snapshotKeys(config));
    parts = d.parts;
    check(
      'snapshot',
      true,
      `format ok, checksum ok${manifest.encrypted ? `, decrypted with key ${manifest.keyId}` : ''}, log record ${d.meta.lsn}`,
    );
  } catch (err) {
    check('snapshot', false, (err as Error).message);
  }
  if (parts !== undefined) {
    try {
      const metrics = new Metrics();
      const embedder = await embedderFor(config, metrics);
      let svc: Service;
      try {
        svc = Service.fromState(parts, serviceOptions(config, metrics, undefined, undefined, embedder));
      } finally {
        await embedder?.close();
      }
      const problems = svc.engine.tree.audit();
      check(
        'load',
        true,
        `${svc.engine.clusterCount} clusters, ${svc.engine.tweets} tweets, tree height ${svc.engine.tree.height}, ${svc.memory.heldCount} tweets held`,
      );
      check(
        'tree invariants',
        problems.length === 0,
        problems.length === 0 ? 'all hold' : problems.slice(0, 3).join('; '),
      );
      check(
        'manifest counts',
        svc.engine.clusterCount === manifest.clusters && svc.engine.tweets === manifest.tweets,
        `${manifest.clusters} clusters, ${manifest.tweets} tweets`,
      );
    } catch (err) {
      check('load', false, (err as Error).message);
    }
  }
  out(ok ? 'backup is good' : 'backup FAILED verification');
  return ok ? 0 : 1;
}

/** Offline restore: recovers STATE_DIR, swaps in the backup, writes it as the newest snapshot. */
export async function restoreCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { timestamp: { type: 'string' } } });
  const log = {
    info: (o: object, m: string) => process.stderr.write(`birdie: ${m} ${JSON.stringify(o)}\n`),
    warn: (o: object, m: string) => process.stderr.write(`birdie: warning: ${m} ${JSON.stringify(o)}\n`),
    error: (o: object, m: string) => process.stderr.write(`birdie: error: ${m} ${JSON.stringify(o)}\n`),
  };
  const metrics = new Metrics();
  const embedder = await embedderFor(config, metrics);
  const durable = await Durable.open(
    {
      stateDir: config.stateDir,
      walSync: 'fsync',
      remote: remoteBackups(config),
      keys: snapshotKeys(config),
      everyTweets: 0,
      intervalMs: 0,
      keep: config.backupKeep,
      log,
      onFatal: (err) => {
        throw err;
      },
    },
    serviceOptions(config, metrics, undefined, undefined, embedder),
  );
  try {
    const info = await durable.restore(values.timestamp);
    out(
      `restored ${info.timestamp} (${info.clusters} clusters, ${info.tweets} tweets) into ${config.stateDir}; start birdie serve to use it`,
    );
    return 0;
  } finally {
    await durable.close();
    await embedder?.close();
  }
}
