/**
 * BIRCH's global step: group the leaf entries of the CF-tree (the clusters) into topics by
 * agglomerative clustering with average linkage on cosine similarity, weighted by n.
 *
 * The identity that makes this cheap. Let group A hold the tweets x_1..x_{n_A} and group B the
 * tweets y_1..y_{n_B}, all unit vectors, with linear sums LS_A = sum x_i and LS_B = sum y_j:
 *
 *   avg_{i,j} cos(x_i, y_j) = 1/(n_A n_B) sum_i sum_j x_i . y_j = (LS_A . LS_B) / (n_A n_B)
 *
 * and the merged group has n = n_A + n_B and LS = LS_A + LS_B. So the average linkage between
 * two groups (of entries, hence of tweets) is exact from their CFs alone, with no member tweet at
 * hand, and a merge is O(dim). Weighting by n is built in: an entry of 50 tweets counts as 50
 * tweets. For inputs that are not unit vectors the same number is the average dot product (not
 * an average cosine), and that is what the threshold is compared with.
 *
 * It also gives the Lance-Williams form of the update,
 *
 *   sim(A+B, C) = (n_A sim(A,C) + n_B sim(B,C)) / (n_A + n_B) <= max(sim(A,C), sim(B,C)),
 *
 * so average linkage is reducible: the similarity of successive best merges never increases,
 * and stopping at the first best pair below the threshold cuts the same dendrogram that
 * stopping at a number of groups does.
 *
 * Ties are broken the same way everywhere: among pairs of equal similarity the one whose groups
 * have the smallest first entries (lexicographically, smaller first entry first) merges first.
 * A group is named by its first entry in input order, and topics are numbered by it, so the
 * output does not depend on anything but the input.
 *
 * Two engines:
 *
 * - Exact (count <= exactLimit, default 3000, and the last groups of the sparse engine): the
 *   Gram matrix G_ij = LS_i . LS_j of the groups (m^2 doubles, 72 MB at 3000), where a merge is
 *   one row addition (G_{A+B,C} = G_AC + G_BC), and each group's best partner cached (Muellner's
 *   "generic" algorithm): a merge rescans only the rows whose best partner was one of the pair.
 *   The result is exactly greedy average linkage.
 *
 * - Sparse (larger inputs): brute-force candidates would be O(n^2 dim), so each entry gets its
 *   k approximate nearest neighbours by cosine of centroids from a random-projection forest
 *   (below), the graph is made symmetric, and the agglomeration runs on it with a binary heap of
 *   candidate pairs (lazy deletion: a heap entry carries the versions of its two groups and is
 *   dropped when either changed). When A and B merge the new group's neighbours are the union
 *   of theirs and its linkage to each is recomputed from the sums, so the candidate set grows
 *   with the groups. Only pairs never linked in the graph are missed. When the heap runs dry
 *   (every connected component is one group) above nClusters, a new round builds a k-NN graph
 *   on the group sums; once at most exactLimit groups remain the exact engine finishes, so
 *   nClusters is always honoured. In threshold mode further rounds also run (at most
 *   MAX_THRESHOLD_ROUNDS, while they still merge), then the exact engine if few groups remain.
 *   Memory is O(n k) for the graph and heap (the heap is compacted when stale entries pile up)
 *   besides the O(n dim) copy of the sums.
 *
 * Pure: no I/O, no clock, no global state; the forest's random numbers come from a fixed seed.
 */

export interface GroupInput {
  /** Tweets per entry (CF n), each > 0. */
  n: ArrayLike<number>;
  /** Linear sums, row-major, count x dim. */
  ls: Float64Array;
  count: number;
  dim: number;
}

export interface GroupOptions {
  /** Stop when this many groups remain (integer >= 1). */
  nClusters?: number;
  /** Stop when the best pair's average cosine similarity is below this. */
  threshold?: number;
  /** Tuning: inputs of at most this many entries take the exact engine (default 3000). */
  exactLimit?: number;
  /** Tuning: neighbours per entry in the sparse candidate graph (default 24). */
  neighbors?: number;
}

const DEFAULT_EXACT_LIMIT = 3000;
const DEFAULT_NEIGHBORS = 24;
/** Random-projection trees in the forest and the largest leaf (see knnGraph). */
const TREES = 4;
const LEAF_SIZE = 64;
/** Rounds of the sparse engine in threshold mode (each one a k-NN graph on the groups). */
const MAX_THRESHOLD_ROUNDS = 4;
const SEED = 0x9e3779b9;

/**
 * Groups `count` entries into topics; returns the topic (0..k-1, numbered by first entry in
 * input order) of each entry. Exactly one of `nClusters` and `threshold` must be given.
 */
export function groupEntries(input: GroupInput, opts: GroupOptions): Int32Array {
  const { n, ls, count, dim } = input;
  const hasK = opts.nClusters !== undefined;
  const hasT = opts.threshold !== undefined;
  if (hasK === hasT) throw new RangeError('give exactly one of nClusters and threshold');
  if (hasK && !(Number.isInteger(opts.nClusters) && (opts.nClusters as number) >= 1))
    throw new RangeError(`nClusters must be an integer >= 1, got ${opts.nClusters}`);
  if (hasT && !Number.isFinite(opts.threshold))
    throw new RangeError(`threshold must be a finite number, got ${opts.threshold}`);
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be an integer >= 0, got ${count}`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (n.length < count) throw new RangeError(`n has ${n.length} values for ${count} entries`);
  if (ls.length < count * dim) throw new RangeError(`ls has ${ls.length} values for ${count} x ${dim}`);
  const exactLimit = opts.exactLimit ?? DEFAULT_EXACT_LIMIT;
  const k = opts.neighbors ?? DEFAULT_NEIGHBORS;
  if (!(exactLimit >= 0)) throw new RangeError(`exactLimit must be >= 0, got ${exactLimit}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`neighbors must be an integer >= 1, got ${k}`);

  const groups = new Groups(n, ls, count, dim);
  const target = hasK ? (opts.nClusters as number) : 1;
  const threshold = hasT ? (opts.threshold as number) : Number.NEGATIVE_INFINITY;
  if (count > target) {
    if (count <= exactLimit) exactPhase(groups, target, threshold);
    else sparsePhase(groups, target, threshold, hasT, exactLimit, k);
  }
  return groups.labels();
}

// ------------------------------------------------------------------------------------ groups

/**
 * The groups as a union-find over entries. A live group is named by its first entry `r`
 * (find(i) <= i always, since a merge keeps the smaller name) and owns row r of `sums` and w[r].
 */
class Groups {
  readonly d: number;
  readonly size: number;
  readonly sums: Float64Array;
  readonly w: Float64Array;
  readonly parent: Int32Array;
  readonly alive: Uint8Array;
  /** Bumped on every merge into the group: heap entries with an older version are stale. */
  readonly version: Int32Array;
  live: number;
  /** Candidate neighbours of each live group, possibly naming dead groups (map by find). */
  adj: Int32Array[] = [];
  private mark: Int32Array;
  private stamp = 0;
  private scratch = new Int32Array(64);

