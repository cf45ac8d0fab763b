/**
 * durability: what the write-ahead log and the snapshots cost, in one run.
 *
 *   npm run bench -- durability                  full run (about 8 minutes)
 *   BENCH_QUICK=1 npm run bench -- durability    short run (about 2 minutes)
 *   npm run bench -- durability --only ingest    one part: fsync, ingest or snapshot
 *   npm run bench -- durability --duration 10 --warmup 2 --rounds 4 --modes fsync,off
 *                                --connections 20 --batch-connections 10 --batch 100 --no-log-only
 *   npm run bench -- durability --clusters 100000 --dim 256 --tail 10000 --runs 3 --fsyncs 1000
 *   npm run bench -- durability --env BACKUP_MIN_INTERVAL=5s
 *                                settings for the ingest servers besides the defaults
 *
 * 1. fsync: the disk's price of durability: --fsyncs appends of a 200-byte record (about a
 *    one-tweet log record) each followed by fdatasync, as the log does per group commit, in the
 *    temporary directory that holds the servers' STATE_DIRs; then the same appends without it.
 *
 * 2. ingest: `node bin/birdie.js serve` (dist/ rebuilt first when older than src/) with
 *    WAL_SYNC=fsync (the default: a tweet is answered once its log record is on disk), off
 *    (answered at once, written within 100 ms) and write (in the OS before the answer), under two
 *    settings: "shipped", every other setting at its default (LOG_LEVEL=warn), backups included;
 *    and "log only", the same with BACKUP_EVERY_TWEETS=0 and BACKUP_INTERVAL=0, which isolates
 *    the log (--no-log-only skips it). A fresh server and STATE_DIR per mode, settings and round,
 *    fed the same bodies in the same order (bench/http.ts's texts, unique ids), so every server
 *    sees the same workload; the rounds rotate the order of the modes (a Latin square for three)
 *    and alternate the settings so that drift on the machine favours none. Each server gets:
 *    single (one tweet per POST over --connections) warm-up and measured run, then batch (--batch
 *    tweets per POST over --batch-connections) warm-up and measured run; then SIGKILL (no shutdown
 *    snapshot: the directory is thrown away). autocannon runs in this process, on the same
 *    machine, as in bench/http.ts. The table gives medians over the rounds; the ratio to off is
 *    taken per round (the two ran a minute apart at most) and its median is the figure judged.
 *    Target: fsync keeps >= 70% of off's tweets/s. From the server's /stats and /metrics around
 *    each measured run: fsyncs (tweets per fsync: the group commit), log bytes, and the backups
 *    (snapshots) it took meanwhile with their seconds.
 *
 * 3. snapshot: in this process, no HTTP: a Service with --clusters clusters (default 100,000;
 *    quick 10,000) from tweets that bring their own embedding, random unit vectors of dimension
 *    --dim (default 256), with SIMILARITY_THRESHOLD 0.999 so that every tweet starts its own
 *    cluster (two random unit vectors at d = 256 have cos ~ N(0, 1/256)). At d = 1024, the
 *    default, the tree's dense linear sums are 8 KB per cluster: ~1.2 GB for 100,000 clusters in
 *    leaves ~70% full, before any copy; 256 keeps the run to a few GB and minutes, and the times
 *    scale with the bytes (the table gives MB/s). Every other setting at its default
 *    (MAX_TWEET_IDS 1,000,000 and MAX_TWEET_EMBEDDINGS 10,000 are part of the state). Timed over
 *    --runs runs (min/median/max):
 *      exportState; encodeSnapshot plain and encrypted (AES-256-GCM, random key);
 *      encodeSnapshotAsync (what a backup runs: the deflate on the thread pool), with the time it
 *        keeps the event loop busy and its longest stall;
 *      Backups.write (a local backup: SHA-256, temp file, fsync, rename, manifest), a bare
 *        write + fsync, the read (page cache); decodeSnapshot plain and encrypted;
 *      Service.fromState; Service.replay of the log tail alone;
 *      Durable.open of a STATE_DIR holding that snapshot and an empty log, and of one with a log
 *        of --tail more tweets (records of 100) after it;
 *      `birdie serve` on the second one, from spawn to /ready, with the recovery's own time from
 *        its log, and its RSS.
 *    Then each step inside encode and decode alone (JSON, deflate, SHA-256, AES), to show where
 *    their time goes, and this process's RSS and heap (after a full GC) at each stage.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.js';
import type { StateParts } from '../src/engine/state.js';
import { Durable, type Logger } from '../src/pipeline/durable.js';
import { Service, type ServiceOptions } from '../src/pipeline/service.js';
import { Backups, FsBackend, stamp } from '../src/store/backend.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  encodeSnapshotAsync,
  parseKey,
  type SnapshotKey,
} from '../src/store/codec.js';
import { segmentName, Wal } from '../src/store/wal.js';
import { tweetTexts } from './http.js';
import {
  BENCH_DIR,
  flag,
  fmtBytes,
  fmtInt,
  fmtRatio,
  gaussian,
  gc,
  hasFlag,
  intFlag,
  type MemSnapshot,
  memory,
  mulberry32,
  peakRss,
  type Stats,
  type Suite,
  type SuiteContext,
  sink,
  stats,
  table,
} from './lib.js';
import { Bodies, children, ensureBuilt, envFlags, freePort, gitState, killAll, pct } from './service.js';

const ROOT = dirname(BENCH_DIR);
const BIN = join(ROOT, 'bin', 'birdie.js');

const FULL = { duration: 8, warmup: 2, rounds: 3, clusters: 100_000, tail: 10_000, pool: 100_000 };
const QUICK = { duration: 3, warmup: 1, rounds: 2, clusters: 10_000, tail: 2_000, pool: 30_000 };
const MODES = ['fsync', 'off', 'write'] as const;
type Mode = (typeof MODES)[number];
const SEED = 20260401;
const FSYNC_RECORD = 200;
/** fsync's tweets/s over off's, the safe default's cost */
const TARGET_RATIO = 0.7;
/** tweets per ingest call when building the state in process, and per log record of the tail */
const BUILD_BATCH = 500;
const TAIL_BATCH = 100;

// ---------------------------------------------------------------- small helpers

function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(xs: number[]): number {
  return stats(xs).median;
}

function ms(s: number): string {
  return (s * 1000).toFixed(s < 0.1 ? 2 : s < 10 ? 1 : 0);
}

const MB = 1e6;

// ---------------------------------------------------------------- 1. the disk's fsync

interface FsyncLatency {
  dir: string;
  filesystem: string | null;
  records: number;
  recordBytes: number;
  /** µs per append + fdatasync */
  sync: { mean: number; p50: number; p90: number; p99: number; max: number; perSecond: number };
  /** µs per append alone */
  write: { mean: number; p50: number; p99: number };
}

