/**
 * quality: clustering quality of `birdie cluster` with its DEFAULT settings on labelled tweets
 * from ../shared/data (see its README), next to the published results on the MStream `Tweets`
 * set. Each data set is clustered by a child process exactly as a user would run it,
 *
 *   node --import tsx test/helpers/run-cli.ts cluster FILE --quiet --label-field L
 *        --text-field T --id-field I --metrics-json OUT.json
 *
 * and the metrics JSON it writes is what the table shows.
 *
 *   npm run bench -- quality                 the full data sets
 *   BENCH_QUICK=1 npm run bench -- quality   the first 5,000 rows of each (not comparable with
 *                                            the published figures, which are not printed then)
 *
 * Data sets (one pass each, rows in the order given):
 *   Tweets        mstream-tweets/Tweets.jsonl, file order; label clusterNo (269 topics).
 *   Tweets +topics   the same with `--topics K`, K = the true number of topics, to show the
 *                 global step: the row is the `topics` field of the CLI's metrics JSON.
 *   Tweets-T      mstream-tweets/Tweets-T.jsonl, topic-drift order.
 *   CrisisLexT6   the 6 CSV files of crisislex-t6 combined into one JSONL in bench/out/
 *                 (gitignored), in time order (sorted by the numeric snowflake id). label = the
 *                 event (from the file name, e.g. 2012_Sandy_Hurricane) for on-topic rows and
 *                 `off-topic` for off-topic rows: the off-topic rows of all six events form ONE
 *                 label of their own, so there are 7 labels. From the --out file we also report
 *                 where the off-topic tweets end up: in a cluster that is mostly off-topic, or
 *                 absorbed into an event's cluster.
 *
 * Without ../shared (a fresh clone) the suite prints why and returns no table.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { parse } from 'csv-parse/sync';
import { BENCH_DIR, fmtInt, OUT_DIR, type Suite, type SuiteContext, table } from './lib.js';

const ROOT = dirname(BENCH_DIR);
const SHARED = join(ROOT, '..', 'shared', 'data');
const RUN_CLI = 'test/helpers/run-cli.ts';
const QUICK_ROWS = 5000;

/** From ../shared/data/README.md; NMI with geometric normalisation, whole stream, one pass. */
const PUBLISHED: { method: string; nmi: number; clusters?: number; source: string }[] = [
  { method: 'MStream', nmi: 0.844, source: 'Yin et al., KDD 2018, Table 2' },
  { method: 'MStreamF', nmi: 0.823, source: 'Yin et al., KDD 2018, Table 2' },
  { method: 'DP-BMM', nmi: 0.864, source: 'Chen et al., Applied Intelligence 2020, Table 2' },
  { method: 'OSDM', nmi: 0.837, clusters: 2314, source: "authors' repo results" },
  {
    method: 'sklearn Birch, best threshold',
    nmi: 0.757,
    clusters: 9425,
    source: 'scikit-learn 1.2, HashingVectorizer(256), measured in ../shared',
  },
  {
    method: 'sklearn Birch + avg-linkage',
    nmi: 0.716,
    clusters: 269,
    source: 'scikit-learn 1.2, HashingVectorizer(256), measured in ../shared',
  },
];

/** What `birdie cluster --metrics-json` writes. */
interface Metrics {
  nmi: number;
  nmiArithmetic: number;
  ari: number;
  homogeneity: number;
  completeness: number;
  purity: number;
  clusters: number;
  labels: number;
  n: number;
  tweetsPerSecond: number;
  skipped: number;
  rows: number;
}

const METRIC_KEYS: (keyof Metrics)[] = [
  'nmi',
  'nmiArithmetic',
  'ari',
  'homogeneity',
  'completeness',
  'purity',
  'clusters',
  'labels',
  'n',
  'tweetsPerSecond',
  'skipped',
  'rows',
];

interface DataSet {
  name: string;
  file: string;
  text: string;
  label: string;
  id: string;
  note: string;
}