  constructor(n: ArrayLike<number>, ls: Float64Array, count: number, dim: number) {
    this.d = dim;
    this.size = count;
    this.sums = ls.slice(0, count * dim);
    this.w = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const v = n[i];
      if (!(v > 0) || !Number.isFinite(v))
        throw new RangeError(`n[${i}] must be a positive number, got ${v}`);
      this.w[i] = v;
    }
    for (let i = 0; i < this.sums.length; i++) {
      if (!Number.isFinite(this.sums[i]))
        throw new RangeError(`ls[${i}] (entry ${Math.floor(i / dim)}) is not finite: ${this.sums[i]}`);
    }
    this.parent = new Int32Array(count);
    for (let i = 0; i < count; i++) this.parent[i] = i;
    this.alive = new Uint8Array(count).fill(1);
    this.version = new Int32Array(count);
    this.mark = new Int32Array(count).fill(-1);
    this.live = count;
  }

  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]]; // path halving
      x = p[x];
    }
    return x;
  }

  /** Average linkage of live groups a and b: LS_a . LS_b / (n_a n_b). */
  sim(a: number, b: number): number {
    return dot(this.sums, a * this.d, b * this.d, this.d) / (this.w[a] * this.w[b]);
  }

  /** Merges live group b into live group a (a < b): CFs add, b's name maps to a. */
  union(a: number, b: number): void {
    const s = this.sums;
    const d = this.d;
    const ra = a * d;
    const rb = b * d;
    for (let i = 0; i < d; i++) s[ra + i] += s[rb + i];
    this.w[a] += this.w[b];
    this.parent[b] = a;
    this.alive[b] = 0;
    this.version[a]++;
    this.live--;
  }

  /** After union(a, b): a's neighbours become the union of both lists, deduplicated. */
  mergeAdjacency(a: number, b: number): Int32Array {
    const la = this.adj[a];
    const lb = this.adj[b];
    const need = la.length + lb.length;
    if (this.scratch.length < need) this.scratch = new Int32Array(Math.max(need, this.scratch.length * 2));
    const tmp = this.scratch;
    const mark = this.mark;
    const st = ++this.stamp;
    mark[a] = st; // b maps to a, so neither is its own neighbour
    let len = 0;
    for (let t = 0; t < la.length; t++) {
      const r = this.find(la[t]);
      if (mark[r] !== st) {
        mark[r] = st;
        tmp[len++] = r;
      }
    }
    for (let t = 0; t < lb.length; t++) {
      const r = this.find(lb[t]);
      if (mark[r] !== st) {
        mark[r] = st;
        tmp[len++] = r;
      }
    }
    const out = tmp.slice(0, len);
    this.adj[a] = out;
    this.adj[b] = EMPTY;
    return out;
  }

  /** Live group names in ascending order. */
  liveList(): Int32Array {
    const out = new Int32Array(this.live);
    let j = 0;
    for (let i = 0; i < this.size; i++) if (this.alive[i] === 1) out[j++] = i;
    return out;
  }

  /** Topic of each entry, numbered by first entry in input order. */
  labels(): Int32Array {
    const out = new Int32Array(this.size);
    let next = 0;
    for (let i = 0; i < this.size; i++) {
      const r = this.find(i);
      out[i] = r === i ? next++ : out[r];
    }
    return out;
  }
}

const EMPTY = new Int32Array(0);

// ------------------------------------------------------------------------------ exact engine

/**
 * Greedy average linkage over all pairs of the live groups, until `target` groups remain or the
 * best pair is below `threshold`. G is the Gram matrix of the group sums, full and symmetric so
 * that a row scan is contiguous; best[c] is c's most similar live partner (ties: smaller index).
 * The best pair overall is the first row with the largest bestSim, which is the tie rule of the
 * file comment: its smaller index is the smallest index in any best pair and best[] gives the
 * smallest partner.
 */
