/**
 * Every error leaves the server as `{ "error": { "code", "message" } }` with the catalog's status.
 * Fastify's own errors (bad JSON, body too large, schema validation) are mapped onto the catalog;
 * anything unexpected is logged with its stack and answered as BRD_ERR_INTERNAL without it.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BirdieError, ERRORS, type ErrorCode } from '../errors.js';
import type { Context } from './context.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BRD_ERR_INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BRD_ERR_INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BRD_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BRD_ERR_VALIDATION',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BRD_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'BRD_ERR_VALIDATION',
};

const kCode = Symbol('birdie.errorCode');

/** The catalog code a reply was answered with, for the request's log line. */
export function errorCodeOf(reply: FastifyReply): ErrorCode | undefined {
  return (reply as unknown as { [kCode]?: ErrorCode })[kCode];
}

export function sendError(ctx: Context, reply: FastifyReply, err: BirdieError): FastifyReply {
  ctx.metrics.errors.inc({ code: err.code });
  (reply as unknown as { [kCode]?: ErrorCode })[kCode] = err.code;
  return reply.code(err.status).type('application/json').send({ error: err.toJSON() });
}

/** The catalog error for anything thrown in a request. */
export function toBirdieError(err: FastifyError | Error, req: FastifyRequest): BirdieError {
  if (err instanceof BirdieError) return err;
  const fe = err as FastifyError;
  if (fe.validation !== undefined) {
    const v = fe.validation[0];
    const where = fe.validationContext ?? 'request';
    const path = v?.instancePath ? v.instancePath.slice(1).replaceAll('/', '.') : '';
    const extra = (v?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    const what = extra !== undefined ? `has an unknown field "${extra}"` : (v?.message ?? 'is not valid');
    return new BirdieError('BRD_ERR_VALIDATION', `${where}${path ? `.${path}` : ''} ${what}`);
  }
  const mapped = fe.code !== undefined ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped !== undefined) {
    if (mapped === 'BRD_ERR_PAYLOAD_TOO_LARGE')
      return new BirdieError(
        mapped,
        `The request body is larger than ${req.routeOptions.bodyLimit ?? 0} bytes`,
      );
    if (mapped === 'BRD_ERR_UNSUPPORTED_MEDIA_TYPE') return new BirdieError(mapped);
    // Fastify's own messages for these say what is wrong without echoing the body
    return new BirdieError(mapped, fe.message);
  }
  // a 4xx from the HTTP layer itself (malformed request line, etc.) keeps its status class
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500)
    return new BirdieError('BRD_ERR_VALIDATION', fe.message);
  return new BirdieError('BRD_ERR_INTERNAL', ERRORS.BRD_ERR_INTERNAL.message);
}

export function registerErrorHandlers(app: FastifyInstance, ctx: Context): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const be = toBirdieError(err, req);
    // the request's own log line carries the code; only the unexpected gets its stack logged
    if (be.code === 'BRD_ERR_INTERNAL') req.log.error({ err }, 'request failed');
    else req.log.debug({ code: be.code, detail: be.message }, 'request refused');
    return sendError(ctx, reply, be);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(
      ctx,
      reply,
      new BirdieError('BRD_ERR_NOT_FOUND', `No endpoint ${req.method} ${req.url.split('?')[0]}`),
    ),
  );
}