function filesystemOf(dir: string): string | null {
  try {
    const out = execFileSync('df', ['-T', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const f = out.trim().split('\n').at(-1)?.split(/\s+/) ?? [];
    return `${f[1] ?? '?'} on ${f[0] ?? '?'}`;
  } catch {
    return null;
  }
}

function measureFsync(dir: string, n: number): FsyncLatency {
  const path = join(dir, 'fsync-probe.log');
  const record = randomBytes(FSYNC_RECORD);
  const once = (sync: boolean): Float64Array => {
    const fd = openSync(path, 'a');
    const us = new Float64Array(n);
    try {
      // a few unmeasured rounds: the file's first blocks are allocated
      for (let i = 0; i < 5; i++) {
        writeSync(fd, record);
        if (sync) fdatasyncSync(fd);
      }
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        writeSync(fd, record);
        if (sync) fdatasyncSync(fd);
        us[i] = (performance.now() - t0) * 1000;
      }
    } finally {
      closeSync(fd);
      unlinkSync(path);
    }
    return us;
  };
  const sync = once(true);
  const write = once(false);
  const mean = (a: Float64Array) => a.reduce((s, x) => s + x, 0) / a.length;
  const syncMean = mean(sync);
  sync.sort();
  write.sort();
  return {
    dir,
    filesystem: filesystemOf(dir),
    records: n,
    recordBytes: FSYNC_RECORD,
    sync: {
      mean: syncMean,
      p50: percentile(sync, 0.5),
      p90: percentile(sync, 0.9),
      p99: percentile(sync, 0.99),
      max: sync[sync.length - 1],
      perSecond: 1e6 / syncMean,
    },
    write: { mean: mean(write), p50: percentile(write, 0.5), p99: percentile(write, 0.99) },
  };
}

function printFsync(f: FsyncLatency, when: string): void {
  console.log();
  console.log(
    table(
      `The disk, ${when}: ${fmtInt(f.records)} appends of ${f.recordBytes} bytes in ${f.dir} (${f.filesystem ?? 'filesystem unknown'})`,
      ['operation', 'mean µs', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'per second'],
      [
        [
          'write + fdatasync',
          f.sync.mean.toFixed(0),
          f.sync.p50.toFixed(0),
          f.sync.p90.toFixed(0),
          f.sync.p99.toFixed(0),
          f.sync.max.toFixed(0),
          fmtInt(f.sync.perSecond),
        ],
        [
          'write alone',
          f.write.mean.toFixed(1),
          f.write.p50.toFixed(1),
          null,
          f.write.p99.toFixed(1),
          null,
          null,
        ],
      ],
    ),
  );
  console.log(
    `  one fsync costs ~${f.sync.p50.toFixed(0)} µs: a log that synced once per request could answer at most ` +
      `~${fmtInt(1e6 / f.sync.p50)} requests/s; group commit shares each fsync among the requests that arrived meanwhile`,
  );
}

// ---------------------------------------------------------------- 2. the service over HTTP

interface Server {
  name: string;
  url: string;
  child: ChildProcess;
  stderr: string[];
  exited: { code: number | null; signal: string | null } | null;
  logFile: string;
}

async function startBirdie(name: string, env: Record<string, string>, cwd: string): Promise<Server> {
  const port = await freePort();
  const logFile = join(cwd, `${name}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd,
    // a clean environment: no API_TOKENS, BATCH_SIZE, ... of the caller's shell
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ...env },
    stdio: ['ignore', out, 'pipe'],
  });
  closeSync(out);
  children.add(child);
  const s: Server = { name, url: `http://127.0.0.1:${port}`, child, stderr: [], exited: null, logFile };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    s.stderr.push(d);
    if (s.stderr.length > 50) s.stderr.shift();
  });
  child.on('exit', (code, signal) => {
    s.exited = { code, signal };
    children.delete(child);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    checkAlive(s);
    try {
      if ((await fetch(`${s.url}/ready`)).ok) return s;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready after 60 s:\n${s.stderr.join('')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** SIGKILL: the bench throws the directory away, a shutdown snapshot would only cost time. */
async function killServer(s: Server): Promise<void> {
  if (s.exited) return;
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  s.child.kill('SIGKILL');
  await exited;
}

function checkAlive(s: Server): void {
  if (s.exited) {
    const log = existsSync(s.logFile) ? readFileSync(s.logFile, 'utf8').slice(-3000) : '';
    throw new Error(
      `${s.name} exited (${s.exited.signal ?? `exit code ${s.exited.code}`}); its stdout ends:\n${log}\n` +
        `its stderr ends:\n${s.stderr.join('').slice(-3000)}`,
    );
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) of a child so far, or null off Linux. */
function childCpu(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Machine-wide CPU jiffies from /proc/stat (all, idle + iowait), or null off Linux. */
function machineCpu(): { total: number; idle: number; iowait: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), idle: f[3] + f[4], iowait: f[4] };
  } catch {
    return null;
  }
}

/** What the server says about itself: /stats and the backup metrics. */
interface ServerCounters {
  tweets: number;
  clusters: number;
  lsn: number;
  walBytes: number;
  syncs: number;
  rss: number;
  backups: number;
  backupSeconds: number;
}

async function counters(s: Server): Promise<ServerCounters> {
  checkAlive(s);
  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`).catch((err: Error) => {
      checkAlive(s);
      throw err;
    });
    if (!res.ok) throw new Error(`${s.name}: GET ${path} answered ${res.status}`);
    return res.text();
  };
  const st = JSON.parse(await get('/stats')) as {
    tweets_processed: number;
    clusters_active: number;
    memory: { rss_bytes: number };
    wal?: { last_lsn: number; bytes_written: number; syncs: number };
  };
  const metrics = await get('/metrics');
  const metric = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([-+0-9.eE]+)$`, 'm').exec(metrics);
    return m ? Number(m[1]) : 0;
  };
  return {
    tweets: st.tweets_processed,
    clusters: st.clusters_active,
    lsn: st.wal?.last_lsn ?? 0,
    walBytes: st.wal?.bytes_written ?? 0,
    syncs: st.wal?.syncs ?? 0,
    rss: st.memory.rss_bytes,
    backups: metric('birch_backup_success_total'),
    backupSeconds: metric('birch_backup_duration_seconds_sum'),
  };
}

/** One autocannon run; the bodies come from `body` per request. */
async function fire(
  s: Server,
  connections: number,
  seconds: number,
  body: () => string,
): Promise<{ r: autocannon.Result; latencies: Float64Array; ok: number }> {
  const latencies: number[] = [];
  const instance = autocannon({
    url: s.url,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/tweets',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => {
          req.body = body();
          return req;
        },
      },
    ],
  });
  let ok = 0;
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) {
      latencies.push(ms);
      ok++;
    }
  });
  const r = await instance;
  await new Promise((resolve) => setTimeout(resolve, 50));
  checkAlive(s);
  return { r, latencies: Float64Array.from(latencies).sort(), ok };
}

interface Load {
  /** the settings besides WAL_SYNC: 'shipped' (the defaults) or 'log only' (no backups) */
  config: string;
  mode: Mode;
  round: number;
  /** position of this server within its round, 1-based */
  position: number;
  workload: 'single' | 'batch';
  connections: number;
  batch: number;
  seconds: number;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  reqPerSec: number;
  tweetsPerSec: number;
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  serverCpu: number | null;
  benchCpu: number;
  /** share of the machine's time waiting for I/O (iowait), all cores */
  iowait: number | null;
  /** CPU s per s of everything else on the machine (busy minus the server minus this process) */
  otherCpu: number | null;
  /** from the server around the measured run */
  serverTweets: number;
  logRecords: number;
  logBytes: number;
  fsyncs: number;
  backups: number;
  backupSeconds: number;
  serverRssAfter: number;
  clustersAfter: number;
  warmup: { reqPerSec: number; non2xx: number; errors: number };
}

