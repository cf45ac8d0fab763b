/**
 * The CF-tree of BIRCH (Zhang, Ramakrishnan, Livny 1996) with scikit-learn's exact semantics
 * (sklearn.cluster.Birch, 1.2): radius threshold, branching factor, split around the farthest
 * pair, splits propagating up, and a new root when the root splits.
 *
 * A clustering feature (CF) summarises a set of points x_1..x_n by
 *   n, LS = sum x_i (the linear sum), SS = sum |x_i|^2 (the squared sum)
 * and CFs add. The centroid is c = LS / n and the radius of the set is
 *   r^2 = sum |x_i - c|^2 / n = SS / n - |c|^2
 * which is what the threshold bounds: a leaf entry absorbs a point only if the merged entry's
 * radius stays <= T. For unit vectors SS = n, so r^2 = 1 - |c|^2, and two tweets merge when
 * |(a + b) / 2|^2 >= 1 - T^2, i.e. cos(a, b) >= 1 - 2 T^2.
 *
 * Storage: every node is one strided record in a single Float64Array (the STYLE.md layout),
 * so a node's linear sums are one contiguous block and the nearest entry is one pass of
 * |c|^2 - 2 (LS.x) / n with the squared centroid norms cached (centroids are not stored: they
 * would double the node, and c.x costs one division per entry from LS.x):
 *
 *   node k, base = ORIGIN + k * stride
 *   ┌────────────── header (8 words) ───────────────┬─ n[C] ─┬─ ss[C] ─┬─ sq[C] ─┬─ ref[C] ─┬── linear sums C x d ──┐
 *   │ count isLeaf parent parentSlot prev next _ _   │        │         │ |c|^2   │ child or │ one row per entry     │
 *   └────────────────────────────────────────────────┴────────┴─────────┴─────────┴ id ──────┴───────────────────────┘
 *
 * C = B + 1: like sklearn a node can hold one entry more than the branching factor for the
 * moment before it splits. `ref` is the child node for an inner entry and the stable cluster id
 * for a leaf entry. Leaves are chained left to right (prev/next) as in sklearn.
 *
 * Nothing is allocated per insert: the path of a descent and the incoming CF live in scratch
 * buffers sized once. The node pool grows by doubling (amortised), and freed nodes are reused.
 */

import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

/**
 * The SIMD dot-product kernel (kernels.wat), compiled once per process. Undefined where the
 * runtime has no WebAssembly SIMD: the JavaScript loops then do the same sums, bit for bit.
 */
const KERNELS: WebAssembly.Module | undefined = (() => {
  const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
  return typeof WebAssembly === 'object' && WebAssembly.validate(bytes)
    ? new WebAssembly.Module(bytes)
    : undefined;
})();

const WASM_PAGE = 65536;
/** wasm32 addresses 4 GiB: the most one tree can hold (about 70,000 nodes at B = 50, d = 1024). */
const WASM_MAX_PAGES = 65536;

const H_COUNT = 0;
const H_LEAF = 1;
const H_PARENT = 2;
const H_PSLOT = 3;
const H_PREV = 4;
const H_NEXT = 5;
const HEADER = 8;

/** Deepest tree we preallocate a path for. Each level multiplies the capacity by >= 2 (a split
 * node keeps at least one entry on each side... and in practice ~B/2), so 64 levels is beyond
 * any tree that fits in memory; the path buffers grow if it were ever exceeded. */
const INITIAL_PATH = 64;

export interface CFTreeOptions {
  /** Vector dimension. */
  dim: number;
  /** Radius threshold T (sklearn's `threshold`). */
  threshold: number;
  /** Maximum entries per node B (sklearn's `branching_factor`), >= 2. */
  branchingFactor: number;
  /**
   * Absorb test for text (not sklearn's): when set, a leaf entry absorbs a point when the
   * cosine between the point and the entry's centroid is >= this value, instead of when the
   * merged radius is <= threshold. See `tryMerge` for why text needs it.
   */
  minSimilarity?: number;
  /** 'js' forces the JavaScript loops instead of the WebAssembly SIMD kernel (tests compare them). */
  kernel?: 'wasm' | 'js';
}

/** One leaf entry (a cluster) as copied out of the tree. */
export interface LeafEntry {
  id: number;
  n: number;
  ss: number;
  ls: Float64Array;
  centroid: Float64Array;
}

export interface TreeShape {
  height: number;
  nodes: number;
  leaves: number;
  entries: number;
  points: number;
}

/** What `CFTree.exportState()` gives and `CFTree.fromState()` takes. */
export interface CFTreeState {
  meta: {
    dim: number;
    branchingFactor: number;
    threshold: number;
    minSimilarity: number | null;
    nodeCapacity: number;
    nodesUsed: number;
    liveNodes: number;
    root: number;
    firstLeaf: number;
    height: number;
    entries: number;
    points: number;
    nextId: number;
  };
  /** node records 0 .. nodesUsed-1, as laid out in memory */
  nodes: Float64Array;
  /** freed node numbers, in the order they will be reused from the end */
  free: Float64Array;
  /** cluster ids and their node * cap + slot positions, in the index's order */
  locIds: Float64Array;
  locPos: Float64Array;
}

export class CFTree {
  readonly dim: number;
  readonly branchingFactor: number;
  private _minSimilarity: number | undefined;
  private _threshold: number;
  private thresholdSq: number;

  /** Entries per node record (B + 1). */
  private readonly cap: number;
  private readonly offN: number;
  private readonly offSS: number;
  private readonly offSQ: number;
  private readonly offRef: number;
  private readonly offLS: number;
  private readonly stride: number;
  /** Words before node 0: scratch for the incoming CF (its LS and centroid) and the split. */
  private readonly origin: number;
  private readonly scrLS = 0;
  private readonly scrCent: number;

  private mem: Float64Array;
  private nodeCapacity: number;
  private nodesUsed = 0;
  private freeNodes: number[] = [];
  private liveNodes = 0;

  private root: number;
  private firstLeaf: number;
  private _height = 1;
  private _entries = 0;
  private _points = 0;
  private _nextId = 1;

  /** cluster id -> node * cap + slot */
  private loc = new Map<number, number>();

  private pathNode = new Int32Array(INITIAL_PATH);
  private pathSlot = new Int32Array(INITIAL_PATH);
  /** LS.x of the entry chosen at each level of the last descent (for sparse updates). */
  private pathDot = new Float64Array(INITIAL_PATH);
  /** Pairwise squared distances of one node's entries during a split, C x C. */
  private splitDist: Float64Array;
  private splitSide: Uint8Array;
  /** Per split: each entry's squared centroid norm in numpy's order. */
  private splitNorms: Float64Array;
  /** Word offset in `mem` of each entry's dot with the incoming centroid, from `closest`. */
  private readonly scrDots: number;
  /** Scratch for one entry's centroid, and for the centroids of a node being split. */
  private readonly scrRow: number;
  private readonly scrBlock: number;
  private wasmMemory: WebAssembly.Memory | undefined;
  private kernelDots: ((rows: number, count: number, d: number, x: number, out: number) => void) | undefined;
  /** dotFma4(x, x) in SIMD, bit for bit (kernels.wat). */
  private kernelNorm: ((x: number, d: number) => number) | undefined;
  /** Non-zero coordinates of the incoming centroid, or nnz = -1 when it is dense. */
  private nzIdx: Int32Array;
  private nnz = -1;

  /** Node and slot of the leaf entry the last insert went to, and whether it was created. */
  private lastNode = -1;
  private lastSlot = -1;
  lastCreated = false;

  constructor(opts: CFTreeOptions) {
    const { dim, threshold, branchingFactor } = opts;
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
    if (!Number.isInteger(branchingFactor) || branchingFactor < 2)
      throw new RangeError(`branchingFactor must be an integer >= 2, got ${branchingFactor}`);
    if (!(threshold > 0) || !Number.isFinite(threshold))
      throw new RangeError(`threshold must be a positive number, got ${threshold}`);
    if (opts.minSimilarity !== undefined && !(opts.minSimilarity >= -1 && opts.minSimilarity <= 1))
      throw new RangeError(`minSimilarity must be in [-1, 1], got ${opts.minSimilarity}`);
    this._minSimilarity = opts.minSimilarity;
    this.dim = dim;
    this.branchingFactor = branchingFactor;
    this._threshold = threshold;
    this.thresholdSq = threshold * threshold;
    const C = branchingFactor + 1;
    this.cap = C;
    this.offN = HEADER;
    this.offSS = HEADER + C;
    this.offSQ = HEADER + 2 * C;
    this.offRef = HEADER + 3 * C;
    // Even word offsets keep every row 16-byte aligned for SIMD kernels.
    this.offLS = even(HEADER + 4 * C);
    this.stride = even(this.offLS + C * dim);
    this.scrCent = even(dim);
    this.scrDots = even(this.scrCent + dim);
    this.scrRow = even(this.scrDots + C);
    this.scrBlock = even(this.scrRow + dim);
    this.origin = even(this.scrBlock + C * dim);
    this.nodeCapacity = 4;
    const words = this.origin + this.nodeCapacity * this.stride;
    if (KERNELS !== undefined && opts.kernel !== 'js') {
      // The whole tree lives in the kernel's memory, so the kernel reads the linear sums in place.
      // Growing it keeps the contents (no copy, unlike a new typed array); views are remade.
      const memory = new WebAssembly.Memory({
        initial: Math.ceil((words * 8) / WASM_PAGE),
        maximum: WASM_MAX_PAGES,
      });
      const instance = new WebAssembly.Instance(KERNELS, { env: { memory } });
      this.wasmMemory = memory;
      this.kernelDots = instance.exports.dots as (
        rows: number,
        count: number,
        d: number,
        x: number,
        out: number,
      ) => void;
      this.kernelNorm = instance.exports.normfma as (x: number, d: number) => number;
      this.mem = new Float64Array(memory.buffer);
    } else {
      this.mem = new Float64Array(words);
    }
    this.splitDist = new Float64Array(C * C);
    this.splitSide = new Uint8Array(C);
    this.splitNorms = new Float64Array(C);
    this.nzIdx = new Int32Array(dim);
    this.root = this.allocNode(true);
    this.firstLeaf = this.root;
  }

  get threshold(): number {
    return this._threshold;
  }

  /** Changes the threshold for future inserts (existing entries are not re-checked). */
  set threshold(t: number) {
    if (!(t > 0) || !Number.isFinite(t))
      throw new RangeError(`threshold must be a positive number, got ${t}`);
    this._threshold = t;
    this.thresholdSq = t * t;
  }

  /** The cosine absorb test's bound, or undefined in radius mode. */
  get minSimilarity(): number | undefined {
    return this._minSimilarity;
  }

  /**
   * Changes the cosine bound for future inserts. The mode itself cannot change: a tree built by
   * radius has entries and splits of another shape than one built by angle.
   */
  set minSimilarity(s: number | undefined) {
    if (this._minSimilarity === undefined || s === undefined)
      throw new RangeError('minSimilarity can change only in cosine mode, and only to a number');
    if (!(s >= -1 && s <= 1)) throw new RangeError(`minSimilarity must be in [-1, 1], got ${s}`);
    this._minSimilarity = s;
  }

  /** Number of leaf entries (clusters). */
  get size(): number {
    return this._entries;
  }

  /** Number of points inserted and not removed. */
  get points(): number {
    return this._points;
  }

  get height(): number {
    return this._height;
  }

  /** Bytes of node records in use (live and free nodes; the pool's unused tail excluded). */
  get memoryBytes(): number {
    return (this.origin + this.nodesUsed * this.stride) * 8;
  }

  /** Bytes reserved for the node pool (it grows by doubling). */
  get reservedBytes(): number {
    return this.mem.byteLength;
  }

  /** The id the next new cluster will get. */
  get nextId(): number {
    return this._nextId;
  }

  shape(): TreeShape {
    let leaves = 0;
    for (let l = this.firstLeaf; l !== -1; l = this.mem[this.base(l) + H_NEXT] | 0) leaves++;
    return {
      height: this._height,
      nodes: this.liveNodes,
      leaves,
      entries: this._entries,
      points: this._points,
    };
  }

  /**
   * Inserts one point (a row of `x` starting at `offset`) and returns the id of the cluster
   * that absorbed it, or of the new cluster it started (`lastCreated` tells which).
   */
  insert(x: ArrayLike<number>, offset = 0): number {
    const m = this.mem;
    const d = this.dim;
    const ls = this.scrLS;
    const ct = this.scrCent;
    for (let i = 0; i < d; i++) {
      const v = x[offset + i];
      m[ls + i] = v;
      m[ct + i] = v;
    }
    // sklearn: a new subcluster's centroid is the sample itself and its sq_norm is np.dot(x, x).
    // Summed in that call's order, so that two copies of a tweet tie exactly as they do there.
    const ss = this.kernelNorm !== undefined ? this.kernelNorm(ls * 8, d) : dotFma4(m, ls, ls, d);
    return this.insertScratch(1, ss, ss);
  }

  /**
   * Inserts a whole CF (n points with linear sum `ls` and squared sum `ss`), as the rebuild
   * with a larger threshold does with the leaf entries of the old tree. The id is kept when
   * the CF starts a new entry and `id` is given.
   */
  insertCF(n: number, ls: ArrayLike<number>, ss: number, id?: number): number {
    if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`n must be a positive number, got ${n}`);
    if (ls.length < this.dim)
      throw new RangeError(`ls has ${ls.length} values, the tree has dimension ${this.dim}`);
    // checked before anything moves: a throw must leave the tree as it was
    if (id !== undefined && this.loc.has(id)) throw new Error(`cluster id ${id} is already in the tree`);
    const m = this.mem;
    const d = this.dim;
    const inv = 1 / n;
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const v = ls[i];
      m[this.scrLS + i] = v;
      const c = inv * v;
      m[this.scrCent + i] = c;
      sq += c * c;
    }
    return this.insertScratch(n, ss, sq, id);
  }

  /**
   * Inserts one point into the cluster the caller chose, for an absorb test that lives outside
   * the tree (the engine's Dirichlet-multinomial test, src/birch/dmm.ts): into cluster `target`
   * (its entry and every ancestor's CF grow by the point), or, when `target` is -1, into a new
   * leaf entry placed by the usual descent (nearest by the tree's measure; the node splits when
   * full). Returns the cluster id; `lastCreated` says which. The tree stays an index of the
   * clusters' CFs: only the decision who absorbs whom is taken elsewhere.
   */
  insertAt(x: ArrayLike<number>, target: number, offset = 0): number {
    const m = this.mem;
    const d = this.dim;
    if (target !== -1 && !this.loc.has(target)) throw new RangeError(`cluster ${target} is not in the tree`);
    for (let i = 0; i < d; i++) {
      const v = x[offset + i];
      m[this.scrLS + i] = v;
      m[this.scrCent + i] = v;
    }
    const ss =
      this.kernelNorm !== undefined
        ? this.kernelNorm(this.scrLS * 8, d)
        : dotFma4(m, this.scrLS, this.scrLS, d);
    if (target === -1) return this.insertScratch(1, ss, ss, undefined, true);
    this.gatherNonZeros();
    this.addScratchAt(target, 1, ss, ss);
    return target;
  }

  /**
   * Moves cluster `from` into cluster `to`: `to`'s CF becomes the sum of both and `from` leaves
   * the tree (as `remove` does). For merges decided outside the tree (a stale outlier joining
   * the story it belongs to). `to` keeps its id.
   */
  absorbInto(from: number, to: number): void {
    if (from === to) throw new RangeError(`cannot merge cluster ${from} into itself`);
    const lf = this.loc.get(from);
    if (lf === undefined || !this.loc.has(to))
      throw new RangeError(`cluster ${lf === undefined ? from : to} is not in the tree`);
    const m = this.mem;
    const d = this.dim;
    const node = Math.floor(lf / this.cap);
    const b = this.base(node);
    const slot = lf - node * this.cap;
    const n = m[b + this.offN + slot];
    const ssIn = m[b + this.offSS + slot];
    const ls = b + this.offLS + slot * d;
    const inv = 1 / n;
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const v = m[ls + i];
      m[this.scrLS + i] = v;
      const c = inv * v;
      m[this.scrCent + i] = c;
      sq += c * c;
    }
    // remove() moves entries and frees nodes but leaves the scratch alone
    this.remove(from);
    this.gatherNonZeros();
    this.addScratchAt(to, n, ssIn, sq);
  }

  /** Adds the scratch CF to leaf entry `id` and to each of its ancestors, bottom up. */
  private addScratchAt(id: number, nIn: number, ssIn: number, sqIn: number): void {
    const l = this.loc.get(id) as number;
    let node = Math.floor(l / this.cap);
    let slot = l - node * this.cap;
    this.lastNode = node;
    this.lastSlot = slot;
    this.lastCreated = false;
    for (;;) {
      this.addScratchToEntry(node, slot, nIn, ssIn, sqIn, this.lsDotScratch(node, slot));
      if (node === this.root) break;
      const b = this.base(node);
      slot = this.mem[b + H_PSLOT] | 0;
      node = this.mem[b + H_PARENT] | 0;
    }
    this._points += nIn;
  }

  /** LS.x of entry (node, slot) with the scratch centroid x (sparse when x is). */
  private lsDotScratch(node: number, slot: number): number {
    const d = this.dim;
    const row = this.base(node) + this.offLS + slot * d;
    return this.nnz >= 0
      ? dotSparse(this.mem, row, this.scrCent, this.nzIdx, this.nnz, d - (d & 7))
      : dot(this.mem, row, this.scrCent, d);
  }

  /** Inserts every row of a row-major matrix; fills `out` with the cluster ids. */
  insertBatch(rows: ArrayLike<number>, count: number, out?: Float64Array): Float64Array {
    const ids = out ?? new Float64Array(count);
    for (let r = 0; r < count; r++) ids[r] = this.insert(rows, r * this.dim);
    return ids;
  }

  /** The incoming CF is in scratch: LS at scrLS, centroid at scrCent, with n, ss and |c|^2. */
  private insertScratch(nIn: number, ssIn: number, sqIn: number, keepId?: number, fresh = false): number {
    let m = this.mem;
    this.gatherNonZeros();
    // ---- descend: at each level the entry with the smallest |c|^2 - 2 c.x (ties: lowest index)
    let node = this.root;
    let depth = 0;
    while ((m[this.base(node) + H_LEAF] | 0) === 0) {
      if (depth >= this.pathNode.length) this.growPath();
      const slot = this.closest(node);
      this.pathNode[depth] = node;
      this.pathSlot[depth] = slot;
      // closest() left c.x = LS.x / n in the dots scratch
      this.pathDot[depth] = m[this.scrDots + slot] * m[this.base(node) + this.offN + slot];
      depth++;
      node = m[this.base(node) + this.offRef + slot] | 0;
    }

    // ---- leaf: absorb into the closest entry if it passes the test (radius, or cosine in text mode)
    let split = false;
    let b = this.base(node);
    let count = m[b + H_COUNT] | 0;
    let id: number;
    if (count === 0) {
      id = this.appendFromScratch(node, nIn, ssIn, sqIn, keepId);
    } else if (fresh) {
      // the caller decided: a new entry (insertAt with target -1)
      id = this.appendFromScratch(node, nIn, ssIn, sqIn, keepId);
      count++;
      split = count > this.branchingFactor;
    } else {
      const slot = this.closest(node);
      if (this.tryMerge(node, slot, nIn, ssIn, sqIn)) {
        id = m[b + this.offRef + slot];
        this.lastNode = node;
        this.lastSlot = slot;
        this.lastCreated = false;
      } else {
        id = this.appendFromScratch(node, nIn, ssIn, sqIn, keepId);
        count++;
        // sklearn appends first and splits when the node holds B + 1 entries
        split = count > this.branchingFactor;
      }
    }
    this._points += nIn;

    // ---- walk back up: update each ancestor entry, or split the child and fix the parent
    let child = node;
    for (let lvl = depth - 1; lvl >= 0; lvl--) {
      const parent = this.pathNode[lvl];
      const pslot = this.pathSlot[lvl];
      if (!split) {
        this.addScratchToEntry(parent, pslot, nIn, ssIn, sqIn, this.pathDot[lvl]);
      } else {
        const sibling = this.splitNode(child);
        m = this.mem; // the pool may have grown
        this.setEntryFromChild(parent, pslot, child);
        b = this.base(parent);
        const at = m[b + H_COUNT] | 0;
        m[b + H_COUNT] = at + 1;
        this.setEntryFromChild(parent, at, sibling);
        split = at + 1 > this.branchingFactor;
      }
      child = parent;
    }
    if (split) {
      // the root split: the tree grows by one level
      const sibling = this.splitNode(this.root);
      const newRoot = this.allocNode(false);
      m = this.mem;
      const rb = this.base(newRoot);
      m[rb + H_COUNT] = 2;
      this.setEntryFromChild(newRoot, 0, this.root);
      this.setEntryFromChild(newRoot, 1, sibling);
      this.root = newRoot;
      this._height++;
    }
    return id;
  }

  /**
   * Tweet vectors are sparse (a few dozen non-zeros in hundreds of dimensions): when the
   * incoming centroid has fewer than a quarter of its coordinates non-zero, the descent's dot
   * products visit only those (see dotSparse), which is exact, not an approximation.
   */
  private gatherNonZeros(): void {
    const m = this.mem;
    const d = this.dim;
    const x = this.scrCent;
    const idx = this.nzIdx;
    const limit = d >> 2;
    let n = 0;
    for (let i = 0; i < d; i++) {
      if (m[x + i] !== 0) {
        if (n === limit) {
          this.nnz = -1;
          return;
        }
        idx[n++] = i;
      }
    }
    this.nnz = n;
  }

  /** Index of the entry of `node` closest to the scratch centroid (sklearn's argmin). */
  private closest(node: number): number {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const count = m[b + H_COUNT] | 0;
    const sq = b + this.offSQ;
    const x = this.scrCent;
    const dots = this.scrDots;
    const angular = this.minSimilarity !== undefined;
    let best = 0;
    let bestDist = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    let row = b + this.offLS;
    const nnz = this.nnz;
    const sparse = nnz >= 0;
    const d8 = d - (d & 7);
    const nzIdx = this.nzIdx;
    // every entry's LS.x first, into the dots scratch: the SIMD kernel for dense x (one call
    // per node), only the non-zeros of x for sparse x; then c.x = LS.x / n
    if (sparse) {
      for (let k = 0; k < count; k++, row += d) m[dots + k] = dotSparse(m, row, x, nzIdx, nnz, d8);
    } else if (this.kernelDots !== undefined) {
      this.kernelDots(row * 8, count, d, x * 8, dots * 8);
    } else {
      for (let k = 0; k < count; k++, row += d) m[dots + k] = dot(m, row, x, d);
    }
    const nOff = b + this.offN;
    for (let k = 0; k < count; k++) {
      const dp = m[dots + k] / m[nOff + k];
      m[dots + k] = dp;
      // text mode descends by angle (the largest cosine to the centroid's direction), the same
      // measure its splits group entries by and its absorb test uses
      const dist = angular ? -dp / Math.sqrt(m[sq + k]) : -2 * dp + m[sq + k];
      if (dist < bestDist) {
        second = bestDist;
        bestDist = dist;
        best = k;
      } else if (dist < second) {
        second = dist;
      }
    }
    if (angular || second - bestDist > NEAR_TIE * (Math.abs(bestDist) + 1)) return best;
    // A near tie (two entries at the same distance, e.g. two copies of one retweet) is settled
    // in the arithmetic of numpy's dot (OpenBLAS gemv: four fused multiply-add lanes), so that
    // the tree follows sklearn's; the rounding of the fast loop would pick at random. A zero dot
    // (no shared coordinate: most pairs of sparse tweet vectors) is exact already, so a tie among
    // such entries stands as the fast loop settled it (lowest index).
    const limit = bestDist + 2 * NEAR_TIE * (Math.abs(bestDist) + 1);
    let exact = Number.POSITIVE_INFINITY;
    let pick = best;
    for (let k = 0; k < count; k++) {
      const dp = m[dots + k];
      if (-2 * dp + m[sq + k] > limit) continue;
      if (dp !== 0) this.centroidRow(node, k, this.scrRow);
      const v = -2 * (dp === 0 ? 0 : dotFma4(m, this.scrRow, x, d)) + m[sq + k];
      if (v < exact) {
        exact = v;
        pick = k;
      }
    }
    return pick;
  }

  /**
   * sklearn's merge_subcluster: the merged entry's squared radius is SS/n - |LS/n|^2; it is
   * accepted when <= T^2. The expression can go slightly negative through cancellation when
   * the points coincide (duplicates, retweets); that still passes the test, as it should.
   */
  private tryMerge(node: number, slot: number, nIn: number, ssIn: number, sqIn: number): boolean {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    if (this.minSimilarity !== undefined) {
      // The radius test asks a cluster of n tweets to stay tight: for unit vectors r^2 = 1 - |c|^2,
      // so once a story's cluster is at the bound (|c| ~ sqrt(1 - T^2)) it only takes tweets with
      // cos(x, c/|c|) >= |c|, and a story whose tweets share a few words each (average pairwise
      // cosine ~0.25 on news tweets) breaks into many entries. The cosine to the centroid's
      // direction measures the same thing for a cluster of any size: how much of the story the
      // tweet talks about. `closest` left c.x for this entry in the dots scratch.
      // The norms are summed in another order than the dot, so an exact copy can come out an
      // ulp under 1: compare with a margin far below any meaningful difference of cosines.
      const cos = m[this.scrDots + slot] / Math.sqrt(m[b + this.offSQ + slot] * sqIn);
      if (!(cos + 1e-12 >= this.minSimilarity)) return false;
    }
    const nOld = m[b + this.offN + slot];
    const newN = nOld + nIn;
    const newSS = m[b + this.offSS + slot] + ssIn;
    const ls = b + this.offLS + slot * d;
    const inv = 1 / newN;
    const x = this.scrLS;
    if (this.sparseUpdate()) {
      // the cosine test passed above; closest() left c.x = LS.x / n for this entry
      const lsDotCent = m[this.scrDots + slot] * nOld;
      this.addSparse(ls, x);
      m[b + this.offN + slot] = newN;
      m[b + this.offSS + slot] = newSS;
      m[b + this.offSQ + slot] = grownNormSq(m[b + this.offSQ + slot], nOld, nIn, lsDotCent, sqIn);
      return true;
    }
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const c = inv * (m[ls + i] + m[x + i]);
      sq += c * c;
    }
    if (this.minSimilarity === undefined && newSS / newN - sq > this.thresholdSq) return false;
    for (let i = 0; i < d; i++) m[ls + i] += m[x + i];
    m[b + this.offN + slot] = newN;
    m[b + this.offSS + slot] = newSS;
    m[b + this.offSQ + slot] = sq;
    return true;
  }

  /** Appends the scratch CF as a new leaf entry of `node` with a fresh id. */
  private appendFromScratch(node: number, nIn: number, ssIn: number, sqIn: number, keepId?: number): number {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const slot = m[b + H_COUNT] | 0;
    m[b + H_COUNT] = slot + 1;
    m[b + this.offN + slot] = nIn;
    m[b + this.offSS + slot] = ssIn;
    m[b + this.offSQ + slot] = sqIn;
    m.copyWithin(b + this.offLS + slot * d, this.scrLS, this.scrLS + d);
    let id: number;
    if (keepId !== undefined) {
      if (this.loc.has(keepId)) throw new Error(`cluster id ${keepId} is already in the tree`);
      id = keepId;
      if (keepId >= this._nextId) this._nextId = keepId + 1;
    } else {
      id = this._nextId++;
    }
    m[b + this.offRef + slot] = id;
    this.loc.set(id, node * this.cap + slot);
    this._entries++;
    this.lastNode = node;
    this.lastSlot = slot;
    this.lastCreated = true;
    return id;
  }

  /** sklearn's _CFSubcluster.update on an inner entry: n, LS, SS add; centroid = LS / n. */
  private addScratchToEntry(
    node: number,
    slot: number,
    nIn: number,
    ssIn: number,
    sqIn: number,
    lsDotCent: number,
  ): void {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const nOld = m[b + this.offN + slot];
    const n = nOld + nIn;
    m[b + this.offN + slot] = n;
    m[b + this.offSS + slot] += ssIn;
    const ls = b + this.offLS + slot * d;
    const x = this.scrLS;
    if (this.sparseUpdate()) {
      this.addSparse(ls, x);
      m[b + this.offSQ + slot] = grownNormSq(m[b + this.offSQ + slot], nOld, nIn, lsDotCent, sqIn);
      return;
    }
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const v = m[ls + i] + m[x + i];
      m[ls + i] = v;
      const c = v / n;
      sq += c * c;
    }
    m[b + this.offSQ + slot] = sq;
  }

  /**
   * In cosine mode a sparse incoming CF updates only the linear sums' coordinates it touches, and
   * each |c|^2 follows from the dot the descent computed anyway (see grownNormSq), instead of
   * two passes over all d coordinates per level: a tweet has ~10 non-zeros in 1024. Radius mode
   * keeps the full recomputation, which is what reproduces sklearn bit for bit.
   */
  private sparseUpdate(): boolean {
    return this.minSimilarity !== undefined && this.nnz >= 0;
  }

  private addSparse(ls: number, x: number): void {
    const m = this.mem;
    const idx = this.nzIdx;
    for (let k = 0; k < this.nnz; k++) {
      const i = idx[k];
      m[ls + i] += m[x + i];
    }
  }

  /** Sets entry `slot` of inner node `node` to the sum of `child`'s entries, pointing at it. */
  private setEntryFromChild(node: number, slot: number, child: number): void {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const cb = this.base(child);
    const count = m[cb + H_COUNT] | 0;
    const ls = b + this.offLS + slot * d;
    let n = 0;
    let ss = 0;
    m.fill(0, ls, ls + d);
    // sklearn's _split_node builds the new subclusters by update() in entry order
    for (let k = 0; k < count; k++) {
      n += m[cb + this.offN + k];
      ss += m[cb + this.offSS + k];
      const src = cb + this.offLS + k * d;
      for (let i = 0; i < d; i++) m[ls + i] += m[src + i];
    }
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const c = m[ls + i] / n;
      sq += c * c;
    }
    m[b + this.offN + slot] = n;
    m[b + this.offSS + slot] = ss;
    m[b + this.offSQ + slot] = sq;
    m[b + this.offRef + slot] = child;
    m[cb + H_PARENT] = node;
    m[cb + H_PSLOT] = slot;
  }

  /**
   * sklearn's _split_node: the two entries farthest apart seed two nodes and every entry goes
   * to the nearer seed (ties to the second seed; the first seed always stays with itself, which
   * matters when all centroids coincide: a leaf full of one retweet).
   *
   * `node` keeps the first group (compacted in place, order kept) and a new node, returned,
   * takes the second; it is linked after `node` in the leaf chain.
   */
  private splitNode(node: number): number {
    const sibling = this.allocNode((this.mem[this.base(node) + H_LEAF] | 0) === 1);
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const sb = this.base(sibling);
    const count = m[b + H_COUNT] | 0;
    const dist = this.splitDist;
    // the node's centroids, as sklearn holds them, into the split scratch
    const cent = this.scrBlock;
    for (let k = 0; k < count; k++) this.centroidRow(node, k, cent + k * d);
    // Distances as sklearn's euclidean_distances computes them: -2 c_i.c_j + |c_i|^2 + |c_j|^2 with
    // the norms recomputed, clamped at 0, zero diagonal. The matrix is not symmetric in floating
    // point: sklearn adds (-2 c_i.c_j + |c_i|^2) + |c_j|^2 in that order, so d(i,j) and d(j,i)
    // can differ in the last bit, and which of them is the maximum decides which seed comes first
    // (the first keeps the node's place in the leaf chain). Those bits depend on the BLAS, so
    // the fast pass below finds the farthest pair and the near ties, and only near ties are
    // recomputed in sklearn's arithmetic (numpy's einsum order for the norms, a sequential
    // fused multiply-add dot as OpenBLAS' gemm kernels do).
    const norms = this.splitNorms;
    for (let i = 0; i < count; i++) {
      norms[i] = normSqNumpy(m, cent + i * d, d);
      dist[i * count + i] = 0;
    }
    let far = -1;
    // Text mode measures the split by angle, 1 - cos, not by distance: centroids of text
    // clusters have very different norms (a broad story's centroid is short, a tweet's is 1), and
    // by distance every entry sits nearer the short centroid, so the node splits 1 against B.
    const angular = this.minSimilarity !== undefined;
    const dots = this.scrDots;
    for (let i = 0; i < count; i++) {
      const ni = norms[i];
      // row i against every later row, in one kernel call when there is one
      if (this.kernelDots !== undefined && i + 1 < count)
        this.kernelDots((cent + (i + 1) * d) * 8, count - i - 1, d, (cent + i * d) * 8, dots * 8);
      for (let j = i + 1; j < count; j++) {
        const nj = norms[j];
        const p = this.kernelDots !== undefined ? m[dots + j - i - 1] : dot(m, cent + i * d, cent + j * d, d);
        let v = angular ? 1 - p / Math.sqrt(ni * nj) : -2 * p + ni + nj;
        if (v < 0) v = 0;
        dist[i * count + j] = v;
        dist[j * count + i] = v;
        if (v > far) far = v;
      }
    }
    const side = this.splitSide;
    let s1 = 0;
    let s2 = 0;
    if (this.minSimilarity === undefined) {
      // argmax in row-major order (the first maximum), with near ties settled exactly
      const tie = far * (1 - NEAR_TIE);
      let best = -1;
      for (let i = 0; i < count; i++) {
        for (let j = 0; j < count; j++) {
          if (i === j || dist[i * count + j] < tie) continue;
          const v = this.sklearnDist(cent, i, j);
          if (v > best) {
            best = v;
            s1 = i;
            s2 = j;
          }
        }
      }
      for (let k = 0; k < count; k++) {
        const a = dist[s1 * count + k];
        const c = dist[s2 * count + k];
        if (Math.abs(a - c) > NEAR_TIE * Math.max(a, c)) side[k] = a < c ? 0 : 1;
        else side[k] = this.sklearnDist(cent, s1, k) < this.sklearnDist(cent, s2, k) ? 0 : 1;
      }
    } else {
      // Text mode. Sparse tweet centroids are mostly orthogonal, so most angles tie at the
      // maximum, and sklearn's rule (ties to the second seed) splits 1 against B: leaves end up
      // with a handful of entries and the tree balloons (measured: 7 entries per leaf on the
      // MStream tweets). Ties go to the smaller side instead.
      for (let i = 0; i < count; i++) {
        for (let j = i + 1; j < count; j++) {
          if (dist[i * count + j] === far) {
            s1 = i;
            s2 = j;
            i = count;
            break;
          }
        }
      }
      let n1 = 0;
      let n2 = 0;
      for (let k = 0; k < count; k++) {
        const a = dist[s1 * count + k];
        const c = dist[s2 * count + k];
        const one = k === s1 || (k !== s2 && (a < c || (a === c && n1 < n2)));
        side[k] = one ? 0 : 1;
        if (one) n1++;
        else n2++;
      }
    }
    side[s1] = 0;

    const isLeaf = (m[b + H_LEAF] | 0) === 1;
    let w = 0;
    let w2 = 0;
    for (let k = 0; k < count; k++) {
      if (side[k] === 0) {
        if (w !== k) this.moveEntry(node, k, node, w);
        w++;
      } else {
        this.moveEntry(node, k, sibling, w2);
        w2++;
      }
    }
    m[b + H_COUNT] = w;
    m[sb + H_COUNT] = w2;
    if (isLeaf) {
      const next = m[b + H_NEXT] | 0;
      m[sb + H_PREV] = node;
      m[sb + H_NEXT] = next;
      if (next !== -1) m[this.base(next) + H_PREV] = sibling;
      m[b + H_NEXT] = sibling;
    }
    return sibling;
  }

  /** d(i, j) between entries of the node being split, in sklearn's arithmetic (norms precomputed). */
  private sklearnDist(cent: number, i: number, j: number): number {
    if (i === j) return 0;
    const m = this.mem;
    const d = this.dim;
    const fast = dot(m, cent + i * d, cent + j * d, d);
    const p = fast === 0 ? 0 : dotFma(m, cent + i * d, cent + j * d, d);
    const v = -2 * p + this.splitNorms[i] + this.splitNorms[j];
    return Math.max(0, v);
  }

  /**
   * Writes the centroid of entry (node, slot) to words [at, at + d) of the memory, computed from
   * its linear sum exactly as sklearn keeps it: a leaf entry's by merge_subcluster, (1/n) * LS,
   * an inner entry's by update(), LS / n. Only the linear sums are stored: the descent needs
   * c.x = LS.x / n, one division per entry, and storing the centroids too doubled the tree.
   */
  private centroidRow(node: number, slot: number, at: number): void {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const ls = b + this.offLS + slot * d;
    const n = m[b + this.offN + slot];
    if ((m[b + H_LEAF] | 0) === 1) {
      const inv = 1 / n;
      for (let i = 0; i < d; i++) m[at + i] = inv * m[ls + i];
    } else {
      for (let i = 0; i < d; i++) m[at + i] = m[ls + i] / n;
    }
  }

  private centroidCopy(node: number, slot: number): Float64Array {
    this.centroidRow(node, slot, this.scrRow);
    return this.mem.slice(this.scrRow, this.scrRow + this.dim);
  }

  /** Copies entry (fromNode, fromSlot) to (toNode, toSlot) and fixes the pointers to it. */
  private moveEntry(fromNode: number, fromSlot: number, toNode: number, toSlot: number): void {
    const m = this.mem;
    const d = this.dim;
    const fb = this.base(fromNode);
    const tb = this.base(toNode);
    m[tb + this.offN + toSlot] = m[fb + this.offN + fromSlot];
    m[tb + this.offSS + toSlot] = m[fb + this.offSS + fromSlot];
    m[tb + this.offSQ + toSlot] = m[fb + this.offSQ + fromSlot];
    const ref = m[fb + this.offRef + fromSlot];
    m[tb + this.offRef + toSlot] = ref;
    m.copyWithin(
      tb + this.offLS + toSlot * d,
      fb + this.offLS + fromSlot * d,
      fb + this.offLS + (fromSlot + 1) * d,
    );
    if ((m[tb + H_LEAF] | 0) === 1) {
      this.loc.set(ref, toNode * this.cap + toSlot);
      if (this.lastNode === fromNode && this.lastSlot === fromSlot) {
        this.lastNode = toNode;
        this.lastSlot = toSlot;
      }
    } else {
      const cb = this.base(ref);
      m[cb + H_PARENT] = toNode;
      m[cb + H_PSLOT] = toSlot;
    }
  }

  // ---------------------------------------------------------------- queries

  /**
   * The cluster whose centroid is nearest to `x` over all leaf entries (exact, like sklearn's
   * predict), or -1 for an empty tree. Does not change the tree.
   */
  nearest(x: ArrayLike<number>, offset = 0): number {
    const m = this.mem;
    const d = this.dim;
    const xs = this.scrCent;
    for (let i = 0; i < d; i++) m[xs + i] = x[offset + i];
    let bestId = -1;
    let bestDist = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = m[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = m[b + H_COUNT] | 0;
      const row = b + this.offLS;
      const dots = this.scrDots;
      if (this.kernelDots !== undefined) this.kernelDots(row * 8, count, d, xs * 8, dots * 8);
      else for (let k = 0; k < count; k++) m[dots + k] = dot(m, row + k * d, xs, d);
      for (let k = 0; k < count; k++) {
        const dist = (-2 * m[dots + k]) / m[b + this.offN + k] + m[b + this.offSQ + k];
        if (dist < bestDist) {
          second = bestDist;
          bestDist = dist;
          bestId = m[b + this.offRef + k];
        } else if (dist < second) {
          second = dist;
        }
      }
    }
    if (second - bestDist > NEAR_TIE * (Math.abs(bestDist) + 1)) return bestId;
    // A near tie (copies of one point in several entries): settle it in the arithmetic of
    // sklearn's predict (pairwise_distances_argmin: -2 x.c by gemm + |c|^2 by row_norms).
    const limit = bestDist + 2 * NEAR_TIE * (Math.abs(bestDist) + 1);
    let exact = Number.POSITIVE_INFINITY;
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = m[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = m[b + H_COUNT] | 0;
      let row = b + this.offLS;
      for (let k = 0; k < count; k++, row += d) {
        if ((-2 * dot(m, row, xs, d)) / m[b + this.offN + k] + m[b + this.offSQ + k] > limit) continue;
        const c = this.scrRow;
        this.centroidRow(leaf, k, c);
        const v = -2 * dotFma(m, xs, c, d) + normSqNumpy(m, c, d);
        if (v < exact) {
          exact = v;
          bestId = m[b + this.offRef + k];
        }
      }
    }
    return bestId;
  }

  /**
   * The leaf entry an insert of `x` would be compared with (one descent, O(height * B * d)),
   * or -1 for an empty tree. Does not change the tree.
   */
  descend(x: ArrayLike<number>, offset = 0): number {
    const m = this.mem;
    const d = this.dim;
    for (let i = 0; i < d; i++) m[this.scrCent + i] = x[offset + i];
    this.gatherNonZeros();
    let node = this.root;
    while ((m[this.base(node) + H_LEAF] | 0) === 0)
      node = m[this.base(node) + this.offRef + this.closest(node)] | 0;
    if ((m[this.base(node) + H_COUNT] | 0) === 0) return -1;
    return m[this.base(node) + this.offRef + this.closest(node)];
  }

  has(id: number): boolean {
    return this.loc.has(id);
  }

  /** Number of points in cluster `id` (0 when it is not in the tree). */
  count(id: number): number {
    const l = this.loc.get(id);
    if (l === undefined) return 0;
    const node = Math.floor(l / this.cap);
    return this.mem[this.base(node) + this.offN + (l - node * this.cap)];
  }

  /** Copies the centroid of cluster `id` into `out`; false when the id is not in the tree. */
  centroidInto(id: number, out: Float64Array | Float32Array): boolean {
    const l = this.loc.get(id);
    if (l === undefined) return false;
    const node = Math.floor(l / this.cap);
    this.centroidRow(node, l - node * this.cap, this.scrRow);
    for (let i = 0; i < this.dim; i++) out[i] = this.mem[this.scrRow + i];
    return true;
  }

  /**
   * Cosine similarity between `x` and the centroid of the cluster the last insert went to:
   * how typical the tweet is of its cluster (1 for the first tweet of a cluster).
   */
  lastSimilarity(x: ArrayLike<number>, offset = 0): number {
    return this.lastNode < 0 ? 0 : this.cosineTo(this.lastNode, this.lastSlot, x, offset);
  }

  /** Cosine similarity between `x` and the centroid of cluster `id` (0 when it is not in the tree). */
  similarity(id: number, x: ArrayLike<number>, offset = 0): number {
    const l = this.loc.get(id);
    if (l === undefined) return 0;
    const node = Math.floor(l / this.cap);
    return this.cosineTo(node, l - node * this.cap, x, offset);
  }

  /**
   * Whether cluster `id` would pass the absorb test for the single point `x` (a read-only
   * preview: the insert itself may descend to another entry). Cosine mode: cos(x, c) >= the
   * bound. Radius mode: the merged entry's radius, (SS + |x|^2)/(n + 1) - |(LS + x)/(n + 1)|^2,
   * within T^2.
   */
  wouldAbsorb(id: number, x: ArrayLike<number>): boolean {
    const l = this.loc.get(id);
    if (l === undefined) return false;
    const node = Math.floor(l / this.cap);
    const slot = l - node * this.cap;
    if (this.minSimilarity !== undefined)
      return this.cosineTo(node, slot, x, 0) + 1e-12 >= this.minSimilarity;
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const ls = b + this.offLS + slot * d;
    const newN = m[b + this.offN + slot] + 1;
    let xx = 0;
    let sq = 0;
    for (let i = 0; i < d; i++) {
      const v = x[i];
      xx += v * v;
      const c = (m[ls + i] + v) / newN;
      sq += c * c;
    }
    return (m[b + this.offSS + slot] + xx) / newN - sq <= this.thresholdSq;
  }

  /**
   * Cosine similarity between a sparse vector (non-zeros `val` at `idx`, squared norm `xx`) and
   * the centroid of cluster `id`, visiting only the non-zeros: 0 when the id is not in the tree.
   */
  sparseSimilarity(id: number, idx: ArrayLike<number>, val: ArrayLike<number>, xx: number): number {
    const l = this.loc.get(id);
    if (l === undefined) return 0;
    const node = Math.floor(l / this.cap);
    const slot = l - node * this.cap;
    const m = this.mem;
    const b = this.base(node);
    const ls = b + this.offLS + slot * this.dim;
    let dp = 0;
    for (let j = 0; j < idx.length; j++) dp += val[j] * m[ls + idx[j]];
    dp /= m[b + this.offN + slot];
    const den = Math.sqrt(xx * m[b + this.offSQ + slot]);
    return den > 0 ? Math.max(-1, Math.min(1, dp / den)) : 0;
  }

  /** cos(x, c) = (x.LS / n) / (|x| |c|), from the linear sum: no centroid to build. */
  private cosineTo(node: number, slot: number, x: ArrayLike<number>, offset: number): number {
    const m = this.mem;
    const d = this.dim;
    const b = this.base(node);
    const ls = b + this.offLS + slot * d;
    let dp = 0;
    let xx = 0;
    for (let i = 0; i < d; i++) {
      const v = x[offset + i];
      dp += v * m[ls + i];
      xx += v * v;
    }
    dp /= m[b + this.offN + slot];
    const den = Math.sqrt(xx * m[b + this.offSQ + slot]);
    // |c|^2 and x.x are summed in different orders: clamp the last-bit overshoot of a cosine
    return den > 0 ? Math.max(-1, Math.min(1, dp / den)) : 0;
  }

  /** Leaf entries in leaf-chain order (left to right), copied out. */
  *entries(): IterableIterator<LeafEntry> {
    const d = this.dim;
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = this.mem[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = this.mem[b + H_COUNT] | 0;
      for (let k = 0; k < count; k++) {
        const m = this.mem;
        yield {
          id: m[b + this.offRef + k],
          n: m[b + this.offN + k],
          ss: m[b + this.offSS + k],
          ls: m.slice(b + this.offLS + k * d, b + this.offLS + (k + 1) * d),
          centroid: this.centroidCopy(leaf, k),
        };
      }
    }
  }

  /**
   * Each cluster's id and size in leaf-chain order, without copying vectors: listing 50,000
   * clusters of d = 1024 through entries() would copy 800 MB.
   */
  *sizes(): IterableIterator<[id: number, n: number]> {
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = this.mem[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = this.mem[b + H_COUNT] | 0;
      for (let k = 0; k < count; k++) yield [this.mem[b + this.offRef + k], this.mem[b + this.offN + k]];
    }
  }

  /**
   * Every cluster's id, n and linear sum (rows of one matrix), in leaf-chain order: what the
   * global step needs, in one copy, without building centroids.
   */
  linearSums(): { ids: Float64Array; n: Float64Array; ls: Float64Array } {
    const d = this.dim;
    const ids = new Float64Array(this._entries);
    const n = new Float64Array(this._entries);
    const ls = new Float64Array(this._entries * d);
    const m = this.mem;
    let r = 0;
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = m[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = m[b + H_COUNT] | 0;
      for (let k = 0; k < count; k++, r++) {
        ids[r] = m[b + this.offRef + k];
        n[r] = m[b + this.offN + k];
        ls.set(m.subarray(b + this.offLS + k * d, b + this.offLS + (k + 1) * d), r * d);
      }
    }
    return { ids, n, ls };
  }

  /** Leaf nodes in leaf-chain order, each the list of its entries. */
  leaves(): LeafEntry[][] {
    const out: LeafEntry[][] = [];
    let cur: LeafEntry[] | null = null;
    let curLeaf = -1;
    for (const e of this.entries()) {
      const l = this.loc.get(e.id)!;
      const leaf = Math.floor(l / this.cap);
      if (leaf !== curLeaf || cur === null) {
        cur = [];
        out.push(cur);
        curLeaf = leaf;
      }
      cur.push(e);
    }
    // empty leaves (only the root of an empty tree) are not listed
    return out;
  }

  // ---------------------------------------------------------------- removal

  /**
   * Removes cluster `id` from the tree: its entry leaves its leaf and its CF leaves every
   * ancestor entry. A node left empty is freed and its entry removed from its parent in
   * turn; a root left with a single inner entry hands over to that child (the tree shrinks).
   * Returns false when the id is not in the tree.
   */
  remove(id: number): boolean {
    const l = this.loc.get(id);
    if (l === undefined) return false;
    const m = this.mem;
    let node = Math.floor(l / this.cap);
    let slot = l - node * this.cap;
    let b = this.base(node);
    const n = m[b + this.offN + slot];
    this.loc.delete(id);
    this._entries--;
    this._points -= n;
    if (this.lastNode === node && this.lastSlot === slot) this.lastNode = -1;

    // remove the entry (and every node it empties) bottom-up, then fix the CFs above that
    for (;;) {
      this.removeSlot(node, slot);
      b = this.base(node);
      if ((m[b + H_COUNT] | 0) > 0 || node === this.root) break;
      const parent = m[b + H_PARENT] | 0;
      const pslot = m[b + H_PSLOT] | 0;
      this.freeNode(node);
      node = parent;
      slot = pslot;
    }
    // Each ancestor entry is recomputed from its child rather than having the removed CF
    // subtracted: subtraction cancels catastrophically when the removed entry dwarfs the rest
    // (1e10 next to 0.1 leaves 0), and a removal is rare enough to afford O(B d) per level.
    for (let cur = node; cur !== this.root; ) {
      const cb = this.base(cur);
      const parent = this.mem[cb + H_PARENT] | 0;
      const pslot = this.mem[cb + H_PSLOT] | 0;
      this.setEntryFromChild(parent, pslot, cur);
      cur = parent;
    }
    // an inner root with one entry: its child becomes the root
    for (;;) {
      const rb = this.base(this.root);
      if ((this.mem[rb + H_LEAF] | 0) === 1) break;
      const count = this.mem[rb + H_COUNT] | 0;
      if (count === 0) {
        // every cluster is gone: start over with an empty leaf
        this.freeNode(this.root);
        this.root = this.allocNode(true);
        this.firstLeaf = this.root;
        this._height = 1;
        break;
      }
      if (count > 1) break;
      const child = this.mem[rb + this.offRef] | 0;
      this.freeNode(this.root);
      this.root = child;
      this.mem[this.base(child) + H_PARENT] = -1;
      this.mem[this.base(child) + H_PSLOT] = -1;
      this._height--;
    }
    return true;
  }

  /** Removes entry `slot` of `node`, shifting the later entries left to keep their order. */
  private removeSlot(node: number, slot: number): void {
    const m = this.mem;
    const b = this.base(node);
    const count = m[b + H_COUNT] | 0;
    for (let k = slot + 1; k < count; k++) this.moveEntry(node, k, node, k - 1);
    m[b + H_COUNT] = count - 1;
  }

  // ---------------------------------------------------------------- rebuild

  /**
   * BIRCH's answer to a tree that outgrows its memory: a new tree with a looser absorb test
   * (a larger radius `threshold`, or in cosine mode a smaller `minSimilarity`), built by
   * inserting this tree's leaf entries as whole CFs. Entries go in oldest id first, so when two
   * merge the survivor keeps the older id; a surviving entry keeps its id, and ids are never
   * reused (the new tree's next id is this one's). Returns the tree and, for every entry that
   * another absorbed, absorbed id -> surviving id. This tree is left as it was.
   */
  rebuilt(opts: { threshold?: number; minSimilarity?: number }): {
    tree: CFTree;
    absorbed: Map<number, number>;
  } {
    const tree = new CFTree({
      dim: this.dim,
      branchingFactor: this.branchingFactor,
      threshold: opts.threshold ?? this._threshold,
      minSimilarity:
        this._minSimilarity === undefined ? undefined : (opts.minSimilarity ?? this._minSimilarity),
      kernel: this.kernelDots === undefined ? 'js' : 'wasm',
    });
    const order = [...this.loc.keys()].sort((a, b) => a - b);
    const absorbed = new Map<number, number>();
    const m = this.mem;
    const d = this.dim;
    for (const id of order) {
      const l = this.loc.get(id)!;
      const node = Math.floor(l / this.cap);
      const slot = l - node * this.cap;
      const b = this.base(node);
      const ls = m.subarray(b + this.offLS + slot * d, b + this.offLS + (slot + 1) * d);
      const got = tree.insertCF(m[b + this.offN + slot], ls, m[b + this.offSS + slot], id);
      if (got !== id) absorbed.set(id, got);
    }
    tree._nextId = this._nextId;
    return { tree, absorbed };
  }

  /**
   * For every leaf entry, the cosine between its centroid and the nearest other centroid in the
   * same leaf node (-1 when it is alone there), in leaf-chain order: neighbours in a leaf are the
   * merges a rebuild would make first, so their distribution tells how loose the absorb bound
   * must become to lose a given number of entries. O(B^2 d) per leaf.
   */
  leafNeighbourSimilarities(): Float64Array {
    const out = new Float64Array(this._entries).fill(-1);
    const m = this.mem;
    const d = this.dim;
    let r = 0;
    for (let leaf = this.firstLeaf; leaf !== -1; leaf = m[this.base(leaf) + H_NEXT] | 0) {
      const b = this.base(leaf);
      const count = m[b + H_COUNT] | 0;
      for (let i = 0; i < count; i++) {
        const li = b + this.offLS + i * d;
        const ni = Math.sqrt(m[b + this.offSQ + i]) * m[b + this.offN + i];
        for (let j = i + 1; j < count; j++) {
          const lj = b + this.offLS + j * d;
          let dp = 0;
          for (let k = 0; k < d; k++) dp += m[li + k] * m[lj + k];
          const den = ni * Math.sqrt(m[b + this.offSQ + j]) * m[b + this.offN + j];
          const cos = den > 0 ? dp / den : 0;
          if (cos > out[r + i]) out[r + i] = cos;
          if (cos > out[r + j]) out[r + j] = cos;
        }
      }
      r += count;
    }
    return out;
  }

  // ---------------------------------------------------------------- state

  /**
   * The whole tree as plain numbers and one copy of its node records, for a snapshot. The
   * records are copied as they are, freed ones included, so that a tree restored from this state
   * exports the same bytes again. The scratch words before node 0 are not state.
   */
  exportState(): CFTreeState {
    const ids = new Float64Array(this.loc.size);
    const pos = new Float64Array(this.loc.size);
    let k = 0;
    // in the Map's own order: iteration order is observable (sizes(), entries())
    for (const [id, p] of this.loc) {
      ids[k] = id;
      pos[k++] = p;
    }
    return {
      meta: {
        dim: this.dim,
        branchingFactor: this.branchingFactor,
        threshold: this._threshold,
        minSimilarity: this._minSimilarity ?? null,
        nodeCapacity: this.nodeCapacity,
        nodesUsed: this.nodesUsed,
        liveNodes: this.liveNodes,
        root: this.root,
        firstLeaf: this.firstLeaf,
        height: this._height,
        entries: this._entries,
        points: this._points,
        nextId: this._nextId,
      },
      nodes: this.mem.slice(this.origin, this.origin + this.nodesUsed * this.stride),
      free: Float64Array.from(this.freeNodes),
      locIds: ids,
      locPos: pos,
    };
  }

  /** A tree from `exportState()`; checks that the parts fit together before trusting them. */
  static fromState(st: CFTreeState, opts: { kernel?: 'wasm' | 'js' } = {}): CFTree {
    const m = st.meta;
    const tree = new CFTree({
      dim: m.dim,
      branchingFactor: m.branchingFactor,
      threshold: m.threshold,
      minSimilarity: m.minSimilarity ?? undefined,
      kernel: opts.kernel,
    });
    const ints = [m.nodeCapacity, m.nodesUsed, m.liveNodes, m.root, m.height, m.entries, m.nextId];
    if (!ints.every((v) => Number.isInteger(v) && v >= 0) || m.nodesUsed > m.nodeCapacity)
      throw new RangeError('CF-tree state: bad counters');
    if (st.nodes.length !== m.nodesUsed * tree.stride)
      throw new RangeError(
        `CF-tree state: ${st.nodes.length} words of nodes, expected ${m.nodesUsed * tree.stride}`,
      );
    if (st.locIds.length !== m.entries || st.locPos.length !== m.entries)
      throw new RangeError('CF-tree state: the cluster index does not match the entry count');
    if (m.root >= m.nodesUsed || (m.firstLeaf !== -1 && m.firstLeaf >= m.nodesUsed))
      throw new RangeError('CF-tree state: root or first leaf outside the nodes');
    while (tree.nodeCapacity < m.nodeCapacity) tree.growPool();
    tree.mem.set(st.nodes, tree.origin);
    tree.nodesUsed = m.nodesUsed;
    tree.liveNodes = m.liveNodes;
    tree.freeNodes = Array.from(st.free);
    tree.root = m.root;
    tree.firstLeaf = m.firstLeaf;
    tree._height = m.height;
    tree._entries = m.entries;
    tree._points = m.points;
    tree._nextId = m.nextId;
    tree.loc = new Map();
    for (let k = 0; k < st.locIds.length; k++) tree.loc.set(st.locIds[k], st.locPos[k]);
    while (tree.pathNode.length < m.height + 2) tree.growPath();
    return tree;
  }

  // ---------------------------------------------------------------- node pool

  private base(node: number): number {
    return this.origin + node * this.stride;
  }

  private allocNode(isLeaf: boolean): number {
    let node: number;
    if (this.freeNodes.length > 0) {
      node = this.freeNodes.pop()!;
    } else {
      if (this.nodesUsed === this.nodeCapacity) this.growPool();
      node = this.nodesUsed++;
    }
    const b = this.base(node);
    const m = this.mem;
    m[b + H_COUNT] = 0;
    m[b + H_LEAF] = isLeaf ? 1 : 0;
    m[b + H_PARENT] = -1;
    m[b + H_PSLOT] = -1;
    m[b + H_PREV] = -1;
    m[b + H_NEXT] = -1;
    this.liveNodes++;
    return node;
  }

  private freeNode(node: number): void {
    const m = this.mem;
    const b = this.base(node);
    if ((m[b + H_LEAF] | 0) === 1) {
      const prev = m[b + H_PREV] | 0;
      const next = m[b + H_NEXT] | 0;
      if (prev !== -1) m[this.base(prev) + H_NEXT] = next;
      if (next !== -1) m[this.base(next) + H_PREV] = prev;
      if (this.firstLeaf === node) this.firstLeaf = next;
    }
    m[b + H_COUNT] = 0;
    this.freeNodes.push(node);
    this.liveNodes--;
  }

  /** Doubles the node pool. */
  private growPool(): void {
    const cap = this.nodeCapacity * 2;
    const words = this.origin + cap * this.stride;
    if (this.wasmMemory !== undefined) {
      const pages = Math.ceil((words * 8) / WASM_PAGE);
      const have = this.wasmMemory.buffer.byteLength / WASM_PAGE;
      if (pages > WASM_MAX_PAGES)
        throw new RangeError(`the CF-tree would need ${pages * 64} KiB, over the 4 GiB a tree can address`);
      if (pages > have) this.wasmMemory.grow(pages - have);
      this.mem = new Float64Array(this.wasmMemory.buffer);
    } else {
      const next = new Float64Array(words);
      next.set(this.mem);
      this.mem = next;
    }
    this.nodeCapacity = cap;
  }

  private growPath(): void {
    const n = this.pathNode.length * 2;
    const pn = new Int32Array(n);
    pn.set(this.pathNode);
    const ps = new Int32Array(n);
    ps.set(this.pathSlot);
    this.pathNode = pn;
    this.pathSlot = ps;
    const pd = new Float64Array(n);
    pd.set(this.pathDot);
    this.pathDot = pd;
  }

  // ---------------------------------------------------------------- checks

  /**
   * Checks the tree's invariants and returns the problems found (empty when all hold):
   * every inner entry's CF equals the sum of its child's entries (relative tolerance `tol`),
   * no node over the branching factor, every leaf entry within the threshold, parent pointers,
   * the leaf chain, the id index, and the counts.
   */
  audit(tol = 1e-9): string[] {
    const problems: string[] = [];
    const m = this.mem;
    const d = this.dim;
    let entries = 0;
    let points = 0;
    let nodes = 0;
    const leafOrder: number[] = [];
    const visit = (node: number, depth: number): void => {
      nodes++;
      const b = this.base(node);
      const count = m[b + H_COUNT] | 0;
      if (count > this.branchingFactor) problems.push(`node ${node} has ${count} entries > B`);
      if ((m[b + H_LEAF] | 0) === 1) {
        if (depth !== this._height) problems.push(`leaf ${node} at depth ${depth}, height ${this._height}`);
        leafOrder.push(node);
        for (let k = 0; k < count; k++) {
          entries++;
          const n = m[b + this.offN + k];
          points += n;
          const id = m[b + this.offRef + k];
          if (this.loc.get(id) !== node * this.cap + k) problems.push(`id ${id} index is stale`);
          const r2 = m[b + this.offSS + k] / n - m[b + this.offSQ + k];
          if (this.minSimilarity === undefined && r2 > this.thresholdSq * (1 + tol) + tol && n > 1)
            problems.push(`entry ${id} radius ${Math.sqrt(r2)} > threshold ${this._threshold}`);
        }
        return;
      }
      if (count === 0) problems.push(`inner node ${node} is empty`);
      for (let k = 0; k < count; k++) {
        const child = m[b + this.offRef + k] | 0;
        const cb = this.base(child);
        if ((m[cb + H_PARENT] | 0) !== node || (m[cb + H_PSLOT] | 0) !== k)
          problems.push(`node ${child} parent pointer is (${m[cb + H_PARENT] | 0},${m[cb + H_PSLOT] | 0})`);
        let n = 0;
        let ss = 0;
        const ls = new Float64Array(d);
        for (let j = 0; j < (m[cb + H_COUNT] | 0); j++) {
          n += m[cb + this.offN + j];
          ss += m[cb + this.offSS + j];
          for (let i = 0; i < d; i++) ls[i] += m[cb + this.offLS + j * d + i];
        }
        const en = m[b + this.offN + k];
        if (Math.abs(en - n) > tol * Math.max(1, n))
          problems.push(`inner entry ${node}/${k} n ${en} != ${n}`);
        const ess = m[b + this.offSS + k];
        if (Math.abs(ess - ss) > tol * Math.max(1, Math.abs(ss)))
          problems.push(`inner entry ${node}/${k} ss ${ess} != ${ss}`);
        let scale = 1;
        for (let i = 0; i < d; i++) scale = Math.max(scale, Math.abs(ls[i]));
        for (let i = 0; i < d; i++) {
          if (Math.abs(m[b + this.offLS + k * d + i] - ls[i]) > tol * scale) {
            problems.push(`inner entry ${node}/${k} ls[${i}] differs`);
            break;
          }
        }
        visit(child, depth + 1);
      }
    };
    visit(this.root, 1);
    if (entries !== this._entries) problems.push(`entry count ${this._entries} != ${entries}`);
    if (points !== this._points) problems.push(`point count ${this._points} != ${points}`);
    if (entries !== this.loc.size)
      problems.push(`id index holds ${this.loc.size} ids for ${entries} entries`);
    if (nodes !== this.liveNodes) problems.push(`live nodes ${this.liveNodes} != ${nodes}`);
    const chain: number[] = [];
    for (let l = this.firstLeaf; l !== -1; l = m[this.base(l) + H_NEXT] | 0) chain.push(l);
    // The chain is not the tree's left-to-right order: an inner split redistributes children by
    // distance, while the chain only ever inserts a split leaf's sibling right after it (sklearn).
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y).join();
    if (sorted(chain) !== sorted(leafOrder)) problems.push('leaf chain does not hold exactly the leaves');
    for (const l of chain) {
      const next = m[this.base(l) + H_NEXT] | 0;
      if (next !== -1 && (m[this.base(next) + H_PREV] | 0) !== l)
        problems.push(`leaf ${next} prev is not ${l}`);
    }
    return problems;
  }
}

