/**
 * The deployment files that cannot run here (no Docker engine): every YAML and JSON file
 * parses; the Dockerfile builds a non-root Node 20 slim image whose health check really works
 * against birdie, whose signals reach node, and which stops within `docker stop`'s 10 s; the
 * build context holds what the Dockerfile copies and no secret; the compose files pass
 * `docker compose config` (when a compose client is installed: it only parses), publish only
 * the ports they must, and hand birdie settings it accepts; .env.production cannot run
 * unchanged; Grafana's and fluent-bit's files are wired to what the compose file mounts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseEnv } from 'node:util';
import { type ConfigError, loadConfig, OPTIONS } from '../../src/config.js';
import { makeApp } from '../helpers/app.js';
import { freePort } from '../helpers/tmp.js';
import {
  dockerEnv,
  dockerfile,
  filesUnder,
  interpolate,
  json,
  ROOT,
  read,
  which,
  yamlDoc,
  yamlDocs,
} from './helpers.js';

const YAML_FILES = ['docker-compose.yml', 'docker-compose.debug.yml', ...filesUnder('deploy', /\.ya?ml$/)];
const JSON_FILES = filesUnder('deploy', /\.json$/);

test('every YAML and JSON file of the deployment parses', () => {
  assert.ok(
    YAML_FILES.length >= 15 && JSON_FILES.length >= 8,
    `${YAML_FILES.length} YAML, ${JSON_FILES.length} JSON`,
  );
  for (const f of YAML_FILES) assert.ok(yamlDocs(f).length > 0, `${f} is empty`);
  for (const f of JSON_FILES) assert.doesNotThrow(() => json(f), f);
});

describe('Dockerfile', () => {
  const { instructions, args } = dockerfile();
  const stages = Math.max(...instructions.map((i) => i.stage)) + 1;
  const last = stages - 1;
  const of = (op: string, stage = last) => instructions.filter((i) => i.stage === stage && i.op === op);
  const env = dockerEnv(instructions, last);

  test('multi-stage; the runtime is Node 20 slim, as a non-root user', () => {
    assert.ok(stages >= 2, 'a build stage and a runtime stage');
    const from = of('FROM')[0]
      .args.split(' ')[0]
      .replace(/\$\{(\w+)\}/g, (_, k) => args[k]);
    assert.match(from, /^node:20(\.\d+)*-[a-z]+-slim$|^node:20(\.\d+)*-slim$/);
    const user = of('USER').at(-1)?.args;
    assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    assert.match(user, /^\d+:\d+$/, 'a numeric user, for runAsNonRoot');
  });

  test('exec form: node is PID 1 and gets SIGTERM; it stops within the default 10 s', () => {
    for (const op of ['ENTRYPOINT', 'CMD']) {
      const i = of(op).at(-1);
      assert.ok(i, op);
      assert.ok(Array.isArray(JSON.parse(i.args)), `${op} in exec form (JSON array)`);
    }
    assert.deepEqual(JSON.parse(of('ENTRYPOINT')[0].args), ['node', 'bin/birdie.js']);
    assert.deepEqual(JSON.parse(of('CMD')[0].args), ['serve']);
    assert.ok(Number(env.SHUTDOWN_TIMEOUT_SECONDS) < 10, "SHUTDOWN_TIMEOUT_SECONDS below docker stop's 10 s");
    const config = loadConfig(env);
    assert.equal(config.stateDir, env.STATE_DIR);
    assert.deepEqual(JSON.parse(of('VOLUME')[0].args), [env.STATE_DIR], 'STATE_DIR is the volume');
    assert.equal(of('EXPOSE')[0].args, env.PORT);
  });

  test('the HEALTHCHECK command reports a live birdie healthy and a dead one unhealthy', async (t) => {
    const hc = of('HEALTHCHECK')[0]?.args;
    assert.ok(hc, 'a HEALTHCHECK');
    const cmd = JSON.parse(hc.replace(/^.*?CMD /, '')) as string[];
    assert.equal(cmd[0], 'node', 'node, not curl: the slim image has no curl');
    const { app } = await makeApp();
    t.after(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const run = (p: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, cmd.slice(1), { env: { PORT: String(p) }, stdio: 'ignore' });
        child.once('exit', (code) => resolve(code));
      });
    assert.equal(await run(port), 0, 'healthy');
    assert.equal(await run(await freePort()), 1, 'unhealthy when nothing answers');
  });

  test('the build context has what the image needs, and no secret', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    // .dockerignore's rules, last match wins; enough for the patterns used here
    const glob = (p: string) =>
      new RegExp(`^${p.replace(/[.+^$()|]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    const ignored = (path: string) => {
      let out = false;
      for (const rule of ignore)
        if (rule.startsWith('!') ? glob(rule.slice(1)).test(path) : glob(rule).test(path))
          out = !rule.startsWith('!');
      return out;
    };
    for (const secret of ['.env', '.env.production', '.env.local', 'data', 'node_modules', '.git'])
      assert.ok(ignored(secret), `${secret} must stay out of the build context`);
    const copied = instructions
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    for (const src of copied) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: no such file`);
      assert.ok(!ignored(src), `COPY ${src}: excluded by .dockerignore`);
    }
    // what the package ships is in the image: bin, dist (built), samples, .env.example...
    const files = (json<{ files: string[] }>('package.json').files ?? []).filter((f) => f !== 'dist');
    for (const f of files)
      assert.ok(copied.includes(f), `package.json "files" has ${f}: COPY it into the image`);
    assert.ok(
      instructions.some((i) => i.stage === last && i.op === 'COPY' && /--from=\w+ \/app\/dist/.test(i.args)),
      'dist comes from the build stage',
    );
  });
});

describe('docker compose', () => {
  const compose = yamlDoc<{
    services: Record<
      string,
      {
        environment?: Record<string, string>;
        ports?: string[];
        networks?: string[];
        volumes?: string[];
        stop_grace_period?: string;
        depends_on?: Record<string, { condition: string }>;
        entrypoint?: string[];
        command?: string[];
        logging?: { driver: string; options: Record<string, string> };
      }
    >;
    networks: Record<string, { internal?: boolean }>;
  }>('docker-compose.yml');
  const svc = compose.services;

  test('the stack: birdie, MinIO and its bucket, Prometheus, Grafana, fluent-bit', () => {
    assert.deepEqual(Object.keys(svc).sort(), [
      'birdie',
      'fluent-bit',
      'grafana',
      'minio',
      'minio-init',
      'prometheus',
    ]);
    assert.equal(svc.birdie.depends_on?.['minio-init'].condition, 'service_completed_successfully');
    assert.equal(svc.birdie.logging?.driver, 'fluentd');
    assert.ok(
      svc['fluent-bit'].ports?.includes(
        `127.0.0.1:${svc.birdie.logging?.options['fluentd-address'].split(':')[1]}:24224`,
      ),
    );
    // every file the stack mounts is in the repository
    for (const [name, s] of Object.entries(svc))
      for (const v of s.volumes ?? [])
        if (v.startsWith('./')) assert.ok(existsSync(join(ROOT, v.split(':')[0])), `${name} mounts ${v}`);
  });

  test('an internal network for the services; only birdie is published beyond loopback', () => {
    assert.equal(compose.networks.backend.internal, true);
    for (const [name, s] of Object.entries(svc)) {
      assert.ok(s.networks?.includes('backend'), `${name} is on the internal network`);
      for (const p of s.ports ?? [])
        if (name !== 'birdie') assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} beyond loopback`);
      if ((s.ports ?? []).length > 0)
        assert.ok(s.networks?.includes('frontend'), `${name} publishes from frontend`);
    }
    assert.deepEqual(
      svc.birdie.ports?.map((p) => interpolate(p, {})),
      ['8000:8000'],
    );
    for (const name of ['minio', 'minio-init'])
      assert.equal(svc[name].ports, undefined, `${name} is not published`);
  });

  test("birdie's environment is settings it accepts, and it stops within its grace period", () => {
    const known = new Set(OPTIONS.map((o) => o.env));
    const raw = svc.birdie.environment ?? {};
    for (const k of Object.keys(raw))
      assert.ok(known.has(k) || k.startsWith('AWS_'), `${k} is not a birdie setting`);
    const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), {})]));
    const config = loadConfig(env);
    assert.equal(config.s3Endpoint, 'http://minio:9000');
    const grace = Number(/^(\d+)s$/.exec(svc.birdie.stop_grace_period ?? '10s')?.[1]);
    assert.ok(config.shutdownTimeoutSeconds < grace, `SHUTDOWN_TIMEOUT_SECONDS < stop_grace_period ${grace}`);
  });

  test('.env.production: every key reaches the stack; the template cannot run unchanged', () => {
    const template = parseEnv(read('.env.production')) as Record<string, string>;
    const text = read('docker-compose.yml');
    for (const k of Object.keys(template))
      assert.match(text, new RegExp(`\\$\\{${k}[:}-]`), `${k} is not used by docker-compose.yml`);
    const env = Object.fromEntries(
      Object.entries(svc.birdie.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), template)]),
    );
    assert.throws(
      () => loadConfig(env),
      (err: ConfigError) => {
        assert.deepEqual(
          err.problems.map((p) => p.split(' ')[0]),
          ['API_TOKENS', 'ADMIN_TOKENS', 'ENCRYPTION_KEY'],
        );
        return true;
      },
    );
    const filled = Object.fromEntries(
      Object.entries(template).map(([k, v]) => [k, v === 'CHANGE_ME' ? 'f'.repeat(64) : v]),
    );
    const config = loadConfig(
      Object.fromEntries(
        Object.entries(svc.birdie.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), filled)]),
      ),
    );
    assert.equal(config.apiTokens.length, 1);
    assert.equal(config.encryptionKey, 'f'.repeat(64));
  });

  test("minio-init's script is valid shell", () => {
    const s = svc['minio-init'];
    const script = interpolate((s.command ?? []).join('\n'), {});
    const r = spawnSync(s.entrypoint?.[0] ?? 'sh', ['-n', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(script, /mc admin policy create local birdie-backups/);
  });

  const client = (() => {
    if (which('docker') && spawnSync('docker', ['compose', 'version']).status === 0)
      return ['docker', 'compose'];
    if (which('docker-compose')) return ['docker-compose'];
    return undefined;
  })();
  test('docker compose config accepts the files', {
    skip: client === undefined ? 'neither `docker compose` nor docker-compose is installed' : false,
  }, async () => {
    const [cmd, ...pre] = client as string[];
    // the stack alone with its defaults, and with the debug override and the production
    // template; in parallel (docker-compose 1.x is a Python program, slow to start)
    const runs = [
      ['-f', 'docker-compose.yml'],
      ['--env-file', '.env.production', '-f', 'docker-compose.yml', '-f', 'docker-compose.debug.yml'],
    ].map(
      (args) =>
        new Promise<void>((resolve, reject) => {
          // a clean environment: nothing of the caller's shell interpolated
          const child = spawn(cmd, [...pre, ...args, 'config', '-q'], {
            cwd: ROOT,
            env: { PATH: process.env.PATH },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
          });
          child.stderr.on('data', (d) => {
            out += d;
          });
          child.once('close', (code) =>
            code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} config:\n${out}`)),
          );
        }),
    );
    await Promise.all(runs);
  });
});

describe('Grafana and fluent-bit, as the compose file mounts them', () => {
  test('Grafana: the provisioned data source is the one the dashboard may use; the dashboard is loaded', () => {
    const ds = yamlDoc<{ datasources: { type: string; url: string; uid: string }[] }>(
      'deploy/grafana/provisioning/datasources/prometheus.yml',
    ).datasources;
    assert.equal(ds.length, 1);
    assert.equal(ds[0].type, 'prometheus');
    assert.equal(ds[0].url, 'http://prometheus:9090');
    const providers = yamlDoc<{ providers: { options: { path: string } }[] }>(
      'deploy/grafana/provisioning/dashboards/birdie.yml',
    ).providers;
    assert.ok(
      read('docker-compose.yml').includes(
        `birch-dashboard.json:${providers[0].options.path}/birch-dashboard.json`,
      ),
    );
    const dash = json<{ uid: string; templating: { list: { name: string; type: string; query: string }[] } }>(
      'deploy/grafana/birch-dashboard.json',
    );
    const dsVar = dash.templating.list.find((v) => v.type === 'datasource');
    assert.equal(dsVar?.query, 'prometheus');
    assert.ok(readdirSync(join(ROOT, 'deploy/grafana/provisioning')).length === 2);
  });

  test('fluent-bit: forward input on the port birdie logs to, the pino parser on the log field', () => {
    const fb = yamlDoc<{
      service: Record<string, string>;
      pipeline: { inputs: Record<string, unknown>[]; filters: Record<string, unknown>[]; outputs: unknown[] };
    }>('deploy/fluent-bit/fluent-bit.yaml');
    const forward = fb.pipeline.inputs.find((i) => i.name === 'forward');
    assert.equal(forward?.port, 24224);
    const parser = fb.pipeline.filters.find((f) => f.name === 'parser');
    assert.equal(parser?.key_name, 'log');
    assert.match(
      read('deploy/fluent-bit/parsers.conf'),
      new RegExp(`Name\\s+${parser?.parser}\\n\\s+Format\\s+json`),
    );
    assert.ok(read('docker-compose.yml').includes(`parsers.conf:${fb.service.parsers_file}`));
    assert.ok(fb.pipeline.outputs.length > 0);
  });
});
