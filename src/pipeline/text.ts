/**
 * The flow of one tweet from validated input to its cluster: embed (unless it carries its own
 * vector), collect its terms, apply it to the engine. The CLI drives it today; the HTTP service
 * and log replay drive the same code.
 */
import type { Assignment, ClusterEngine } from '../engine/engine.js';
import { HashedTfidfEmbedder } from '../text/hashed-tfidf.js';
import type { CleanTweet } from './tweet.js';

/** Defaults shared by the CLI and (later) the service configuration. */
export const DEFAULTS = {
  /**
   * Dimension of the built-in hashed TF-IDF embedder. Measured on the MStream tweets (one pass,
   * cosine absorb 0.2, online IDF): NMI .740 at 512, .768 at 1024, ~.80 at 2048; fewer hash
   * collisions help, but the tree's memory and its dense linear-sum updates grow with d, so 1024.
   */
  dim: 1024,
  /**
   * Absorb test for text: a tweet joins its nearest cluster when its cosine with the cluster's
   * centroid direction is >= this (see CFTree.tryMerge for why not sklearn's radius test). A
   * round value, not tuned to a data set: 0.2 to 0.3 trade clusters for purity (MStream tweets:
   * 0.2 -> 1,916 clusters NMI .763, 0.25 -> 3,631 / .788, 0.3 -> 5,734 / .796).
   */
  similarity: 0.25,
  /**
   * No IDF weighting by default. Online IDF weighs a tweet by the document frequencies seen
   * before it, so the first tweets of a stream, when every term is rare, are embedded in a
   * different weighting from later ones, and the clusters they seed drift. Plain sublinear tf
   * over stop-worded tokens is stationary, and measured better on every labelled set we have
   * (MStream tweets NMI .788 vs .770 at equal settings, drift order .781 vs .761, CrisisLexT6
   * .425 vs .346).
   */
  idf: 'none' as const,
  /**
   * The default absorb test: the Dirichlet-multinomial mixture of short texts (src/birch/dmm.ts),
   * on the tweet's terms. `similarity` and `threshold` are the alternatives (--similarity,
   * --threshold). One pass (bench/quality.ts): MStream tweets NMI .879 with 454 clusters (cosine
   * 0.25: .788 with 3,631), drift order .916 with 465 (.781 / 3,434), CrisisLexT6 .456 with 540
   * (.434 / 5,281).
   */
  absorb: 'dmm' as const,
  /**
   * The DMM's settings: alpha and beta in the range of MStream's and GSDMM's published ones, a
   * story's pull halving every `halfLife` tweets, clusters under `outlierSize` tweets joining
   * the story they belong to once stale. Round values on a plateau, not a peak; NMI on Tweets /
   * Tweets-T / CrisisLexT6 when one setting moves:
   *   alpha .03: .864 / .913 / .450    .1: .879 / .916 / .456    .3: .876 / .910 / .453
   *   beta .005: .873 / .907 / .432   .01: .879 / .916 / .456   .02: .871 / .903 / .461
   *   half-life 100: .871 / .925 / .463   300: .879 / .916 / .456   1000: .875 / .884 / .428
   *   no decay and no outlier step: .851 (1,186 clusters) / .846 / .358 (3,398 clusters)
   */
  dmm: { alpha: 0.1, beta: 0.01, halfLife: 300, outlierSize: 3 },
  /** sklearn's radius threshold, used instead of `similarity` when given (--threshold). */
  threshold: 0.5,
  branchingFactor: 50,
} as const;

export interface TextPipelineOptions {
  /** Dimension of the built-in embedder (tweets that bring their own vector keep theirs). */
  dim?: number;
}

export class TextPipeline {
  readonly embedder: HashedTfidfEmbedder;
  readonly dim: number;
  private readonly scratch: Float32Array;

  constructor(opts: TextPipelineOptions = {}) {
    this.embedder = new HashedTfidfEmbedder({ dim: opts.dim ?? DEFAULTS.dim, idf: DEFAULTS.idf });
    this.dim = this.embedder.dim;
    this.scratch = new Float32Array(this.dim);
  }

  /**
   * The vector and content terms of one tweet: its own embedding when it brings one, else the
   * built-in embedder's. The vector may be a scratch buffer, valid until the next call.
   * `update` = false leaves an online IDF's counts alone (queries).
   */
  embed(t: CleanTweet, update = true): { vector: Float32Array; terms: string[] } {
    const terms: string[] = [];
    let vector: Float32Array;
    if (t.vector !== undefined) {
      vector = t.vector;
      if (t.text !== '') terms.push(...this.embedder.contentTerms(t.text));
    } else {
      vector = this.scratch;
      // one tokenizer pass gives both the vector and the cluster's terms
      if (this.embedder.embedOne(t.text, vector, update, terms) === 0) {
        // Nothing left after tokenising (only stop words or punctuation): such tweets are
        // clustered together by a fixed unit vector rather than dropped, so none is lost.
        vector.fill(0);
        vector[0] = 1;
      }
    }
    return { vector, terms };
  }

  /** Embeds (when needed) and applies one tweet; `arrival` is its time when it has none. */
  apply(engine: ClusterEngine, t: CleanTweet, arrival: number): Assignment {
    const { vector, terms } = this.embed(t);
    return engine.apply({ id: t.id, text: t.text, time: t.time ?? arrival, vector, terms });
  }
}