/** Relative gap below which two distances are a near tie, settled in sklearn's arithmetic. */
const NEAR_TIE = 1e-12;

/** Veltkamp's splitter for doubles: 2^27 + 1. */
const SPLITTER = 134217729;

/**
 * sum_k a_k b_k accumulated as s = fma(a_k, b_k, s) in order, the way OpenBLAS' gemm kernels
 * accumulate one output. JavaScript has no fma, so each step is emulated with an error-free
 * product (Dekker) and sum (Knuth); the final rounding can differ from a true fma in rare
 * double-rounding cases. Slow (~20 flops a term): only used to settle near ties (splits, nearest).
 */
function dotFma(m: Float64Array, a: number, b: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s = fma(m[a + k], m[b + k], s);
  return s;
}

/** fma(x, y, s) emulated: an error-free product (Dekker) and sum (Knuth), rounded once more. */
function fma(x: number, y: number, s: number): number {
  const p = x * y;
  const xs = SPLITTER * x;
  const xh = xs - (xs - x);
  const xl = x - xh;
  const ys = SPLITTER * y;
  const yh = ys - (ys - y);
  const yl = y - yh;
  const e = xh * yh - p + xh * yl + xl * yh + xl * yl;
  const t = p + s;
  const z = t - p;
  const r = p - (t - z) + (s - z);
  return t + (r + e);
}

