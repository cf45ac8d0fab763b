/**
 * What the deployment tests share: the repository's files parsed (YAML through the `yaml`
 * package, the Dockerfile and compose's `${VAR:-default}` by small readers of their own), the
 * metric names a PromQL expression uses and the names a /metrics page exports, and tools found
 * on PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = join(import.meta.dirname, '..', '..');

export function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** Every document of a YAML file; a parse error or warning names the file and the line. */
export function yamlDocs(path: string): unknown[] {
  const docs = parseAllDocuments(read(path), { prettyErrors: true, uniqueKeys: true });
  const out: unknown[] = [];
  for (const d of docs) {
    const problems = [...d.errors, ...d.warnings];
    if (problems.length > 0) throw new Error(`${path}: ${problems.map((e) => e.message).join('; ')}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

export function yamlDoc<T = Record<string, unknown>>(path: string): T {
  const docs = yamlDocs(path);
  if (docs.length !== 1) throw new Error(`${path}: expected one YAML document, found ${docs.length}`);
  return docs[0] as T;
}

export function json<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(read(path)) as T;
}

/** Files under `dir` (repository-relative paths), recursively, sorted. */
export function filesUnder(dir: string, ext?: RegExp): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const name of readdirSync(abs)) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (ext === undefined || ext.test(name)) out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** The absolute path of a command on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p !== '' && existsSync(p) ? p : undefined;
}

// --- PromQL ----------------------------------------------------------------------------------

/** Words that may stand where a metric name could, but are not one. */
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers `{...}`, ranges `[...]`
 * and label lists (`by (...)`, `on (...)`...) go first; what is left is numbers, operators,
 * keywords, function names (followed by `(`) and metric names. Grafana's `$variables` are left
 * inside what is stripped (matchers, ranges) or replaced by a number.
 */
export function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, '1');
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = s[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // a number's exponent or a duration's unit
    if (/^\s*\(/.test(s.slice(m.index + m[0].length))) continue; // a function
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** Series that Prometheus makes itself for every target; no exporter exports them. */
export const SCRAPE_SERIES = new Set(['up']);

/** The series names a Prometheus text page offers: histograms as _bucket, _sum and _count. */
export function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t !== null) {
      const [, name, type] = t;
      names.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (m !== null) names.add(m[1]);
  }
  return names;
}

// --- Grafana ---------------------------------------------------------------------------------

export interface DashboardQuery {
  where: string;
  expr: string;
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of the dashboard: its panels' targets and its query variables. */
export function dashboardQueries(dashboard: {
  panels: Panel[];
  templating?: { list: { name: string; type: string; query?: unknown }[] };
}): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? [])
        if (t.expr !== undefined) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    // label_values(metric{...}, label) selects `metric`; the query as PromQL is that selector
    const lv = /^label_values\((.*),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable $${v.name}`, expr: lv !== null ? lv[1] : q });
  }
  return out;
}

/** A dashboard expression as Prometheus would get it from Grafana, for the given variables. */
export function grafanaToPromql(expr: string, vars: Record<string, string>): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (_all, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b) as string;
      if (!(name in vars)) throw new Error(`no value for the Grafana variable $${name} in ${expr}`);
      return vars[name];
    });
}

// --- Prometheus rules --------------------------------------------------------------------------

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(path = 'deploy/prometheus/alerts.yml'): AlertRule[] {
  const doc = yamlDoc<{ groups: { name: string; rules: AlertRule[] }[] }>(path);
  return doc.groups.flatMap((g) => g.rules);
}

// --- Dockerfile ----------------------------------------------------------------------------------

export interface Instruction {
  stage: number;
  op: string;
  args: string;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), by stage. */
export function dockerfile(path = 'Dockerfile'): {
  instructions: Instruction[];
  args: Record<string, string>;
} {
  const lines = read(path)
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const instructions: Instruction[] = [];
  const args: Record<string, string> = {};
  let stage = -1;
  for (const l of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (m === null) throw new Error(`${path}: cannot read "${l}"`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage++;
    if (op === 'ARG' && stage === -1) {
      const [k, v] = m[2].split('=');
      args[k] = v ?? '';
    }
    instructions.push({ stage, op, args: m[2].replace(/\s+/g, ' ') });
  }
  return { instructions, args };
}

/** `ENV A=1 B=2` of one stage, as an object. */
export function dockerEnv(instructions: Instruction[], stage: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructions)
    if (i.stage === stage && i.op === 'ENV')
      for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  return env;
}

// --- Compose -----------------------------------------------------------------------------------

/**
 * Compose's interpolation of one value: `${VAR}`, `${VAR:-default}` (default when unset or
 * empty), `${VAR-default}` (default when unset), `$$` (a dollar), with the given variables.
 */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}/g, (all, name, op, def) => {
    if (all === '$$') return '$';
    const v = vars[name];
    if (op === ':-') return v === undefined || v === '' ? def : v;
    if (op === '-') return v === undefined ? def : v;
    return v ?? '';
  });
}
