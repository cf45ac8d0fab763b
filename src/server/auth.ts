/**
 * Bearer tokens. Each route says who may call it (`config.access`): `open` (probes, scrapers,
 * docs), `api` (API_TOKENS or ADMIN_TOKENS) or `admin` (ADMIN_TOKENS). No token or an unknown
 * one: 401; an API token on an admin route: 403. With no tokens configured at all, the service
 * runs open (and says so in a warning at startup).
 *
 * Comparison in constant time: both sides are hashed to 32 bytes (so lengths never differ) and
 * compared with timingSafeEqual against every configured token, without stopping at a match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BirdieError } from '../errors.js';
import { type Context, isDocs } from './context.js';

export type Role = 'admin' | 'api';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class TokenChecker {
  private readonly api: Buffer[];
  private readonly admin: Buffer[];

  constructor(apiTokens: readonly string[], adminTokens: readonly string[]) {
    this.api = apiTokens.map(digest);
    this.admin = adminTokens.map(digest);
  }

  /** A stable, non-reversible key for a token (rate-limit buckets). */
  static keyOf(token: string): string {
    return digest(token).toString('base64url').slice(0, 22);
  }

  get open(): boolean {
    return this.api.length === 0 && this.admin.length === 0;
  }

  /** The role of a presented token, or undefined when it matches none. */
  roleOf(token: string): Role | undefined {
    const d = digest(token);
    let isAdmin = false;
    let isApi = false;
    for (const t of this.admin) isAdmin = timingSafeEqual(d, t) || isAdmin;
    for (const t of this.api) isApi = timingSafeEqual(d, t) || isApi;
    return isAdmin ? 'admin' : isApi ? 'api' : undefined;
  }
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m === null ? undefined : m[1];
}

export function registerAuth(app: FastifyInstance, ctx: Context, tokens: TokenChecker): void {
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access ?? (isDocs(req.routeOptions.url) ? 'open' : 'api');
    if (access === 'open' || tokens.open) return;
    const token = bearer(req);
    if (token === undefined)
      throw new BirdieError('BRD_ERR_UNAUTHORIZED', 'Send a bearer token: Authorization: Bearer <token>');
    const role = tokens.roleOf(token);
    if (role === undefined) throw new BirdieError('BRD_ERR_UNAUTHORIZED', 'The bearer token is not valid');
    if (access === 'admin' && role !== 'admin')
      throw new BirdieError('BRD_ERR_FORBIDDEN', 'This endpoint needs an admin token');
  });
  // not ready (starting, or shutting down): everything but probes, scrapers and docs waits
  app.addHook('preHandler', async (req) => {
    if (ctx.ready) return;
    const access = req.routeOptions.config?.access ?? (isDocs(req.routeOptions.url) ? 'open' : 'api');
    if (access === 'open') return;
    throw new BirdieError(
      'BRD_ERR_NOT_READY',
      ctx.shuttingDown ? 'The service is shutting down' : 'The service is loading its state',
    );
  });
}
