/**
 * `birdie serve`: configuration from the environment, the HTTP service on PORT, background
 * steps, and a graceful stop on SIGTERM/SIGINT.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { type Config, ConfigError, environment, loadConfig } from '../config.js';
import { buildApp } from './app.js';
import type { Context } from './context.js';

export interface Running {
  app: FastifyInstance;
  ctx: Context;
  /** stops accepting, finishes requests in flight, runs the shutdown hooks */
  shutdown: (reason: string) => Promise<void>;
}

/** Loads and checks the configuration; on failure prints every problem and returns undefined. */
export function configFromEnvironment(env: NodeJS.ProcessEnv = process.env): Config | undefined {
  try {
    const config = loadConfig(environment(env));
    prepareStateDir(config.stateDir);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`birdie: ${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError([
      `STATE_DIR "${dir}" cannot be used: ${(err as NodeJS.ErrnoException).code ?? err}`,
    ]);
  }
}

export async function serve(config: Config): Promise<Running> {
  const { app, ctx, load } = await buildApp(config);
  if (config.apiTokens.length === 0 && config.adminTokens.length === 0)
    app.log.warn(
      'no API_TOKENS or ADMIN_TOKENS are set: anyone who can reach this port can use the whole API',
    );
  else if (config.adminTokens.length === 0)
    app.log.warn(
      'no ADMIN_TOKENS are set: config, backup, restore and debug endpoints are closed to everyone',
    );

  const timers: NodeJS.Timeout[] = [];
  if (config.topics > 0) {
    timers.push(
      setInterval(() => {
        const t0 = performance.now();
        if (ctx.service.refreshTopics())
          app.log.debug(
            { ms: performance.now() - t0, clusters: ctx.service.engine.clusterCount },
            'topics refreshed',
          );
      }, config.topicsIntervalSeconds * 1000).unref(),
    );
  }

  await app.listen({ port: config.port, host: config.host });
  app.log.info(
    { port: config.port, host: config.host, state_dir: config.stateDir, embedder: config.embedder },
    'birdie is listening',
  );
  // probes answer while the state loads; /ready turns 200 when it is in place
  try {
    await load();
  } catch (err) {
    // a process that cannot load its state must not stay up looking alive (/health 200):
    // it stops, so that a supervisor restarts it or an operator sees why
    app.log.fatal({ err: (err as Error).message }, 'the state could not be loaded: stopping');
    await app.close();
    throw new StartError((err as Error).message);
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    if (stopping !== undefined) return stopping;
    ctx.shuttingDown = true;
    ctx.ready = false;
    app.log.info({ reason }, 'shutting down: finishing requests in flight');
    for (const t of timers) clearInterval(t);
    // connections that turn idle after close() began (a response just sent) are closed too
    const idle = setInterval(() => app.server.closeIdleConnections(), 100);
    stopping = app
      .close()
      .finally(() => clearInterval(idle))
      // the final snapshot, and the log closed, once no request can change the state any more
      .then(() => ctx.durable?.close())
      .then(() => app.log.info('stopped'));
    return stopping;
  };
  return { app, ctx, shutdown };
}

/** Runs until a signal; resolves with the exit code. */
export async function serveUntilSignal(config: Config): Promise<number> {
  let running: Running;
  try {
    running = await serve(config);
  } catch (err) {
    // already logged as fatal
    if (err instanceof StartError) return 1;
    throw err;
  }
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (running.ctx.shuttingDown) {
        running.app.log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      const timer = setTimeout(() => {
        running.app.log.error(
          { seconds: config.shutdownTimeoutSeconds },
          'shutdown timed out: exiting anyway',
        );
        resolve(1);
      }, config.shutdownTimeoutSeconds * 1000);
      timer.unref();
      running.shutdown(signal).then(
        () => {
          clearTimeout(timer);
          resolve(0);
        },
        (err) => {
          running.app.log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** The service could not start (its state could not be loaded); the log says why. */
class StartError extends Error {}
