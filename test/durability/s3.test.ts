/**
 * Backups to a real S3 protocol server (s3rver on loopback): written under the seed's keys, seen
 * by the aws CLI as an operator would, restored on a new machine, listed and verified by the
 * CLI; a store that goes down costs backups (counted), never ingest, and the next backup after it
 * comes back succeeds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { makeApp } from '../helpers/app.js';
import { birdieAsync } from '../helpers/cli.js';
import { S3RVER_ENV, startS3rver } from '../helpers/s3rver.js';

const TWEETS = [
  'Earthquake shakes Tokyo buildings',
  'Strong earthquake hits Tokyo',
  'Election results announced tonight',
  'Election night results coming in',
  'Transit strike in Velmont today',
];

test('backups on S3: keys, aws CLI, restore on a new machine, CLI list and verify, store down and back', {
  timeout: 120_000,
}, async (t) => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3 = await startS3rver('birdie-backups');
  t.after(() => s3.stop());
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'birdie-s3state-'));
    dirs.push(d);
    return d;
  };
  t.after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const env = {
    S3_BUCKET_NAME: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_PREFIX: 'birch-clustering/',
    ...S3RVER_ENV,
  };

  // 1. a service backs up to S3
  const first = await makeApp({ ...env, STATE_DIR: tmp() });
  const posted = await first.app.inject({
    method: 'POST',
    url: '/tweets',
    payload: { tweets: TWEETS.map((text, i) => ({ id: `t${i}`, text })) },
  });
  assert.equal(posted.json().accepted, 5);
  const b = await first.app.inject({ method: 'POST', url: '/backup' });
  assert.equal(b.statusCode, 200, b.body);
  const ts = b.json().timestamp as string;
  assert.match(ts, /^\d{8}_\d{6}$/);
  const listed = (await first.app.inject({ url: '/backups' })).json();
  assert.equal(listed.location, `s3://${s3.bucket} at ${s3.endpoint}`);
  assert.deepEqual(
    listed.backups.map((x: { timestamp: string }) => x.timestamp),
    [ts],
  );
  const stateBefore = first.ctx.service.exportState();
  const clustersBefore = (await first.app.inject({ url: '/clusters' })).json();
  await first.app.close();

  // 2. the operator's view: aws s3 ls (Debian's awscli, installed by .ci/run)
  const aws = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';
  // asynchronously: s3rver answers from this process
  const ls = await new Promise<{ status: number | null; stdout: string; stderr: string; error?: Error }>(
    (resolve) => {
      execFile(
        aws,
        ['s3', 'ls', '--recursive', `s3://${s3.bucket}/birch-clustering/`, '--endpoint-url', s3.endpoint],
        { encoding: 'utf8', env: { ...process.env, ...S3RVER_ENV, AWS_EC2_METADATA_DISABLED: 'true' } },
        (err, stdout, stderr) => {
          const code = (err as { code?: unknown } | null)?.code;
          resolve({
            status: err === null ? 0 : typeof code === 'number' ? code : null,
            stdout,
            stderr,
            ...(err !== null && typeof code === 'string' ? { error: err } : {}),
          });
        },
      );
    },
  );
  if (ls.error !== undefined) {
    console.log(
      `s3 test: aws CLI not found (${ls.error.message}); install Debian's awscli to check the listing`,
    );
  } else {
    assert.equal(ls.status, 0, ls.stderr);
    const keys = ls.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).at(-1));
    assert.ok(keys.includes(`birch-clustering/state/${ts}/snapshot.bin`), ls.stdout);
    assert.ok(keys.includes(`birch-clustering/state/${ts}/manifest.json`), ls.stdout);
  }

  // 3. a new machine (empty STATE_DIR) starts from the newest backup in the bucket
  const fresh = tmp();
  const second = await makeApp({ ...env, STATE_DIR: fresh });
  assert.ok(isDeepStrictEqual(second.ctx.service.exportState(), stateBefore), 'restored state differs');
  assert.deepEqual((await second.app.inject({ url: '/clusters' })).json(), clustersBefore);
  await second.app.close();

  // 4. the CLI lists and verifies what is in the bucket
  const cliEnv = { ...env, STATE_DIR: tmp(), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const list = await birdieAsync(['backup', 'list'], cliEnv);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${ts}\\s`, 'm'));
  const verify = await birdieAsync(['backup', 'verify', '--timestamp', ts], cliEnv);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /ok {4}load: 3 clusters, 5 tweets, tree height 1, 5 tweets held/);
  assert.match(verify.stdout, /backup is good$/m);
  const missing = await birdieAsync(['backup', 'verify', '--timestamp', '20000101_000000'], cliEnv);
  assert.equal(missing.code, 1);

  // 5. the store goes down: ingest goes on, backups fail and are counted; it comes back: they succeed
  const third = await makeApp({ ...env, STATE_DIR: tmp() }, { backupAttempts: 2 });
  t.after(() => third.app.close());
  await s3.down();
  const during = await third.app.inject({
    method: 'POST',
    url: '/tweets',
    payload: { id: 'down1', text: 'still taking tweets' },
  });
  assert.equal(during.statusCode, 200);
  const failed = await third.app.inject({ method: 'POST', url: '/backup' });
  assert.equal(failed.statusCode, 502);
  assert.equal(failed.json().error.code, 'BRD_ERR_BACKUP_FAILED');
  assert.match((await third.app.inject({ url: '/metrics' })).body, /^birch_backup_failures_total 2$/m);
  const back = await startS3rver(s3.bucket, { port: s3.port, dir: s3.dir });
  t.after(() => back.stop());
  const ok = await third.app.inject({ method: 'POST', url: '/backup' });
  assert.equal(ok.statusCode, 200, ok.body);
  const metrics = (await third.app.inject({ url: '/metrics' })).body;
  assert.match(metrics, /^birch_backup_success_total 1$/m);
  const stats = (await third.app.inject({ url: '/stats' })).json();
  assert.equal(stats.last_backup.timestamp, ok.json().timestamp);
});
