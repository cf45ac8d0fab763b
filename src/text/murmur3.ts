/**
 * MurmurHash3, x86 32-bit variant (Austin Appleby's public-domain design), in two entry points:
 *
 * - `murmur3Utf16(str, seed)` hashes a JS string without encoding it: each 32-bit block is two
 *   UTF-16 code units, low unit first. That is exactly MurmurHash3_x86_32 over the string's
 *   UTF-16LE bytes, so the value is fixed by the text alone: the same on every run, machine and
 *   endianness. Lone surrogates are hashed as they are (no replacement character).
 * - `murmur3Bytes(bytes, seed)` hashes raw bytes (state checksums; the test that pins both to
 *   the published reference vectors).
 *
 * Both return an unsigned 32-bit integer. Math.imul keeps the multiplications in 32 bits.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3_x86_32 of the UTF-16LE encoding of `str`. */
export function murmur3Utf16(str: string, seed: number): number {
  const n = str.length;
  const pairs = n & ~1;
  let h = seed | 0;
  for (let i = 0; i < pairs; i += 2) {
    h = mixH(h, str.charCodeAt(i) | (str.charCodeAt(i + 1) << 16));
  }
  // An odd length leaves one code unit: a 2-byte tail.
  if (pairs !== n) h ^= mixK(str.charCodeAt(pairs));
  return finalize(h, n * 2);
}

/** MurmurHash3_x86_32 of `bytes[start, end)`. */
export function murmur3Bytes(bytes: Uint8Array, seed: number, start = 0, end = bytes.length): number {
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  let h = seed | 0;
  for (let i = start; i < blocksEnd; i += 4) {
    h = mixH(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  const tail = len & 3;
  if (tail !== 0) {
    let k = bytes[blocksEnd];
    if (tail > 1) k |= bytes[blocksEnd + 1] << 8;
    if (tail > 2) k |= bytes[blocksEnd + 2] << 16;
    h ^= mixK(k);
  }
  return finalize(h, len);
}
