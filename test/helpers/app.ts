/** An in-process birdie app for app.inject tests: defaults plus the given environment. */
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/server/app.js';
import type { Context } from '../../src/server/context.js';

/** A fixed clock: arrival times (and so first/last seen) are this instant. */
export const T0 = Date.parse('2026-01-02T03:04:05.000Z');

export const API_TOKEN = 'api-token-0123456789abcdef';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

export async function makeApp(
  env: Record<string, string> = {},
  opts: {
    readEnv?: () => Record<string, string | undefined>;
    clock?: () => number;
    startReady?: boolean;
  } = {},
): Promise<{ app: FastifyInstance; ctx: Context }> {
  const config = loadConfig({ STATE_DIR: '/tmp/birdie-test-state', ...env });
  const made = await buildApp(config, {
    logger: false,
    clock: opts.clock ?? (() => T0),
    readEnv: opts.readEnv ?? (() => env),
    startReady: opts.startReady,
  });
  await made.app.ready();
  return made;
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });
