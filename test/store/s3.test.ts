/**
 * S3Backend against a real S3 protocol server (s3rver, test/helpers/s3rver.ts): Backups' layout
 * and behaviours, pagination and batched deletes past 1000 keys, what an operator sees with the
 * aws CLI, and the errors when the server or the bucket is not there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Backups, FsBackend } from '../../src/store/backend.js';
import { createBackend, S3Backend } from '../../src/store/s3.js';
import { S3RVER_ENV, type S3rverHandle, startS3rver } from '../helpers/s3rver.js';

// the SDK warns once that releases after January 2027 will want Node 22; not news for a test run
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = promisify(execFile);
const META = { created: '2024-12-01T14:30:22.000Z', lsn: 7, encrypted: false, clusters: 3, tweets: 12 };

/** The SDK commands a backend sends, by name. */
function countCommands(b: S3Backend): string[] {
  const sent: string[] = [];
  b.client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'birdieTestCount' },
  );
  return sent;
}

/**
 * The aws CLI: $BIRDIE_TEST_AWS if set; else Debian's (/usr/bin/aws, package awscli) when
 * installed, as on CI; else whichever `aws` is on PATH (here a pyenv aws-cli v1 may shadow
 * Debian's); else undefined.
 */
async function awsCli(): Promise<string | undefined> {
  if (process.env.BIRDIE_TEST_AWS) return process.env.BIRDIE_TEST_AWS;
  try {
    accessSync('/usr/bin/aws', constants.X_OK);
    return '/usr/bin/aws';
  } catch {
    // not Debian's: look on PATH
  }
  try {
    const { stdout } = await run('sh', ['-c', 'command -v aws'], { timeout: 5000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('S3Backend on s3rver', () => {
  let s3: S3rverHandle;
  let backend: S3Backend;

  before(async () => {
    s3 = await startS3rver();
    backend = new S3Backend({ bucket: s3.bucket, endpoint: s3.endpoint });
  });
  after(() => s3.stop());

  test('put, get, list, delete: bytes round trip as Buffers', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await backend.put('raw/all-bytes.bin', bytes);
    await backend.put('raw/empty.bin', Buffer.alloc(0));
    await backend.put('raw/big.bin', Buffer.alloc(3 * 1024 * 1024, 0xab));
    const back = await backend.get('raw/all-bytes.bin');
    assert.ok(Buffer.isBuffer(back));
    assert.deepEqual(back, bytes);
    assert.equal((await backend.get('raw/empty.bin')).length, 0);
    const big = await backend.get('raw/big.bin');
    assert.equal(big.length, 3 * 1024 * 1024);
    assert.ok(big.every((b) => b === 0xab));
    assert.deepEqual(await backend.list('raw/'), ['raw/all-bytes.bin', 'raw/big.bin', 'raw/empty.bin']);
    assert.deepEqual(await backend.list('raw/e'), ['raw/empty.bin']);
    await backend.delete(['raw/all-bytes.bin', 'raw/big.bin', 'raw/empty.bin', 'raw/never-was.bin']);
    assert.deepEqual(await backend.list('raw/'), []);
    await backend.delete([]);
  });

  test('Backups: write, list, read under a prefix, the manifest describing the snapshot', async () => {
    const backups = new Backups(backend, 'birch-clustering/');
    const snapshot = Buffer.from([0, 1, 2, 253, 254, 255, ...Buffer.from('snapshot bytes')]);
    const m = await backups.write('20241201_143022', snapshot, META);
    assert.equal(m.sha256, createHash('sha256').update(snapshot).digest('hex'));
    assert.equal(m.bytes, snapshot.length);
    assert.deepEqual(await backend.list('birch-clustering/'), [
      'birch-clustering/state/20241201_143022/manifest.json',
      'birch-clustering/state/20241201_143022/snapshot.bin',
    ]);
    assert.deepEqual(await backups.list(), [
      { ...m, key: 'birch-clustering/state/20241201_143022/manifest.json' },
    ]);
    const back = await backups.read('20241201_143022');
    assert.deepEqual(back.manifest, m);
    assert.deepEqual(back.snapshot, snapshot);
    assert.deepEqual(await new Backups(backend, 'other/').list(), []);
    await backups.prune(0);
    assert.deepEqual(await backend.list('birch-clustering/'), []);
  });

  test('Backups: snapshot written before the manifest; a snapshot alone is not listed', async () => {
    const b = new S3Backend({ bucket: s3.bucket, endpoint: s3.endpoint });
    const sent = countCommands(b);
    const backups = new Backups(b, 'order/');
    await backups.write('20241201_143022', Buffer.from('a'), META);
    assert.deepEqual(sent, ['PutObjectCommand', 'PutObjectCommand']);
    assert.deepEqual(await b.list('order/'), [
      'order/state/20241201_143022/manifest.json',
      'order/state/20241201_143022/snapshot.bin',
    ]);
    await b.put('order/state/20241202_000000/snapshot.bin', Buffer.from('half a backup'));
    assert.deepEqual(
      (await backups.list()).map((x) => x.timestamp),
      ['20241201_143022'],
    );
  });

  test('Backups: newest first; prune keeps N, drops old leftovers, spares a write in progress', async () => {
    const backups = new Backups(backend, 'prune/');
    for (const ts of [
      '20241203_000000',
      '20241201_000000',
      '20241205_000000',
      '20241202_000000',
      '20241204_000000',
    ])
      await backups.write(ts, Buffer.from(ts), META);
    await backend.put('prune/state/20241206_000000/snapshot.bin', Buffer.from('in progress'));
    await backend.put('prune/state/20241130_000000/snapshot.bin', Buffer.from('cut short long ago'));
    assert.deepEqual(
      (await backups.list()).map((x) => x.timestamp),
      ['20241205_000000', '20241204_000000', '20241203_000000', '20241202_000000', '20241201_000000'],
    );
    assert.deepEqual(await backups.prune(2), [
      '20241203_000000',
      '20241202_000000',
      '20241201_000000',
      '20241130_000000',
    ]);
    assert.deepEqual(await backend.list('prune/'), [
      'prune/state/20241204_000000/manifest.json',
      'prune/state/20241204_000000/snapshot.bin',
      'prune/state/20241205_000000/manifest.json',
      'prune/state/20241205_000000/snapshot.bin',
      'prune/state/20241206_000000/snapshot.bin',
    ]);
    assert.equal((await backups.read('20241205_000000')).snapshot.toString(), '20241205_000000');
  });

  test('more than 1000 keys: list pages through, delete goes in batches of 1000', async () => {
    const b = new S3Backend({ bucket: s3.bucket, endpoint: s3.endpoint });
    const sent = countCommands(b);
    const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => b.put(k, Buffer.from(k))));
    sent.length = 0;
    assert.deepEqual(await b.list('many/'), keys);
    assert.deepEqual(sent, ['ListObjectsV2Command', 'ListObjectsV2Command']);
    assert.equal((await b.get('many/1099')).toString(), 'many/1099');

    sent.length = 0;
    await b.delete(keys);
    assert.deepEqual(sent, ['DeleteObjectsCommand', 'DeleteObjectsCommand']);
    assert.deepEqual(await b.list('many/'), []);
  });

  test('bad keys are rejected before any request', async () => {
    const b = new S3Backend({ bucket: s3.bucket, endpoint: s3.endpoint });
    const sent = countCommands(b);
    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/', '']) {
      await assert.rejects(b.put(key, Buffer.from('x')), /bad storage key/, key);
      await assert.rejects(b.get(key), /bad storage key/, key);
      await assert.rejects(b.delete(['fine', key]), /bad storage key/, key);
    }
    assert.deepEqual(sent, []);
  });

  test('a missing key: a clear error naming the operation, bucket, key and the S3 error', async () => {
    await assert.rejects(backend.get('state/nothing/here'), (err: Error) => {
      assert.match(err.message, /^S3 get s3:\/\/birdie-test\/state\/nothing\/here failed: NoSuchKey/);
      assert.match(err.message, /HTTP 404/);
      return true;
    });
  });

  test('a nonexistent bucket: every operation rejects, naming the bucket and NoSuchBucket', async () => {
    const b = new S3Backend({ bucket: 'no-such-bucket', endpoint: s3.endpoint });
    const checks: [string, () => Promise<unknown>][] = [
      ['put', () => b.put('state/x/snapshot.bin', Buffer.from('x'))],
      ['get', () => b.get('state/x/snapshot.bin')],
      ['list', () => b.list('state/')],
      ['delete', () => b.delete(['state/x/snapshot.bin'])],
    ];
    for (const [op, call] of checks)
      await assert.rejects(call(), (err: Error) => {
        assert.match(
          err.message,
          new RegExp(`^S3 ${op} s3://no-such-bucket/state/\\S* failed: NoSuchBucket`),
        );
        assert.doesNotMatch(err.message, /S3RVER/);
        return true;
      });
    await assert.rejects(
      new Backups(b).list(),
      /S3 list s3:\/\/no-such-bucket\/state\/ failed: NoSuchBucket/,
    );
  });

  test('aws s3 ls --recursive lists exactly the keys birdie wrote', async (t) => {
    const aws = await awsCli();
    if (!aws) {
      t.skip('the aws CLI is not installed (Debian: apt-get install awscli; .ci/run installs it)');
      return;
    }
    const backups = new Backups(backend, 'ops-check/');
    const written = new Map<string, number>();
    for (const ts of ['20241201_143022', '20241202_080000']) {
      const snapshot = Buffer.alloc(1000 + ts.length, 1);
      await backups.write(ts, snapshot, META);
      written.set(`ops-check/state/${ts}/snapshot.bin`, snapshot.length);
    }
    await backend.put('ops-check-not-this/x', Buffer.from('x')); // shares the prefix's letters only
    const ours = await backend.list('ops-check/');
    assert.equal(ours.length, 4);

    const env = {
      PATH: process.env.PATH,
      HOME: s3.dir, // no operator's ~/.aws in the way
      ...S3RVER_ENV,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
    const version = await run(aws, ['--version'], { timeout: 30_000, env });
    t.diagnostic(`${aws}: ${(version.stdout || version.stderr).trim()}`);
    const { stdout, stderr } = await run(
      aws,
      ['s3', 'ls', '--recursive', `s3://${s3.bucket}/ops-check/`, '--endpoint-url', s3.endpoint],
      { timeout: 30_000, env },
    );
    // 2024-12-01 14:30:22       1015 ops-check/state/20241201_143022/snapshot.bin
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => line.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(\d+) (.+)$/));
    assert.ok(
      rows.every((r) => r),
      `unexpected aws output:\n${stdout}\n${stderr}`,
    );
    const listed = rows.map((r) => r![2]).sort();
    assert.deepEqual(listed, ours);
    for (const r of rows) if (written.has(r![2])) assert.equal(Number(r![1]), written.get(r![2]));
  });
});