/** A dot product as OpenBLAS' gemv kernels sum it: four fma lanes, then (l0 + l2) + (l1 + l3). */
function dotFma4(m: Float64Array, a: number, b: number, d: number): number {
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  let l3 = 0;
  let k = 0;
  for (; k + 4 <= d; k += 4) {
    l0 = fma(m[a + k], m[b + k], l0);
    l1 = fma(m[a + k + 1], m[b + k + 1], l1);
    l2 = fma(m[a + k + 2], m[b + k + 2], l2);
    l3 = fma(m[a + k + 3], m[b + k + 3], l3);
  }
  for (; k < d; k++) l0 = fma(m[a + k], m[b + k], l0);
  return l0 + l2 + (l1 + l3);
}

/**
 * |row|^2 summed in the order of numpy's einsum('ij,ij->i') (its baseline SSE2 loop: two
 * lanes, blocks of eight taken back to front, lanes added at the end), which is what sklearn's
 * row_norms computes. The split compares d(i,j) with d(j,i), which differ only by the rounding
 * of these norms, so reproducing their bits reproduces sklearn's choice of seeds.
 */
function normSqNumpy(m: Float64Array, a: number, d: number): number {
  let l0 = 0;
  let l1 = 0;
  let k = 0;
  for (; d - k >= 8; k += 8) {
    for (let blk = 6; blk >= 0; blk -= 2) {
      const x0 = m[a + k + blk];
      const x1 = m[a + k + blk + 1];
      l0 = x0 * x0 + l0;
      l1 = x1 * x1 + l1;
    }
  }
  for (; k < d; k += 2) {
    const x0 = m[a + k];
    l0 = x0 * x0 + l0;
    if (k + 1 < d) {
      const x1 = m[a + k + 1];
      l1 = x1 * x1 + l1;
    }
  }
  return l0 + l1;
}

/**
 * |c'|^2 after adding a CF of nIn points with centroid x (|x|^2 = sqIn) to an entry of nOld
 * points with |c|^2 = sqOld and LS.x = lsDotCent:
 *   |LS + nIn x|^2 = |LS|^2 + 2 nIn LS.x + nIn^2 |x|^2,   |LS|^2 = nOld^2 |c|^2,
 *   |c'|^2 = that / (nOld + nIn)^2.
 * Each update rounds once more than a recomputation would; in doubles the drift stays near
 * 1e-16 per update (audit() checks it against a recomputation). It cannot go negative in
 * exact arithmetic; the clamp only absorbs rounding.
 */
function grownNormSq(sqOld: number, nOld: number, nIn: number, lsDotCent: number, sqIn: number): number {
  const nNew = nOld + nIn;
  return Math.max(0, (sqOld * nOld * nOld + 2 * nIn * lsDotCent + nIn * nIn * sqIn) / (nNew * nNew));
}

function even(n: number): number {
  return n + (n & 1);
}

/**
 * The dot product of a row with a sparse x given its non-zero coordinates, bit for bit equal
 * to dot(): each product goes to the accumulator (i mod 8) it would go to there, in the same
 * order, and the zero products that dot() adds leave an accumulator unchanged.
 */
