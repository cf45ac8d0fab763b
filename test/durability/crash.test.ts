/**
 * The promise of the log: a tweet that was answered with a cluster id survives kill -9.
 *
 * The real server (bin/birdie.js serve) takes concurrent batches; at a random moment it gets
 * SIGKILL; it restarts on the same STATE_DIR. Every acknowledged tweet must be there with the
 * cluster id it was given, and the recovered state must equal a clean replay of the log (the
 * tweets the server made durable, acknowledged or not, in its order), array for array.
 *
 * CRASH_ROUNDS sets the number of kills (default 20; `CRASH_ROUNDS=200 npm run test:crash` for a
 * longer run).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Service } from '../../src/pipeline/service.js';
import { decodeSnapshot } from '../../src/store/codec.js';
import { Wal } from '../../src/store/wal.js';
import { Rng } from '../helpers/rng.js';
import { freePort } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);

interface Server {
  child: ChildProcess;
  base: string;
  exited: Promise<void>;
}

async function start(stateDir: string, port: number, env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['bin/birdie.js', 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      STATE_DIR: stateDir,
      LOG_LEVEL: 'warn',
      MAX_TWEET_EMBEDDINGS: '1000000',
      EMBEDDING_DIM: '256',
      // strict enough that the tree splits and grows levels: the state has a shape worth checking
      SIMILARITY_THRESHOLD: '0.5',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}): ${err}`);
    try {
      if ((await fetch(`${base}/ready`)).status === 200) break;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error('not ready in 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, base, exited };
}

const WORDS = (
  'quake tokyo storm rain vote election fire city strike metro bus train flood river match goal ' +
  'final market stocks crash launch rocket moon festival music concert police arrest protest'
).split(' ');

function tweetText(rng: Rng): string {
  const n = 3 + rng.int(5);
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');
}

async function round(
  s: Server,
  rng: Rng,
  acked: Map<string, number>,
  next: { id: number },
  killAfterMs: number,
): Promise<void> {
  let stop = false;
  const worker = async () => {
    while (!stop) {
      // small batches: many requests in flight at each kill, and a log that replays fast
      const size = 1 + rng.int(4);
      const batch = Array.from({ length: size }, () => {
        // now and then a repeat of an acknowledged id: answered with its first cluster
        if (acked.size > 0 && rng.next() < 0.05) {
          const ids = [...acked.keys()];
          return { id: ids[rng.int(ids.length)], text: 'a repeat' };
        }
        return { id: `t${next.id++}`, text: tweetText(rng) };
      });
      let body: { results: { id: string; cluster_id?: number }[] };
      try {
        const r = await fetch(`${s.base}/tweets`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ tweets: batch }),
        });
        if (r.status !== 200) continue;
        body = (await r.json()) as typeof body;
      } catch {
        return; // killed mid-request: not acknowledged
      }
      for (const res of body.results) {
        if (res.cluster_id === undefined) continue;
        const before = acked.get(res.id);
        if (before !== undefined) assert.equal(res.cluster_id, before, `tweet ${res.id} moved cluster`);
        else acked.set(res.id, res.cluster_id);
      }
    }
  };
  const workers = [worker(), worker(), worker()];
  await new Promise((r) => setTimeout(r, killAfterMs));
  s.child.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  await s.exited;
}

/**
 * Every acknowledged tweet (`all`), or those of the last round and a sample of the older ones:
 * checking all of them after every kill would cost O(rounds^2) lookups.
 */
async function checkAcked(
  s: Server,
  acked: Map<string, number>,
  rng?: Rng,
  recent?: Set<string>,
): Promise<void> {
  let ids = [...acked.keys()];
  if (rng !== undefined && recent !== undefined) {
    const older = ids.filter((id) => !recent.has(id));
    ids = [
      ...recent,
      ...Array.from({ length: Math.min(300, older.length) }, () => older[rng.int(older.length)]),
    ];
  }
  // a few lookups in flight at a time
  const queue = ids.map((id) => [id, acked.get(id) as number] as const);
  await Promise.all(Array.from({ length: 8 }, () => drain(s, queue)));
}

