/**
 * The real service, started as the README says (`npm start`), over loopback: it answers, logs
 * JSON lines with request ids, and on SIGTERM finishes the request in flight and exits 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;

async function waitReady(base: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/ready`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready within ${ms} ms`);
}

test('npm start: the service on PORT, over HTTP, stopping gracefully on SIGTERM', {
  timeout: 120_000,
}, async (t) => {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'birdie-state-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const base = `http://127.0.0.1:${port}`;
  // detached: its own process group, so that cleanup after a failure can kill npm and the
  // service together
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      STATE_DIR: join(state, 'sub'),
      LOG_LEVEL: 'info',
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
  });

  await waitReady(base, child, 90_000);

  const posted = await fetch(`${base}/tweets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'test-req-1' },
    body: JSON.stringify({
      tweets: [
        { id: '1', text: 'Earthquake hits Tokyo' },
        { id: '2', text: 'Tokyo earthquake' },
      ],
    }),
  });
  assert.equal(posted.status, 200);
  assert.equal(posted.headers.get('x-request-id'), 'test-req-1');
  const body = (await posted.json()) as { accepted: number; results: { cluster_id: number }[] };
  assert.equal(body.accepted, 2);
  assert.equal(body.results[0].cluster_id, body.results[1].cluster_id);

  const clusters = (await (await fetch(`${base}/clusters`)).json()) as { total: number };
  assert.equal(clusters.total, 1);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^birch_tweets_processed_total 2$/m);

  // a request in flight when SIGTERM arrives still gets its answer. The signal goes to the
  // service's own process (its pid is on every log line), as `docker stop` sends it to PID 1;
  // npm then exits with the service's exit code.
  const pid = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { pid?: number })
    .find((l) => l.pid !== undefined)?.pid;
  assert.ok(pid !== undefined, 'the log lines carry the pid');
  const inFlight = fetch(`${base}/debug/profile?seconds=1`);
  await new Promise((r) => setTimeout(r, 300));
  process.kill(pid, 'SIGTERM');
  const profile = await inFlight;
  assert.equal(profile.status, 200);
  assert.ok(Array.isArray(((await profile.json()) as { nodes: unknown[] }).nodes));
  assert.equal(await exited, 0, `exit code; stderr:\n${err}`);

  // JSON log lines with the service's fields; the request id on request lines; no tweet text at info
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.some((l) => l.msg === 'birdie is listening'));
  assert.ok(
    lines.some((l) => l.msg === 'request completed' && l.request_id === 'test-req-1' && l.status === 200),
  );
  const stopAt = lines.findIndex((l) => l.msg === 'shutting down: finishing requests in flight');
  const stoppedAt = lines.findIndex((l) => l.msg === 'stopped');
  assert.ok(stopAt >= 0 && stoppedAt > stopAt, 'shutdown is logged, then its end');
  assert.doesNotMatch(out, /Earthquake hits Tokyo/);
  assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('no API_TOKENS')));
});

test('a bad configuration stops startup with one message listing every problem', {
  timeout: 60_000,
}, async () => {
  const child = spawn(process.execPath, ['bin/birdie.js', 'serve'], {
    cwd: root,
    env: { ...process.env, PORT: 'eighty', BATCH_SIZE: '0', API_TOKENS: 'short' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  assert.equal(
    err,
    [
      'birdie: invalid configuration:',
      '  - PORT must be an integer, got "eighty"',
      '  - API_TOKENS every token must have at least 16 characters (one has 5)',
      '  - BATCH_SIZE must be between 1 and 100000, got 0',
      '',
    ].join('\n'),
  );
});

test('a state that cannot be loaded stops the process (exit 1, a fatal line), it does not stay up looking alive', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'birdie-badstate-'));
  try {
    // a state made at one dimension, then a start at another: the snapshot is refused
    const env = { ...process.env, STATE_DIR: dir, PORT: String(await freePort()), LOG_LEVEL: 'info' };
    const first = spawn(process.execPath, ['bin/birdie.js', 'serve'], {
      cwd: root,
      env: { ...env, EMBEDDING_DIM: '64' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitReady(`http://127.0.0.1:${env.PORT}`, first, 30_000);
    first.kill('SIGTERM');
    await new Promise((r) => first.on('exit', r));
    const second = spawn(process.execPath, ['bin/birdie.js', 'serve'], {
      cwd: root,
      env: { ...env, EMBEDDING_DIM: '128' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    second.stdout?.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => second.on('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    const fatal = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string })
      .find((l) => l.level === 60);
    assert.ok(fatal, out);
    assert.equal(fatal.msg, 'the state could not be loaded: stopping');
    assert.match(String(fatal.err), /dimension 64.*dimension 128|64.*128/s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