function exactPhase(g: Groups, target: number, threshold: number): void {
  const reps = g.liveList();
  const m = reps.length;
  if (m <= target) return;
  const d = g.d;
  const s = g.sums;
  const G = new Float64Array(m * m);
  const w = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    w[i] = g.w[reps[i]];
    const ri = reps[i] * d;
    for (let j = 0; j <= i; j++) {
      const v = dot(s, ri, reps[j] * d, d);
      G[i * m + j] = v;
      G[j * m + i] = v;
    }
  }
  const alive = new Uint8Array(m).fill(1);
  const best = new Int32Array(m);
  const bestSim = new Float64Array(m);

  const rescan = (c: number): void => {
    let b = -1;
    let bs = Number.NEGATIVE_INFINITY;
    const row = c * m;
    const wc = w[c];
    for (let j = 0; j < m; j++) {
      if (j === c || alive[j] === 0) continue;
      const v = G[row + j] / (wc * w[j]);
      if (v > bs || b < 0) {
        bs = v;
        b = j;
      }
    }
    best[c] = b;
    bestSim[c] = bs;
  };
  for (let c = 0; c < m; c++) rescan(c);

  let live = m;
  while (live > target) {
    let i = -1;
    let top = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < m; c++) {
      if (alive[c] === 1 && best[c] >= 0 && (i < 0 || bestSim[c] > top)) {
        top = bestSim[c];
        i = c;
      }
    }
    if (i < 0 || top < threshold) break;
    const j = best[i];
    const a = i < j ? i : j;
    const b = i < j ? j : i;
    // G_{a+b, c} = G_ac + G_bc: the sums add, so do their dot products.
    const ra = a * m;
    const rb = b * m;
    for (let c = 0; c < m; c++) {
      if (alive[c] === 0 || c === a || c === b) continue;
      const v = G[ra + c] + G[rb + c];
      G[ra + c] = v;
      G[c * m + a] = v;
    }
    w[a] += w[b];
    alive[b] = 0;
    live--;
    g.union(reps[a], reps[b]);
    rescan(a);
    for (let c = 0; c < m; c++) {
      if (alive[c] === 0 || c === a) continue;
      const bc = best[c];
      if (bc === a || bc === b) {
        // its best partner changed or died: the new linkage can only be lower (reducibility)
        rescan(c);
      } else {
        const v = G[c * m + a] / (w[c] * w[a]);
        if (v > bestSim[c] || (v === bestSim[c] && a < bc)) {
          bestSim[c] = v;
          best[c] = a;
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------- sparse engine

function sparsePhase(
  g: Groups,
  target: number,
  threshold: number,
  thresholdMode: boolean,
  exactLimit: number,
  k: number,
): void {
  const d = g.d;
  for (let i = 0; i < g.size; i++) g.adj.push(EMPTY);
  const heap = new PairHeap(1024);
  for (let round = 0; ; round++) {
    if (g.live <= target) return;
    if (g.live <= exactLimit) {
      (globalThis as any).STATS.rounds.push({ exact: g.live, t: performance.now() });
      g.adj = [];
      exactPhase(g, target, threshold);
      return;
    }
    const reps = g.liveList();
    const m = reps.length;

    // unit rows of the group sums (float32 is plenty to pick candidates)
    const X = new Float32Array(m * d);
    for (let i = 0; i < m; i++) {
      const r = reps[i] * d;
      const nn = Math.sqrt(dot(g.sums, r, r, d));
      const inv = nn > 0 ? 1 / nn : 0;
      for (let t = 0; t < d; t++) X[i * d + t] = g.sums[r + t] * inv;
    }
    (globalThis as any).STATS.rounds.push({ knnStart: performance.now() });
    const knn = knnGraph(X, m, d, k, (SEED + Math.imul(round, 0x85ebca6b)) >>> 0);
    const kk = knn.length / m;
    addSymmetricEdges(g, reps, knn, kk);

    // every live pair of the graph once, from the smaller name
    heap.clear();
    for (let i = 0; i < m; i++) {
      const a = reps[i];
      const la = g.adj[a];
      for (let t = 0; t < la.length; t++) {
        const b = la[t];
        if (b > a) heap.push(g.sim(a, b), a, b, g.version[a], g.version[b]);
      }
    }
    heap.heapify();
    (globalThis as any).STATS.rounds.push({ m, heap0: heap.size, t: performance.now() });
    const merged = agglomerate(g, heap, target, threshold);
    (globalThis as any).STATS.rounds.push({ merged, live: g.live, t: performance.now() });
    if (thresholdMode && (merged === 0 || round + 1 >= MAX_THRESHOLD_ROUNDS)) {
      if (g.live <= exactLimit) {
        g.adj = [];
        exactPhase(g, target, threshold);
      }
      return;
    }
  }
}

/**
 * Adds the k-NN edges (in compact indices of `reps`) to the groups' lists, both ways, and
 * maps every list to live names without duplicates. The lists were symmetric and stay so.
 */
function addSymmetricEdges(g: Groups, reps: Int32Array, knn: Int32Array, k: number): void {
  const m = reps.length;
  const deg = new Int32Array(m + 1);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const j = knn[i * k + t];
      if (j < 0) break;
      deg[i + 1]++;
      deg[j + 1]++;
    }
  }
  for (let i = 0; i < m; i++) deg[i + 1] += deg[i];
  const fill = deg.slice(0, m);
  const edges = new Int32Array(deg[m]);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const j = knn[i * k + t];
      if (j < 0) break;
      edges[fill[i]++] = reps[j];
      edges[fill[j]++] = reps[i];
    }
  }
  const mark = new Int32Array(g.size).fill(-1);
  let tmp = new Int32Array(64);
  for (let i = 0; i < m; i++) {
    const a = reps[i];
    const old = g.adj[a];
    const need = old.length + deg[i + 1] - deg[i];
    if (tmp.length < need) tmp = new Int32Array(need * 2);
    mark[a] = i;
    let len = 0;
    for (let t = 0; t < old.length; t++) {
      const r = g.find(old[t]);
      if (mark[r] !== i) {
        mark[r] = i;
        tmp[len++] = r;
      }
    }
    for (let t = deg[i]; t < deg[i + 1]; t++) {
      const r = edges[t];
      if (mark[r] !== i) {
        mark[r] = i;
        tmp[len++] = r;
      }
    }
    g.adj[a] = tmp.slice(0, len);
  }
}

