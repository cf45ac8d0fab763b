/**
 * The snapshot file: the engine's state parts (src/engine/state.ts) in one binary blob.
 *
 *   0   "BIRDSNAP"                 magic, 8 bytes
 *   8   u16 version (1)            a reader refuses versions it does not know
 *   10  u16 flags                  bit 0: body deflated, bit 1: body encrypted (AES-256-GCM)
 *   12  u32 H                      header length
 *   16  header, H bytes of JSON    {lsn, created, sections, jsonBytes, bodyBytes, keyId?, iv?}
 *   ..  body                       plain: the state's JSON, then each array 8-byte aligned;
 *                                  deflated when that saves >= 10%; then encrypted (+16-byte tag)
 *   -32 SHA-256 of everything before it
 *
 * The checksum catches a torn or bit-flipped file before anything is parsed; with encryption
 * the GCM tag also authenticates the header (it is the additional data), so a wrong key or a
 * tampered file is an error, never garbage state. The key id (a hash of the key, not the key)
 * says which key a snapshot needs, so keys can rotate.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

import type { StateArray, StateParts } from '../engine/state.js';

export const MAGIC = Buffer.from('BIRDSNAP', 'latin1');
export const VERSION = 1;
const FLAG_DEFLATE = 1;
const FLAG_ENCRYPT = 2;
const SHA = 32;
const TAG = 16;

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

const KINDS = { f64: Float64Array, f32: Float32Array, u32: Uint32Array, u8: Uint8Array } as const;
type Kind = keyof typeof KINDS;

function kindOf(a: StateArray): Kind {
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Uint32Array) return 'u32';
  return 'u8';
}

/** An AES-256 key and its id. */
export interface SnapshotKey {
  id: string;
  key: Buffer;
}

/** A key from ENCRYPTION_KEY: 32 bytes as 64 hex digits or base64. */
export function parseKey(text: string): SnapshotKey {
  const t = text.trim();
  let key: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t, 'base64');
  else throw new Error('must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)');
  if (key.length !== 32) throw new Error(`must be 32 bytes, got ${key.length}`);
  return { id: keyId(key), key };
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('birdie-snapshot-key:').update(key).digest('hex').slice(0, 16);
}

export interface SnapshotMeta {
  /** the last log record the state includes */
  lsn: number;
  /** ISO time the snapshot was taken */
  created: string;
  /** anything else worth showing when listing or verifying */
  info?: Record<string, unknown>;
}

interface Header extends SnapshotMeta {
  jsonBytes: number;
  bodyBytes: number;
  sections: { name: string; kind: Kind; offset: number; length: number }[];
  keyId?: string;
  iv?: string;
}

export function encodeSnapshot(parts: StateParts, meta: SnapshotMeta, key?: SnapshotKey): Buffer {
  const body = layout(parts);
  return frame(
    body.bytes,
    body.sections,
    body.jsonBytes,
    deflateRawSync(body.bytes, { level: 3 }),
    meta,
    key,
  );
}

/**
 * The same bytes as encodeSnapshot, with the deflate (the slow part: ~0.7 s for 57 MB) on
 * libuv's thread pool, so that a backup does not hold up the requests being served meanwhile.
 */
export async function encodeSnapshotAsync(
  parts: StateParts,
  meta: SnapshotMeta,
  key?: SnapshotKey,
): Promise<Buffer> {
  const body = layout(parts);
  const deflated = await deflateRawAsync(body.bytes, { level: 3 });
  return frame(body.bytes, body.sections, body.jsonBytes, deflated, meta, key);
}

function layout(parts: StateParts): { bytes: Buffer; sections: Header['sections']; jsonBytes: number } {
  const json = Buffer.from(JSON.stringify(parts.json), 'utf8');
  const sections: Header['sections'] = [];
  let offset = align8(json.length);
  for (const [name, a] of Object.entries(parts.arrays)) {
    sections.push({ name, kind: kindOf(a), offset, length: a.length });
    offset = align8(offset + a.byteLength);
  }
  const body = Buffer.alloc(offset);
  json.copy(body, 0);
  for (const s of sections) {
    const a = parts.arrays[s.name];
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(body, s.offset);
  }
  return { bytes: body, sections, jsonBytes: json.length };
}

