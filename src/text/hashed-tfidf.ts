/**
 * The default embedder: hashed TF-IDF over tweet tokens, no download, no service.
 *
 * For each distinct feature f of a text (token, or word bigram when enabled):
 *
 *   x[h(f) mod dim] += sign(f) * (1 + ln tf(f)) * weight(kind f) * idf(f)
 *
 * then x is L2-normalised.
 *   - h is MurmurHash3 (x86, 32-bit) of the feature string with FEATURE_SEED. The index takes
 *     the low bits (a mask when dim is a power of two, else modulo of the low 31 bits) and the
 *     sign takes bit 31, so index and sign are independent. Signed hashing (sklearn's
 *     HashingVectorizer alternate_sign) makes colliding features cancel on average instead of
 *     always adding up, so the expected dot product of two vectors is not biased by collisions.
 *   - Sublinear tf: a word said three times is not three times the topic.
 *   - Kind weights (defaults in DEFAULT_KIND_WEIGHTS): hashtags are the author's own topic
 *     label; mentions and emoji say more about who and how than about what; a URL host is
 *     mostly "t.co".
 *   - idf 'online': ln((1 + N) / (1 + df)) + 1 (sklearn's smooth_idf form), with N and df counted
 *     over the texts embedded so far, BEFORE this one.
 *
 * Why the IDF is online and frozen per vector: a vector is computed once, when its tweet
 * arrives, and never again. The CF-tree keeps only sums of vectors (linear sum, squared sum),
 * so a stored vector cannot be re-weighted when later document frequencies change; recomputing
 * would also make the state depend on when it was computed. Freezing each vector with the IDF
 * of the stream up to its arrival keeps every step deterministic (same log, same vectors, same
 * tree) at the price of early vectors having a less informed IDF. The counts are state: they
 * are snapshotted with exportState() and restored with importState(), so replaying a log after
 * a snapshot gives the same vectors as the first run. Texts with no tokens do not count as
 * documents.
 *
 * Document frequencies are kept in `idfBuckets` hashed counters keyed by the feature string
 * with DF_SEED (a different seed from the feature hash, so features that collide in the vector
 * do not also share a DF counter). A document adds 1 to each counter it touches, once even if
 * two of its features share the counter, so df <= N always holds.
 *
 * Math.log is V8's port of fdlibm, the same on every machine, so vectors are bit-identical
 * across runs and machines (CJK tokens aside: they depend on Node's ICU, see tokenizer.ts).
 */

import type { Embedder } from './embedder.js';
import { murmur3Bytes, murmur3Utf16 } from './murmur3.js';
import { TOKENIZER_VERSION, Tokenizer, type TokenizerOptions, type TokenKind } from './tokenizer.js';

export type IdfMode = 'online' | 'none';

/** Multiplier of each kind of feature, before normalisation. 0 drops that kind. */
export interface KindWeights {
  word: number;
  hashtag: number;
  mention: number;
  url: number;
  emoji: number;
  number: number;
  /** Word bigrams, when `bigrams` is on. */
  bigram: number;
}

export const DEFAULT_KIND_WEIGHTS: Readonly<KindWeights> = Object.freeze({
  word: 1,
  hashtag: 1.5,
  mention: 0.5,
  url: 0.25,
  emoji: 0.5,
  number: 0.5,
  bigram: 0.7,
});

export interface HashedTfidfOptions extends TokenizerOptions {
  /** Vector length. Default 512. A power of two lets the index be a mask. */
  dim?: number;
  /** Default 'online'. */
  idf?: IdfMode;
  /** Number of hashed document-frequency counters (online IDF). Default 2^18. */
  idfBuckets?: number;
  /** Add consecutive-word bigrams (after stop words are removed) as features. Default false. */
  bigrams?: boolean;
  /** Overrides of DEFAULT_KIND_WEIGHTS. */
  weights?: Partial<KindWeights>;
}

export const DEFAULT_HASHED_TFIDF_OPTIONS = {
  dim: 512,
  idf: 'online',
  idfBuckets: 1 << 18,
  bigrams: false,
} as const;

/** Seeds of the two hashes ("bird", "idf!"); changing either changes every vector (v2). */
const FEATURE_SEED = 0x62697264;
const DF_SEED = 0x69646621;

const MAX_DIM = 1 << 24;
const MAX_IDF_BUCKETS = 1 << 28;

/*
 * State bytes, all little endian:
 *
 *   0  u8[4]  magic "BTFS"
 *   4  u16    version (1)
 *   6  u16    flags (0)
 *   8  u32    idfBuckets (0 when idf is 'none')
 *  12  u32    byte length L of the modelId (UTF-8)
 *  16  f64    N, documents counted
 *  24  u8[L]  modelId, then zero padding to a multiple of 4
 *   .  u32[idfBuckets]  document frequencies
 *   .  u32    MurmurHash3 (seed 0) of every byte before it
 */
