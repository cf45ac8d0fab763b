/**
 * The Prometheus files checked by Prometheus' own tool: the rules parse and are valid
 * (`promtool check rules`), each alert fires on its situation and not on its neighbour's
 * (`promtool test rules`, deploy/prometheus/alerts.test.yml), and the scrape config is valid
 * with its rule file beside it, as docker-compose.yml mounts them. .ci/run installs Debian's
 * prometheus package, which has promtool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { alertRules, ROOT, which, yamlDoc } from './helpers.js';

const promtool = which('promtool');
const skip =
  promtool === undefined ? "promtool is not installed (Debian's prometheus package has it)" : false;

function run(...args: string[]): string {
  const r = spawnSync(promtool as string, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `promtool ${args.join(' ')} failed:\n${out}`);
  return out;
}

describe('promtool', { skip }, () => {
  test('check rules: alerts.yml is valid', () => {
    const out = run('check', 'rules', 'deploy/prometheus/alerts.yml');
    assert.match(out, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
  });

  test('test rules: every alert has unit tests, and they pass', () => {
    const tests = yamlDoc<{ tests: { alert_rule_test?: { alertname: string }[] }[] }>(
      'deploy/prometheus/alerts.test.yml',
    );
    const tested = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).map((a) => a.alertname)));
    for (const r of alertRules()) assert.ok(tested.has(r.alert), `alerts.test.yml does not test ${r.alert}`);
    assert.match(run('test', 'rules', 'deploy/prometheus/alerts.test.yml'), /SUCCESS/);
  });

  test('check config: prometheus.yml is valid and finds its rule file', () => {
    assert.match(run('check', 'config', 'deploy/prometheus/prometheus.yml'), /SUCCESS: 1 rule files found/);
  });
});