function frame(
  body: Buffer,
  sections: Header['sections'],
  jsonBytes: number,
  deflated: Buffer,
  meta: SnapshotMeta,
  key: SnapshotKey | undefined,
): Buffer {
  let flags = 0;
  let payload: Buffer = body;
  // only where it pays: dense float arrays barely shrink and would cost time on every load
  if (deflated.length <= body.length * 0.9) {
    payload = deflated;
    flags |= FLAG_DEFLATE;
  }
  const header: Header = { ...meta, jsonBytes, bodyBytes: body.length, sections };
  let iv: Buffer | undefined;
  if (key !== undefined) {
    flags |= FLAG_ENCRYPT;
    iv = randomBytes(12);
    header.keyId = key.id;
    header.iv = iv.toString('base64');
  }
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(16);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt16LE(VERSION, 8);
  prefix.writeUInt16LE(flags, 10);
  prefix.writeUInt32LE(headerBytes.length, 12);
  if (key !== undefined && iv !== undefined) {
    const c = createCipheriv('aes-256-gcm', key.key, iv);
    c.setAAD(Buffer.concat([prefix, headerBytes]));
    payload = Buffer.concat([c.update(payload), c.final(), c.getAuthTag()]);
  }
  const out = Buffer.concat([prefix, headerBytes, payload, Buffer.alloc(SHA)]);
  createHash('sha256')
    .update(out.subarray(0, out.length - SHA))
    .digest()
    .copy(out, out.length - SHA);
  return out;
}

/** The header alone (after checking magic, version and checksum): what `backup list` shows. */
export function readSnapshotMeta(file: Buffer): SnapshotMeta & { encrypted: boolean; keyId?: string } {
  const { header, flags } = checkFrame(file);
  return {
    lsn: header.lsn,
    created: header.created,
    info: header.info,
    encrypted: (flags & FLAG_ENCRYPT) !== 0,
    keyId: header.keyId,
  };
}

