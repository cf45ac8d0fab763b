/**
 * `birdie tune FILE`: help with the threshold, BIRCH's most asked-about setting. It samples the
 * file (uniformly, kept in file order: a one-pass clusterer depends on order), clusters the
 * sample once per candidate threshold, and shows how the clusters and the singletons move.
 *
 * The suggestion follows what the users of a story monitor want: as strict as possible (stories
 * do not merge) while most tweets still land in a story rather than alone. It is the strictest
 * threshold at which at most a quarter of the tweets are left alone (in a cluster of one) and no
 * cluster holds more than a fifth of them. Short texts make singleton *clusters* the majority at
 * any useful threshold (on the MStream tweets, 72% of clusters at the best NMI), so the bound is
 * on tweets, not clusters. Ground truth, when given, is shown (NMI) but not used.
 */
import { parseArgs } from 'node:util';
import { mulberry32 } from '../birch/random.js';
import { ClusterEngine } from '../engine/engine.js';
import { evaluate } from '../engine/quality.js';
import { DEFAULTS, TextPipeline } from '../pipeline/text.js';
import { type CleanTweet, checkTweet } from '../pipeline/tweet.js';
import { UsageError } from './cluster.js';
import { formatOf, type InputFormat, openInput, readRecords } from './input.js';

export const TUNE_HELP = `Usage: birdie tune FILE [options]

Clusters a sample of FILE at several thresholds and suggests one.

  --text-field NAME     field holding the text (default: text)
  --vector-field NAME   field holding a precomputed embedding
  --label-field NAME    ground truth: adds NMI to the table (not used for the suggestion)
  --sample N            tweets sampled, uniformly, in file order (default: 5000)
  --mode cosine|radius  SIMILARITY_THRESHOLD (default) or BIRCH_THRESHOLD
  --seed S              the sample's seed (default: 1)
  --format jsonl|csv    override the format guessed from the file name
`;

const COSINE_GRID = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7];
const RADIUS_GRID = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1];

/** The suggestion's bounds: at most this share of the tweets are alone in their cluster... */
const MAX_ALONE_SHARE = 0.25;
/** ...and no cluster holds more than this share of the tweets. */
const MAX_LARGEST_SHARE = 0.2;

export interface TuneRow {
  threshold: number;
  clusters: number;
  singletons: number;
  singletonShare: number;
  /** share of the tweets in clusters of one */
  aloneShare: number;
  largestShare: number;
  meanSize: number;
  nmi?: number;
}

export async function tuneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'text-field': { type: 'string', default: 'text' },
      'vector-field': { type: 'string' },
      'label-field': { type: 'string' },
      sample: { type: 'string', default: '5000' },
      mode: { type: 'string', default: 'cosine' },
      seed: { type: 'string', default: '1' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TUNE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`tune takes one FILE\n\n${TUNE_HELP}`);
  const sample = Number(values.sample);
  if (!Number.isInteger(sample) || sample < 10) throw new UsageError('--sample must be an integer >= 10');
  if (values.mode !== 'cosine' && values.mode !== 'radius')
    throw new UsageError('--mode must be cosine or radius');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
  const file = positionals[0];
  const format = (values.format ?? formatOf(file)) as InputFormat;
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError('--format must be jsonl or csv');

  const { tweets, labels, seen } = await sampleFile(file, format, sample, seed, {
    text: values['text-field'],
    vector: values['vector-field'],
    label: values['label-field'],
  });
  if (tweets.length === 0) {
    process.stderr.write(`birdie: no usable tweets in ${file}\n`);
    return 1;
  }
  const radius = values.mode === 'radius';
  const rows = (radius ? RADIUS_GRID : COSINE_GRID).map((t) => run(tweets, labels, t, radius));
  const pick = suggest(rows, radius);

  const name = radius ? 'BIRCH_THRESHOLD' : 'SIMILARITY_THRESHOLD';
  process.stdout.write(`${tweets.length} tweets sampled of ${seen} in ${file}, ${values.mode} mode\n\n`);
  const header = [
    'threshold',
    'clusters',
    'singletons',
    'of clusters',
    'tweets alone',
    'largest',
    'mean size',
  ];
  if (labels !== undefined) header.push('NMI');
  const table = [header];
  for (const r of rows) {
    const cells = [
      `${r.threshold}${r === pick ? ' <' : ''}`,
      String(r.clusters),
      String(r.singletons),
      pct(r.singletonShare),
      pct(r.aloneShare),
      pct(r.largestShare),
      r.meanSize.toFixed(1),
    ];
    if (r.nmi !== undefined) cells.push(r.nmi.toFixed(3));
    table.push(cells);
  }
  const w = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) process.stdout.write(`${row.map((c, i) => c.padStart(w[i])).join('  ')}\n`);
  process.stdout.write(
    `\n${radius ? 'larger' : 'smaller'} thresholds give fewer, larger clusters; "largest" is the biggest cluster's share of the tweets\n`,
  );
  process.stdout.write(
    `suggested: ${name}=${pick.threshold} (the strictest that leaves at most ${pct(MAX_ALONE_SHARE)} of the tweets alone and no cluster over ${pct(MAX_LARGEST_SHARE)} of them${satisfies(pick) ? '' : '; none met both, this one comes closest'})\n`,
  );
  if (!radius && pick.threshold !== DEFAULTS.similarity)
    process.stdout.write(`(cosine mode's usual value is ${DEFAULTS.similarity})\n`);
  // the default absorb test is the DMM, which has no similarity threshold to tune
  process.stdout.write(
    `these thresholds apply with ${radius ? '--threshold / BIRCH_THRESHOLD' : '--similarity / SIMILARITY_THRESHOLD'}; the default absorb test (DMM) needs none\n`,
  );
  return 0;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function satisfies(r: TuneRow): boolean {
  return r.aloneShare <= MAX_ALONE_SHARE && r.largestShare <= MAX_LARGEST_SHARE;
}