interface Run {
  name: string;
  args: string[];
  metrics: Metrics;
  /** Wall time of the child process, start-up and tsx compilation included. */
  wallSeconds: number;
  /** Where the metrics came from, when not the CLI's metrics JSON. */
  source: string;
  /** The topics' scores, when the run had a topic step. */
  topics?: Metrics;
}

export const quality: Suite = {
  name: 'quality',
  description: 'birdie cluster with default settings on labelled tweets, next to published NMI',
  run,
};

async function run(ctx: SuiteContext): Promise<Record<string, unknown>> {
  if (!existsSync(SHARED)) {
    const reason = `skipped: ${SHARED} is absent (the labelled data lives outside the repository)`;
    console.log(reason);
    return { skipped: reason };
  }
  const work = join(OUT_DIR, 'quality');
  mkdirSync(work, { recursive: true });
  const notes: string[] = [];
  const skipped: string[] = [];
  const runs: Run[] = [];
  let crisis: OffTopicReport | undefined;

  const mstream = (file: string, name: string, note: string): DataSet | undefined => {
    const path = join(SHARED, 'mstream-tweets', file);
    if (!existsSync(path)) {
      skipped.push(`${name}: ${path} is absent`);
      return undefined;
    }
    return { name, file: path, text: 'textCleaned', label: 'clusterNo', id: 'Id', note };
  };

  // ---- Tweets, file order: defaults, then the topics of defaults + --topics <true count>
  const tweets = mstream('Tweets.jsonl', 'Tweets', 'file order');
  if (tweets !== undefined) {
    const ds = ctx.quick ? subset(tweets, work) : tweets;
    const base = await clusterRun(ds, ds.name, [], work);
    runs.push(base);
    // with a topic step the CLI's metrics JSON scores the topics too (its `topics` field)
    const k = base.metrics.labels;
    const r = await clusterRun(ds, `${ds.name} --topics ${k} (the topics)`, ['--topics', String(k)], work);
    if (r.topics === undefined) throw new Error('--topics: the metrics JSON has no topics field');
    runs.push({
      ...r,
      source: 'CLI --metrics-json, its topics field',
      metrics: {
        ...r.topics,
        tweetsPerSecond: r.metrics.tweetsPerSecond,
        skipped: r.metrics.skipped,
        rows: r.metrics.rows,
      },
    });
  }

  // ---- the same data set with the previous default (cosine absorb 0.25), side by side: the
  // speed ratio holds on a busy machine where absolute tweets/s do not
  if (tweets !== undefined) {
    const ds = ctx.quick ? subset(tweets, work) : tweets;
    const r = await clusterRun(
      ds,
      `${ds.name} --similarity 0.25 (cosine, before)`,
      ['--similarity', '0.25'],
      work,
    );
    runs.push({ ...r, source: 'CLI --metrics-json, cosine baseline' });
  }

  // ---- Tweets-T, topic-drift order
  const drift = mstream('Tweets-T.jsonl', 'Tweets-T', 'topic-drift order');
  if (drift !== undefined) {
    const ds = ctx.quick ? subset(drift, work) : drift;
    runs.push(await clusterRun(ds, ds.name, [], work));
  }

  // ---- CrisisLexT6: six events, on/off-topic, combined in time order
  const crisisDir = join(SHARED, 'crisislex-t6');
  if (existsSync(crisisDir)) {
    const built = buildCrisis(crisisDir, work);
    notes.push(...built.notes);
    const full: DataSet = {
      name: 'CrisisLexT6',
      file: built.file,
      text: 'text',
      label: 'label',
      id: 'id',
      note: 'time order',
    };
    const ds = ctx.quick ? subset(full, work) : full;
    const outFile = join(work, 'crisislex.out.jsonl');
    runs.push(await clusterRun(ds, ds.name, [], work, outFile));
    crisis = offTopic(ds.file, outFile);
  } else {
    skipped.push(`CrisisLexT6: ${crisisDir} is absent`);
  }

  // ---- the table
  const setting = defaultSetting(runs, notes);
  const f3 = (x: number | undefined) => (x === undefined ? null : x.toFixed(3).replace(/^0\./, '.'));
  const rows: (string | number | null)[][] = runs.map((r) => [
    r.name,
    f3(r.metrics.nmi),
    f3(r.metrics.nmiArithmetic),
    f3(r.metrics.ari),
    f3(r.metrics.homogeneity),
    f3(r.metrics.completeness),
    f3(r.metrics.purity),
    fmtInt(r.metrics.clusters),
    fmtInt(r.metrics.labels),
    fmtInt(r.metrics.n),
    fmtInt(r.metrics.tweetsPerSecond),
  ]);
  if (!ctx.quick && tweets !== undefined)
    for (const p of PUBLISHED)
      rows.push([
        `  published on Tweets: ${p.method}`,
        f3(p.nmi),
        null,
        null,
        null,
        null,
        null,
        p.clusters === undefined ? null : fmtInt(p.clusters),
        '269',
        '30,322',
        null,
      ]);
  console.log(
    `\n${table(
      `birdie cluster, default settings (${setting}), one pass${ctx.quick ? `, first ${fmtInt(QUICK_ROWS)} rows of each data set` : ''}`,
      ['data set', 'NMI geo', 'NMI arith', 'ARI', 'H', 'C', 'purity', 'clusters', 'labels', 'n', 'tweets/s'],
      rows,
    )}`,
  );
  console.log(
    '\nH = homogeneity, C = completeness. NMI geo = MI / sqrt(H(C) H(K)), the normalisation of the\n' +
      'published figures; NMI arith = sklearn default. tweets/s: as reported by the CLI (read, embed,\n' +
      'cluster, --out with every final id; no start-up, no topic step).',
  );
  if (ctx.quick) console.log('BENCH_QUICK: subsets, so the published figures (full Tweets) are not shown.');
  console.log(
    'CrisisLexT6 labels: the 6 events for on-topic rows, plus ONE pooled "off-topic" label for the\n' +
      "off-topic rows of all events (7 labels); its run also writes --out, inside the CLI's timed loop.",
  );
  for (const n of notes) console.log(`note: ${n}`);
  for (const s of skipped) console.log(`skipped ${s}`);
  if (crisis !== undefined) printOffTopic(crisis);

  return {
    data: SHARED,
    quickRows: ctx.quick ? QUICK_ROWS : null,
    runs,
    published: PUBLISHED,
    crisisOffTopic: crisis ?? null,
    notes,
    skipped,
  };
}

