export type { Embedder } from './embedder.js';
export {
  DEFAULT_HASHED_TFIDF_OPTIONS,
  DEFAULT_KIND_WEIGHTS,
  EmbedderStateError,
  HashedTfidfEmbedder,
  type HashedTfidfOptions,
  type IdfMode,
  type KindWeights,
} from './hashed-tfidf.js';
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
