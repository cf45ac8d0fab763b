/**
 * Seeded stand-in for a stream of tweet embeddings: unit vectors drawn around random centres on
 * the sphere, blob sizes following a power law (a few big stories, a long tail), rows shuffled.
 *
 * Cached in bench/out so that the TypeScript and the Python side read the very same bits:
 *
 *   blobs-d{d}.f64         n x d float64, little-endian, row-major (numpy.fromfile(dtype='<f8'))
 *   blobs-d{d}.labels.i32  n int32 LE: the blob each row was drawn from (for quality suites)
 *   blobs-d{d}.json        sidecar: format, version, the spec that made them, sizes
 *
 * The files are regenerated only when one is missing, the sidecar's format or version is not
 * ours, or its spec differs from the one asked for.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { gaussian, mulberry32, OUT_DIR } from './lib.js';

const FORMAT = 'birdie-blobs';
/** Bump when the generator changes the bits it makes for a given spec. */
const VERSION = 1;

export interface BlobSpec {
  /** Rows. */
  n: number;
  /** Dimension. */
  d: number;
  /** Number of blobs (stories). */
  blobs: number;
  seed: number;
  /** The blob of rank k gets n * k^-zipf / sum_j j^-zipf rows (Zipf's law for s = 1). */
  zipf: number;
  /**
   * Each blob draws a spread s uniformly from [lo, hi]; a point is c + (s / sqrt(d)) g with
   * g ~ N(0, I_d), normalised. |noise| ~ s, so cos(point, centre) ~ 1 / sqrt(1 + s^2) and
   * cos between two points of one blob ~ 1 / (1 + s^2), whatever d is: the spread decides how
   * tight a story is, from near-retweets (small s) to a loose topic (large s).
   */
  spread: [number, number];
}

/**
 * The data of the speed suite (and of any suite that wants the same stream).
 *
 * Why spread in [0.2, 0.7]: it puts the cosine between two tweets of a story between 0.67 and
 * 0.96, and the two thresholds on either side of that range. A whole blob fits one entry when
 * its radius sqrt(1 - |c|^2) ~ sqrt(s^2 / (1 + s^2)) <= T, i.e. s <= T / sqrt(1 - T^2): 0.31 at
 * T = 0.3, 0.58 at T = 0.5. So T = 0.5 keeps most stories in a few entries and breaks up only
 * the loosest, and T = 0.3 keeps only the tight ones (near-retweets) whole and leaves the rest
 * as pairs and singletons (at d = 256: ~6,500 and ~29,000 subclusters for 50,000 rows). Random
 * centres in 256+ dimensions are nearly orthogonal (cos ~ +-1/sqrt(d)), so stories do not
 * share points; what overlaps is a loose story's spread with the threshold.
 */
export function streamSpec(d: number): BlobSpec {
  return { n: 50_000, d, blobs: 300, seed: 20240601, zipf: 1, spread: [0.2, 0.7] };
}

export interface Blobs {
  spec: BlobSpec;
  rows: Float64Array;
  labels: Int32Array;
  /** Rows per blob, by blob index (blob 0 is the largest). */
  sizes: number[];
}

/** Row counts per blob for a power law, summing to exactly n (largest remainders rounded up). */
export function powerLawSizes(n: number, blobs: number, exponent: number): number[] {
  if (n < blobs) throw new RangeError(`need at least one row per blob: n ${n} < blobs ${blobs}`);
  const w = Array.from({ length: blobs }, (_, k) => (k + 1) ** -exponent);
  const total = w.reduce((a, b) => a + b, 0);
  const exact = w.map((x) => ((n - blobs) * x) / total);
  // one row each up front, so that no blob is empty, then the rest by weight
  const sizes = exact.map((x) => 1 + Math.floor(x));
  let left = n - sizes.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, k) => [x - Math.floor(x), k]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let i = 0; left > 0; i++, left--) sizes[byRemainder[i][1]]++;
  return sizes;
}

export function generateBlobs(spec: BlobSpec): Blobs {
  const { n, d, blobs, zipf, spread } = spec;
  // one stream per (seed, d): the d = 256 and d = 384 sets are independent draws
  const uniform = mulberry32(Math.imul(spec.seed, 0x9e3779b1) ^ d);
  const normal = gaussian(uniform);

  const centres = new Float64Array(blobs * d);
  for (let b = 0; b < blobs; b++) normalise(centres, b * d, d, normal);
  const sigma = new Float64Array(blobs);
  for (let b = 0; b < blobs; b++) sigma[b] = (spread[0] + (spread[1] - spread[0]) * uniform()) / Math.sqrt(d);
  const sizes = powerLawSizes(n, blobs, zipf);

  // The stream order: every row's blob, shuffled. Drawing the points in this order is the same
  // as drawing them blob by blob and shuffling the rows, without a second n x d buffer.
  const labels = new Int32Array(n);
  for (let b = 0, r = 0; b < blobs; b++) for (let k = 0; k < sizes[b]; k++) labels[r++] = b;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = labels[i];
    labels[i] = labels[j];
    labels[j] = t;
  }

  const rows = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    const b = labels[r];
    const o = r * d;
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const v = centres[b * d + i] + sigma[b] * normal();
      rows[o + i] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let i = 0; i < d; i++) rows[o + i] *= inv;
  }
  return { spec, rows, labels, sizes };
}

/** Fills a[o .. o + d) with a uniformly random unit vector (a normalised Gaussian). */
function normalise(a: Float64Array, o: number, d: number, normal: () => number): void {
  let sq = 0;
  for (let i = 0; i < d; i++) {
    const v = normal();
    a[o + i] = v;
    sq += v * v;
  }
  const inv = 1 / Math.sqrt(sq);
  for (let i = 0; i < d; i++) a[o + i] *= inv;
}

export interface BlobFiles {
  data: string;
  labels: string;
  sidecar: string;
}

export function blobFiles(d: number): BlobFiles {
  const stem = join(OUT_DIR, `blobs-d${d}`);
  return { data: `${stem}.f64`, labels: `${stem}.labels.i32`, sidecar: `${stem}.json` };
}

interface Sidecar {
  format: string;
  version: number;
  spec: BlobSpec;
  dtype: string;
  layout: string;
  labels: string;
  /** Rows per blob, largest first. */
  sizes: number[];
}

/** Why the cached files cannot be used, or null when they can. */
function staleReason(files: BlobFiles, spec: BlobSpec): string | null {
  for (const p of [files.sidecar, files.data, files.labels]) if (!existsSync(p)) return `${p} is missing`;
  let car: Sidecar;
  try {
    car = JSON.parse(readFileSync(files.sidecar, 'utf8')) as Sidecar;
  } catch (e) {
    return `${files.sidecar} is not JSON (${(e as Error).message})`;
  }
  if (car.format !== FORMAT) return `format is ${JSON.stringify(car.format)}, expected "${FORMAT}"`;
  if (car.version !== VERSION) return `generator version is ${car.version}, expected ${VERSION}`;
  const want = JSON.stringify(spec);
  const have = JSON.stringify(car.spec);
  if (want !== have) return `parameters changed: ${have} -> ${want}`;
  const bytes = spec.n * spec.d * 8;
  const size = statSync(files.data).size;
  if (size !== bytes) return `${files.data} has ${size} bytes, expected ${bytes}`;
  if (statSync(files.labels).size !== spec.n * 4) return `${files.labels} has the wrong size`;
  return null;
}

export type LoadedBlobs = Blobs & { files: BlobFiles; note: string };

/**
 * The rows for `spec`, from bench/out when cached there, else generated and written.
 * `note` says which (and why a cache was rejected).
 */
export function loadBlobs(spec: BlobSpec): LoadedBlobs {
  if (os.endianness() !== 'LE')
    throw new Error('the blob files are little-endian; this machine is big-endian');
  const files = blobFiles(spec.d);
  const stale = staleReason(files, spec);
  if (stale === null) {
    const car = JSON.parse(readFileSync(files.sidecar, 'utf8')) as Sidecar;
    return {
      spec,
      rows: aligned(readFileSync(files.data), Float64Array, spec.n * spec.d),
      labels: aligned(readFileSync(files.labels), Int32Array, spec.n),
      sizes: car.sizes,
      files,
      note: `cached ${files.data}`,
    };
  }
  const blobs = generateBlobs(spec);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(files.data, new Uint8Array(blobs.rows.buffer, blobs.rows.byteOffset, blobs.rows.byteLength));
  writeFileSync(
    files.labels,
    new Uint8Array(blobs.labels.buffer, blobs.labels.byteOffset, blobs.labels.byteLength),
  );
  const car: Sidecar = {
    format: FORMAT,
    version: VERSION,
    spec,
    dtype: 'float64 little-endian',
    layout: `row-major ${spec.n} x ${spec.d}`,
    labels: 'int32 little-endian, one blob index per row',
    sizes: blobs.sizes,
  };
  // the sidecar last: a run killed mid-write leaves no sidecar, so the next run regenerates
  writeFileSync(files.sidecar, `${JSON.stringify(car, null, 2)}\n`);
  return { ...blobs, files, note: `generated ${files.data} (${stale})` };
}

/** A typed view of a file's bytes, copied when the Buffer is not aligned for the element size. */
function aligned<T extends Float64Array | Int32Array>(
  buf: Buffer,
  Kind: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number },
  n: number,
): T {
  if (buf.byteLength !== n * Kind.BYTES_PER_ELEMENT)
    throw new Error(`expected ${n} elements, file has ${buf.byteLength} bytes`);
  if (buf.byteOffset % Kind.BYTES_PER_ELEMENT === 0)
    return new Kind(buf.buffer as ArrayBuffer, buf.byteOffset, n);
  return new Kind(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, 0, n);
}
