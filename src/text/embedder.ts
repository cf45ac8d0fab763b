/**
 * One interface for every way birdie turns text into vectors: the built-in hashed TF-IDF
 * vectorizer, sentence-transformer models (transformers.ts), remote embedding services
 * (http-embedder.ts), and the cache in front of either (cache.ts).
 *
 * Rows are unit length (L2-normalised), so cosine similarity is a dot product and the BIRCH
 * radius threshold T merges two tweets when cos >= 1 - 2T^2.
 */
export interface Embedder {
  /** Length of every row this embedder returns. */
  readonly dim: number;
  /**
   * Identifies the vector space: a snapshot made with one model id cannot be used with another.
   * Includes every parameter that changes the vectors (e.g. `hashed-tfidf:v1:d256:...`).
   */
  readonly modelId: string;
  /**
   * Whether a text's vector depends on the text and `modelId` alone, so that it may be cached
   * and reused. Models and services: true. The online-IDF vectorizer: its vectors depend on the
   * texts that came before, so a cached vector would differ from a fresh one. Absent: a cache
   * treats an embedder with `exportState` (state that changes the vectors) as not cacheable.
   */
  readonly cacheable?: boolean;
  /** Embeds a batch of texts; row i is the unit vector of texts[i] (all zeros only for empty text). */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /** Releases what the embedder holds (worker threads, connections). Idempotent. */
  close?(): Promise<void>;
}
