/** Admin: GET /config, POST /config/reload, GET /debug/profile. */
import { Session } from 'node:inspector/promises';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import {
  applyLiveChange,
  type Config,
  ConfigError,
  LIVE_KEYS,
  LIVE_NAMES,
  loadConfig,
  publicConfig,
} from '../../config.js';
import { BirdieError } from '../../errors.js';
import { ConfigChange, ErrorResponse } from '../../pipeline/schema.js';
import type { Context } from '../context.js';

const ConfigOut = Type.Object(
  {},
  { additionalProperties: true, description: 'Live and other non-secret settings' },
);

/** Longest CPU profile, in seconds: it slows the process while it runs. */
export const MAX_PROFILE_SECONDS = 60;

export async function adminRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  app.get(
    '/config',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'The running configuration (secrets are counted, never shown)',
        tags: ['admin'],
        response: { 200: ConfigOut, '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async () => publicConfig(ctx.config),
  );

  app.post(
    '/config/reload',
    {
      config: { access: 'admin' },
      // no body at all means the same as {}: re-read the environment
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
      schema: {
        summary: 'Change live settings without a restart',
        description: `With a JSON body, sets the settings it names (${LIVE_KEYS.map((k) => LIVE_NAMES[k]).join(', ')}). With no body (or an empty object), re-reads them from the environment and the .env file. Every value is validated first: one bad value changes nothing.`,
        tags: ['admin'],
        body: ConfigChange,
        response: {
          200: Type.Object({ config: ConfigOut, changed: Type.Array(Type.String()) }),
          '4XX': ErrorResponse,
          503: ErrorResponse,
        },
      },
    },
    async (req) => {
      let next: Config;
      try {
        const body = req.body as Record<string, unknown>;
        if (Object.keys(body).length === 0) {
          const fresh = loadConfig(ctx.readEnv());
          const change: Record<string, unknown> = {};
          for (const k of LIVE_KEYS) {
            if (fresh[k] !== ctx.config[k]) {
              if (fresh[k] === undefined || ctx.config[k] === undefined)
                throw new ConfigError([
                  'BIRCH_THRESHOLD set or unset: switching between cosine and radius mode needs a restart',
                ]);
              change[LIVE_NAMES[k]] = fresh[k];
            }
          }
          next = applyLiveChange(ctx.config, change);
        } else {
          next = applyLiveChange(ctx.config, body);
        }
      } catch (err) {
        if (err instanceof ConfigError)
          throw new BirdieError('BRD_ERR_INVALID_CONFIG', err.problems.join('; '));
        throw err;
      }
      const changed = LIVE_KEYS.filter((k) => next[k] !== ctx.config[k]).map((k) => LIVE_NAMES[k]);
      await (ctx.durable as NonNullable<typeof ctx.durable>).setLive(next);
      app.log.level = next.logLevel;
      ctx.config = next;
      if (changed.length > 0) req.log.info({ changed }, 'live settings changed');
      return { config: publicConfig(next), changed };
    },
  );

  let profiling = false;
  app.get(
    '/debug/profile',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'A CPU profile of the running process (.cpuprofile, open in Chrome DevTools)',
        tags: ['admin'],
        querystring: Type.Object(
          {
            seconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: MAX_PROFILE_SECONDS, default: 10 })),
          },
          { additionalProperties: false },
        ),
        response: { '4XX': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (req, reply) => {
      if (profiling) throw new BirdieError('BRD_ERR_BUSY', 'A CPU profile is already being taken');
      profiling = true;
      const seconds = (req.query as { seconds?: number }).seconds ?? 10;
      const session = new Session();
      try {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        const { profile } = await session.post('Profiler.stop');
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        return reply
          .type('application/json')
          .header('content-disposition', `attachment; filename="birdie-${stamp}.cpuprofile"`)
          .send(JSON.stringify(profile));
      } finally {
        session.disconnect();
        profiling = false;
      }
    },
  );
}
