/** An in-process birdie app for app.inject tests: defaults plus the given environment. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/server/app.js';
import type { Context } from '../../src/server/context.js';
import type { Backups } from '../../src/store/backend.js';

/** A fixed clock: arrival times (and so first/last seen) are this instant. */
export const T0 = Date.parse('2026-01-02T03:04:05.000Z');

export const API_TOKEN = 'api-token-0123456789abcdef';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

/**
 * A ready app on a fresh state directory (removed when the app closes), unless `env.STATE_DIR`
 * names one: then its state is recovered from there, as a restart would.
 */
export async function makeApp(
  env: Record<string, string> = {},
  opts: {
    readEnv?: () => Record<string, string | undefined>;
    clock?: () => number;
    remote?: Backups;
    onFatal?: (err: Error) => void;
    backupAttempts?: number;
    /** Fastify's logger option (default: none) */
    logger?: FastifyServerOptions['logger'];
  } = {},
): Promise<{ app: FastifyInstance; ctx: Context }> {
  const own = env.STATE_DIR === undefined ? mkdtempSync(join(tmpdir(), 'birdie-app-')) : undefined;
  const config = loadConfig({ STATE_DIR: own ?? '', BACKUP_INTERVAL: '0', ...env });
  const made = await buildApp(config, {
    logger: opts.logger ?? false,
    clock: opts.clock ?? (() => T0),
    readEnv: opts.readEnv ?? (() => env),
    remote: opts.remote,
    backupAttempts: opts.backupAttempts,
    backupBackoffMs: 1,
    onFatal: opts.onFatal ?? ((err) => assert.fail(`the log failed: ${err.message}`)),
  });
  made.app.addHook('onClose', async () => {
    await made.ctx.durable?.close();
    if (own !== undefined) rmSync(own, { recursive: true, force: true });
  });
  await made.app.ready();
  await made.load();
  return { app: made.app, ctx: made.ctx };
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });
