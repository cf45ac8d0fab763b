/**
 * What every plugin of the server shares: the running config (live settings change it), the
 * pipeline, the metrics and whether the service is ready. Passed to each plugin as its options
 * rather than decorated onto Fastify, so plugins name what they use.
 */
import type { Config } from '../config.js';
import type { Durable } from '../pipeline/durable.js';
import type { Service } from '../pipeline/service.js';
import type { Metrics } from './metrics.js';

export interface Context {
  config: Config;
  /** the state and its log; undefined until startup has recovered it */
  durable: Durable | undefined;
  /** the durable state's service (a restore swaps it); only read once ready */
  readonly service: Service;
  readonly metrics: Metrics;
  /** state loaded and not shutting down */
  ready: boolean;
  /** state loaded (false only while startup recovers it) */
  stateLoaded: boolean;
  shuttingDown: boolean;
  /** re-reads the environment (and .env) for POST /config/reload with no body */
  readEnv: () => Record<string, string | undefined>;
}

/** Who may call a route: anyone (probes, scrapers, docs), an API token, or an admin token. */
export type Access = 'open' | 'api' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

/** Swagger UI's routes (registered by the plugin, without our route config) are open. */
export function isDocs(url: string | undefined): boolean {
  return url !== undefined && (url === '/docs' || url.startsWith('/docs/'));
}
