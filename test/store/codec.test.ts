/**
 * The snapshot codec (src/store/codec.ts): state parts come back bit for bit (every array kind,
 * empty arrays, odd lengths and views, unicode, -0 and NaN payloads); the same parts encode to
 * the same bytes; deflate only where it pays; AES-256-GCM round trip, wrong or missing keys and
 * key rotation; a tampered encrypted header with a recomputed SHA-256 is still refused by GCM;
 * and every truncation, bit flip and unknown version is a SnapshotError, never another exception
 * and never a decoded state. Generated corruptions use fast-check with a fixed seed, time-boxed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import type { StateArray, StateParts } from '../../src/engine/state.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  keyId,
  MAGIC,
  parseKey,
  readSnapshotMeta,
  SnapshotError,
  type SnapshotKey,
  type SnapshotMeta,
  VERSION,
} from '../../src/store/codec.js';
import { Rng } from '../helpers/rng.js';

const SEED = 0x5a_a9_5e;
const SHA = 32;
const FLAG_DEFLATE = 1;
const FLAG_ENCRYPT = 2;
const META: SnapshotMeta = {
  lsn: 4242,
  created: '2026-01-02T03:04:05.000Z',
  info: { clusters: 7, tweets: 99, reason: 'test' },
};

function newKey(): SnapshotKey {
  return parseKey(randomBytes(32).toString('base64'));
}

function bytesOf(a: StateArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Same JSON, same array names in the same order, same kinds, same bytes (so -0 and NaN bits too). */
function assertSameParts(got: StateParts, want: StateParts): void {
  assert.deepStrictEqual(got.json, want.json);
  assert.deepStrictEqual(Object.keys(got.arrays), Object.keys(want.arrays));
  for (const [name, a] of Object.entries(want.arrays)) {
    const b = got.arrays[name];
    assert.equal(b.constructor, a.constructor, `array ${name}: kind`);
    assert.equal(b.length, a.length, `array ${name}: length`);
    assert.ok(bytesOf(b).equals(bytesOf(a)), `array ${name}: bytes differ`);
  }
}

/** Recomputes the trailing SHA-256, as someone who tampers with the file would. */
function reseal(file: Buffer): Buffer {
  const out = Buffer.from(file);
  createHash('sha256')
    .update(out.subarray(0, out.length - SHA))
    .digest()
    .copy(out, out.length - SHA);
  return out;
}

function headerOf(file: Buffer): Record<string, unknown> {
  const h = file.readUInt32LE(12);
  return JSON.parse(file.subarray(16, 16 + h).toString('utf8'));
}

/** The file with its header JSON replaced by `text` (length field fixed, checksum recomputed). */
function withHeaderText(file: Buffer, text: string): Buffer {
  const h = file.readUInt32LE(12);
  const header = Buffer.from(text, 'utf8');
  const prefix = Buffer.from(file.subarray(0, 16));
  prefix.writeUInt32LE(header.length, 12);
  return reseal(Buffer.concat([prefix, header, file.subarray(16 + h)]));
}

/** The file with these header fields changed (undefined: removed), resealed. */
function withHeader(file: Buffer, patch: Record<string, unknown>): Buffer {
  const h = headerOf(file);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete h[k];
    else h[k] = v;
  }
  return withHeaderText(file, JSON.stringify(h));
}

/** Throws a SnapshotError (and nothing else) whose message matches `re`. */
function assertSnapshotError(f: () => unknown, re?: RegExp, what = ''): void {
  let result: unknown;
  try {
    result = f();
  } catch (err) {
    assert.ok(
      err instanceof SnapshotError,
      `${what}: expected a SnapshotError, got ${(err as Error)?.name}: ${(err as Error)?.message}`,
    );
    if (re !== undefined) assert.match(err.message, re, what);
    return;
  }
  assert.fail(`${what}: decoded without an error (${typeof result})`);
}

/** NaN with a payload and the sign bit set, written bit by bit (a JS number would canonicalise). */
function f64WithBits(values: number[], bits: bigint[]): Float64Array {
  const a = new Float64Array(values.length + bits.length);
  a.set(values);
  const view = new BigUint64Array(a.buffer);
  bits.forEach((b, i) => {
    view[values.length + i] = b;
  });
  return a;
}

function richParts(): StateParts {
  const f32 = new Float32Array([0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.4e38, -1.5, 0.1]);
  new Uint32Array(f32.buffer)[7] = 0xffc0_0001; // a negative NaN with a payload
  const backing = new Uint32Array([11, 22, 33, 44, 55, 66]);
  return {
    json: {
      text: 'Erdbeben in Tōkyō 🌋 — «шторм» 東京 مرحبا e\u0301 \u0000 nul, \ud800 lone surrogate, \u2028',
      nested: { list: [1, -2.5, null, true, 'ß'], empty: {}, emptyList: [] },
      '🔑 key': 'value',
      big: Number.MAX_SAFE_INTEGER,
      negZero: 0,
    },
    arrays: {
      'f64.special': f64WithBits(
        [-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, 1 / 3],
        [0x7ff0_0000_0000_0001n, 0xfff8_0000_0000_0000n, 0xfff0_0000_dead_beefn, 0x8000_0000_0000_0000n],
      ),
      'f32.special': f32,
      'u32.edges': new Uint32Array([0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]),
      // a view into a larger buffer, at an offset
      'u32.view': backing.subarray(2, 5),
      'u8.odd': new Uint8Array([0, 1, 127, 128, 255]),
      'u8.all': Uint8Array.from({ length: 256 }, (_, i) => i),
      'f64.empty': new Float64Array(0),
      'f32.empty': new Float32Array(0),
      'u32.empty': new Uint32Array(0),
      'u8.empty': new Uint8Array(0),
      // after an odd-length u8 array: must still land 8-byte aligned
      'f64.after.odd': new Float64Array([Math.PI, -Math.E]),
      'ünïcødé 名前': new Float32Array([1, 2, 3]),
    },
  };
}

test('round trip: every array kind, empty arrays, views, unicode JSON and names, -0 and NaN payloads bit-exact', () => {
  const parts = richParts();
  for (const key of [undefined, newKey()]) {
    const file = encodeSnapshot(parts, META, key);
    const { parts: got, meta } = decodeSnapshot(file, key === undefined ? [] : [key]);
    assertSameParts(got, parts);
    assert.deepStrictEqual(meta, META);
    assert.ok(Object.is(got.arrays['f64.special'][0], -0), '-0 stays -0');
    assert.ok(Number.isNaN(got.arrays['f64.special'][2]));
    assert.equal(new BigUint64Array(got.arrays['f64.special'].buffer)[8], 0xfff8_0000_0000_0000n);
    assert.equal(new Uint32Array(got.arrays['f32.special'].buffer)[7], 0xffc0_0001);
    assert.equal((got.json.text as string).includes('\ud800'), true, 'a lone surrogate survives');
    for (const [name, a] of Object.entries(got.arrays)) {
      // copied out: each array owns aligned memory of its own
      assert.equal(a.byteOffset, 0, name);
      assert.equal(a.buffer.byteLength, a.byteLength, name);
    }
    // decoding twice gives independent arrays
    const again = decodeSnapshot(file, key === undefined ? [] : [key]).parts;
    (again.arrays['u8.odd'] as Uint8Array)[0] = 99;
    assert.equal((got.arrays['u8.odd'] as Uint8Array)[0], 0);
  }
});

test('round trip: empty parts, and large dense arrays', () => {
  const empty: StateParts = { json: {}, arrays: {} };
  assertSameParts(decodeSnapshot(encodeSnapshot(empty, { lsn: 0, created: 'x' })).parts, empty);
  const rng = new Rng(SEED);
  const big: StateParts = {
    json: { n: 100_000 },
    arrays: {
      f64: Float64Array.from({ length: 50_000 }, () => rng.normal()),
      f32: Float32Array.from({ length: 50_000 }, () => rng.normal()),
      u32: Uint32Array.from({ length: 50_000 }, () => rng.int(2 ** 32)),
      u8: Uint8Array.from({ length: 50_001 }, () => rng.int(256)),
    },
  };
  assertSameParts(decodeSnapshot(encodeSnapshot(big, { lsn: 1, created: 'x' })).parts, big);
});

test('unencrypted: the same parts with the same meta encode to identical bytes', () => {
  const a = encodeSnapshot(richParts(), META);
  const b = encodeSnapshot(richParts(), META);
  assert.ok(a.equals(b), 'two encodings of equal parts differ');
  // and a decoded copy re-encodes to the same bytes
  const c = encodeSnapshot(decodeSnapshot(a).parts, META);
  assert.ok(a.equals(c), 're-encoding a decoded snapshot changes its bytes');
  // the meta is part of the bytes
  assert.ok(!a.equals(encodeSnapshot(richParts(), { ...META, lsn: META.lsn + 1 })));
  // encrypted: a fresh IV each time, both decrypt to the same parts
  const key = newKey();
  const e1 = encodeSnapshot(richParts(), META, key);
  const e2 = encodeSnapshot(richParts(), META, key);
  assert.ok(!e1.equals(e2), 'two encryptions reuse the IV');
  assertSameParts(decodeSnapshot(e1, [key]).parts, decodeSnapshot(e2, [key]).parts);
});

test('deflate only when it pays: repetitive bodies are deflated, random ones stored', () => {
  const rng = new Rng(SEED + 1);
  const repetitive: StateParts = {
    json: { text: 'storm '.repeat(2000) },
    arrays: { zeros: new Float64Array(4096), ramp: Uint32Array.from({ length: 4096 }, (_, i) => i % 16) },
  };
  const random: StateParts = {
    json: { n: 1 },
    arrays: { noise: Uint8Array.from({ length: 16_384 }, () => rng.int(256)) },
  };
  const rawBodyBytes = (p: StateParts) =>
    Object.values(p.arrays).reduce((s, a) => s + a.byteLength, 0) + JSON.stringify(p.json).length;
  for (const key of [undefined, newKey()]) {
    const keys = key === undefined ? [] : [key];
    const enc = key === undefined ? 0 : FLAG_ENCRYPT;
    const r = encodeSnapshot(repetitive, META, key);
    assert.equal(r.readUInt16LE(10), FLAG_DEFLATE | enc, 'the repetitive body is deflated');
    assert.ok(r.length < rawBodyBytes(repetitive) / 10, `deflated to ${r.length} bytes`);
    assertSameParts(decodeSnapshot(r, keys).parts, repetitive);
    const n = encodeSnapshot(random, META, key);
    assert.equal(n.readUInt16LE(10), enc, 'the random body is stored as is');
    assert.ok(n.length > 16_384, 'stored whole');
    assertSameParts(decodeSnapshot(n, keys).parts, random);
    // the header's bodyBytes is the plain body, whichever way it is stored
    assert.equal(headerOf(n).bodyBytes, 16_384 + 8);
  }
});

test('encryption: round trip, the flag and key id in the header, no plaintext in the file', () => {
  const key = newKey();
  const rng = new Rng(SEED + 2);
  const marker = 'zebra-cornflake-marker-7731';
  // random bytes so the body is not deflated: the text would otherwise be hidden by deflate alone
  const parts: StateParts = {
    json: { text: marker.repeat(3) },
    arrays: { noise: Uint8Array.from({ length: 4096 }, () => rng.int(256)) },
  };
  const plain = encodeSnapshot(parts, META);
  assert.equal(plain.readUInt16LE(10) & FLAG_DEFLATE, 0);
  assert.ok(plain.includes(Buffer.from(marker)), 'sanity: the unencrypted file holds the text');
  const file = encodeSnapshot(parts, META, key);
  assert.equal(file.readUInt16LE(10), FLAG_ENCRYPT);
  assert.ok(!file.includes(Buffer.from(marker)), 'the encrypted file holds the text in clear');
  assert.ok(
    !file.includes(bytesOf(parts.arrays.noise).subarray(0, 64)),
    'the encrypted file holds the arrays in clear',
  );
  assert.ok(!file.includes(key.key), 'the key itself is in the file');
  const h = headerOf(file);
  assert.equal(h.keyId, key.id);
  assert.equal(Buffer.from(h.iv as string, 'base64').length, 12);
  assert.deepStrictEqual(readSnapshotMeta(file), { ...META, encrypted: true, keyId: key.id });
  assert.deepStrictEqual(readSnapshotMeta(plain), { ...META, encrypted: false, keyId: undefined });
  const { parts: got, meta } = decodeSnapshot(file, [key]);
  assertSameParts(got, parts);
  assert.deepStrictEqual(meta, META);
});

test('a wrong key is a SnapshotError naming the key ids', () => {
  const key = newKey();
  const other = newKey();
  const third = newKey();
  const file = encodeSnapshot(richParts(), META, key);
  assertSnapshotError(
    () => decodeSnapshot(file, [other, third]),
    new RegExp(`key id ${key.id}; the configured keys are ${other.id}, ${third.id}$`),
    'wrong keys',
  );
  // a key that claims the right id but is not the key: GCM refuses it
  const impostor: SnapshotKey = { id: key.id, key: other.key };
  assertSnapshotError(
    () => decodeSnapshot(file, [impostor]),
    new RegExp(`does not decrypt with key id ${key.id}: wrong key or tampered file`),
    'impostor key',
  );
});

