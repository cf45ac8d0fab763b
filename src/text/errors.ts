/**
 * Errors of the optional embedders (sentence-transformer models, remote services) and the cache.
 * `code` is stable, for metrics and for mapping onto the service's BRD_ERR_* catalog; `message`
 * is for people and never holds a credential.
 */

export type EmbedderErrorCode =
  /** the model (directory, files, weights) could not be loaded */
  | 'EMBEDDER_LOAD'
  /** inference failed on a loaded model, or its worker thread died */
  | 'EMBEDDER_INFERENCE'
  /** the remote service did not answer within the timeout, on the last attempt */
  | 'EMBEDDER_TIMEOUT'
  /** the remote service could not be reached (refused, reset, DNS), on the last attempt */
  | 'EMBEDDER_NETWORK'
  /** the remote service answered with an HTTP error status */
  | 'EMBEDDER_HTTP'
  /** the remote service answered 200 with a body that is not the expected shape */
  | 'EMBEDDER_BAD_RESPONSE'
  /** vectors of another length than the embedder's dimension */
  | 'EMBEDDER_DIMENSION'
  /** embed() after close() */
  | 'EMBEDDER_CLOSED';

export class EmbedderError extends Error {
  override name = 'EmbedderError';
  readonly code: EmbedderErrorCode;
  /** HTTP status of the last answer, when there was one */
  readonly status: number | undefined;
  /** requests made before giving up (remote services) */
  readonly attempts: number | undefined;

  constructor(
    code: EmbedderErrorCode,
    message: string,
    extra: { status?: number; attempts?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.status = extra.status;
    this.attempts = extra.attempts;
  }
}

/** A model that cannot be loaded: names the path (or model name) and what is missing or broken. */
export class EmbedderLoadError extends EmbedderError {
  override name = 'EmbedderLoadError';
  /** the model directory, file or hub name at fault */
  readonly path: string;
  /** files expected and not found, relative to `path` */
  readonly missing: readonly string[];

  constructor(message: string, path: string, missing: readonly string[] = [], cause?: unknown) {
    super('EMBEDDER_LOAD', message, { cause });
    this.path = path;
    this.missing = missing;
  }
}