function dotSparse(
  m: Float64Array,
  row: number,
  x: number,
  idx: Int32Array,
  nnz: number,
  d8: number,
): number {
  // the eight partial sums live in a module-level scratch: nothing allocated per call
  const acc = SPARSE_ACC;
  acc.fill(0);
  for (let j = 0; j < nnz; j++) {
    const i = idx[j];
    // dot() adds the d mod 8 trailing products to its first partial sum
    acc[i < d8 ? i & 7 : 0] += m[row + i] * m[x + i];
  }
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

const SPARSE_ACC = new Float64Array(8);

/**
 * Dot product of two rows of `m`: eight partial sums (product i to s(i mod 8)) so the adds
 * pipeline, the d mod 8 trailing products to s0, summed left to right. The SIMD kernel
 * (kernels.wat) and dotSparse sum in exactly this order, so all three agree bit for bit.
 */
function dot(m: Float64Array, a: number, b: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let i = 0;
  const d8 = d - (d & 7);
  for (; i < d8; i += 8) {
    s0 += m[a + i] * m[b + i];
    s1 += m[a + i + 1] * m[b + i + 1];
    s2 += m[a + i + 2] * m[b + i + 2];
    s3 += m[a + i + 3] * m[b + i + 3];
    s4 += m[a + i + 4] * m[b + i + 4];
    s5 += m[a + i + 5] * m[b + i + 5];
    s6 += m[a + i + 6] * m[b + i + 6];
    s7 += m[a + i + 7] * m[b + i + 7];
  }
  for (; i < d; i++) s0 += m[a + i] * m[b + i];
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}
