/**
 * The absorb test of a Dirichlet-multinomial mixture (DMM), for short texts: which cluster a
 * tweet joins, or whether it starts a new one. GSDMM (Yin & Wang, KDD 2014) and MStream (Yin et
 * al., KDD 2018) cluster short texts with this model; here it decides for the CF-tree, which
 * stays the index of the clusters' vectors (CFTree.insertAt).
 *
 * A cluster z holds w_z recent documents (see "recency" below), n_z words in all, n_z^t of them
 * the term t. A document d with distinct terms t (k_t times each, N_d words) joins the cluster
 * of largest score, or starts a new one when no score is above 0:
 *
 *   score(z) = ln p(z | d) - ln p(new | d)
 *            = ln w_z - ln(alpha W)
 *              + sum_t sum_{j<k_t} [ln(n_z^t + beta + j) - ln(beta + j)]
 *              - sum_{i<N_d}       [ln(n_z + V beta + i) - ln(V beta + i)]
 *
 * which is MStream's p(z_d = z) against its p(new cluster) (the rising factorials of the Polya
 * urn of the cluster's words, against an empty urn), with W the recent documents in all and V
 * the vocabulary (distinct terms held by the live clusters, the document's new ones included).
 * Only terms the cluster holds add to the middle sum, so only clusters that share a term with
 * the document can score above a new cluster's 0 (in practice: a cluster sharing no term has
 * the document's words in an emptier urn than a new cluster's only when w_z > alpha W, and then
 * its larger n_z still makes it lose); candidates come from an inverted index term -> clusters,
 * and the search is exact over them.
 *
 * Recency. MStream weighs a cluster by its documents m_z and a new cluster by alpha D (D the
 * documents so far). In a stream that never forgets, a story that was big early keeps pulling
 * in tweets of later stories that share a word or two with it, and a cluster's weight only
 * grows. Here the weights decay with the stream: w_z and W count documents with a half-life of
 * `halfLife` documents (a document j documents ago counts 2^(-j/halfLife)), so a story's pull
 * is its share of the recent stream, and W, the window, is about halfLife / ln 2. The clock is
 * the count of documents, not time: it exists in every stream (the benchmark sets have no
 * times), it keeps the state a function of the order of the documents alone, and a share of
 * the recent tweets means the same at 10 tweets/s as at 10,000. The word counts n_z^t do not
 * decay: what a story is about does not fade, only how likely it is to be talked about next.
 * Measured on the MStream tweets (one pass; see bench/quality.ts): without decay NMI .851 with
 * 1,185 clusters, with a half-life of 300 tweets .883 with 1,194.
 *
 * Outliers. A cluster of fewer than `outlierSize` documents whose last document is two
 * half-lives old will likely stay that small: `bestPartner` names the cluster it belongs to, by
 * the same model (the probability of its documents as a block in that cluster's urn, weighted by
 * that cluster's size), and the caller merges it there (BIRCH's re-absorption of outliers).
 *
 * Terms are numbers (the caller hashes strings: 32-bit hashes of a vocabulary of 10^5 terms
 * collide with probability ~1e-6 per pair). Deterministic: every sum runs in an order fixed by
 * the inputs (a candidate's sum over the document's terms in their order), ties go to the
 * older cluster (lower id), and the state exports clusters and terms in insertion order.
 */

export interface DmmOptions {
  /** Weight of a new cluster per recent document (MStream's alpha). */
  alpha: number;
  /** Pseudo-count of every term in every cluster (MStream's beta). */
  beta: number;
  /** Half-life of the clusters' weights, in documents. */
  halfLife: number;
  /** Clusters smaller than this are outliers once stale (see bestPartner); 0 or 1: none. */
  outlierSize: number;
}

interface Cluster {
  id: number;
  /** recent documents, decayed to `tref` */
  w: number;
  tref: number;
  /** documents, not decayed */
  docs: number;
  /** words (sum of term counts) */
  words: number;
  /** clock of its last document */
  last: number;
  terms: Map<number, number>;
  /** scratch of `choose`: the term sum, valid while `stamp` is the current one */
  acc: number;
  stamp: number;
}

