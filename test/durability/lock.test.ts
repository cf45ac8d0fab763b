/**
 * One writer per STATE_DIR: the LOCK file (pid and host name). A live process on this host
 * holds it; a dead one's lock is taken over; another host's lock is respected while it is being
 * refreshed and taken over once stale (containers on a shared volume are all pid 1).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeApp } from '../helpers/app.js';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'birdie-lock-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const lock = (d: string, content: string, ageMs = 0) => {
  writeFileSync(join(d, 'LOCK'), content);
  const when = new Date(Date.now() - ageMs);
  utimesSync(join(d, 'LOCK'), when, when);
};

test('a live process on this host holds the state directory', async (t) => {
  const d = dir(t);
  // the test runner's parent is alive and is not this process
  lock(d, JSON.stringify({ pid: process.ppid, host: hostname() }));
  await assert.rejects(
    makeApp({ STATE_DIR: d }),
    new RegExp(`in use by process ${process.ppid} \\(its LOCK file\\)`),
  );
});

test("a dead process's lock is taken over, and the LOCK goes when the service closes", async (t) => {
  const d = dir(t);
  lock(d, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
  const { app } = await makeApp({ STATE_DIR: d });
  assert.deepEqual(JSON.parse(readFileSync(join(d, 'LOCK'), 'utf8')), { pid: process.pid, host: hostname() });
  await app.close();
  assert.equal(existsSync(join(d, 'LOCK')), false);
});

test('a lock of the earlier format (the pid alone) of a dead process is taken over', async (t) => {
  const d = dir(t);
  lock(d, `${2 ** 22 + 54321}\n`);
  const { app } = await makeApp({ STATE_DIR: d });
  await app.close();
});

test("another host's lock holds while it is fresh, and is taken over once stale", async (t) => {
  const d = dir(t);
  lock(d, JSON.stringify({ pid: 1, host: 'birdie-elsewhere' }), 5_000);
  await assert.rejects(
    makeApp({ STATE_DIR: d }),
    /in use by process 1 on host birdie-elsewhere \(its LOCK file was refreshed 5 s ago\)/,
  );
  lock(d, JSON.stringify({ pid: 1, host: 'birdie-elsewhere' }), 60_000);
  const { app } = await makeApp({ STATE_DIR: d });
  assert.equal(JSON.parse(readFileSync(join(d, 'LOCK'), 'utf8')).host, hostname());
  await app.close();
});