type Where = Pick<Load, 'config' | 'mode' | 'round' | 'position'>;

async function measure(
  s: Server,
  where: Where,
  workload: 'single' | 'batch',
  opts: { connections: number; seconds: number; warmup: number; batch: number; bodies: Bodies },
): Promise<Load> {
  const batch = workload === 'single' ? 1 : opts.batch;
  const body = workload === 'single' ? () => opts.bodies.single() : () => opts.bodies.batch(batch);
  const w = await fire(s, opts.connections, opts.warmup, body);
  const before = await counters(s);
  const cpu0 = childCpu(s.child.pid);
  const bench0 = process.cpuUsage();
  const m0 = machineCpu();
  const t0 = performance.now();
  const { r, latencies, ok } = await fire(s, opts.connections, opts.seconds, body);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = childCpu(s.child.pid);
  const bench1 = process.cpuUsage(bench0);
  const m1 = machineCpu();
  const after = await counters(s);
  const jiffies = m0 && m1 ? m1.total - m0.total : 0;
  const load: Load = {
    ...where,
    workload,
    connections: opts.connections,
    batch,
    seconds: r.duration,
    requests: r.requests.total,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    reqPerSec: ok / r.duration,
    tweetsPerSec: (ok * batch) / r.duration,
    latency: {
      mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: latencies.length > 0 ? latencies[latencies.length - 1] : Number.NaN,
    },
    serverCpu: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null,
    benchCpu: (bench1.user + bench1.system) / 1e6 / wall,
    iowait: m0 && m1 && jiffies > 0 ? (m1.iowait - m0.iowait) / jiffies : null,
    otherCpu: null,
    serverTweets: after.tweets - before.tweets,
    logRecords: after.lsn - before.lsn,
    logBytes: after.walBytes - before.walBytes,
    fsyncs: after.syncs - before.syncs,
    backups: after.backups - before.backups,
    backupSeconds: after.backupSeconds - before.backupSeconds,
    serverRssAfter: after.rss,
    clustersAfter: after.clusters,
    warmup: { reqPerSec: w.ok / w.r.duration, non2xx: w.r.non2xx, errors: w.r.errors },
  };
  if (m0 && m1 && jiffies > 0 && load.serverCpu !== null) {
    const busy = 1 - (m1.idle - m0.idle) / jiffies;
    load.otherCpu = Math.max(0, busy * cpus().length - load.serverCpu - load.benchCpu);
  }
  const problem = problems(load);
  console.log(
    `  ${where.config.padEnd(8)} ${where.mode.padEnd(5)} ${workload.padEnd(6)} ${fmtInt(load.tweetsPerSec).padStart(7)} tweets/s, ` +
      `p50 ${load.latency.p50.toFixed(2)} ms, p99 ${load.latency.p99.toFixed(2)} ms, ` +
      `${fmtInt(load.fsyncs)} fsyncs, ${load.backups} backups (${load.backupSeconds.toFixed(1)} s), ` +
      `server CPU ${pct(load.serverCpu)}, other ${pct(load.otherCpu)}${problem ? `  !! ${problem}` : ''}`,
  );
  return load;
}

/** What went wrong in a run (warm-up included), or '' when nothing did. */
function problems(l: Load): string {
  const p: string[] = [];
  if (l.non2xx > 0) p.push(`${fmtInt(l.non2xx)} non-2xx`);
  if (l.errors > 0) p.push(`${fmtInt(l.errors)} errors`);
  if (l.warmup.non2xx > 0 || l.warmup.errors > 0)
    p.push(`warm-up: ${l.warmup.non2xx} non-2xx, ${l.warmup.errors} errors`);
  // autocannon stops with up to one request per connection in flight: the server may have
  // processed those without their answers being counted
  const answered = l.ok * l.batch;
  if (l.serverTweets < answered || l.serverTweets > answered + l.connections * l.batch)
    p.push(`server processed ${fmtInt(l.serverTweets)} tweets, ${fmtInt(answered)} answered`);
  return p.join('; ');
}

interface Config {
  name: string;
  env: Record<string, string>;
}

interface IngestParams {
  seconds: number;
  warmup: number;
  rounds: number;
  modes: Mode[];
  configs: Config[];
  connections: number;
  batchConnections: number;
  batch: number;
}