/** What `DmmModel.exportState()` gives and `DmmModel.fromState()` takes. */
export interface DmmState {
  meta: DmmOptions & { w: number; wref: number };
  /** per cluster, in the model's order: id, w, tref, docs, words, last, number of terms */
  clusters: Float64Array;
  /** every cluster's terms and counts, one run per cluster */
  terms: Uint32Array;
  counts: Float64Array;
}

const CLUSTER_FIELDS = 7;
/** Counts below this take ln((n + beta) / beta) from a table. */
const LOG_TABLE = 1024;

/**
 * ln of the rising factorial x (x + 1) ... (x + k - 1): one logarithm per eight factors (a
 * product of eight factors below 10^38 each stays far inside a double), not one per factor.
 */
function logRising(x: number, k: number): number {
  let s = 0;
  let prod = 1;
  for (let i = 0; i < k; i++) {
    prod *= x + i;
    if ((i & 7) === 7) {
      s += Math.log(prod);
      prod = 1;
    }
  }
  return s + Math.log(prod);
}

/** ln of prod_{j<k} (n + beta + j) / (beta + j): k draws of a term the urn holds n times. */
function risingLogRatio(n: number, beta: number, k: number): number {
  return logRising(n + beta, k) - logRising(beta, k);
}

export class DmmModel {
  readonly alpha: number;
  readonly beta: number;
  readonly halfLife: number;
  readonly outlierSize: number;
  private readonly clusters = new Map<number, Cluster>();
  /** term -> the clusters holding it, with its count there */
  private readonly postings = new Map<number, Map<Cluster, number>>();
  /** recent documents in all, decayed to `wref` */
  private w = 0;
  private wref = 0;
  private stamp = 0;
  private cands: Cluster[] = [];
  /** ln 2 / halfLife: the decay of ln w per document */
  private readonly decayRate: number;
  /** ln((n + beta) / beta) for n < LOG_TABLE */
  private readonly logTable: Float64Array;

  constructor(opts: DmmOptions) {
    const { alpha, beta, halfLife, outlierSize } = opts;
    if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`alpha must be > 0, got ${alpha}`);
    if (!(beta > 0) || !Number.isFinite(beta)) throw new RangeError(`beta must be > 0, got ${beta}`);
    if (!(halfLife > 0)) throw new RangeError(`halfLife must be > 0 (Infinity: no decay), got ${halfLife}`);
    if (!Number.isInteger(outlierSize) || outlierSize < 0)
      throw new RangeError(`outlierSize must be an integer >= 0, got ${outlierSize}`);
    this.alpha = alpha;
    this.beta = beta;
    this.halfLife = halfLife;
    this.outlierSize = outlierSize;
    this.decayRate = Math.LN2 / halfLife;
    this.logTable = new Float64Array(LOG_TABLE);
    for (let n = 0; n < LOG_TABLE; n++) this.logTable[n] = Math.log((n + beta) / beta);
  }

  get size(): number {
    return this.clusters.size;
  }

  /** Distinct terms held by the clusters (V). */
  get vocabulary(): number {
    return this.postings.size;
  }

  has(id: number): boolean {
    return this.clusters.has(id);
  }

  /** A cluster's document weight decayed to the clock `now`. */
  private weight(c: Cluster, now: number): number {
    return c.tref === now ? c.w : c.w * 2 ** ((c.tref - now) / this.halfLife);
  }

  /**
   * The cluster a document joins, or -1 for a new one. `terms[i]` occurs `counts[i]` times, the
   * terms distinct; `now` is the clock (documents so far, this one included). Changes nothing.
   */
  choose(terms: ArrayLike<number>, counts: ArrayLike<number>, nTerms: number, now: number): number {
    this.stamp++;
    const cands = this.cands;
    cands.length = 0;
    let words = 0;
    let fresh = 0;
    for (let i = 0; i < nTerms; i++) {
      const k = counts[i];
      words += k;
      const p = this.postings.get(terms[i]);
      if (p === undefined) {
        fresh++;
        continue;
      }
      this.k = k;
      // forEach, not for-of: the entries of a Map iterator are allocated, and this is the hot loop
      p.forEach(this.visit);
    }
    if (cands.length === 0) return -1;
    const vb = (this.postings.size + fresh) * this.beta;
    const newWeight = Math.log(this.alpha * (this.totalWeight(now) + 1)) - logRising(vb, words);
    let best = -1;
    let bestScore = 0;
    for (let q = 0; q < cands.length; q++) {
      const c = cands[q];
      // ln w_z(now) = ln w_z - (now - tref) ln 2 / halfLife: no power to take
      const lnWeight = Math.log(c.w) - (now - c.tref) * this.decayRate;
      const s = c.acc + lnWeight - newWeight - logRising(c.words + vb, words);
      if (s > bestScore || (s === bestScore && best !== -1 && c.id < best)) {
        bestScore = s;
        best = c.id;
      }
    }
    return best;
  }

  /** The term's count in the document `choose` is scoring, for `visit`. */
  private k = 1;

  /** One posting of the term `choose` is at: the cluster's sum grows by that term's share. */
  private readonly visit = (n: number, c: Cluster): void => {
    if (c.stamp !== this.stamp) {
      c.stamp = this.stamp;
      c.acc = 0;
      this.cands.push(c);
    }
    // the document's k copies of t drawn from the cluster's urn against an empty one
    const k = this.k;
    c.acc += k === 1 ? this.logRatio(n) : risingLogRatio(n, this.beta, k);
  };

  /** ln((n + beta) / beta) for a count n, from a table for the small counts that most are. */
  private logRatio(n: number): number {
    const table = this.logTable;
    if (n < table.length) return table[n];
    return Math.log((n + this.beta) / this.beta);
  }

  /** W decayed to `now`. */
  private totalWeight(now: number): number {
    return this.wref === now ? this.w : this.w * 2 ** ((this.wref - now) / this.halfLife);
  }

  /** Counts a document into cluster `id` (made when new) at clock `now`. */
  add(id: number, terms: ArrayLike<number>, counts: ArrayLike<number>, nTerms: number, now: number): void {
    let c = this.clusters.get(id);
    if (c === undefined) {
      c = { id, w: 0, tref: now, docs: 0, words: 0, last: now, terms: new Map(), acc: 0, stamp: 0 };
      this.clusters.set(id, c);
    }
    c.w = this.weight(c, now) + 1;
    c.tref = now;
    c.last = now;
    c.docs++;
    this.w = this.totalWeight(now) + 1;
    this.wref = now;
    for (let i = 0; i < nTerms; i++) {
      c.words += counts[i];
      this.addTerm(c, terms[i], counts[i]);
    }
  }

  private addTerm(c: Cluster, t: number, k: number): void {
    const n = (c.terms.get(t) ?? 0) + k;
    c.terms.set(t, n);
    let p = this.postings.get(t);
    if (p === undefined) {
      p = new Map();
      this.postings.set(t, p);
    }
    p.set(c, n);
  }

  private dropPostings(c: Cluster): void {
    for (const t of c.terms.keys()) {
      const p = this.postings.get(t) as Map<Cluster, number>;
      p.delete(c);
      if (p.size === 0) this.postings.delete(t);
    }
  }

  /** Forgets cluster `id` (expired, or removed); its recent documents leave W. */
  remove(id: number, now: number): void {
    const c = this.clusters.get(id);
    if (c === undefined) return;
    this.dropPostings(c);
    this.clusters.delete(id);
    this.w = Math.max(0, this.totalWeight(now) - this.weight(c, now));
    this.wref = now;
  }

  /** Cluster `from` joins cluster `to`: counts and weights add, `from` is gone. */
  merge(from: number, to: number, now: number): void {
    const a = this.clusters.get(from);
    const b = this.clusters.get(to);
    if (a === undefined || b === undefined || a === b) return;
    this.dropPostings(a);
    this.clusters.delete(from);
    b.w = this.weight(b, now) + this.weight(a, now);
    b.tref = now;
    b.last = Math.max(a.last, b.last);
    b.docs += a.docs;
    b.words += a.words;
    for (const [t, k] of a.terms) this.addTerm(b, t, k);
  }

  /**
   * Outliers due for re-absorption at clock `now`: clusters of fewer than `outlierSize`
   * documents whose last document is at least two half-lives old, oldest id first.
   */
  staleOutliers(now: number): number[] {
    const out: number[] = [];
    if (this.outlierSize <= 1) return out;
    const age = 2 * this.halfLife;
    for (const c of this.clusters.values())
      if (c.docs < this.outlierSize && now - c.last >= age) out.push(c.id);
    return out.sort((x, y) => x - y);
  }

  /**
   * The cluster that cluster `id` belongs in, or -1 when it shares no term with one at least
   * its size: the largest probability of its documents as a block in that cluster's urn, by
   * that cluster's size,
   *   ln Gamma(m_a + m_b) / Gamma(m_b)  +  sum_t ln Gamma(n_b^t + n_a^t + beta) / Gamma(n_b^t + beta)
   *   - ln Gamma(n_b + n_a + V beta) / Gamma(n_b + V beta),
   * each a short rising factorial (an outlier has few documents and words).
   */
  bestPartner(id: number): number {
    const a = this.clusters.get(id);
    if (a === undefined) return -1;
    const vb = this.postings.size * this.beta;
    this.stamp++;
    this.cands.length = 0;
    this.outlier = a;
    // Scores relative to a cluster that holds none of a's terms (a constant for every candidate,
    // so the argmax is the same): each shared term adds ln prod_j (n + beta + j) / (beta + j).
    for (const [t, k] of a.terms) {
      this.k = k;
      (this.postings.get(t) as Map<Cluster, number>).forEach(this.visitPartner);
    }
    this.outlier = undefined;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const c of this.cands) {
      const s = c.acc + logRising(c.docs, a.docs) - logRising(c.words + vb, a.words);
      if (s > bestScore || (s === bestScore && c.id < best)) {
        bestScore = s;
        best = c.id;
      }
    }
    return best;
  }

  /** The outlier `bestPartner` is placing. */
  private outlier: Cluster | undefined;

  /** One posting of a term of the outlier: a candidate at least its size gains the term's share. */
  private readonly visitPartner = (n: number, c: Cluster): void => {
    const a = this.outlier as Cluster;
    if (c === a || c.docs < a.docs) return;
    if (c.stamp !== this.stamp) {
      c.stamp = this.stamp;
      c.acc = 0;
      this.cands.push(c);
    }
    const k = this.k;
    c.acc += k === 1 ? this.logRatio(n) : risingLogRatio(n, this.beta, k);
  };

  exportState(): DmmState {
    let nTerms = 0;
    for (const c of this.clusters.values()) nTerms += c.terms.size;
    const clusters = new Float64Array(this.clusters.size * CLUSTER_FIELDS);
    const terms = new Uint32Array(nTerms);
    const counts = new Float64Array(nTerms);
    let r = 0;
    let k = 0;
    for (const c of this.clusters.values()) {
      clusters.set([c.id, c.w, c.tref, c.docs, c.words, c.last, c.terms.size], r);
      r += CLUSTER_FIELDS;
      for (const [t, n] of c.terms) {
        terms[k] = t;
        counts[k++] = n;
      }
    }
    return {
      meta: {
        alpha: this.alpha,
        beta: this.beta,
        halfLife: this.halfLife,
        outlierSize: this.outlierSize,
        w: this.w,
        wref: this.wref,
      },
      clusters,
      terms,
      counts,
    };
  }

  /** A model from `exportState()`; checks that the parts fit together before trusting them. */
  static fromState(st: DmmState): DmmModel {
    const m = st.meta;
    const model = new DmmModel(m);
    if (!Number.isFinite(m.w) || m.w < 0 || !Number.isFinite(m.wref))
      throw new RangeError('DMM state: bad total weight');
    if (st.clusters.length % CLUSTER_FIELDS !== 0) throw new RangeError('DMM state: bad cluster columns');
    if (st.terms.length !== st.counts.length)
      throw new RangeError('DMM state: terms and counts differ in length');
    model.w = m.w;
    model.wref = m.wref;
    let k = 0;
    for (let r = 0; r < st.clusters.length; r += CLUSTER_FIELDS) {
      const [id, w, tref, docs, words, last, size] = st.clusters.subarray(r, r + CLUSTER_FIELDS);
      if (model.clusters.has(id)) throw new RangeError(`DMM state: cluster ${id} twice`);
      if (k + size > st.terms.length) throw new RangeError('DMM state: term runs overrun the terms');
      const c: Cluster = { id, w, tref, docs, words, last, terms: new Map(), acc: 0, stamp: 0 };
      model.clusters.set(id, c);
      for (let q = 0; q < size; q++, k++) model.addTerm(c, st.terms[k], st.counts[k]);
    }
    if (k !== st.terms.length) throw new RangeError('DMM state: terms left over');
    return model;
  }
}
