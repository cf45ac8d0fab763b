/**
 * Clustering quality of a labelling (`pred`, e.g. birdie's cluster ids) against ground truth
 * (`truth`, e.g. the story of each tweet), with scikit-learn's definitions and edge cases
 * (checked against sklearn 1.2.1 in test/engine/quality.test.ts):
 *
 *   n_ij = rows with true label i and predicted label j,  a_i = sum_j n_ij,  b_j = sum_i n_ij
 *   H(C) = -sum_i a_i/n ln(a_i/n)          H(K) = -sum_j b_j/n ln(b_j/n)        (natural log)
 *   MI   =  sum_ij n_ij/n ln(n n_ij / (a_i b_j))
 *   NMI  =  MI / sqrt(H(C) H(K))  (geometric)      MI / ((H(C) + H(K)) / 2)  (arithmetic)
 *   homogeneity = MI / H(C),  completeness = MI / H(K),  V = 2 h c / (h + c)
 *   ARI  from the pair confusion matrix (sklearn `pair_confusion_matrix`)
 *   purity = sum_j max_i n_ij / n
 *
 * Only the non-zero cells of the contingency table are built: with 60k rows and thousands of
 * clusters a dense n_true x n_pred matrix would hold millions of zeros, while there are never
 * more than n non-zero cells. Cells are found by sorting one key per row (true id * nPred +
 * pred id, exact in a double while n < 9e7, since both ids are < n).
 */

export type Label = number | string;

export interface QualityReport {
  /** Normalised mutual information, geometric mean of the entropies. */
  nmi: number;
  /** Normalised mutual information, arithmetic mean of the entropies (sklearn's default). */
  nmiArithmetic: number;
  /** Adjusted Rand index. */
  ari: number;
  homogeneity: number;
  completeness: number;
  /** V-measure with beta = 1 (harmonic mean of homogeneity and completeness). */
  vMeasure: number;
  /** Share of rows whose predicted cluster's most common true label is their own. */
  purity: number;
  /** Distinct predicted labels. */
  clusters: number;
  /** Distinct true labels. */
  labels: number;
  /** Rows. */
  n: number;
}

/** Dense ids 0..k-1 in order of first appearance. Labels are compared as Map keys (1 and '1' differ). */
function encode(labels: ArrayLike<Label>, n: number): { ids: Int32Array; k: number } {
  const seen = new Map<Label, number>();
  const ids = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const v = labels[r];
    let id = seen.get(v);
    if (id === undefined) {
      id = seen.size;
      seen.set(v, id);
    }
    ids[r] = id;
  }
  return { ids, k: seen.size };
}

/** -sum c/n ln(c/n) over counts; written ln c - ln n as sklearn does, to keep precision. */
function entropy(counts: Float64Array, n: number): number {
  if (counts.length <= 1) return 0;
  const logN = Math.log(n);
  let h = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0) h -= (c / n) * (Math.log(c) - logN);
  }
  return h;
}