async function runIngest(p: IngestParams, texts: string[], tmp: string): Promise<Load[]> {
  const loads: Load[] = [];
  for (let round = 1; round <= p.rounds; round++) {
    // the modes rotate from round to round; the configurations alternate their order
    const order = p.modes.map((_, i) => p.modes[(i + round - 1) % p.modes.length]);
    const configs = round % 2 === 1 ? p.configs : [...p.configs].reverse();
    let position = 0;
    for (const config of configs) {
      console.log(`  round ${round}, ${config.name}: ${order.join(', ')}`);
      for (const mode of order) {
        const dir = join(tmp, `ingest-${round}-${config.name.replace(/\W/g, '')}-${mode}`);
        mkdirSync(dir, { recursive: true });
        const s = await startBirdie(
          `birdie-${mode}`,
          {
            ...config.env,
            WAL_SYNC: mode,
            STATE_DIR: join(dir, 'state'),
            LOG_LEVEL: 'warn',
            HOST: '127.0.0.1',
            SHUTDOWN_TIMEOUT_SECONDS: '2',
          },
          dir,
        );
        try {
          // the same bodies for every server: the same texts in the same order
          const bodies = new Bodies(texts, `r${round}-`);
          const where = { config: config.name, mode, round, position: ++position };
          const o = { seconds: p.seconds, warmup: p.warmup, batch: p.batch, bodies };
          loads.push(await measure(s, where, 'single', { ...o, connections: p.connections }));
          loads.push(await measure(s, where, 'batch', { ...o, connections: p.batchConnections }));
        } finally {
          await killServer(s);
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  }
  return loads;
}

interface Ratio {
  config: string;
  workload: 'single' | 'batch';
  mode: Mode;
  /** tweets/s over off's in the same round */
  perRound: Stats;
  /** the median tweets/s over off's */
  ofMedians: number;
}

function summariseIngest(
  loads: Load[],
  p: IngestParams,
): { perMode: Record<string, unknown>; ratios: Ratio[] } {
  const of = (config: string, mode: Mode, w: 'single' | 'batch') =>
    loads
      .filter((l) => l.config === config && l.mode === mode && l.workload === w)
      .sort((a, b) => a.round - b.round);
  const rows: (string | number | null)[][] = [];
  const perMode: Record<string, Record<string, unknown>> = {};
  for (const w of ['single', 'batch'] as const) {
    for (const { name: config } of p.configs) {
      for (const mode of p.modes) {
        const ls = of(config, mode, w);
        if (ls.length === 0) continue;
        const tps = stats(ls.map((l) => l.tweetsPerSec));
        const sum = (f: (l: Load) => number) => ls.reduce((a, l) => a + f(l), 0);
        const tweets = sum((l) => l.serverTweets);
        const fsyncs = sum((l) => l.fsyncs);
        const entry = {
          tweetsPerSec: tps,
          p50: median(ls.map((l) => l.latency.p50)),
          p99: median(ls.map((l) => l.latency.p99)),
          max: Math.max(...ls.map((l) => l.latency.max)),
          serverCpu: median(ls.map((l) => l.serverCpu ?? Number.NaN)),
          tweetsPerFsync: fsyncs > 0 ? tweets / fsyncs : null,
          fsyncsPerSec: fsyncs / sum((l) => l.seconds),
          tweetsPerRecord:
            tweets /
            Math.max(
              1,
              sum((l) => l.logRecords),
            ),
          logBytesPerTweet: sum((l) => l.logBytes) / Math.max(1, tweets),
          backupsPerRun: sum((l) => l.backups) / ls.length,
          backupSecondsPerRun: sum((l) => l.backupSeconds) / ls.length,
          iowait: median(ls.map((l) => l.iowait ?? Number.NaN)),
          otherCpu: Math.max(...ls.map((l) => l.otherCpu ?? 0)),
        };
        perMode[`${config}.${w}.${mode}`] = entry;
        rows.push([
          w,
          config,
          mode,
          fmtInt(tps.median),
          `${fmtInt(tps.min)}-${fmtInt(tps.max)}`,
          entry.p50.toFixed(2),
          entry.p99.toFixed(2),
          entry.max.toFixed(0),
          entry.tweetsPerFsync === null ? null : entry.tweetsPerFsync.toFixed(1),
          fmtInt(entry.fsyncsPerSec),
          entry.logBytesPerTweet.toFixed(0),
          entry.backupsPerRun.toFixed(1),
          entry.backupSecondsPerRun.toFixed(1),
          pct(entry.serverCpu),
          pct(entry.iowait),
          pct(entry.otherCpu),
        ]);
      }
    }
  }
  console.log();
  console.log(
    table(
      `POST /tweets by WAL_SYNC: single = 1 tweet per POST over ${p.connections} connections, batch = ${p.batch} per POST over ${p.batchConnections}; ` +
        `median over ${p.rounds} rounds of ${p.seconds} s after a ${p.warmup} s warm-up, a fresh server each; latency per request`,
      [
        'workload',
        'settings',
        'WAL_SYNC',
        'tweets/s',
        'min-max',
        'p50 ms',
        'p99 ms',
        'max ms',
        'tweets/fsync',
        'fsyncs/s',
        'log B/tweet',
        'backups',
        'backup s',
        'server CPU',
        'iowait',
        'other CPU',
      ],
      rows,
    ),
  );
  console.log(
    '  settings: shipped = every default (BACKUP_EVERY_TWEETS, BACKUP_INTERVAL, ...); log only = the same without backups ' +
      '(BACKUP_EVERY_TWEETS=0, BACKUP_INTERVAL=0), the log alone',
  );
  console.log(
    '  max: the slowest answer of any round; backups: snapshots the server took during a measured run, and their seconds ' +
      '(mean per run; they include waiting for the next whole second, one backup a second at most); ' +
      'iowait: share of the machine (all cores) idle waiting for the disk; other CPU: the most any run saw of other processes (100% = a core)',
  );
  const other = Math.max(...loads.map((l) => l.otherCpu ?? 0));
  if (other > 0.15)
    console.log(
      `  !! other processes used up to ${pct(other)} of a core during a run: the machine was not quiet, the figures are disturbed`,
    );

  // each mode over off, paired per round: the two ran close together
  const ratios: Ratio[] = [];
  for (const w of ['single', 'batch'] as const) {
    for (const { name: config } of p.configs) {
      for (const mode of p.modes.filter((m) => m !== 'off')) {
        const num = of(config, mode, w);
        const den = of(config, 'off', w);
        const paired = num
          .map((l) => {
            const d = den.find((x) => x.round === l.round);
            return d ? l.tweetsPerSec / d.tweetsPerSec : Number.NaN;
          })
          .filter(Number.isFinite);
        if (paired.length === 0) continue;
        ratios.push({
          config,
          workload: w,
          mode,
          perRound: stats(paired),
          ofMedians: median(num.map((l) => l.tweetsPerSec)) / median(den.map((l) => l.tweetsPerSec)),
        });
      }
    }
  }
  console.log();
  console.log(
    table(
      'tweets/s relative to WAL_SYNC=off of the same settings, paired by round',
      ['workload', 'settings', 'ratio', 'median', 'min-max', 'of medians', 'per round'],
      ratios.map((r) => [
        r.workload,
        r.config,
        `${r.mode} / off`,
        fmtRatio(r.perRound.median),
        `${fmtRatio(r.perRound.min)}-${fmtRatio(r.perRound.max)}`,
        fmtRatio(r.ofMedians),
        r.perRound.samples.map((x) => x.toFixed(2)).join(' '),
      ]),
    ),
  );
  return { perMode, ratios };
}

// ---------------------------------------------------------------- 3. snapshots in process

const silent: Logger = { info() {}, warn() {}, error() {} };

/** The shipped defaults, but the dimension and a threshold that keeps every tweet alone. */
const SNAPSHOT_ENV = (dim: number) => ({ EMBEDDING_DIM: String(dim), SIMILARITY_THRESHOLD: '0.999' });

function serviceOptionsFor(dim: number): ServiceOptions {
  const c = loadConfig(SNAPSHOT_ENV(dim));
  return {
    embeddingDim: c.embeddingDim,
    similarityThreshold: c.similarityThreshold,
    birchThreshold: c.birchThreshold,
    branchingFactor: c.branchingFactor,
    maxTweetEmbeddings: c.maxTweetEmbeddings,
    maxTweetIds: c.maxTweetIds,
    clusterExpiryHours: c.clusterExpiryHours,
    topics: c.topics,
  };
}

/** `n` tweets with their own embeddings (random directions), ids `${prefix}${k}`, in batches. */
function* randomTweets(
  n: number,
  dim: number,
  texts: string[],
  prefix: string,
  seed: number,
  batch: number,
): Generator<{ id: string; text: string; embedding: number[] }[]> {
  const g = gaussian(mulberry32(seed));
  for (let k = 0; k < n; k += batch) {
    const items: { id: string; text: string; embedding: number[] }[] = [];
    for (let i = k; i < Math.min(n, k + batch); i++) {
      const v = new Array<number>(dim);
      for (let j = 0; j < dim; j++) v[j] = g();
      items.push({ id: `${prefix}${i}`, text: JSON.parse(texts[i % texts.length]) as string, embedding: v });
    }
    yield items;
  }
}

interface Stage {
  stage: string;
  mem: MemSnapshot;
  peakRss: number;
}

function stage(stages: Stage[], name: string): void {
  gc();
  stages.push({ stage: name, mem: memory(), peakRss: peakRss() });
}

/** Seconds of each of `runs` calls, awaited, with a full GC before each (not timed). */
async function timeRuns<T>(
  runs: number,
  fn: (run: number) => Promise<T> | T,
): Promise<{ s: Stats; last: T }> {
  const secs: number[] = [];
  let last!: T;
  for (let r = 0; r < runs; r++) {
    gc();
    const t0 = performance.now();
    last = await fn(r);
    secs.push((performance.now() - t0) / 1000);
  }
  return { s: stats(secs), last };
}

interface LoopCost {
  /** wall seconds of each run */
  wall: Stats;
  /** seconds this thread was busy (event-loop utilisation), and its longest stall, of each run */
  busy: Stats;
  longest: Stats;
}

/**
 * An async call's wall time, how long it kept the event loop busy, and its longest stall (the
 * largest gap between the ticks of a 1 ms interval): what it costs a server answering meanwhile.
 */
async function loopCost<T>(runs: number, fn: () => Promise<T>): Promise<LoopCost & { last: T }> {
  const wall: number[] = [];
  const busy: number[] = [];
  const longest: number[] = [];
  let last!: T;
  for (let r = 0; r < runs; r++) {
    gc();
    let tick = performance.now();
    let gap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - tick);
      tick = now;
    }, 1);
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    last = await fn();
    const t1 = performance.now();
    const elu = performance.eventLoopUtilization(elu0);
    clearInterval(timer);
    wall.push((t1 - t0) / 1000);
    busy.push(elu.active / 1000);
    longest.push(Math.max(gap, t1 - tick) / 1000);
  }
  return { wall: stats(wall), busy: stats(busy), longest: stats(longest), last };
}