export function decodeSnapshot(
  file: Buffer,
  keys: readonly SnapshotKey[] = [],
): { parts: StateParts; meta: SnapshotMeta } {
  const { header, flags, headerEnd } = checkFrame(file);
  let payload = file.subarray(headerEnd, file.length - SHA);
  if (flags & FLAG_ENCRYPT) {
    const key = keys.find((k) => k.id === header.keyId);
    if (key === undefined)
      throw new SnapshotError(
        keys.length === 0
          ? `the snapshot is encrypted (key id ${header.keyId}) and no ENCRYPTION_KEY is set`
          : `the snapshot is encrypted with key id ${header.keyId}; the configured keys are ${keys.map((k) => k.id).join(', ')}`,
      );
    if (payload.length < TAG || typeof header.iv !== 'string')
      throw new SnapshotError('the encrypted body is cut short');
    try {
      const d = createDecipheriv('aes-256-gcm', key.key, Buffer.from(header.iv, 'base64'));
      d.setAAD(file.subarray(0, headerEnd));
      d.setAuthTag(payload.subarray(payload.length - TAG));
      payload = Buffer.concat([d.update(payload.subarray(0, payload.length - TAG)), d.final()]);
    } catch {
      throw new SnapshotError(
        `the snapshot does not decrypt with key id ${key.id}: wrong key or tampered file`,
      );
    }
  }
  let body: Buffer = payload;
  if (flags & FLAG_DEFLATE) {
    try {
      body = inflateRawSync(payload, { maxOutputLength: header.bodyBytes });
    } catch (err) {
      throw new SnapshotError(`the body does not inflate: ${(err as Error).message}`);
    }
  }
  if (body.length !== header.bodyBytes)
    throw new SnapshotError(`the body has ${body.length} bytes, the header says ${header.bodyBytes}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.subarray(0, header.jsonBytes).toString('utf8'));
  } catch {
    throw new SnapshotError('the state JSON does not parse');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new SnapshotError('the state is not a JSON object');
  const arrays: Record<string, StateArray> = {};
  for (const s of header.sections) {
    const Kind = KINDS[s.kind];
    if (Kind === undefined) throw new SnapshotError(`section ${s.name} has an unknown type ${s.kind}`);
    const bytes = s.length * Kind.BYTES_PER_ELEMENT;
    if (
      !Number.isInteger(s.offset) ||
      s.offset < header.jsonBytes ||
      s.offset % 8 !== 0 ||
      s.offset + bytes > body.length
    )
      throw new SnapshotError(`section ${s.name} lies outside the body`);
    // copied out: the arrays must own aligned memory of their own
    const a = new Kind(s.length);
    new Uint8Array(a.buffer).set(body.subarray(s.offset, s.offset + bytes));
    arrays[s.name] = a;
  }
  return { parts: { json, arrays }, meta: { lsn: header.lsn, created: header.created, info: header.info } };
}

function checkFrame(file: Buffer): { header: Header; flags: number; headerEnd: number } {
  if (file.length < 16 + SHA)
    throw new SnapshotError(`the file is too short to be a snapshot (${file.length} bytes)`);
  if (!file.subarray(0, 8).equals(MAGIC)) throw new SnapshotError('not a birdie snapshot (bad magic)');
  const version = file.readUInt16LE(8);
  if (version !== VERSION)
    throw new SnapshotError(`snapshot format version ${version}; this birdie reads version ${VERSION}`);
  const sum = createHash('sha256')
    .update(file.subarray(0, file.length - SHA))
    .digest();
  if (!sum.equals(file.subarray(file.length - SHA)))
    throw new SnapshotError('the checksum does not match: the file is truncated or corrupt');
  const flags = file.readUInt16LE(10);
  const h = file.readUInt32LE(12);
  if (16 + h > file.length - SHA) throw new SnapshotError('the header runs past the end');
  let header: Header;
  try {
    header = JSON.parse(file.subarray(16, 16 + h).toString('utf8'));
  } catch {
    throw new SnapshotError('the header does not parse');
  }
  checkHeader(header);
  if ((flags & ~(FLAG_DEFLATE | FLAG_ENCRYPT)) !== 0) throw new SnapshotError(`unknown flags ${flags}`);
  if (flags & FLAG_ENCRYPT && (typeof header.keyId !== 'string' || typeof header.iv !== 'string'))
    throw new SnapshotError('an encrypted snapshot without its key id or nonce');
  return { header, flags, headerEnd: 16 + h };
}

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Every field the reader relies on, checked before it is used: a header is input like any other. */
function checkHeader(h: unknown): asserts h is Header {
  if (typeof h !== 'object' || h === null || Array.isArray(h))
    throw new SnapshotError('the header is not an object');
  const x = h as Record<string, unknown>;
  if (
    !count(x.lsn) ||
    !count(x.jsonBytes) ||
    !count(x.bodyBytes) ||
    (x.jsonBytes as number) > (x.bodyBytes as number)
  )
    throw new SnapshotError('the header has bad sizes or log position');
  if (typeof x.created !== 'string') throw new SnapshotError('the header has no creation time');
  if (!Array.isArray(x.sections)) throw new SnapshotError('the header has no section table');
  for (const s of x.sections) {
    const sec = s as Record<string, unknown> | null;
    if (
      typeof sec !== 'object' ||
      sec === null ||
      typeof sec.name !== 'string' ||
      typeof sec.kind !== 'string' ||
      !Object.hasOwn(KINDS, sec.kind) ||
      !count(sec.offset) ||
      !count(sec.length)
    )
      throw new SnapshotError('the header has a bad section entry');
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