test('an encrypted snapshot and no key configured: a clear SnapshotError', () => {
  const key = newKey();
  const file = encodeSnapshot(richParts(), META, key);
  for (const keys of [undefined, []]) {
    assertSnapshotError(
      () => decodeSnapshot(file, keys),
      new RegExp(`^the snapshot is encrypted \\(key id ${key.id}\\) and no ENCRYPTION_KEY is set$`),
      'no key',
    );
  }
  // the meta is readable without the key (backup list shows it)
  assert.equal(readSnapshotMeta(file).keyId, key.id);
});

test('key rotation: [new, old] decrypts snapshots made with either; [old] alone names the new id', () => {
  const oldKey = newKey();
  const newer = newKey();
  const byOld = encodeSnapshot(richParts(), META, oldKey);
  const byNew = encodeSnapshot(richParts(), META, newer);
  assertSameParts(decodeSnapshot(byOld, [newer, oldKey]).parts, richParts());
  assertSameParts(decodeSnapshot(byNew, [newer, oldKey]).parts, richParts());
  assertSameParts(decodeSnapshot(byOld, [oldKey, newer]).parts, richParts());
  assertSnapshotError(() => decodeSnapshot(byNew, [oldKey]), new RegExp(`key id ${newer.id}`), 'old only');
  assertSnapshotError(() => decodeSnapshot(byOld, [newer]), new RegExp(`key id ${oldKey.id}`), 'new only');
  // an unencrypted snapshot still reads with keys configured (turning encryption on)
  assertSameParts(decodeSnapshot(encodeSnapshot(richParts(), META), [newer]).parts, richParts());
});

test('tampering with an encrypted snapshot and recomputing the SHA-256: GCM refuses it, never garbage', () => {
  const key = newKey();
  const spare = newKey();
  const keys = [key, spare];
  const rng = new Rng(SEED + 3);
  // one deflated and one stored body
  const variants = [
    richParts(),
    { json: { a: 1 }, arrays: { noise: Uint8Array.from({ length: 2048 }, () => rng.int(256)) } },
  ];
  for (const parts of variants) {
    const file = encodeSnapshot(parts, META, key);
    assertSameParts(decodeSnapshot(reseal(file), keys).parts, parts); // resealing alone changes nothing
    const tampered: [string, Buffer][] = [
      ['lsn', withHeader(file, { lsn: 1 })],
      ['created', withHeader(file, { created: '2030-01-01T00:00:00.000Z' })],
      ['info', withHeader(file, { info: { clusters: 0 } })],
      ['info removed', withHeader(file, { info: undefined })],
      ['jsonBytes', withHeader(file, { jsonBytes: (headerOf(file).jsonBytes as number) - 1 })],
      ['bodyBytes', withHeader(file, { bodyBytes: (headerOf(file).bodyBytes as number) + 8 })],
      ['sections', withHeader(file, { sections: [] })],
      ['key id of another configured key', withHeader(file, { keyId: spare.id })],
      ['another IV', withHeader(file, { iv: randomBytes(12).toString('base64') })],
      ['same JSON, respaced', withHeaderText(file, JSON.stringify(headerOf(file), null, 1))],
    ];
    const flags = file.readUInt16LE(10);
    for (const [name, flip] of [
      ['deflate flag toggled', FLAG_DEFLATE],
      ['encrypt flag cleared', FLAG_ENCRYPT],
      ['an unknown flag set', 0x100],
    ] as const) {
      const f = Buffer.from(file);
      f.writeUInt16LE(flags ^ flip, 10);
      tampered.push([name, reseal(f)]);
    }
    const h = file.readUInt32LE(12);
    for (const [name, at] of [
      ['first ciphertext byte', 16 + h],
      ['middle of the ciphertext', 16 + h + Math.floor((file.length - SHA - 16 - h) / 2)],
      ['auth tag', file.length - SHA - 1],
    ] as const) {
      const f = Buffer.from(file);
      f[at] ^= 0x40;
      tampered.push([name, reseal(f)]);
    }
    for (const [name, f] of tampered) assertSnapshotError(() => decodeSnapshot(f, keys), undefined, name);
  }
});