/**
 * Pops the best candidate pair until `target` groups remain, the best is below `threshold`, or
 * the heap is empty. Returns the number of merges.
 */
function agglomerate(g: Groups, heap: PairHeap, target: number, threshold: number): number {
  let merges = 0;
  // Compact when stale entries outnumber live candidates; live ones are at most the pairs of
  // the graph, so the heap stays O(n k).
  let compactAt = Math.max(2 * heap.size, 1024);
  const alive = g.alive;
  const ver = g.version;
  while (g.live > target && heap.size > 0) {
    const a = heap.ea[0];
    const b = heap.eb[0];
    if (alive[a] === 0 || alive[b] === 0 || ver[a] !== heap.va[0] || ver[b] !== heap.vb[0]) {
      heap.pop();
      continue;
    }
    if (heap.sim[0] < threshold) break;
    heap.pop();
    g.union(a, b);
    merges++;
    const nb = g.mergeAdjacency(a, b);
    (globalThis as any).STATS.dots += nb.length; (globalThis as any).STATS.maxdeg = Math.max((globalThis as any).STATS.maxdeg, nb.length);
    const va = ver[a];
    const T0 = performance.now();
    const SS = new Float64Array(nb.length);
    for (let t = 0; t < nb.length; t++) SS[t] = g.sim(a, nb[t]);
    const T1 = performance.now();
    for (let t = 0; t < nb.length; t++) {
      const r = nb[t];
      const s = SS[t];
      if (a < r) heap.push(s, a, r, va, ver[r]);
      else heap.push(s, r, a, ver[r], va);
    }
    const T2 = performance.now();
    (globalThis as any).STATS.tdot = ((globalThis as any).STATS.tdot ?? 0) + T1 - T0;
    (globalThis as any).STATS.tpush = ((globalThis as any).STATS.tpush ?? 0) + T2 - T1;
    if (heap.size > compactAt) {
      heap.retain((x, y, vx, vy) => alive[x] === 1 && alive[y] === 1 && ver[x] === vx && ver[y] === vy);
      compactAt = Math.max(2 * heap.size, 1024);
    }
  }
  return merges;
}

/**
 * Max-heap of candidate pairs in parallel typed arrays: similarity, the two group names (x < y)
 * and their versions when pushed. Order: higher similarity, then smaller x, then smaller y.
 */
class PairHeap {
  sim: Float64Array;
  ea: Int32Array;
  eb: Int32Array;
  va: Int32Array;
  vb: Int32Array;
  size = 0;

  constructor(cap: number) {
    this.sim = new Float64Array(cap);
    this.ea = new Int32Array(cap);
    this.eb = new Int32Array(cap);
    this.va = new Int32Array(cap);
    this.vb = new Int32Array(cap);
  }

  clear(): void {
    this.size = 0;
  }

  /** Appends without restoring the heap order; call heapify() after a batch. */
  private append(s: number, x: number, y: number, vx: number, vy: number): number {
    if (this.size === this.sim.length) this.grow();
    const i = this.size++;
    this.sim[i] = s;
    this.ea[i] = x;
    this.eb[i] = y;
    this.va[i] = vx;
    this.vb[i] = vy;
    return i;
  }

  push(s: number, x: number, y: number, vx: number, vy: number): void {
    this.up(this.append(s, x, y, vx, vy));
  }

  pop(): void {
    const last = --this.size;
    if (last > 0) {
      this.move(last, 0);
      this.down(0);
    }
  }

  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** Keeps the entries `keep` accepts, then restores the heap order. */
  retain(keep: (x: number, y: number, vx: number, vy: number) => boolean): void {
    let j = 0;
    for (let i = 0; i < this.size; i++) {
      if (keep(this.ea[i], this.eb[i], this.va[i], this.vb[i])) {
        if (i !== j) this.move(i, j);
        j++;
      }
    }
    this.size = j;
    this.heapify();
  }

  /** True when entry i goes before entry j. */
  private before(i: number, j: number): boolean {
    const si = this.sim[i];
    const sj = this.sim[j];
    if (si !== sj) return si > sj;
    const xi = this.ea[i];
    const xj = this.ea[j];
    if (xi !== xj) return xi < xj;
    return this.eb[i] < this.eb[j];
  }

  private move(from: number, to: number): void {
    this.sim[to] = this.sim[from];
    this.ea[to] = this.ea[from];
    this.eb[to] = this.eb[from];
    this.va[to] = this.va[from];
    this.vb[to] = this.vb[from];
  }