const STATE_MAGIC = [0x42, 0x54, 0x46, 0x53]; // "BTFS"
const STATE_VERSION = 1;
const STATE_HEADER = 24;

/** A state snapshot that cannot be imported: corrupt, truncated, or from another model. */
export class EmbedderStateError extends Error {
  override name = 'EmbedderStateError';
}

export class HashedTfidfEmbedder implements Embedder {
  readonly dim: number;
  readonly modelId: string;
  readonly idf: IdfMode;
  /** 0 when idf is 'none'. */
  readonly idfBuckets: number;
  readonly bigrams: boolean;
  readonly weights: Readonly<KindWeights>;
  readonly tokenizer: Tokenizer;

  private readonly dimMask: number;
  private readonly dfMask: number;
  private df: Uint32Array;
  private docs = 0;

  // Scratch for one text, reused by every call: distinct features and their counts.
  private readonly slotOf = new Map<string, number>();
  private terms: string[] = [];
  private counts = new Uint32Array(64);
  private termWeights = new Float64Array(64);
  private buckets = new Uint32Array(64);
  private indices = new Uint32Array(64);
  private values = new Float64Array(64);
  private nTerms = 0;
  private nTokens = 0;
  private prevWord: string | null = null;
  private termsOut: string[] | null = null;
  private readonly acc: Float64Array;
  private readonly onToken: (kind: TokenKind, text: string) => void;

  constructor(opts: HashedTfidfOptions = {}) {
    const d = DEFAULT_HASHED_TFIDF_OPTIONS;
    this.dim = intIn('dim', opts.dim ?? d.dim, 1, MAX_DIM);
    this.idf = opts.idf ?? d.idf;
    if (this.idf !== 'online' && this.idf !== 'none') {
      throw new RangeError(`hashed-tfidf: idf must be 'online' or 'none', got ${String(this.idf)}`);
    }
    this.idfBuckets =
      this.idf === 'online' ? intIn('idfBuckets', opts.idfBuckets ?? d.idfBuckets, 1, MAX_IDF_BUCKETS) : 0;
    this.bigrams = opts.bigrams ?? d.bigrams;
    const w = { ...DEFAULT_KIND_WEIGHTS, ...opts.weights };
    for (const [k, v] of Object.entries(w)) {
      if (!Number.isFinite(v) || v < 0)
        throw new RangeError(`hashed-tfidf: weights.${k} must be finite and >= 0, got ${v}`);
    }
    this.weights = Object.freeze(w);
    this.tokenizer = new Tokenizer(opts);
    this.dimMask = isPowerOfTwo(this.dim) ? this.dim - 1 : -1;
    this.dfMask = isPowerOfTwo(this.idfBuckets) ? this.idfBuckets - 1 : -1;
    this.df = new Uint32Array(this.idfBuckets);
    this.acc = new Float64Array(this.dim);
    this.modelId = buildModelId(this);
    this.onToken = (kind, text) => this.addToken(kind, text);
  }

  /** Documents counted into the IDF so far. */
  get documentCount(): number {
    return this.docs;
  }

  /** The (hashed, so approximate from above) number of counted documents that contained `term`. */
  documentFrequency(term: string): number {
    return this.idfBuckets === 0 ? 0 : this.df[this.dfBucket(term)];
  }