test('an encrypted snapshot stripped of its encryption (flag cleared, header rewritten, SHA-256 recomputed): an error, never garbage', () => {
  const key = newKey();
  // find an encryption whose first ciphertext byte is a digit: then 1 byte of "JSON" parses
  let file: Buffer | undefined;
  let h = 0;
  for (let i = 0; i < 10_000 && file === undefined; i++) {
    const f = encodeSnapshot(richParts(), META, key);
    h = f.readUInt32LE(12);
    if (f[16 + h] >= 0x30 && f[16 + h] <= 0x39) file = f;
  }
  assert.ok(file !== undefined);
  const payloadBytes = file.length - SHA - 16 - h;
  const stripped = withHeader(file, { bodyBytes: payloadBytes, jsonBytes: 1, sections: [] });
  stripped.writeUInt16LE(0, 10);
  assertSnapshotError(() => decodeSnapshot(reseal(stripped), [key]), undefined, 'encryption stripped');
});

test('every bit flip of an encrypted snapshot, with the SHA-256 recomputed, is a SnapshotError (GCM)', () => {
  const key = newKey();
  const file = encodeSnapshot(richParts(), META, key);
  const covered = (file.length - SHA) * 8;
  fc.assert(
    fc.property(fc.nat({ max: covered - 1 }), (bit) => {
      const f = Buffer.from(file);
      f[bit >> 3] ^= 1 << (bit & 7);
      assertSnapshotError(() => decodeSnapshot(reseal(f), [key]), undefined, `bit ${bit}`);
    }),
    { seed: SEED, numRuns: 2000, interruptAfterTimeLimit: 3000, markInterruptAsFailure: false },
  );
});

test('truncation at every length from 0 to 400 bytes, near the end, and at random points: SnapshotError', () => {
  const key = newKey();
  const rng = new Rng(SEED + 4);
  const files: [string, Buffer, SnapshotKey[]][] = [
    ['deflated', encodeSnapshot(richParts(), META), []],
    [
      'stored',
      encodeSnapshot(
        { json: { t: 'x' }, arrays: { n: Uint8Array.from({ length: 3000 }, () => rng.int(256)) } },
        META,
      ),
      [],
    ],
    ['encrypted', encodeSnapshot(richParts(), META, key), [key]],
  ];
  for (const [name, file, keys] of files) {
    assert.ok(file.length > 450, `${name}: ${file.length} bytes`);
    const lengths = new Set<number>();
    for (let n = 0; n <= 400; n++) lengths.add(n);
    for (let n = file.length - 80; n < file.length; n++) lengths.add(n);
    for (let i = 0; i < 200; i++) lengths.add(rng.int(file.length));
    for (const n of lengths) {
      const cut = file.subarray(0, n);
      assertSnapshotError(() => decodeSnapshot(cut, keys), undefined, `${name} cut to ${n}`);
      assertSnapshotError(() => readSnapshotMeta(cut), undefined, `${name} meta cut to ${n}`);
    }
    // and a file with bytes after its end
    for (const extra of [1, 31, 32, 33, 1000]) {
      const longer = Buffer.concat([file, randomBytes(extra)]);
      assertSnapshotError(() => decodeSnapshot(longer, keys), undefined, `${name} + ${extra} bytes`);
    }
    // a tail of zeros where the end was (a torn write on some filesystems)
    const zeroed = Buffer.from(file);
    zeroed.fill(0, file.length - 100);
    assertSnapshotError(() => decodeSnapshot(zeroed, keys), undefined, `${name} zero tail`);
  }
  assertSnapshotError(() => decodeSnapshot(Buffer.alloc(0)), /too short.*\(0 bytes\)/, 'empty');
});

test('bit flips and byte overwrites at random positions: SnapshotError (fast-check, fixed seed)', () => {
  const key = newKey();
  const files: [string, Buffer, SnapshotKey[]][] = [
    ['deflated', encodeSnapshot(richParts(), META), []],
    ['encrypted', encodeSnapshot(richParts(), META, key), [key]],
  ];
  for (const [name, file, keys] of files) {
    fc.assert(
      fc.property(fc.nat({ max: file.length * 8 - 1 }), (bit) => {
        const f = Buffer.from(file);
        f[bit >> 3] ^= 1 << (bit & 7);
        assertSnapshotError(() => decodeSnapshot(f, keys), undefined, `${name} bit ${bit}`);
        assertSnapshotError(() => readSnapshotMeta(f), undefined, `${name} meta bit ${bit}`);
      }),
      { seed: SEED, numRuns: 1500, interruptAfterTimeLimit: 2000, markInterruptAsFailure: false },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: file.length - 1 }), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const f = Buffer.from(file);
          for (const [at, x] of edits) f[at] ^= x;
          assertSnapshotError(() => decodeSnapshot(f, keys), undefined, `${name} ${JSON.stringify(edits)}`);
        },
      ),
      { seed: SEED + 1, numRuns: 500, interruptAfterTimeLimit: 1500, markInterruptAsFailure: false },
    );
  }
});