  private swap(i: number, j: number): void {
    const s = this.sim[i];
    const x = this.ea[i];
    const y = this.eb[i];
    const vx = this.va[i];
    const vy = this.vb[i];
    this.move(j, i);
    this.sim[j] = s;
    this.ea[j] = x;
    this.eb[j] = y;
    this.va[j] = vx;
    this.vb[j] = vy;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(r, l) ? r : l;
      if (!this.before(c, i)) break;
      this.swap(i, c);
      i = c;
    }
  }

  private grow(): void {
    const cap = this.sim.length * 2;
    const sim = new Float64Array(cap);
    sim.set(this.sim);
    this.sim = sim;
    for (const key of ['ea', 'eb', 'va', 'vb'] as const) {
      const next = new Int32Array(cap);
      next.set(this[key]);
      this[key] = next;
    }
  }
}

// ------------------------------------------------------------------------------ k-NN graph

/**
 * Approximate k nearest neighbours by cosine of the unit rows of X (m x d), as an m x k matrix
 * of row indices, most similar first, -1 where a row has fewer than k.
 *
 * A forest of TREES random-projection trees: each node splits its rows at the median of their
 * projection on x_p - x_q for two of its rows p, q drawn at random (the hyperplane between two
 * points, as Annoy does, so splits follow the data), down to leaves of at most LEAF_SIZE rows;
 * every pair within a leaf is compared exactly. Near rows share a leaf in most trees. Cost per
 * tree: m d log2(m / LEAF_SIZE) for the splits and m LEAF_SIZE d / 2 for the leaves (median
 * splits keep leaves between LEAF_SIZE/2 and LEAF_SIZE). A second pass then tries the
 * neighbours of each row's neighbours (one step of NN-descent), which mends most of what the
 * trees miss.
 */
function knnGraph(X: Float32Array, m: number, d: number, k: number, seed: number): Int32Array {
  const kk = Math.min(k, m - 1);
  const top = new TopK(m, Math.max(kk, 0));
  if (kk <= 0) return top.idx;
  if (kk >= m - 1 || m <= 2 * LEAF_SIZE) {
    for (let i = 0; i < m; i++)
      for (let j = i + 1; j < m; j++) {
        const s = dot32(X, i * d, j * d, d);
        top.offer(i, j, s);
        top.offer(j, i, s);
      }
    return top.idx;
  }

  const rand = mulberry32(seed);
  const perm = new Int32Array(m);
  const proj = new Float64Array(m);
  const dir = new Float64Array(d);
  const stackLo: number[] = [];
  const stackHi: number[] = [];
  for (let tree = 0; tree < TREES; tree++) {
    for (let i = 0; i < m; i++) perm[i] = i;
    stackLo.push(0);
    stackHi.push(m);
    while (stackLo.length > 0) {
      const lo = stackLo.pop()!;
      const hi = stackHi.pop()!;
      const size = hi - lo;
      if (size <= LEAF_SIZE) {
        for (let u = lo; u < hi; u++) {
          const i = perm[u];
          for (let v = u + 1; v < hi; v++) {
            const j = perm[v];
            const s = dot32(X, i * d, j * d, d);
            top.offer(i, j, s);
            top.offer(j, i, s);
          }
        }
        continue;
      }
      splitDirection(X, d, perm, lo, size, rand, dir);
      for (let u = lo; u < hi; u++) proj[u] = dotMixed(X, perm[u] * d, dir, d);
      const mid = lo + (size >> 1);
      select(proj, perm, lo, hi, mid);
      stackLo.push(mid, lo);
      stackHi.push(hi, mid);
    }
  }

  // One step of NN-descent: a neighbour of a neighbour is likely a neighbour. Only the first
  // R of each list, which keeps the pass at m R^2 dot products.
  const R = Math.min(kk, 8);
  const snap = top.idx.slice();
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < R; t++) {
      const j = snap[i * kk + t];
      if (j < 0) break;
      for (let u = 0; u < R; u++) {
        const l = snap[j * kk + u];
        if (l < 0) break;
        if (l === i || top.has(i, l)) continue;
        const s = dot32(X, i * d, l * d, d);
        top.offer(i, l, s);
        top.offer(l, i, s);
      }
    }
  }
  return top.idx;
}

