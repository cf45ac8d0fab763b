/**
 * Every metric that the alert rules and the Grafana dashboard query is one that birdie's
 * /metrics exports (a renamed metric would leave an alert that can never fire and a panel with
 * no data, silently). The names come from a fresh app's /metrics page after one tweet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeApp } from '../helpers/app.js';
import {
  alertRules,
  dashboardQueries,
  exportedNames,
  json,
  promqlMetricNames,
  SCRAPE_SERIES,
} from './helpers.js';

test('promqlMetricNames finds the metrics and nothing else', () => {
  assert.deepEqual(
    promqlMetricNames(
      'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job="b", route!~"/x|/y"}[5m]))) > 1e3',
    ),
    ['a_bucket'],
  );
  assert.deepEqual(
    promqlMetricNames(
      'time() - b{job="$job"} > 7200 and on (job, instance) c == 0 or absent(up{job="birdie"}) unless d offset 10m',
    ),
    ['b', 'c', 'd', 'up'],
  );
  assert.deepEqual(
    promqlMetricNames('sum(rate(x_total{a="1"}[$__rate_interval])) / (sum(rate(y[1m])) + 0.5) * 60'),
    ['x_total', 'y'],
  );
  assert.deepEqual(promqlMetricNames('sum(x) by (le) / ignoring(code) group_left z'), ['x', 'z']);
});

test('every metric that the alerts and the dashboard query is exported by /metrics', async (t) => {
  const { app } = await makeApp();
  t.after(() => app.close());
  // one tweet: labelled series exist only once observed, their names are on the page anyway
  const posted = await app.inject({ method: 'POST', url: '/tweets', payload: { id: '1', text: 'hello' } });
  assert.equal(posted.statusCode, 200);
  const page = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(page.statusCode, 200);
  const exported = exportedNames(page.body);

  const queries = [
    ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ...dashboardQueries(json('deploy/grafana/birch-dashboard.json')),
  ];
  assert.ok(queries.length > 30, `only ${queries.length} queries found`);
  const missing: string[] = [];
  const used = new Set<string>();
  for (const q of queries) {
    const names = promqlMetricNames(q.expr);
    assert.ok(names.length > 0, `${q.where}: no metric found in ${q.expr}`);
    for (const n of names) {
      used.add(n);
      if (!exported.has(n) && !SCRAPE_SERIES.has(n)) missing.push(`${n} (${q.where})`);
    }
  }
  assert.deepEqual(missing, [], `queried but not exported by /metrics:\n  ${missing.join('\n  ')}`);
  // the seed's metric names are all watched somewhere
  for (const n of [
    'birch_tweets_processed_total',
    'birch_clusters_active',
    'birch_backup_success_total',
    'birch_backup_failures_total',
    'birch_api_request_duration_seconds_bucket',
    'birch_api_errors_total',
  ])
    assert.ok(used.has(n), `${n} is queried by no alert and no panel`);
});