async function drain(s: Server, queue: (readonly [string, number])[]): Promise<void> {
  for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
    const [id, cluster] = item;
    const r = await fetch(`${s.base}/tweets/${encodeURIComponent(id)}`);
    assert.equal(r.status, 200, `acknowledged tweet ${id} is missing after recovery`);
    const t = (await r.json()) as { cluster_id: number };
    assert.equal(t.cluster_id, cluster, `acknowledged tweet ${id} came back in another cluster`);
  }
}

test(`kill -9 under concurrent ingest, ${ROUNDS} times: no acknowledged tweet lost, state = clean replay`, {
  timeout: 900_000,
}, async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'birdie-crash-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const port = await freePort();
  const rng = new Rng(20261128);
  const acked = new Map<string, number>();
  const next = { id: 0 };
  // no snapshots: the log holds everything, so the whole state can be replayed from it
  const env = { BACKUP_EVERY_TWEETS: '0', BACKUP_INTERVAL: '0' };
  let recent = new Set<string>();
  for (let i = 0; i < ROUNDS; i++) {
    const s = await start(stateDir, port, env);
    if (i > 0) await checkAcked(s, acked, rng, recent);
    const before = new Set(acked.keys());
    await round(s, rng, acked, next, 100 + rng.int(600));
    recent = new Set([...acked.keys()].filter((id) => !before.has(id)));
  }
  const s = await start(stateDir, port, env);
  t.after(() => s.child.kill('SIGKILL'));
  await checkAcked(s, acked);
  assert.ok(acked.size > 100, `only ${acked.size} tweets were acknowledged`);

  // the recovered state, as its own snapshot
  const b = await fetch(`${s.base}/backup`, { method: 'POST' });
  assert.equal(b.status, 200);
  const { timestamp } = (await b.json()) as { timestamp: string };
  const recovered = decodeSnapshot(
    readFileSync(join(stateDir, 'snapshots', 'state', timestamp, 'snapshot.bin')),
  );

  // a clean replay of the durable log into a fresh service with the same settings
  const clean = new Service({
    embeddingDim: 256,
    similarityThreshold: 0.5,
    birchThreshold: undefined,
    branchingFactor: 50,
    maxTweetEmbeddings: 1_000_000,
    maxTweetIds: 1_000_000,
    clusterExpiryHours: 24,
    // the service's defaults (MIN_CLUSTER_SIZE, OUTLIER_EXPIRY_HOURS, MAX_CLUSTERS_IN_MEMORY)
    minClusterSize: 2,
    outlierExpiryHours: 2,
    maxClustersInMemory: 50_000,
    topics: 0,
  });
  const { wal } = await Wal.open(join(stateDir, 'wal'), 'off', (r) => {
    if (r.lsn <= recovered.meta.lsn) clean.replay(r.payload);
  });
  await wal.close();
  const replayed = clean.exportState();
  assert.ok(isDeepStrictEqual(recovered.parts, replayed), 'the recovered state differs from a clean replay');
  console.log(
    `crash test: ${ROUNDS} kills, ${acked.size} acknowledged tweets, ${clean.engine.tweets} in the log, ${clean.engine.clusterCount} clusters`,
  );
});

test('kill -9 with snapshots every few hundred tweets: recovery = snapshot + log tail', {
  timeout: 300_000,
}, async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'birdie-crash-snap-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const port = await freePort();
  const rng = new Rng(7);
  const acked = new Map<string, number>();
  const next = { id: 0 };
  const env = { BACKUP_EVERY_TWEETS: '300', BACKUP_INTERVAL: '0', BACKUP_MIN_INTERVAL: '0' };
  const rounds = Math.max(5, Math.round(ROUNDS / 4));
  let recent = new Set<string>();
  for (let i = 0; i < rounds; i++) {
    const s = await start(stateDir, port, env);
    if (i > 0) await checkAcked(s, acked, rng, recent);
    const before = new Set(acked.keys());
    await round(s, rng, acked, next, 300 + rng.int(700));
    recent = new Set([...acked.keys()].filter((id) => !before.has(id)));
  }
  const s = await start(stateDir, port, env);
  t.after(() => s.child.kill('SIGKILL'));
  await checkAcked(s, acked);
  const stats = (await (await fetch(`${s.base}/stats`)).json()) as { last_backup: { lsn: number } | null };
  assert.ok(
    stats.last_backup !== null && stats.last_backup.lsn > 0,
    'snapshots were taken and one was recovered from',
  );
});