/**
 * The absorb setting each run reports in its metrics JSON (`similarity` S or radius `threshold`
 * T, whichever the CLI's defaults use); a warning when the runs disagree, e.g. when the source
 * changed while the suite was running.
 */
function defaultSetting(runs: Run[], notes: string[]): string {
  const seen = new Set(
    runs
      .filter((r) => r.source === 'CLI --metrics-json')
      .map((r) => {
        const m = r.metrics as unknown as Record<string, unknown>;
        const dmm = m.dmm as Record<string, number> | null | undefined;
        if (dmm)
          return `DMM alpha ${dmm.alpha}, beta ${dmm.beta}, half-life ${dmm.halfLife} tweets, outliers < ${dmm.outlierSize} re-absorbed`;
        if (typeof m.similarity === 'number') return `similarity ${m.similarity}`;
        if (typeof m.threshold === 'number') return `radius threshold ${m.threshold}`;
        return 'defaults';
      }),
  );
  if (seen.size > 1)
    notes.push(`the runs report different settings (${[...seen].join(' / ')}): did the source change?`);
  return [...seen].join(' / ');
}

// ---------------------------------------------------------------- the child process

async function clusterRun(
  ds: DataSet,
  name: string,
  extra: string[],
  work: string,
  outFile?: string,
): Promise<Run> {
  const metricsFile = join(work, `${slug(name)}.metrics.json`);
  const args = [
    'cluster',
    ds.file,
    '--quiet',
    '--label-field',
    ds.label,
    '--text-field',
    ds.text,
    '--id-field',
    ds.id,
    '--metrics-json',
    metricsFile,
    ...extra,
    ...(outFile === undefined ? [] : ['--out', outFile]),
  ];
  process.stdout.write(`${name}: birdie ${args.map((a) => rel(a)).join(' ')} ... `);
  const t0 = performance.now();
  const { code, stderr } = await child(process.execPath, ['--import', 'tsx', RUN_CLI, ...args]);
  const wallSeconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`birdie cluster exited with ${code} on ${ds.file}:\n${stderr}`);
  const { metrics, topics } = readMetrics(metricsFile);
  console.log(`${wallSeconds.toFixed(1)} s`);
  if (metrics.skipped > 0) console.log(`  ${metrics.skipped} of ${metrics.rows} rows skipped by the CLI`);
  return { name, args, metrics, topics, wallSeconds, source: 'CLI --metrics-json' };
}