test('a future (or past) format version: the error says which version', () => {
  const file = encodeSnapshot(richParts(), META);
  assert.equal(VERSION, 1);
  assert.ok(file.subarray(0, 8).equals(MAGIC));
  for (const v of [2, 0, 65535]) {
    const f = Buffer.from(file);
    f.writeUInt16LE(v, 8);
    // resealed or not: the version is refused before anything else is trusted
    for (const g of [f, reseal(f)]) {
      const re = new RegExp(`^snapshot format version ${v}; this birdie reads version 1$`);
      assertSnapshotError(() => decodeSnapshot(g), re, `version ${v}`);
      assertSnapshotError(() => readSnapshotMeta(g), re, `meta version ${v}`);
    }
  }
  const bad = Buffer.from(file);
  bad.write('BIRDSNAQ', 0, 'latin1');
  assertSnapshotError(() => decodeSnapshot(reseal(bad)), /bad magic/, 'magic');
});

test('crafted headers with a valid checksum: SnapshotError, never a TypeError or RangeError', () => {
  const small = encodeSnapshot({ json: {}, arrays: {} }, { lsn: 1, created: 'c' });
  const key = newKey();
  const encrypted = encodeSnapshot({ json: {}, arrays: {} }, { lsn: 1, created: 'c' }, key);
  const base = { lsn: 1, created: 'c', jsonBytes: 2, bodyBytes: 8 };
  const headers = [
    'null',
    JSON.stringify({ ...base, sections: [null] }),
    JSON.stringify({ ...base, sections: [{ name: 'a', kind: 'f64', offset: 8, length: -1 }] }),
    JSON.stringify({ ...base, sections: [{ name: 'a', kind: 'toString', offset: 8, length: 0 }] }),
    JSON.stringify({ ...base, sections: [{ name: 'a', kind: 'f64', offset: 8, length: 0.5 }] }),
  ];
  for (const text of headers) {
    assertSnapshotError(() => decodeSnapshot(withHeaderText(small, text)), undefined, text);
  }
  // encrypted: GCM would refuse any of these, if the header got that far
  assertSnapshotError(
    () => decodeSnapshot(withHeaderText(encrypted, 'null'), [key]),
    undefined,
    'null, encrypted',
  );
  assertSnapshotError(() => readSnapshotMeta(withHeaderText(small, 'null')), undefined, 'null, meta');
});

test('parseKey: 32 bytes as hex or base64 (padded or not, url-safe too); anything else is refused', () => {
  const bytes = randomBytes(32);
  const hex = bytes.toString('hex');
  const b64 = bytes.toString('base64');
  assert.equal(b64.length, 44);
  const forms = [
    hex,
    hex.toUpperCase(),
    `  ${hex}\n`,
    b64,
    b64.replace(/=$/, ''),
    bytes.toString('base64url'),
    `\t${b64} `,
  ];
  for (const form of forms) {
    const k = parseKey(form);
    assert.ok(k.key.equals(bytes), `"${form}" decodes to the key`);
    assert.equal(k.id, keyId(bytes));
  }
  const id = keyId(bytes);
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.ok(!hex.includes(id), 'the key id is not a piece of the key');
  assert.notEqual(keyId(randomBytes(32)), id);
  const refused = [
    '',
    'not a key',
    hex.slice(0, 63),
    `${hex}0`,
    `${hex}00`,
    randomBytes(16).toString('hex'),
    randomBytes(48).toString('hex'),
    `${'g'.repeat(64)}`,
    randomBytes(16).toString('base64'),
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    randomBytes(64).toString('base64'),
    `${b64.slice(0, 42)}!=`,
    `${b64.slice(0, 20)} ${b64.slice(20)}`,
  ];
  for (const text of refused) assert.throws(() => parseKey(text), /must be 32 bytes/, JSON.stringify(text));
});
