export {
  CachedEmbedder,
  type CachedEmbedderOptions,
  type CacheObserver,
  type CacheSource,
  DEFAULT_CACHE_SIZE,
  DEFAULT_CACHE_TTL_SECONDS,
  normaliseText,
} from './cache.js';
export type { Embedder } from './embedder.js';
export { EmbedderError, type EmbedderErrorCode, EmbedderLoadError } from './errors.js';
export {
  DEFAULT_HASHED_TFIDF_OPTIONS,
  DEFAULT_KIND_WEIGHTS,
  EmbedderStateError,
  HashedTfidfEmbedder,
  type HashedTfidfOptions,
  type IdfMode,
  type KindWeights,
} from './hashed-tfidf.js';
export {
  HttpEmbedder,
  type HttpEmbedderObserver,
  type HttpEmbedderOptions,
  type HttpEmbeddingApi,
} from './http-embedder.js';
export { murmur3Bytes, murmur3Utf16 } from './murmur3.js';
export {
  DEFAULT_STOP_WORDS,
  STOP_WORDS_CJK,
  STOP_WORDS_DE,
  STOP_WORDS_EN,
  STOP_WORDS_ES,
  STOP_WORDS_FR,
  STOP_WORDS_PT,
} from './stopwords.js';
export {
  contentTerms,
  DEFAULT_TOKENIZER_OPTIONS,
  TOKENIZER_VERSION,
  type Token,
  type TokenizeResult,
  Tokenizer,
  type TokenizerOptions,
  type TokenKind,
  type TokenSink,
  tokenize,
} from './tokenizer.js';
export {
  DEFAULT_TRANSFORMERS_BATCH_SIZE,
  type ModelInfo,
  type Pooling,
  TransformersEmbedder,
  type TransformersEmbedderOptions,
  type TransformersObserver,
} from './transformers.js';
