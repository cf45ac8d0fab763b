/**
 * Snapshots in an S3 bucket (or an S3-compatible store: MinIO, Ceph, s3rver, ... via `endpoint`).
 * Keys are raw: the `<prefix>state/...` layout is `Backups`' business (src/store/backend.ts).
 *
 * Credentials come only from the SDK's default chain (env, shared config/credentials files, SSO,
 * web identity, ECS/EC2 metadata); they are never options here, and never in error messages.
 */
import { createHash } from 'node:crypto';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { FsBackend, type StorageBackend } from './backend.js';

export interface S3BackendOptions {
  bucket: string;
  /** default: the SDK's chain (AWS_REGION, the profile's region), else us-east-1 */
  region?: string;
  /** an S3-compatible store's URL, e.g. http://127.0.0.1:9000; path-style addressing is then used */
  endpoint?: string;
  /** SDK attempts per request (first try + retries); default the SDK's (3) */
  maxAttempts?: number;
  /** ms to wait for a TCP connection before giving up on an attempt; default 10 000 */
  connectionTimeoutMs?: number;
}

export type BackendOptions = { kind: 'fs'; dir: string } | ({ kind: 's3' } & S3BackendOptions);

export function createBackend(opts: BackendOptions): StorageBackend {
  switch (opts.kind) {
    case 'fs':
      return new FsBackend(opts.dir);
    case 's3': {
      const { kind: _kind, ...s3 } = opts;
      return new S3Backend(s3);
    }
    default:
      throw new Error(`unknown storage backend kind "${(opts as { kind: unknown }).kind}"`);
  }
}

/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH = 1000;

export class S3Backend implements StorageBackend {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly bucket: string;
  readonly client: S3Client;

  constructor(opts: S3BackendOptions) {
    if (!opts.bucket) throw new Error('S3 backend: a bucket is required');
    this.bucket = opts.bucket;
    const endpoint = opts.endpoint ? safeUrl(opts.endpoint) : undefined;
    this.location = endpoint ? `s3://${opts.bucket} at ${endpoint}` : `s3://${opts.bucket}`;
    this.client = new S3Client({
      region: opts.region || defaultRegion(),
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
      requestHandler: { connectionTimeout: opts.connectionTimeoutMs ?? 10_000 },
      // checksums only where S3 demands them (DeleteObjects): the default (aws-chunked bodies with
      // trailing checksums) is not understood by many S3-compatible stores, s3rver included.
      // Puts carry Content-MD5 instead, which S3 verifies.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Buffer): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentMD5: createHash('md5').update(body).digest('base64'),
          ContentType: key.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        }),
      );
    } catch (err) {
      throw this.fail('put', key, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    checkKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!res.Body) throw new Error('empty response body');
      const bytes = await res.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw this.fail('get', key, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.fail('list', prefix, err);
    }
    return out.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) checkKey(k);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let errors: { Key?: string; Code?: string; Message?: string }[];
      try {
        const res = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        errors = res.Errors ?? [];
      } catch (err) {
        throw this.fail(
          'delete',
          batch.length === 1 ? batch[0] : `${batch[0]} (+${batch.length - 1} more)`,
          err,
        );
      }
      if (errors.length > 0) {
        const e = errors[0];
        throw new Error(
          `S3 delete s3://${this.bucket}/${e.Key ?? '?'} failed: ${e.Code ?? 'error'}` +
            `${e.Message ? ` (${redact(e.Message)})` : ''}` +
            (errors.length > 1 ? `; ${errors.length - 1} more keys failed too` : ''),
        );
      }
    }
  }

  /** The SDK error, named with the operation, bucket and key; no credentials, no request dump. */
  private fail(op: string, key: string, err: unknown): Error {
    const e = (err ?? {}) as {
      name?: string;
      code?: string;
      message?: string;
      errors?: { message?: string }[];
      $metadata?: { httpStatusCode?: number };
    };
    const name = e.code && e.code !== e.name ? `${e.name ?? 'Error'} ${e.code}` : (e.name ?? 'Error');
    // AggregateError (several addresses tried) has an empty message of its own
    const detail = e.message || e.errors?.map((x) => x.message).join('; ') || '';
    const status = e.$metadata?.httpStatusCode ? ` [HTTP ${e.$metadata.httpStatusCode}]` : '';
    const text = detail && detail !== name ? `${name}: ${redact(detail)}` : name;
    return new Error(`S3 ${op} s3://${this.bucket}/${key} failed: ${text}${status}`);
  }
}

/** The same key rule as FsBackend: no empty segments, no '..', no leading '/'. */
function checkKey(key: string): void {
  if (key.split('/').some((p) => p === '..' || p === '') || key.startsWith('/'))
    throw new Error(`bad storage key "${key}"`);
}

/** Strips anything signature- or credential-like a message might echo. */
function redact(s: string): string {
  return s
    .replace(/((?:X-Amz-)?(?:Credential|Signature|Security-Token|SecurityToken)=)[^&\s,]+/gi, '$1***')
    .slice(0, 500);
}

/** The endpoint without any user:password@ in it, for logs. */
function safeUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint URL)';
  }
}

/** The SDK's region chain (env, profile), else us-east-1 rather than "Region is missing". */
function defaultRegion(): () => Promise<string> {
  let region: Promise<string> | undefined;
  return () =>
    (region ??= (async () => {
      const probe = new S3Client({});
      try {
        return (await probe.config.region()) || 'us-east-1';
      } catch {
        return 'us-east-1';
      } finally {
        probe.destroy();
      }
    })());
}