  /**
   * Writes the unit vector of `text` into `out` (length >= dim; the first dim entries are
   * overwritten) and returns the number of tokens it was made of. 0 means the vector is all
   * zeros: no tokens, or (vanishingly rarely) signed features that cancelled exactly.
   * With `update` (online IDF), the text's features are then counted into the document
   * frequencies; without it, nothing changes (predictions, queries).
   * `termsOut`, when given, receives the content terms of `text` (what contentTerms returns), so
   * a caller that needs both tokenizes once.
   */
  embedOne(text: string, out: Float32Array, update = true, termsOut?: string[]): number {
    if (out.length < this.dim)
      throw new RangeError(`hashed-tfidf: out has length ${out.length} < dim ${this.dim}`);
    this.collect(text, termsOut ?? null);
    const n = this.nTerms;
    const dim = this.dim;
    out.fill(0, 0, dim);
    if (n === 0) return 0;

    // Only the touched entries of `acc` are visited, so the cost does not grow with dim;
    // `acc` is all zeros between calls.
    const acc = this.acc;
    const online = this.idfBuckets > 0;
    const logN1 = Math.log(1 + this.docs);
    const df = this.df;
    const dimMask = this.dimMask;
    const terms = this.terms;
    const counts = this.counts;
    const weights = this.termWeights;
    const buckets = this.buckets;
    const idxs = this.indices;
    for (let i = 0; i < n; i++) {
      const t = terms[i];
      let v = (1 + Math.log(counts[i])) * weights[i];
      if (online) {
        const b = this.dfBucket(t);
        buckets[i] = b;
        v *= logN1 - Math.log(1 + df[b]) + 1;
      }
      const h = murmur3Utf16(t, FEATURE_SEED);
      const idx = dimMask >= 0 ? h & dimMask : (h & 0x7fffffff) % dim;
      idxs[i] = idx;
      acc[idx] += h & 0x80000000 ? -v : v;
    }

    // Move each touched entry to out once (a second term on the same index then reads 0),
    // summing squares on the way; then scale. Entries that cancelled to 0 stay 0 in out.
    let sq = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const idx = idxs[i];
      const a = acc[idx];
      if (a === 0) continue;
      acc[idx] = 0;
      sq += a * a;
      this.values[m] = a;
      idxs[m++] = idx;
    }
    const tokens = this.nTokens;
    if (update && online) this.count(n);
    if (sq === 0) return 0;
    const inv = 1 / Math.sqrt(sq);
    const values = this.values;
    for (let k = 0; k < m; k++) out[idxs[k]] = values[k] * inv;
    return tokens;
  }

  /** Embedder interface: unit rows in order, each counted into the IDF before the next. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return this.embedBatch(texts, true);
  }

  /** Synchronous batch; `update = false` embeds against the current IDF without changing it. */
  embedBatch(texts: readonly string[], update = true): Float32Array[] {
    const rows: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      const row = new Float32Array(this.dim);
      this.embedOne(texts[i], row, update);
      rows[i] = row;
    }
    return rows;
  }

  /** The content terms of `text` under this embedder's tokenizer options. */
  contentTerms(text: string): string[] {
    return this.tokenizer.contentTerms(text);
  }

  /** Forgets every document: N = 0, all document frequencies 0. */
  reset(): void {
    this.df.fill(0);
    this.docs = 0;
  }

  /** Snapshot of the IDF state (see the layout above). */
  exportState(): Uint8Array {
    const id = new TextEncoder().encode(this.modelId);
    const idEnd = STATE_HEADER + align4(id.length);
    const dfEnd = idEnd + this.idfBuckets * 4;
    const bytes = new Uint8Array(dfEnd + 4);
    const view = new DataView(bytes.buffer);
    bytes.set(STATE_MAGIC, 0);
    view.setUint16(4, STATE_VERSION, true);
    view.setUint16(6, 0, true);
    view.setUint32(8, this.idfBuckets, true);
    view.setUint32(12, id.length, true);
    view.setFloat64(16, this.docs, true);
    bytes.set(id, STATE_HEADER);
    const df = this.df;
    for (let i = 0, o = idEnd; i < df.length; i++, o += 4) view.setUint32(o, df[i], true);
    view.setUint32(dfEnd, murmur3Bytes(bytes, 0, 0, dfEnd), true);
    return bytes;
  }

  /**
   * Replaces the IDF state with a snapshot from exportState() of an embedder with the same
   * modelId. Checks everything before changing anything; throws EmbedderStateError saying what
   * did not match.
   */
  importState(bytes: Uint8Array): void {
    const fail = (msg: string): never => {
      throw new EmbedderStateError(`hashed-tfidf state: ${msg}`);
    };
    if (bytes.length < STATE_HEADER + 4)
      fail(`${bytes.length} bytes is shorter than the ${STATE_HEADER + 4}-byte minimum`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < 4; i++) {
      if (bytes[i] !== STATE_MAGIC[i]) {
        fail(
          `bad magic ${hex(bytes.subarray(0, 4))}, expected ${hex(Uint8Array.from(STATE_MAGIC))} ("BTFS")`,
        );
      }
    }
    const version = view.getUint16(4, true);
    if (version !== STATE_VERSION)
      fail(`version ${version} is not supported (this build reads ${STATE_VERSION})`);
    const flags = view.getUint16(6, true);
    if (flags !== 0) fail(`unknown flags 0x${flags.toString(16)}`);
    const buckets = view.getUint32(8, true);
    const idLength = view.getUint32(12, true);
    const idEnd = STATE_HEADER + align4(idLength);
    const dfEnd = idEnd + buckets * 4;
    if (bytes.length !== dfEnd + 4) {
      fail(
        `length ${bytes.length} does not match the header (${idLength}-byte model id, ${buckets} buckets: ${dfEnd + 4})`,
      );
    }
    const stored = view.getUint32(dfEnd, true);
    const actual = murmur3Bytes(bytes, 0, 0, dfEnd);
    if (stored !== actual) fail(`checksum mismatch (stored ${u32hex(stored)}, computed ${u32hex(actual)})`);
    const id = new TextDecoder().decode(bytes.subarray(STATE_HEADER, STATE_HEADER + idLength));
    if (id !== this.modelId) fail(`made by model "${id}", this embedder is "${this.modelId}"`);
    if (buckets !== this.idfBuckets) fail(`${buckets} buckets, this embedder has ${this.idfBuckets}`);
    const docs = view.getFloat64(16, true);
    if (!Number.isSafeInteger(docs) || docs < 0) fail(`document count ${docs} is not a non-negative integer`);
    const df = new Uint32Array(buckets);
    for (let i = 0, o = idEnd; i < buckets; i++, o += 4) {
      const v = view.getUint32(o, true);
      if (v > docs) fail(`bucket ${i} has df ${v} > document count ${docs}`);
      df[i] = v;
    }
    this.df = df;
    this.docs = docs;
  }

  private dfBucket(term: string): number {
    const h = murmur3Utf16(term, DF_SEED);
    return this.dfMask >= 0 ? h & this.dfMask : h % this.idfBuckets;
  }

  /** Tokenizes `text` into the scratch feature table. */
  private collect(text: string, terms: string[] | null): void {
    this.termsOut = terms;
    this.slotOf.clear();
    this.nTerms = 0;
    this.nTokens = 0;
    this.prevWord = null;
    this.tokenizer.scan(text, this.onToken);
    this.termsOut = null;
  }

  private addToken(kind: TokenKind, text: string): void {
    this.termsOut?.push(text);
    const w = this.weights[kind];
    if (w > 0) {
      this.addFeature(text, w);
      this.nTokens++;
    }
    if (!this.bigrams) return;
    if (kind === 'word') {
      if (this.prevWord !== null && this.weights.bigram > 0)
        this.addFeature(`${this.prevWord} ${text}`, this.weights.bigram);
      this.prevWord = text;
    } else if (kind !== 'hashtag') {
      // A hashtag is followed by its own words, which should pair; anything else breaks the run.
      this.prevWord = null;
    }
  }

  private addFeature(text: string, weight: number): void {
    const slot = this.slotOf.get(text);
    if (slot !== undefined) {
      this.counts[slot]++;
      // The same string as two kinds (rare: a word and a bigram cannot collide, but custom
      // stop words could make a hashtag part equal another token) keeps the larger weight.
      if (weight > this.termWeights[slot]) this.termWeights[slot] = weight;
      return;
    }
    const s = this.nTerms++;
    if (s === this.counts.length) this.grow();
    this.slotOf.set(text, s);
    this.terms[s] = text;
    this.counts[s] = 1;
    this.termWeights[s] = weight;
  }

  private grow(): void {
    const n = this.counts.length * 2;
    const counts = new Uint32Array(n);
    counts.set(this.counts);
    this.counts = counts;
    const weights = new Float64Array(n);
    weights.set(this.termWeights);
    this.termWeights = weights;
    this.buckets = new Uint32Array(n);
    this.indices = new Uint32Array(n);
    this.values = new Float64Array(n);
  }

  /** Counts the current text as one document: +1 per distinct DF bucket, N + 1. */
  private count(n: number): void {
    const df = this.df;
    const buckets = this.buckets;
    for (let i = 0; i < n; i++) {
      const b = buckets[i];
      let seen = false;
      // Linear scan: a tweet has tens of features, and a sort or a set would allocate.
      for (let j = 0; j < i; j++) {
        if (buckets[j] === b) {
          seen = true;
          break;
        }
      }
      if (!seen && df[b] !== 0xffffffff) df[b]++;
    }
    this.docs++;
  }
}

function buildModelId(e: HashedTfidfEmbedder): string {
  const t = e.tokenizer;
  const w = e.weights;
  const parts = [
    'hashed-tfidf:v1',
    `tok${TOKENIZER_VERSION}`,
    `d${e.dim}`,
    e.idf === 'online' ? `idf-online-b${e.idfBuckets}` : 'idf-none',
    `bg${e.bigrams ? 1 : 0}`,
    `w${w.word},${w.hashtag},${w.mention},${w.url},${w.emoji},${w.number}${e.bigrams ? `,${w.bigram}` : ''}`,
    `sw-${stopWordsId(t.stopWords)}`,
    `min${t.minLength},${t.minLengthCjk}`,
    `hs${t.splitHashtags ? 1 : 0}`,
  ];
  return parts.join(':');
}

/** "none", or the count and a hash of the sorted list: a different list is a different model. */
function stopWordsId(set: ReadonlySet<string> | null): string {
  if (set === null) return 'none';
  const sorted = [...set].sort();
  return `${sorted.length}.${murmur3Utf16(sorted.join('\n'), 0).toString(16).padStart(8, '0')}`;
}

function intIn(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`hashed-tfidf: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function u32hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