function arraysBytes(parts: StateParts): number {
  return Object.values(parts.arrays).reduce((a, x) => a + x.byteLength, 0);
}

function writeFsync(path: string, bytes: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Durable.open as the server calls it, without timers or backups. */
async function openDurable(stateDir: string, opts: ServiceOptions): Promise<Durable> {
  return Durable.open(
    {
      stateDir,
      walSync: 'fsync',
      keys: [],
      everyTweets: 0,
      intervalMs: 0,
      keep: 2,
      log: silent,
      onFatal: (err) => {
        throw err;
      },
    },
    opts,
  );
}

/**
 * Recovers `stateDir` in process and lets it go without a shutdown snapshot (the directory must
 * stay as it is for the next run): the log is closed, the lock removed.
 */
async function recover(
  stateDir: string,
  opts: ServiceOptions,
): Promise<{ clusters: number; tweets: number; replayed: number }> {
  const d = await openDurable(stateDir, opts);
  try {
    if (d.recovery.skipped.length > 0 || d.recovery.snapshot === undefined)
      throw new Error(`recovery did not use the snapshot: ${d.recovery.skipped.join('; ')}`);
    return {
      clusters: d.service.engine.clusterCount,
      tweets: d.service.engine.tweets,
      replayed: d.recovery.replayed,
    };
  } finally {
    await d.wal.close();
    rmSync(join(stateDir, 'LOCK'), { force: true });
  }
}

/**
 * `birdie serve` on a copy of the state: from spawn to /ready (node, Fastify, recovery), the
 * recovery's own time from its "state loaded" log line, and the RSS once ready. SIGKILLed after.
 */
async function restartServer(
  stateDir: string,
  dim: number,
  cwd: string,
): Promise<{
  readySeconds: number;
  loadedMs: number | null;
  rss: number;
  tweets: number;
  replayed: number | null;
}> {
  rmSync(join(stateDir, 'LOCK'), { force: true });
  const t0 = performance.now();
  const s = await startBirdie(
    'birdie-restart',
    { ...SNAPSHOT_ENV(dim), STATE_DIR: stateDir, LOG_LEVEL: 'info', HOST: '127.0.0.1' },
    cwd,
  );
  const readySeconds = (performance.now() - t0) / 1000;
  try {
    const c = await counters(s);
    let loadedMs: number | null = null;
    let replayed: number | null = null;
    for (const line of readFileSync(s.logFile, 'utf8').split('\n')) {
      if (!line.includes('"state loaded"')) continue;
      const j = JSON.parse(line) as { ms?: number; replayed?: number };
      loadedMs = j.ms ?? null;
      replayed = j.replayed ?? null;
    }
    return { readySeconds, loadedMs, rss: c.rss, tweets: c.tweets, replayed };
  } finally {
    await killServer(s);
    rmSync(join(stateDir, 'LOCK'), { force: true });
  }
}

interface SnapshotParams {
  clusters: number;
  dim: number;
  tail: number;
  runs: number;
}

/**
 * The source state, its snapshot files, and the two state directories (snapshot + empty log;
 * snapshot + log tail). Everything it builds but the files goes when it returns.
 */
async function buildAndEncode(
  p: SnapshotParams,
  opts: ServiceOptions,
  texts: string[],
  tmp: string,
  stages: Stage[],
) {
  const svc = new Service(opts);
  let t0 = performance.now();
  let lsn = 0;
  for (const items of randomTweets(p.clusters, p.dim, texts, 'c', SEED, BUILD_BATCH)) {
    const r = svc.ingest(items);
    if (r.accepted !== items.length) throw new Error(`build: ${items.length - r.accepted} tweets refused`);
    // as if journaled: one log record per ingest call
    lsn++;
  }
  const buildSeconds = (performance.now() - t0) / 1000;
  const clusters = svc.engine.clusterCount;
  const tweets = svc.engine.tweets;
  const shape = svc.engine.shape();
  const treeBytes = svc.engine.tree.memoryBytes;
  const treeReserved = svc.engine.tree.reservedBytes;
  console.log(
    `  built: ${fmtInt(tweets)} tweets -> ${fmtInt(clusters)} clusters in ${buildSeconds.toFixed(1)} s ` +
      `(${fmtInt(tweets / buildSeconds)} tweets/s in process); tree height ${shape.height}, ` +
      `${fmtInt(shape.nodes)} nodes (${fmtInt(shape.leaves)} leaves, ${(clusters / shape.leaves).toFixed(1)} entries a leaf), ` +
      `${fmtBytes(treeBytes)} in use, ${fmtBytes(treeReserved)} reserved`,
  );
  if (clusters !== p.clusters)
    console.log(`  !! ${fmtInt(clusters)} clusters, not ${fmtInt(p.clusters)}: some tweets joined a cluster`);
  stage(stages, 'service built');

  // ---- export and encode
  const exp = await timeRuns(p.runs, () => svc.exportState());
  const parts = exp.last;
  const jsonChars = JSON.stringify(parts.json).length;
  const rawBytes = jsonChars + arraysBytes(parts);
  stage(stages, 'exported (the service and the parts held)');
  const meta = { lsn, created: new Date().toISOString(), info: { clusters, tweets } };
  const key = parseKey(randomBytes(32).toString('hex'));
  const enc = await timeRuns(p.runs, () => encodeSnapshot(parts, meta));
  const plain = enc.last;
  const encE = await timeRuns(p.runs, () => encodeSnapshot(parts, meta, key));
  const encrypted = encE.last;
  stage(stages, 'encoded (the service, the parts, the plain and the encrypted file held)');
  // what a backup runs (src/pipeline/durable.ts): the deflate on the thread pool
  const encAsync = await loopCost(p.runs, () => encodeSnapshotAsync(parts, meta));
  if (!encAsync.last.subarray(0, 16).equals(plain.subarray(0, 16)) || encAsync.last.length !== plain.length)
    throw new Error('encodeSnapshotAsync gave another file than encodeSnapshot');
  const encAsyncE = await loopCost(p.runs, () => encodeSnapshotAsync(parts, meta, key));
  encAsync.last = plain;
  encAsyncE.last = plain;

  // ---- where encode's time goes: its steps, one run each, on the same parts
  const steps: [string, number, number][] = [];
  const step = <T>(name: string, bytes: number, fn: () => T): T => {
    const secs: number[] = [];
    let v!: T;
    for (let r = 0; r < p.runs; r++) {
      gc();
      const t = performance.now();
      v = fn();
      secs.push((performance.now() - t) / 1000);
    }
    steps.push([name, median(secs), bytes]);
    return v;
  };
  const json = step('encode: JSON.stringify of the state JSON', jsonChars, () =>
    Buffer.from(JSON.stringify(parts.json), 'utf8'),
  );
  const body = step('encode: body (JSON + arrays copied, 8-aligned)', rawBytes, () => {
    const arrays = Object.values(parts.arrays);
    let size = (json.length + 7) & ~7;
    for (const a of arrays) size = (size + a.byteLength + 7) & ~7;
    const b = Buffer.alloc(size);
    json.copy(b, 0);
    let at = (json.length + 7) & ~7;
    for (const a of arrays) {
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(b, at);
      at = (at + a.byteLength + 7) & ~7;
    }
    return b;
  });
  const deflatedBody = step('encode: deflateRawSync level 3 (always tried)', body.length, () =>
    deflateRawSync(body, { level: 3 }),
  );
  step('encode: AES-256-GCM of the payload', deflatedBody.length, () => {
    const c = createCipheriv('aes-256-gcm', key.key, randomBytes(12));
    return Buffer.concat([c.update(deflatedBody), c.final(), c.getAuthTag()]);
  });
  step('encode: SHA-256 of the file', plain.length, () => createHash('sha256').update(plain).digest());
  step('decode: SHA-256 check', plain.length, () => createHash('sha256').update(plain).digest());
  step('decode: inflateRawSync', body.length, () =>
    inflateRawSync(deflatedBody, { maxOutputLength: body.length }),
  );
  step('decode: JSON.parse of the state JSON', json.length, () => JSON.parse(json.toString('utf8')));
  sink.value += body.length + deflatedBody.length;

  // ---- on disk: a state directory with the snapshot and an empty log after it, and a second
  // one with the same snapshot and a log tail
  const local = (dir: string) => new Backups(new FsBackend(join(dir, 'snapshots')));
  const manifest = { created: meta.created, lsn, encrypted: false, clusters, tweets };
  const ts = stamp(Date.now());
  const bare = join(tmp, 'state-snapshot');
  const withTail = join(tmp, 'state-tail');
  const backupsWrite = await timeRuns(p.runs, () => local(bare).write(ts, plain, manifest));
  await local(withTail).write(ts, plain, manifest);
  for (const dir of [bare, withTail]) {
    // the log after the snapshot, as a rotation leaves it: an empty segment starting at lsn + 1
    mkdirSync(join(dir, 'wal'), { recursive: true });
    writeFileSync(join(dir, 'wal', segmentName(lsn + 1)), '');
  }
  // the tail: more tweets applied to the source, journaled after the snapshot
  const { wal } = await Wal.open(join(withTail, 'wal'), 'write', () => {});
  if (wal.lastLsn !== lsn) throw new Error(`the log starts after ${wal.lastLsn}, expected ${lsn}`);
  svc.journal = (payload) => {
    wal.append(payload);
  };
  t0 = performance.now();
  for (const items of randomTweets(p.tail, p.dim, texts, 'tail', SEED + 1, TAIL_BATCH)) svc.ingest(items);
  const tailIngestSeconds = (performance.now() - t0) / 1000;
  svc.journal = undefined;
  await wal.close();
  return {
    plain,
    encrypted,
    key,
    bare,
    withTail,
    build: { seconds: buildSeconds, clusters, tweets, shape, treeBytes, treeReserved },
    sizes: {
      rawBytes,
      jsonChars,
      plainBytes: plain.length,
      encryptedBytes: encrypted.length,
      deflated: (plain.readUInt16LE(10) & 1) !== 0,
      tailLogBytes: wal.stats.bytes,
      tailRecords: wal.lastLsn - lsn,
    },
    seconds: {
      exportState: exp.s,
      encodePlain: enc.s,
      encodeEncrypted: encE.s,
      encodeAsyncPlain: encAsync.wall,
      encodeAsyncEncrypted: encAsyncE.wall,
      backupsWrite: backupsWrite.s,
    },
    loop: {
      encodeAsyncPlain: { busy: encAsync.busy, longest: encAsync.longest },
      encodeAsyncEncrypted: { busy: encAsyncE.busy, longest: encAsyncE.longest },
    },
    tailIngestSeconds,
    steps,
  };
}

/** The restore steps on the files; what they build goes as soon as it is measured. */
async function restoreSteps(
  p: SnapshotParams,
  opts: ServiceOptions,
  files: { plain: Buffer; encrypted: Buffer; key: SnapshotKey },
  clusters: number,
  /** tweets after the tail, and the directory whose log holds it */
  tweets: number,
  withTail: string,
  tmp: string,
  stages: Stage[],
) {
  const file = join(tmp, 'snapshot.bin');
  const write = await timeRuns(p.runs, () => writeFsync(file, files.plain));
  const read = await timeRuns(p.runs, () => readFileSync(file).length);
  rmSync(file);
  const decodeEncrypted = await timeRuns(p.runs, () => decodeSnapshot(files.encrypted, [files.key]).meta.lsn);
  // `let`s, emptied once measured: a closure's variables live as long as this call
  let decoded: StateParts | undefined;
  const decodePlain = await timeRuns(p.runs, () => {
    decoded = decodeSnapshot(files.plain, []).parts;
  });
  stage(stages, 'decoded (the files and the parts held)');
  let restored: Service | undefined;
  const fromState = await timeRuns(p.runs, () => {
    restored = undefined;
    restored = Service.fromState(decoded as StateParts, opts);
  });
  if (restored?.engine.clusterCount !== clusters) throw new Error('fromState: the cluster count differs');
  stage(stages, 'Service.fromState (the files, the parts and the service held)');
  // the replay alone: the tail's records, read once, applied to a fresh restored service
  const payloads: Buffer[] = [];
  const { wal } = await Wal.open(join(withTail, 'wal'), 'write', (rec) => {
    payloads.push(Buffer.from(rec.payload));
  });
  await wal.close();
  const replaySecs: number[] = [];
  for (let r = 0; r < p.runs; r++) {
    let target: Service | undefined = Service.fromState(decoded as StateParts, opts);
    gc();
    const t0 = performance.now();
    for (const payload of payloads) target.replay(payload);
    replaySecs.push((performance.now() - t0) / 1000);
    if (target.engine.tweets !== tweets)
      throw new Error(`replay: ${target.engine.tweets} tweets, expected ${tweets}`);
    target = undefined;
  }
  decoded = undefined;
  stage(stages, 'restored: the service (and the files) held');
  restored = undefined;
  return {
    write: write.s,
    read: read.s,
    decodeEncrypted: decodeEncrypted.s,
    decodePlain: decodePlain.s,
    fromState: fromState.s,
    replay: stats(replaySecs),
  };
}

async function runSnapshot(
  p: SnapshotParams,
  texts: string[],
  tmp: string,
): Promise<Record<string, unknown>> {
  const opts = serviceOptionsFor(p.dim);
  const stages: Stage[] = [];
  stage(stages, 'start');
  const made = await buildAndEncode(p, opts, texts, tmp, stages);
  const { plain, build, sizes } = made;
  const { clusters, tweets } = build;
  stage(stages, 'source service and parts dropped (the two files held)');
  const restoredSeconds = await restoreSteps(
    p,
    opts,
    made,
    clusters,
    tweets + p.tail,
    made.withTail,
    tmp,
    stages,
  );

  // ---- recovery: Durable.open on each state directory, then the real server on the tail one
  const openBare = await timeRuns(p.runs, () => recover(made.bare, opts));
  if (openBare.last.clusters !== clusters || openBare.last.replayed !== 0)
    throw new Error(`recovery: ${JSON.stringify(openBare.last)}`);
  const openTail = await timeRuns(p.runs, () => recover(made.withTail, opts));
  if (openTail.last.tweets !== tweets + p.tail || openTail.last.replayed !== sizes.tailRecords)
    throw new Error(`recovery with the tail: ${JSON.stringify(openTail.last)}`);
  const replaySeconds = openTail.s.median - openBare.s.median;
  stage(stages, 'after the recoveries (the two files held)');
  const restarts: Awaited<ReturnType<typeof restartServer>>[] = [];
  for (let r = 0; r < p.runs; r++) restarts.push(await restartServer(made.withTail, p.dim, tmp));
  for (const r of restarts)
    if (r.tweets !== tweets + p.tail) throw new Error(`the restarted server has ${r.tweets} tweets`);
  const emptyStart = await restartServer(join(tmp, 'state-empty'), p.dim, tmp);
  const ready = stats(restarts.map((r) => r.readySeconds));
  const loaded = restarts.every((r) => r.loadedMs !== null)
    ? stats(restarts.map((r) => (r.loadedMs as number) / 1000))
    : null;
  const serverRss = stats(restarts.map((r) => r.rss));
  const { rawBytes, jsonChars, deflated, encryptedBytes, tailLogBytes: tailBytes, tailRecords } = sizes;
  const tailIngestSeconds = made.tailIngestSeconds;
  const steps = made.steps;
  const seconds = {
    ...made.seconds,
    ...restoredSeconds,
    durableOpenSnapshot: openBare.s,
    durableOpenSnapshotAndTail: openTail.s,
    serverReady: ready,
    serverRecovery: loaded,
    serverReadyEmpty: emptyStart.readySeconds,
  };

  // ---- tables
  const mbps = (bytes: number, s: Stats) => (bytes / MB / s.median).toFixed(0);
  const row = (name: string, s: Stats, bytes: number | null, note = '') => [
    name,
    ms(s.min),
    ms(s.median),
    ms(s.max),
    bytes === null ? null : fmtBytes(bytes),
    bytes === null ? null : mbps(bytes, s),
    note,
  ];
  console.log();
  console.log(
    table(
      `Snapshot and restore of ${fmtInt(clusters)} clusters at d = ${p.dim}, ${p.runs} runs each (MB/s: of the bytes column, at the median)`,
      ['step', 'min ms', 'median ms', 'max ms', 'bytes', 'MB/s', 'note'],
      [
        row('Service.exportState()', seconds.exportState, rawBytes, 'synchronous: the event loop waits'),
        row(
          'encodeSnapshot, plain',
          seconds.encodePlain,
          rawBytes,
          `synchronous; ${deflated ? 'deflated' : 'stored'}: ${fmtBytes(plain.length)} file, ${((100 * plain.length) / rawBytes).toFixed(0)}% of the state`,
        ),
        row(
          'encodeSnapshot, encrypted',
          seconds.encodeEncrypted,
          rawBytes,
          `synchronous; ${fmtBytes(encryptedBytes)} file`,
        ),
        row(
          'encodeSnapshotAsync, plain (a backup)',
          seconds.encodeAsyncPlain,
          rawBytes,
          `deflate on the thread pool; event loop busy ${ms(made.loop.encodeAsyncPlain.busy.median)} ms, longest stall ${ms(made.loop.encodeAsyncPlain.longest.median)} ms`,
        ),
        row(
          'encodeSnapshotAsync, encrypted',
          seconds.encodeAsyncEncrypted,
          rawBytes,
          `event loop busy ${ms(made.loop.encodeAsyncEncrypted.busy.median)} ms, longest stall ${ms(made.loop.encodeAsyncEncrypted.longest.median)} ms`,
        ),
        row('write + fsync of the file', seconds.write, plain.length, 'one writeSync + fsync'),
        row(
          'Backups.write (local backup)',
          seconds.backupsWrite,
          plain.length,
          'SHA-256, temp file, fsync, rename, manifest',
        ),
        row('readFileSync', seconds.read, plain.length, 'from the page cache'),
        row('decodeSnapshot, plain', seconds.decodePlain, plain.length),
        row('decodeSnapshot, encrypted', seconds.decodeEncrypted, encryptedBytes),
        row('Service.fromState', seconds.fromState, rawBytes),
        row(
          `Service.replay of the ${fmtInt(p.tail)}-tweet log`,
          seconds.replay,
          tailBytes,
          `${fmtInt(p.tail / seconds.replay.median)} tweets/s; records read once, not timed`,
        ),
        row(
          'Durable.open: snapshot, empty log',
          openBare.s,
          plain.length,
          'list + read + decode + fromState',
        ),
        row(
          `Durable.open: snapshot + ${fmtInt(p.tail)}-tweet log`,
          openTail.s,
          tailBytes,
          `${fmtInt(tailRecords)} records of ${TAIL_BATCH} tweets`,
        ),
        row(
          'birdie serve: spawn to /ready, same state',
          ready,
          null,
          `recovery ${loaded === null ? '?' : `${ms(loaded.median)} ms`} of it (its log); empty state: ${ms(emptyStart.readySeconds)} ms`,
        ),
      ],
    ),
  );
  const replayRate = p.tail / seconds.replay.median;
  const ingestRate = p.tail / tailIngestSeconds;
  console.log(
    `  replay: ${fmtInt(replayRate)} tweets/s (Service.replay; the two Durable.open medians differ by ${ms(replaySeconds)} ms, ${fmtInt(p.tail / replaySeconds)} tweets/s with the log read); ` +
      `ingesting them took ${ms(tailIngestSeconds)} ms (${fmtInt(ingestRate)} tweets/s, one run); ` +
      `log ${fmtBytes(tailBytes)}, ${fmtInt(tailBytes / p.tail)} B/tweet (the embedding in base64)`,
  );
  console.log(
    `  state: ${fmtBytes(rawBytes)} raw (${fmtBytes(jsonChars)} JSON: examples, terms, tweet ids and texts; ${fmtBytes(rawBytes - jsonChars)} arrays), ` +
      `${fmtInt(rawBytes / clusters)} B/cluster; file ${fmtInt(plain.length / clusters)} B/cluster; ` +
      `the restarted server's RSS: ${fmtBytes(serverRss.median)} (empty: ${fmtBytes(emptyStart.rss)})`,
  );
  console.log();
  console.log(
    table(
      `Inside encode and decode: each step alone on the same state, median of ${p.runs} runs`,
      ['step', 'ms', 'bytes in', 'MB/s'],
      steps.map(([name, s, bytes]) => [name, ms(s), fmtBytes(bytes), (bytes / MB / s).toFixed(0)]),
    ),
  );
  console.log();
  console.log(
    table(
      'Memory of this process after a full GC at each stage (peak RSS: of the process so far)',
      ['stage', 'RSS', 'heap used', 'external', 'array buffers', 'peak RSS'],
      stages.map((s) => [
        s.stage,
        fmtBytes(s.mem.rss),
        fmtBytes(s.mem.heapUsed),
        fmtBytes(s.mem.external),
        fmtBytes(s.mem.arrayBuffers),
        fmtBytes(s.peakRss),
      ]),
    ),
  );
  console.log(
    '  the tree lives in WebAssembly memory (RSS and external, not the heap); freed pages are not always returned to the OS at once',
  );
  return {
    params: { ...p, serviceOptions: opts, tailBatch: TAIL_BATCH, buildBatch: BUILD_BATCH },
    build,
    sizes,
    seconds,
    eventLoop: made.loop,
    replay: {
      tweets: p.tail,
      seconds: seconds.replay,
      tweetsPerSec: replayRate,
      durableOpenDifference: replaySeconds,
      ingestTweetsPerSec: ingestRate,
    },
    server: { rss: serverRss, rssEmpty: emptyStart.rss, restarts },
    steps: steps.map(([name, seconds, bytes]) => ({ name, seconds, bytes })),
    memory: stages,
  };
}

// ---------------------------------------------------------------- the suite

async function run(ctx: SuiteContext): Promise<Record<string, unknown>> {
  const base = ctx.quick ? QUICK : FULL;
  const only = flag(ctx.args, 'only');
  if (only !== undefined && !['fsync', 'ingest', 'snapshot'].includes(only))
    throw new Error(`--only wants fsync, ingest or snapshot, got ${only}`);
  const part = (name: string) => only === undefined || only === name;
  const modesFlag = flag(ctx.args, 'modes');
  const modes = (modesFlag === undefined ? [...MODES] : modesFlag.split(',')) as Mode[];
  if (modes.some((m) => !MODES.includes(m)) || !modes.includes('fsync') || !modes.includes('off'))
    throw new Error(`--modes wants fsync and off, and maybe write, comma-separated; got ${modesFlag}`);
  const extraEnv = envFlags(ctx.args, ['PORT', 'HOST', 'STATE_DIR', 'LOG_LEVEL', 'WAL_SYNC']);
  const configs: Config[] = [{ name: 'shipped', env: extraEnv }];
  if (!hasFlag(ctx.args, 'no-log-only'))
    configs.push({ name: 'log only', env: { ...extraEnv, BACKUP_EVERY_TWEETS: '0', BACKUP_INTERVAL: '0' } });
  const ingest: IngestParams = {
    seconds: intFlag(ctx.args, 'duration', base.duration),
    warmup: intFlag(ctx.args, 'warmup', base.warmup),
    rounds: intFlag(ctx.args, 'rounds', base.rounds),
    modes,
    configs,
    connections: intFlag(ctx.args, 'connections', 20),
    batchConnections: intFlag(ctx.args, 'batch-connections', 10),
    batch: intFlag(ctx.args, 'batch', 100),
  };
  if (ingest.batch > 500) throw new Error('--batch must be at most 500 (birdie BATCH_SIZE default)');
  const snap: SnapshotParams = {
    clusters: intFlag(ctx.args, 'clusters', base.clusters),
    dim: intFlag(ctx.args, 'dim', 256),
    tail: intFlag(ctx.args, 'tail', base.tail),
    runs: intFlag(ctx.args, 'runs', 3),
  };
  const fsyncs = intFlag(ctx.args, 'fsyncs', ctx.quick ? 300 : 1000);
  const pool = intFlag(ctx.args, 'pool', base.pool);

  const git = gitState();
  console.log(
    `durability: commit ${git.commit?.slice(0, 10) ?? 'unknown'}${git.srcDirty ? ' with uncommitted changes in src/' : ''}`,
  );
  const tmp = mkdtempSync(join(tmpdir(), 'birdie-bench-durability-'));
  process.on('exit', killAll);
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const out: Record<string, unknown> = { git };
  try {
    let t0 = performance.now();
    const texts = tweetTexts(pool).map((t) => JSON.stringify(t));
    console.log(
      `  ${fmtInt(texts.length)} distinct tweet texts in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    // the servers run dist/: built first when older than src/ (the snapshot part needs it too)
    if (part('ingest') || part('snapshot')) console.log(`  ${ensureBuilt()}`);

    if (part('fsync')) {
      const f = measureFsync(tmp, fsyncs);
      printFsync(f, 'before the loads');
      out.fsync = { before: f };
    }

    if (part('ingest')) {
      console.log(
        `\ningest: ${ingest.seconds} s per workload after a ${ingest.warmup} s warm-up; ${ingest.rounds} rounds of ` +
          `${configs.map((c) => c.name).join(' and ')} x ${modes.join(', ')}; single: ${ingest.connections} connections; ` +
          `batch: ${ingest.batch} tweets per POST, ${ingest.batchConnections} connections; autocannon in this process`,
      );
      if (Object.keys(extraEnv).length > 0)
        console.log(
          `  birdie settings besides the defaults: ${Object.entries(extraEnv)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        );
      t0 = performance.now();
      const loads = await runIngest(ingest, texts, tmp);
      const { perMode, ratios } = summariseIngest(loads, ingest);
      const bad = loads.filter((l) => problems(l) !== '');
      const valid = bad.length === 0;
      const targets = ratios
        .filter((r) => r.mode === 'fsync')
        .map((r) => ({
          name: `${r.workload}, ${r.config}: fsync / off tweets/s`,
          value: r.perRound.median,
          target: TARGET_RATIO,
          pass: valid && r.perRound.median >= TARGET_RATIO,
        }));
      console.log();
      console.log(
        table(
          `Target: the safe default (WAL_SYNC=fsync) keeps >= ${TARGET_RATIO}x the tweets/s of WAL_SYNC=off (median of the per-round ratios)`,
          ['measure', 'value', 'target', 'verdict'],
          targets.map((t) => [
            t.name,
            fmtRatio(t.value),
            `>= ${TARGET_RATIO.toFixed(2)}x`,
            !valid ? 'INVALID' : t.pass ? 'PASS' : 'MISS',
          ]),
        ),
      );
      if (!valid) {
        console.log('!!! ERRORS: SOME RUNS HAD FAILED REQUESTS; THEIR FIGURES ARE NOT VALID !!!');
        for (const l of bad)
          console.log(`  round ${l.round} ${l.config} ${l.mode} ${l.workload}: ${problems(l)}`);
      }
      if (part('fsync')) {
        const again = measureFsync(tmp, fsyncs);
        printFsync(again, 'again after the ingest runs');
        (out.fsync as Record<string, FsyncLatency>).after = again;
      }
      out.ingest = {
        valid,
        params: { ...ingest, loadGenerator: 'autocannon 8, in the bench process, on the same machine' },
        perMode,
        ratios,
        targets,
        loads,
        seconds: (performance.now() - t0) / 1000,
        cores: cpus().length,
      };
    }

    if (part('snapshot')) {
      console.log(
        `\nsnapshot: ${fmtInt(snap.clusters)} clusters at d = ${snap.dim} in this process (no HTTP), ` +
          `SIMILARITY_THRESHOLD 0.999, random unit embeddings; a log tail of ${fmtInt(snap.tail)} tweets; ${snap.runs} runs per step`,
      );
      out.snapshot = await runSnapshot(snap, texts, tmp);
    }
    out.sink = sink.value;
    return out;
  } finally {
    killAll();
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(tmp, { recursive: true, force: true });
  }
}

export const durability: Suite = {
  name: 'durability',
  description:
    'WAL_SYNC fsync vs write vs off ingest over HTTP, the disk fsync latency, snapshot/restore/recovery of 100,000 clusters',
  run,
};