export function evaluate(truth: ArrayLike<Label>, pred: ArrayLike<Label>): QualityReport {
  if (truth.length !== pred.length) {
    throw new RangeError(`truth has ${truth.length} labels but pred has ${pred.length}`);
  }
  const n = truth.length;
  const t = encode(truth, n);
  const p = encode(pred, n);
  const nTrue = t.k;
  const nPred = p.k;

  const a = new Float64Array(nTrue);
  const b = new Float64Array(nPred);
  const keys = new Float64Array(n);
  const tIds = t.ids;
  const pIds = p.ids;
  for (let r = 0; r < n; r++) {
    a[tIds[r]]++;
    b[pIds[r]]++;
    keys[r] = tIds[r] * nPred + pIds[r];
  }
  keys.sort();

  // One pass over the runs of equal keys = the non-zero cells n_ij.
  const logN = Math.log(n);
  const maxInPred = new Float64Array(nPred);
  const singleSide = nTrue === 1 || nPred === 1;
  let mi = 0;
  let sumSquares = 0;
  for (let r = 0; r < n; ) {
    const key = keys[r];
    let end = r + 1;
    while (end < n && keys[end] === key) end++;
    const nij = end - r;
    r = end;
    const i = Math.floor(key / nPred);
    const j = key - i * nPred;
    sumSquares += nij * nij;
    if (nij > maxInPred[j]) maxInPred[j] = nij;
    if (!singleSide) {
      // Term by term as sklearn's mutual_info_score, including its flush of |term| < eps to 0.
      const term = (nij / n) * (Math.log(nij) - logN) + (nij / n) * (-Math.log(a[i] * b[j]) + logN + logN);
      if (Math.abs(term) >= Number.EPSILON) mi += term;
    }
  }
  // Any side with one label has zero entropy, so MI = 0 exactly (sklearn returns 0.0 early).
  mi = singleSide ? 0 : Math.max(mi, 0);

  const hTrue = entropy(a, n);
  const hPred = entropy(b, n);

  // NMI: one label on both sides (or no rows) is a perfect match; otherwise MI = 0 means 0
  // whatever the normalisation, and MI > 0 implies both entropies > 0.
  let nmi: number;
  let nmiArithmetic: number;
  if ((nTrue === 1 && nPred === 1) || (nTrue === 0 && nPred === 0)) {
    nmi = 1;
    nmiArithmetic = 1;
  } else if (mi === 0) {
    nmi = 0;
    nmiArithmetic = 0;
  } else {
    nmi = mi / Math.sqrt(hTrue * hPred);
    nmiArithmetic = mi / ((hTrue + hPred) / 2);
  }

  let homogeneity = 1;
  let completeness = 1;
  let vMeasure = 1;
  if (n > 0) {
    homogeneity = hTrue !== 0 ? mi / hTrue : 1;
    completeness = hPred !== 0 ? mi / hPred : 1;
    vMeasure =
      homogeneity + completeness === 0 ? 0 : (2 * homogeneity * completeness) / (homogeneity + completeness);
  }

  let purity = 1;
  if (n > 0) {
    let hits = 0;
    for (let j = 0; j < nPred; j++) hits += maxInPred[j];
    purity = hits / n;
  }

  return {
    nmi,
    nmiArithmetic,
    ari: adjustedRand(a, b, sumSquares, n),
    homogeneity,
    completeness,
    vMeasure,
    purity,
    clusters: nPred,
    labels: nTrue,
    n,
  };
}

/**
 * sklearn's adjusted_rand_score via its pair confusion matrix (ordered pairs, hence no 1/2):
 *
 *   tp = sum n_ij^2 - n          fp = sum b_j^2 - sum n_ij^2
 *   fn = sum a_i^2 - sum n_ij^2  tn = n^2 - tp - fp - fn - n
 *   ARI = 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)),  1 when fn = fp = 0
 *
 * The sums of squares are <= n^2, exact in a double; the products reach n^4 (1.3e19 at 60k
 * rows), past 2^53, and the numerator cancels to near 0 for a random labelling, so they are
 * taken in BigInt as sklearn takes them in Python ints.
 */
function adjustedRand(a: Float64Array, b: Float64Array, sumSquares: number, n: number): number {
  let sumA = 0;
  for (let i = 0; i < a.length; i++) sumA += a[i] * a[i];
  let sumB = 0;
  for (let j = 0; j < b.length; j++) sumB += b[j] * b[j];
  const tp = BigInt(sumSquares - n);
  const fp = BigInt(sumB - sumSquares);
  const fn = BigInt(sumA - sumSquares);
  const tn = BigInt(n) * BigInt(n) - fp - fn - BigInt(sumSquares);
  if (fn === 0n && fp === 0n) return 1;
  // Non-zero: fn != 0 makes the first product > 0, fp != 0 the second.
  const num = 2n * (tp * tn - fn * fp);
  const den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
  // Rounded to doubles before dividing, as Python's `2.0 * (...) / (...)` does.
  return Number(num) / Number(den);
}

const ROWS: [string, keyof QualityReport][] = [
  ['rows', 'n'],
  ['true labels', 'labels'],
  ['clusters', 'clusters'],
  ['NMI (geometric)', 'nmi'],
  ['NMI (arithmetic)', 'nmiArithmetic'],
  ['ARI', 'ari'],
  ['homogeneity', 'homogeneity'],
  ['completeness', 'completeness'],
  ['V-measure', 'vMeasure'],
  ['purity', 'purity'],
];

/** A short aligned block, one metric a line; counts as integers, scores with 4 decimals. */
export function formatReport(r: QualityReport): string {
  const width = Math.max(...ROWS.map(([name]) => name.length));
  const values = ROWS.map(([, key]) => {
    const v = r[key];
    if (key === 'n' || key === 'labels' || key === 'clusters') return String(v);
    const text = v.toFixed(4);
    return text === '-0.0000' ? '0.0000' : text; // an ARI of -1e-6 is 0 at this precision
  });
  const valueWidth = Math.max(...values.map((v) => v.length));
  return ROWS.map(([name], k) => `${name.padEnd(width)}  ${values[k].padStart(valueWidth)}`).join('\n');
}
