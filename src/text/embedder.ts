/**
 * One interface for every way birdie turns text into vectors: the built-in hashed TF-IDF
 * vectorizer, and later sentence-transformer models and remote embedding services.
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
  /** Embeds a batch of texts; row i is the unit vector of texts[i] (all zeros only for empty text). */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}
