/**
 * Every error birdie answers with, in one catalog: a stable code, the HTTP status, and a default
 * message. Clients branch on `code`; `message` is for people and may say more than the default.
 * The HTTP layer answers them as `{ "error": { "code", "message" } }`; a batch answers an item's
 * error in the same shape inside its result. test/errors.test.ts keeps this catalog, the README's
 * table and the OpenAPI document in step.
 */

export const ERRORS = {
  BRD_ERR_VALIDATION: { status: 400, message: 'The request is not valid' },
  BRD_ERR_INVALID_JSON: { status: 400, message: 'The body is not valid JSON' },
  BRD_ERR_INVALID_TWEET: { status: 400, message: 'The tweet is not valid' },
  BRD_ERR_EMBEDDING_DIMENSION: { status: 400, message: 'The embedding has the wrong dimension' },
  BRD_ERR_INVALID_CONFIG: { status: 400, message: 'The configuration is not valid' },
  BRD_ERR_UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required' },
  BRD_ERR_FORBIDDEN: { status: 403, message: 'This token may not use this endpoint' },
  BRD_ERR_NOT_FOUND: { status: 404, message: 'No such endpoint' },
  BRD_ERR_CLUSTER_NOT_FOUND: { status: 404, message: 'No such cluster' },
  BRD_ERR_TWEET_NOT_FOUND: { status: 404, message: 'No such tweet in memory' },
  BRD_ERR_TOPICS_DISABLED: { status: 404, message: 'No topic step is configured (set TOPICS)' },
  BRD_ERR_BACKUP_NOT_FOUND: { status: 404, message: 'No such backup' },
  BRD_ERR_BUSY: { status: 409, message: 'Another operation of this kind is running' },
  BRD_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  BRD_ERR_BATCH_TOO_LARGE: { status: 413, message: 'The batch holds more tweets than allowed' },
  BRD_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The body must be application/json' },
  BRD_ERR_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  BRD_ERR_BACKUP_INVALID: { status: 422, message: 'The backup cannot be restored' },
  BRD_ERR_INTERNAL: { status: 500, message: 'Internal error' },
  BRD_ERR_BACKUP_FAILED: { status: 502, message: 'The backup store failed' },
  BRD_ERR_NOT_READY: { status: 503, message: 'The service is not ready' },
  BRD_ERR_EMBEDDER_UNAVAILABLE: {
    status: 503,
    message: 'The embedder (model or embedding service) failed; nothing was applied: retry later',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a catalog code; anything else that reaches a client is BRD_ERR_INTERNAL. */
export class BirdieError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** the name Fastify reads a thrown error's status from */
  readonly statusCode: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].message);
    this.name = 'BirdieError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.statusCode = this.status;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** The README's table of error codes (test/server/errors.test.ts keeps them in step). */
export function errorTable(): string {
  const rows = ['| code | HTTP status | meaning |', '|---|---|---|'];
  for (const [code, e] of Object.entries(ERRORS)) rows.push(`| \`${code}\` | ${e.status} | ${e.message} |`);
  return rows.join('\n');
}