test('the server is down: put and list reject with the operation and the connection error', async () => {
  const s3 = await startS3rver();
  const b = new S3Backend({ bucket: s3.bucket, endpoint: s3.endpoint });
  await b.put('state/x/snapshot.bin', Buffer.from('x'));
  await s3.stop();
  const t0 = Date.now();
  await assert.rejects(b.put('state/y/snapshot.bin', Buffer.from('y')), (err: Error) => {
    assert.match(err.message, /^S3 put s3:\/\/birdie-test\/state\/y\/snapshot\.bin failed: .*ECONNREFUSED/);
    return true;
  });
  await assert.rejects(b.list('state/'), {
    message: /^S3 list s3:\/\/birdie-test\/state\/ failed: .*ECONNREFUSED/,
  });
  await assert.rejects(b.get('state/x/snapshot.bin'), {
    message: /^S3 get s3:\/\/birdie-test\/state\/x\/snapshot\.bin failed: .*ECONNREFUSED/,
  });
  // the SDK retries (3 attempts with backoff) but gives up quickly on a refused connection
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
});

test('delete: keys S3 refuses inside a 200 answer are an error, not silently kept', async () => {
  const b = new S3Backend({ bucket: 'b', region: 'us-east-1', endpoint: 'http://127.0.0.1:9' });
  // answer DeleteObjects the way S3 does when some keys are refused, without a server
  b.client.middlewareStack.add(
    () => async () => ({
      response: {},
      output: {
        $metadata: { httpStatusCode: 200 },
        Errors: [
          { Key: 'state/a/snapshot.bin', Code: 'AccessDenied', Message: 'Access Denied' },
          { Key: 'state/a/manifest.json', Code: 'AccessDenied', Message: 'Access Denied' },
        ],
      },
    }),
    { step: 'initialize', name: 'birdieTestFakeDelete' },
  );
  await assert.rejects(b.delete(['state/a/snapshot.bin', 'state/a/manifest.json']), {
    message:
      'S3 delete s3://b/state/a/snapshot.bin failed: AccessDenied (Access Denied); 1 more keys failed too',
  });
});

