/**
 * A real S3 protocol server (the `s3rver` package) for tests: 127.0.0.1, a free port, a temp
 * directory, one bucket made up front. The SDK (and the aws CLI) find its credentials in the
 * environment: see S3RVER_ENV.
 */
import crypto from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** s3rver's fixed credentials, plus a region, for the SDK's default chain. */
export const S3RVER_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
} as const;

export interface S3rverHandle {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  bucket: string;
  /** where s3rver keeps its objects */
  dir: string;
  /** closes the server and keeps its directory (restart it with startS3rver(bucket, {port, dir})) */
  down: () => Promise<void>;
  /** closes the server and removes its directory; safe to call twice */
  stop(): Promise<void>;
}

/**
 * s3rver makes ListObjectsV2 continuation tokens with single DES ('des', i.e. DES-CBC), which
 * OpenSSL 3 (Node >= 17) keeps in its legacy provider: past 1000 keys every list fails with
 * ERR_OSSL_EVP_UNSUPPORTED (HTTP 500). Two-key triple DES with both keys equal is the same
 * cipher, and OpenSSL 3 still has it: s3rver's 'des' calls are sent there. Nothing else asks
 * for 'des'; nothing changes where 'des' works (e.g. node --openssl-legacy-provider).
 */
function allowSingleDes(): void {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return;
  } catch {
    // unsupported: shim it below
  }
  type Make = (alg: string, key: Buffer, iv: Buffer | null, opts?: unknown) => unknown;
  const mod = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', Make>;
  for (const name of ['createCipheriv', 'createDecipheriv'] as const) {
    const make = mod[name];
    mod[name] = (alg, key, iv, opts) =>
      alg === 'des' && key.length === 8
        ? make('des-ede-cbc', Buffer.concat([key, key]), iv, opts)
        : make(alg, key, iv, opts);
  }
}

/**
 * s3rver does several small file operations per request; on a busy disk 1100 puts take 3-4x as
 * long as in memory. /dev/shm (tmpfs) where there is one, else the usual temp directory.
 */
function scratch(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Starts the server; `at` restarts one on the same port and directory (its objects kept), as a
 * store that was down comes back.
 */
export async function startS3rver(
  bucket = 'birdie-test',
  at?: { port: number; dir: string },
): Promise<S3rverHandle> {
  Object.assign(process.env, S3RVER_ENV);
  allowSingleDes();
  const dir = at?.dir ?? mkdtempSync(join(scratch(), 'birdie-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: at?.port ?? 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    dir,
    // closing a server that is already down (down(), then stop()) is not an error here
    stop: () =>
      (stopped ??= server
        .close()
        .catch(() => {})
        .finally(() => rmSync(dir, { recursive: true, force: true }))),
    down: () => server.close(),
  };
}