function child(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

function readMetrics(file: string): { metrics: Metrics; topics?: Metrics } {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const k of METRIC_KEYS)
    if (typeof raw[k] !== 'number') throw new Error(`${file}: field ${k} missing or not a number`);
  const topics = raw.topics as Metrics | null | undefined;
  return { metrics: raw as unknown as Metrics, topics: topics ?? undefined };
}

// ---------------------------------------------------------------- data

function rel(p: string): string {
  return p.startsWith('/') ? relative(ROOT, p) : p;
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function jsonLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** BENCH_QUICK: the first QUICK_ROWS lines of the data set, in bench/out/quality/. */
function subset(ds: DataSet, work: string): DataSet {
  const lines = readFileSync(ds.file, 'utf8').split('\n');
  const file = join(work, `quick-${basename(ds.file)}`);
  writeFileSync(file, `${lines.slice(0, QUICK_ROWS).join('\n')}\n`);
  return { ...ds, file };
}

interface CrisisRow {
  id: string;
  text: string;
  label: string;
  event: string;
  topical: boolean;
}

/**
 * The six CrisisLexT6 files as one JSONL in time order: {id, text, label, event, topical}, label
 * = event for on-topic rows and "off-topic" for off-topic ones. Ids are '…'-quoted snowflakes.
 */
function buildCrisis(dir: string, work: string): { file: string; notes: string[] } {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.csv'))
    .sort();
  if (files.length !== 6) throw new Error(`${dir}: expected 6 CSV files, found ${files.length}`);
  const rows: (CrisisRow & { key: bigint })[] = [];
  for (const f of files) {
    const event = f.replace(/-ontopic_offtopic\.csv$/, '').replace(/\.csv$/, '');
    const records = parse(readFileSync(join(dir, f)), {
      columns: (h: string[]) => h.map((c) => c.trim()),
      skip_empty_lines: true,
    }) as Record<string, string>[];
    for (const r of records) {
      const m = /^'?(\d+)'?$/.exec((r['tweet id'] ?? '').trim());
      if (m === null) throw new Error(`${f}: bad tweet id ${JSON.stringify(r['tweet id'])}`);
      const flag = (r.label ?? '').trim();
      if (flag !== 'on-topic' && flag !== 'off-topic') throw new Error(`${f}: bad label ${flag}`);
      const topical = flag === 'on-topic';
      rows.push({
        key: BigInt(m[1]),
        id: m[1],
        text: r.tweet ?? '',
        label: topical ? event : 'off-topic',
        event,
        topical,
      });
    }
  }
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // stable: ties keep file order
  const file = join(work, 'crisislex-t6.jsonl');
  const lines = rows.map(({ id, text, label, event, topical }) =>
    JSON.stringify({ id, text, label, event, topical }),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const notes = [
    `CrisisLexT6: ${fmtInt(rows.length)} rows from ${files.length} files, sorted by snowflake id into ${rel(file)}`,
  ];
  const ids = new Set(rows.map((r) => r.id));
  if (ids.size !== rows.length)
    notes.push(`CrisisLexT6: ${rows.length - ids.size} tweet ids occur more than once (kept)`);
  return { file, notes };
}

// ---------------------------------------------------------------- off-topic tweets

interface OffTopicReport {
  offTopic: number;
  onTopic: number;
  /** Off-topic tweets, by the kind of cluster they end up in (shares of `offTopic`). */
  off: {
    singleton: number;
    offMajority: number;
    eventMajority: number;
    eventMajorityOwnEvent: number;
    mixed: number;
  };
  /** On-topic tweets, likewise (shares of `onTopic`). */
  on: {
    singleton: number;
    offMajority: number;
    eventMajority: number;
    eventMajorityOwnEvent: number;
    mixed: number;
  };
  clusters: { total: number; singletons: number; offMajority: number; eventMajority: number; mixed: number };
}

/**
 * Where do off-topic tweets go? Each cluster (from --out) is classed by the label held by MORE
 * than half of its rows: off-topic-majority, event-majority (one event's on-topic rows), or mixed
 * (no label above half); singletons are counted apart, since a lone off-topic tweet is
 * "majority off-topic" trivially.
 */
function offTopic(inputFile: string, outFile: string): OffTopicReport {
  const input = jsonLines(inputFile);
  const out = jsonLines(outFile);
  if (input.length !== out.length) throw new Error(`--out has ${out.length} lines for ${input.length} rows`);
  const members = new Map<number, number[]>();
  for (let i = 0; i < out.length; i++) {
    if (out[i].id !== input[i].id) throw new Error(`row ${i + 1}: --out id ${out[i].id} != ${input[i].id}`);
    const c = out[i].cluster;
    if (typeof c !== 'number') continue;
    const m = members.get(c);
    if (m === undefined) members.set(c, [i]);
    else m.push(i);
  }
  const zero = () => ({ singleton: 0, offMajority: 0, eventMajority: 0, eventMajorityOwnEvent: 0, mixed: 0 });
  const off = zero();
  const on = zero();
  const clusters = { total: members.size, singletons: 0, offMajority: 0, eventMajority: 0, mixed: 0 };
  let nOff = 0;
  let nOn = 0;
  for (const rowsOf of members.values()) {
    const counts = new Map<string, number>();
    for (const i of rowsOf) {
      const l = String(input[i].label);
      counts.set(l, (counts.get(l) ?? 0) + 1);
    }
    let major: string | undefined;
    for (const [l, c] of counts) if (2 * c > rowsOf.length) major = l;
    const kind =
      rowsOf.length === 1
        ? 'singleton'
        : major === undefined
          ? 'mixed'
          : major === 'off-topic'
            ? 'offMajority'
            : 'eventMajority';
    clusters[kind === 'singleton' ? 'singletons' : kind]++;
    for (const i of rowsOf) {
      const topical = input[i].topical === true;
      const tally = topical ? on : off;
      if (topical) nOn++;
      else nOff++;
      tally[kind]++;
      if (kind === 'eventMajority' && major === input[i].event) tally.eventMajorityOwnEvent++;
    }
  }
  const share = (t: ReturnType<typeof zero>, n: number) => {
    for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] = n === 0 ? 0 : t[k] / n;
    return t;
  };
  return { offTopic: nOff, onTopic: nOn, off: share(off, nOff), on: share(on, nOn), clusters };
}

function printOffTopic(r: OffTopicReport): void {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const row = (name: string, n: number, t: OffTopicReport['off']) => [
    name,
    fmtInt(n),
    pct(t.singleton),
    pct(t.offMajority),
    pct(t.eventMajority),
    pct(t.eventMajorityOwnEvent),
    pct(t.mixed),
  ];
  console.log(
    `\n${table(
      'CrisisLexT6: where tweets end up, by the kind of cluster (label held by > half its rows)',
      [
        'tweets',
        'n',
        'singleton',
        'off-topic-majority (size>=2)',
        'event-majority',
        '(of which own event)',
        'mixed',
      ],
      [row('off-topic', r.offTopic, r.off), row('on-topic', r.onTopic, r.on)],
    )}`,
  );
  const c = r.clusters;
  console.log(
    `clusters: ${fmtInt(c.total)} (${fmtInt(c.singletons)} singletons, ${fmtInt(c.offMajority)} off-topic-majority, ` +
      `${fmtInt(c.eventMajority)} event-majority, ${fmtInt(c.mixed)} mixed)`,
  );
}