describe('configuration', () => {
  test('createBackend: fs or s3 by kind', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'birdie-create-backend-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const fs = createBackend({ kind: 'fs', dir });
    assert.ok(fs instanceof FsBackend);
    assert.equal(fs.kind, 'fs');
    assert.equal(fs.location, dir);
    const s3 = createBackend({ kind: 's3', bucket: 'b', region: 'eu-west-1' });
    assert.ok(s3 instanceof S3Backend);
    assert.equal(s3.kind, 's3');
    assert.equal(s3.location, 's3://b');
    assert.throws(() => createBackend({ kind: 'ftp' } as never), /unknown storage backend kind "ftp"/);
    assert.throws(() => createBackend({ kind: 's3', bucket: '' }), /bucket is required/);
  });

  test('an endpoint means path-style addressing; userinfo in it stays out of location', async () => {
    const b = new S3Backend({ bucket: 'b', endpoint: 'http://user:secret@127.0.0.1:9000/' });
    assert.equal(b.location, 's3://b at http://127.0.0.1:9000');
    assert.equal(b.client.config.forcePathStyle, true);
    const aws = new S3Backend({ bucket: 'b', region: 'eu-west-1' });
    assert.equal(aws.client.config.forcePathStyle, false);
    assert.equal(await aws.client.config.region(), 'eu-west-1');
  });

  test('region: the SDK chain (AWS_REGION), else us-east-1', async (t) => {
    const saved = { ...process.env };
    t.after(() => {
      for (const k of ['AWS_REGION', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_PROFILE'])
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
    });
    process.env.AWS_CONFIG_FILE = '/nonexistent/birdie/aws-config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/birdie/aws-credentials';
    delete process.env.AWS_PROFILE;
    process.env.AWS_REGION = 'ap-southeast-2';
    assert.equal(await new S3Backend({ bucket: 'b' }).client.config.region(), 'ap-southeast-2');
    delete process.env.AWS_REGION;
    assert.equal(await new S3Backend({ bucket: 'b' }).client.config.region(), 'us-east-1');
  });
});