/** The strictest row that satisfies both bounds, else the one nearest to them. */
export function suggest(rows: readonly TuneRow[], radius: boolean): TuneRow {
  // strictest first: the highest cosine bound, the smallest radius
  const strictFirst = [...rows].sort((a, b) =>
    radius ? a.threshold - b.threshold : b.threshold - a.threshold,
  );
  const ok = strictFirst.find(satisfies);
  if (ok !== undefined) return ok;
  const miss = (r: TuneRow) =>
    Math.max(0, r.aloneShare - MAX_ALONE_SHARE) + Math.max(0, r.largestShare - MAX_LARGEST_SHARE);
  return strictFirst.reduce((best, r) => (miss(r) < miss(best) ? r : best));
}

function run(
  tweets: CleanTweet[],
  labels: string[] | undefined,
  threshold: number,
  radius: boolean,
): TuneRow {
  const text = new TextPipeline();
  const dim = tweets[0].vector?.length ?? text.dim;
  const engine = new ClusterEngine({
    dim,
    threshold: radius ? threshold : 1,
    minSimilarity: radius ? undefined : threshold,
    branchingFactor: DEFAULTS.branchingFactor,
  });
  const assigned: number[] = [];
  for (const t of tweets) assigned.push(text.apply(engine, t, 0).cluster);
  let clusters = 0;
  let singletons = 0;
  let largest = 0;
  for (const [, n] of engine.tree.sizes()) {
    clusters++;
    if (n === 1) singletons++;
    if (n > largest) largest = n;
  }
  const row: TuneRow = {
    threshold,
    clusters,
    singletons,
    singletonShare: singletons / clusters,
    aloneShare: singletons / tweets.length,
    largestShare: largest / tweets.length,
    meanSize: tweets.length / clusters,
  };
  if (labels !== undefined) row.nmi = evaluate(labels, assigned.map(String)).nmi;
  return row;
}

/**
 * A uniform sample of `k` usable tweets (reservoir sampling, Vitter's algorithm R), returned in
 * file order. Rows that do not validate are not counted.
 */
async function sampleFile(
  file: string,
  format: InputFormat,
  k: number,
  seed: number,
  fields: { text: string; vector?: string; label?: string },
): Promise<{ tweets: CleanTweet[]; labels?: string[]; seen: number }> {
  const rand = mulberry32(seed);
  const keep: { at: number; tweet: CleanTweet; label?: string }[] = [];
  let seen = 0;
  let vectorDim: number | undefined;
  for await (const rec of readRecords(openInput(file), format)) {
    if (rec.record === undefined) continue;
    const checked = checkTweet(
      rec.record,
      { text: fields.text, id: 'id', vector: fields.vector },
      String(rec.line),
      vectorDim,
    );
    if (!checked.ok) continue;
    if (checked.tweet.vector !== undefined) vectorDim ??= checked.tweet.vector.length;
    const label = fields.label === undefined ? undefined : String(rec.record[fields.label] ?? '');
    const item = { at: seen, tweet: checked.tweet, label };
    if (keep.length < k) keep.push(item);
    else {
      const j = Math.floor(rand() * (seen + 1));
      if (j < k) keep[j] = item;
    }
    seen++;
  }
  keep.sort((a, b) => a.at - b.at);
  return {
    tweets: keep.map((x) => x.tweet),
    labels: fields.label === undefined ? undefined : keep.map((x) => x.label as string),
    seen,
  };
}