/** Normal of the hyperplane between two distinct rows of the node; a random one if all coincide. */
function splitDirection(
  X: Float32Array,
  d: number,
  perm: Int32Array,
  lo: number,
  size: number,
  rand: () => number,
  dir: Float64Array,
): void {
  for (let attempt = 0; attempt < 8; attempt++) {
    const p = perm[lo + Math.floor(rand() * size)];
    let q = perm[lo + Math.floor(rand() * (size - 1))];
    if (q === p) q = perm[lo + size - 1];
    let nn = 0;
    for (let t = 0; t < d; t++) {
      const v = X[p * d + t] - X[q * d + t];
      dir[t] = v;
      nn += v * v;
    }
    if (nn > 0) return;
  }
  // duplicates (retweets, copies): any direction splits them, evenly by the median
  for (let t = 0; t < d; t++) dir[t] = rand() - 0.5;
}

/** Rearranges proj[lo..hi) and perm alike so that proj[lo..kth) <= proj[kth] <= proj(kth..hi). */
function select(proj: Float64Array, perm: Int32Array, lo: number, hi: number, kth: number): void {
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    const mid = (l + r) >> 1;
    const a = proj[l];
    const b = proj[mid];
    const c = proj[r];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = l;
    let j = r;
    while (i <= j) {
      while (proj[i] < pivot) i++;
      while (proj[j] > pivot) j--;
      if (i <= j) {
        const tp = proj[i];
        proj[i] = proj[j];
        proj[j] = tp;
        const ti = perm[i];
        perm[i] = perm[j];
        perm[j] = ti;
        i++;
        j--;
      }
    }
    if (kth <= j) r = j;
    else if (kth >= i) l = i;
    else return;
  }
}

/** Each row's best k candidates, most similar first; ties keep the earlier offer first. */
class TopK {
  readonly idx: Int32Array;
  readonly sim: Float64Array;
  readonly k: number;

  constructor(m: number, k: number) {
    this.k = k;
    this.idx = new Int32Array(m * k).fill(-1);
    this.sim = new Float64Array(m * k).fill(Number.NEGATIVE_INFINITY);
  }

  has(i: number, j: number): boolean {
    const idx = this.idx;
    const base = i * this.k;
    for (let t = 0; t < this.k; t++) if (idx[base + t] === j) return true;
    return false;
  }

  offer(i: number, j: number, s: number): void {
    const k = this.k;
    const base = i * k;
    const sim = this.sim;
    const idx = this.idx;
    if (!(s > sim[base + k - 1]) && idx[base + k - 1] >= 0) return;
    for (let t = 0; t < k; t++) if (idx[base + t] === j) return;
    let p = k - 1;
    while (p > 0 && (sim[base + p - 1] < s || idx[base + p - 1] < 0)) {
      sim[base + p] = sim[base + p - 1];
      idx[base + p] = idx[base + p - 1];
      p--;
    }
    sim[base + p] = s;
    idx[base + p] = j;
  }
}

// ---------------------------------------------------------------------------------- kernels

/** Dot product of two rows of `m`; four accumulators so the adds pipeline. */
function dot(m: Float64Array, a: number, b: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  const d4 = d - (d & 3);
  for (; i < d4; i += 4) {
    s0 += m[a + i] * m[b + i];
    s1 += m[a + i + 1] * m[b + i + 1];
    s2 += m[a + i + 2] * m[b + i + 2];
    s3 += m[a + i + 3] * m[b + i + 3];
  }
  for (; i < d; i++) s0 += m[a + i] * m[b + i];
  return s0 + s1 + s2 + s3;
}

function dot32(m: Float32Array, a: number, b: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  const d4 = d - (d & 3);
  for (; i < d4; i += 4) {
    s0 += m[a + i] * m[b + i];
    s1 += m[a + i + 1] * m[b + i + 1];
    s2 += m[a + i + 2] * m[b + i + 2];
    s3 += m[a + i + 3] * m[b + i + 3];
  }
  for (; i < d; i++) s0 += m[a + i] * m[b + i];
  return s0 + s1 + s2 + s3;
}

function dotMixed(m: Float32Array, a: number, v: Float64Array, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  const d2 = d - (d & 1);
  for (; i < d2; i += 2) {
    s0 += m[a + i] * v[i];
    s1 += m[a + i + 1] * v[i + 1];
  }
  if (i < d) s0 += m[a + i] * v[i];
  return s0 + s1;
}

/** A small seeded generator (mulberry32): uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
