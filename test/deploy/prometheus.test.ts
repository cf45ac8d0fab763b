/**
 * The real Prometheus (Debian's package) against a running birdie, both on loopback: the
 * shipped deploy/prometheus/prometheus.yml with its target pointed at the test's birdie and a
 * 1 s interval, the shipped alerts.yml loaded. Tweets posted over HTTP come back through
 * Prometheus' query API as birch_tweets_processed_total; every alert rule evaluates without
 * error; every dashboard query is valid PromQL that Prometheus runs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { makeApp } from '../helpers/app.js';
import { freePort, tempDir } from '../helpers/tmp.js';
import { dashboardQueries, grafanaToPromql, json, ROOT, which, yamlDoc } from './helpers.js';

const prometheus = which('prometheus');

interface PromAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}
type Vector = { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
type Rules = { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };

/** Polls `probe` until it returns a value, or fails after `ms` with what it saw last. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>, log: () => string) {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = 'no value yet';
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: not within ${ms / 1000} s (last: ${String(last)})\nprometheus said:\n${log()}`);
}

test('Prometheus scrapes birdie and answers birch_tweets_processed_total', {
  skip: prometheus === undefined ? "prometheus is not installed (.ci/run installs Debian's package)" : false,
  timeout: 60_000,
}, async (t) => {
  const { app } = await makeApp();
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const birdie = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  // the shipped config, pointed at this birdie, every second, rules by absolute path
  const dir = tempDir(t, 'birdie-prometheus-');
  const config = yamlDoc<{
    global: Record<string, unknown>;
    rule_files: string[];
    scrape_configs: { job_name: string; scrape_timeout?: string; static_configs: { targets: string[] }[] }[];
  }>('deploy/prometheus/prometheus.yml');
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((f) => join(ROOT, 'deploy/prometheus', f));
  const job = config.scrape_configs.find((j) => j.job_name === 'birdie');
  assert.ok(job !== undefined, 'prometheus.yml has no job "birdie"');
  job.scrape_timeout = '1s';
  job.static_configs = [{ targets: [new URL(birdie).host] }];
  config.scrape_configs = [job];
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));

  const port = await freePort();
  const api = `http://127.0.0.1:${port}/api/v1`;
  const child: ChildProcess = spawn(
    prometheus as string,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  });
  const log = () => stderr.split('\n').slice(-20).join('\n');
  const get = async <T>(path: string): Promise<PromAnswer<T>> => {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
    return (await (await fetch(`${api}${path}`)).json()) as PromAnswer<T>;
  };
  const query = (q: string) => get<Vector>(`/query?query=${encodeURIComponent(q)}`);

  // five tweets over HTTP: one alone, four in a batch
  const post = async (body: unknown) => {
    const r = await fetch(`${birdie}/tweets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 200, await r.text());
  };
  await post({ id: '1', text: 'Magnitude 6.1 earthquake hits Kessaro Bay #earthquake' });
  await post({
    tweets: [
      { id: '2', text: 'Strong earthquake felt across Kessaro Bay' },
      { id: '3', text: 'Transit strike in Velmont: no metro today' },
      { id: '4', text: 'Velmont metro strike enters second day' },
      { id: '5', text: 'Kessaro Bay earthquake: aftershocks expected' },
    ],
  });

  const value = await until(
    'birch_tweets_processed_total{job="birdie"} == 5 through Prometheus',
    30_000,
    async () => {
      const a = await query('birch_tweets_processed_total{job="birdie"}');
      const v = a.data?.result?.[0]?.value?.[1];
      return v === '5' ? v : undefined;
    },
    log,
  );
  assert.equal(value, '5');
  const up = await query('up{job="birdie"}');
  assert.equal(up.data.result[0]?.value[1], '1', 'the target is up');

  // every alert rule has been evaluated, without an error
  const rules = await until(
    'every alert rule evaluated',
    15_000,
    async () => {
      const a = await get<Rules>('/rules?type=alert');
      const all = a.data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    },
    log,
  );
  const bad = rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError}`);
  assert.deepEqual(bad, [], 'alert rules that failed to evaluate');
  // pending at the first evaluation (no scrape yet: absent(up)), inactive once birdie is scraped
  await until(
    'BirdieDown inactive while birdie answers',
    15_000,
    async () => ((await query('ALERTS{alertname="BirdieDown"}')).data.result.length === 0 ? true : undefined),
    log,
  );

  // every dashboard query runs (Prometheus parses and evaluates it), as Grafana would send it
  const vars = { job: 'birdie', instance: '.*', datasource: 'prometheus' };
  const failed: string[] = [];
  let withData = 0;
  for (const q of dashboardQueries(json('deploy/grafana/birch-dashboard.json'))) {
    const a = await query(grafanaToPromql(q.expr, vars));
    if (a.status !== 'success') failed.push(`${q.where}: ${a.error} in ${q.expr}`);
    else if (a.data.result.length > 0) withData++;
  }
  assert.deepEqual(failed, [], 'dashboard queries that Prometheus refused');
  assert.ok(withData >= 10, `only ${withData} dashboard queries returned data`);
});
