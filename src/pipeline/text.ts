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
  /** Dimension of the built-in hashed TF-IDF embedder. */
  dim: 512,
  /** BIRCH radius threshold for unit tweet vectors. */
  threshold: 0.5,
  branchingFactor: 50,
} as const;

export interface TextPipelineOptions {
  dim?: number;
  /** false when every tweet brings its own vector: no embedder is built. */
  embed?: boolean;
}

export class TextPipeline {
  readonly embedder: HashedTfidfEmbedder;
  readonly dim: number;
  private readonly scratch: Float32Array;

  constructor(opts: TextPipelineOptions = {}) {
    this.embedder = new HashedTfidfEmbedder({ dim: opts.dim ?? DEFAULTS.dim });
    this.dim = this.embedder.dim;
    this.scratch = new Float32Array(this.dim);
  }

  /** Embeds (when needed) and applies one tweet; `arrival` is its time when it has none. */
  apply(engine: ClusterEngine, t: CleanTweet, arrival: number): Assignment {
    let vector: Float32Array = t.vector ?? this.scratch;
    if (t.vector === undefined) {
      const n = this.embedder.embedOne(t.text, this.scratch, true);
      if (n === 0) {
        // Nothing left after tokenising (only stop words or punctuation): such tweets are
        // clustered together by a fixed unit vector rather than dropped, so none is lost.
        vector = this.scratch;
        vector.fill(0);
        vector[0] = 1;
      }
    }
    const terms = t.text === '' ? undefined : this.embedder.contentTerms(t.text);
    return engine.apply({ id: t.id, text: t.text, time: t.time ?? arrival, vector, terms });
  }
}
