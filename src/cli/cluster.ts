/**
 * `birdie cluster [FILE|-]`: one pass of a file of tweets through the engine.
 */

import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  type ReadStream,
  renameSync,
  statSync,
  unlinkSync,
  type WriteStream,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ClusterEngine } from '../engine/engine.js';
import { evaluate, formatReport, type QualityReport } from '../engine/quality.js';
import { DEFAULTS, TextPipeline } from '../pipeline/text.js';
import { checkTweet, type TweetFields } from '../pipeline/tweet.js';
import { formatOf, type InputFormat, openInput, readRecords } from './input.js';
import { Progress } from './progress.js';

export const CLUSTER_HELP = `Usage: birdie cluster [FILE|-] [options]

Clusters a file of tweets (JSONL, or CSV when the name ends in .csv) in one pass and prints the
largest clusters. Reads stdin when FILE is - or missing.

Input
  --text-field NAME        field holding the text (default: text)
  --id-field NAME          field holding the tweet id (default: id; else the line number)
  --vector-field NAME      field holding a precomputed embedding (bypasses the embedder)
  --time-field NAME        field holding the tweet's time (default: created_at)
  --label-field NAME       ground-truth label: prints NMI, ARI, homogeneity, completeness, purity
  --format jsonl|csv       override the format guessed from the file name
Clustering (default: the Dirichlet-multinomial test on each tweet's terms)
  --alpha A                DMM: weight of a new cluster per recent tweet (default: ${DEFAULTS.dmm.alpha})
  --beta B                 DMM: pseudo-count of each term in each cluster (default: ${DEFAULTS.dmm.beta})
  --half-life N            DMM: a cluster's pull halves every N tweets (default: ${DEFAULTS.dmm.halfLife})
  --outlier-size N         DMM: clusters under N tweets join their best cluster once stale
                           (default: ${DEFAULTS.dmm.outlierSize}; 1: never)
  --similarity S           instead: a tweet joins its nearest cluster when its cosine with the
                           cluster's centroid is >= S (${DEFAULTS.similarity} is a fair value)
  --threshold T            use sklearn's BIRCH radius test instead: join when the merged
                           cluster's radius stays <= T (unit vectors: cos >= 1 - 2T^2 for a pair)
  --branching-factor B     entries per CF-tree node (default: ${DEFAULTS.branchingFactor})
  --dim D                  dimension of the built-in embedder (default: ${DEFAULTS.dim})
  --topics N               group the clusters into N topics (global step)
  --topic-threshold X      group clusters whose average cosine similarity is >= X
Output
  --out FILE               one JSON line per input row, in input order: {"id","cluster"[,"topic"]};
                           the cluster is the one the API answers for the tweet after the last
                           row (a cluster merged away answers with the one that absorbed it)
  --clusters-out FILE      one JSON line per cluster: id, n, first/last seen, cohesion, growth,
                           terms, hashtags, representatives, timeline, centroid
  --metrics-json FILE      quality metrics as JSON (with --label-field)
  --top N                  clusters shown in the summary (default: 10)
  --strict                 stop with exit code 2 at the first bad row instead of skipping it
  --quiet                  no progress bar and no summary
`;

export interface ClusterResult {
  rows: number;
  clustered: number;
  skipped: number;
  clusters: number;
  seconds: number;
  quality?: QualityReport;
}

interface Row {
  id: string | null;
  cluster: number | null;
  error?: string;
  label?: string;
}

export async function clusterCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'text-field': { type: 'string', default: 'text' },
      'id-field': { type: 'string', default: 'id' },
      'vector-field': { type: 'string' },
      'time-field': { type: 'string', default: 'created_at' },
      'label-field': { type: 'string' },
      format: { type: 'string' },
      threshold: { type: 'string' },
      similarity: { type: 'string' },
      alpha: { type: 'string' },
      beta: { type: 'string' },
      'half-life': { type: 'string' },
      'outlier-size': { type: 'string' },
      'branching-factor': { type: 'string' },
      dim: { type: 'string' },
      topics: { type: 'string' },
      'topic-threshold': { type: 'string' },
      out: { type: 'string' },
      'clusters-out': { type: 'string' },
      'metrics-json': { type: 'string' },
      top: { type: 'string', default: '10' },
      strict: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`expected one input file, got ${positionals.length}`);
  const file = positionals[0] ?? '-';
  // no file and a terminal on stdin: the user forgot the file, not piping tweets in
  if (positionals.length === 0 && process.stdin.isTTY === true)
    throw new UsageError(`no input: give a file, or pipe tweets in\n\n${CLUSTER_HELP}`);
  const format = (values.format ?? formatOf(file)) as InputFormat;
  if (format !== 'jsonl' && format !== 'csv')
    throw new UsageError(`--format must be jsonl or csv, got ${format}`);
  if (values.threshold !== undefined && values.similarity !== undefined)
    throw new UsageError('give --similarity or --threshold, not both');
  const threshold = num(values.threshold, '--threshold', DEFAULTS.threshold, (v) => v > 0);
  const useDmm = values.threshold === undefined && values.similarity === undefined;
  const dmmFlags = ['alpha', 'beta', 'half-life', 'outlier-size'] as const;
  if (!useDmm && dmmFlags.some((f) => values[f] !== undefined))
    throw new UsageError(
      `--${dmmFlags.find((f) => values[f] !== undefined)} is a DMM setting: not with --similarity or --threshold`,
    );
  const dmm = useDmm
    ? {
        alpha: num(values.alpha, '--alpha', DEFAULTS.dmm.alpha, (v) => v > 0),
        beta: num(values.beta, '--beta', DEFAULTS.dmm.beta, (v) => v > 0),
        halfLife: num(values['half-life'], '--half-life', DEFAULTS.dmm.halfLife, (v) => v > 0),
        outlierSize: num(
          values['outlier-size'],
          '--outlier-size',
          DEFAULTS.dmm.outlierSize,
          (v) => Number.isInteger(v) && v >= 0,
        ),
      }
    : undefined;
  const minSimilarity =
    values.threshold !== undefined || dmm !== undefined
      ? undefined
      : num(values.similarity, '--similarity', DEFAULTS.similarity, (v) => v >= -1 && v <= 1);
  const absorb =
    dmm !== undefined
      ? `DMM alpha ${dmm.alpha} beta ${dmm.beta} half-life ${dmm.halfLife} outlier size ${dmm.outlierSize}`
      : minSimilarity === undefined
        ? `radius threshold ${threshold}`
        : `similarity ${minSimilarity}`;
  const branchingFactor = num(
    values['branching-factor'],
    '--branching-factor',
    DEFAULTS.branchingFactor,
    (v) => Number.isInteger(v) && v >= 2,
  );
  const dim = num(values.dim, '--dim', DEFAULTS.dim, (v) => Number.isInteger(v) && v >= 2);
  const top = num(values.top, '--top', 10, (v) => Number.isInteger(v) && v >= 0);
  let topicOpts: { nClusters?: number; threshold?: number } | undefined;
  if (values.topics !== undefined && values['topic-threshold'] !== undefined)
    throw new UsageError('give --topics or --topic-threshold, not both');
  if (values.topics !== undefined)
    topicOpts = { nClusters: num(values.topics, '--topics', 0, (v) => Number.isInteger(v) && v >= 1) };
  if (values['topic-threshold'] !== undefined)
    topicOpts = {
      threshold: num(values['topic-threshold'], '--topic-threshold', 0, (v) => v >= -1 && v <= 1),
    };
  if (values['metrics-json'] !== undefined && values['label-field'] === undefined)
    throw new UsageError('--metrics-json needs --label-field');

  const fields: TweetFields = {
    text: values['text-field'],
    id: values['id-field'],
    vector: values['vector-field'],
    time: values['time-field'],
  };
  const labelField = values['label-field'];
  const quiet = values.quiet;
  const progress = new Progress(process.stderr, !quiet && process.stderr.isTTY === true);

  // The pipeline (text -> vector -> engine) is created on the first good row when vectors come
  // with the input, since only then is their dimension known.
  let text: TextPipeline | undefined = fields.vector === undefined ? new TextPipeline({ dim }) : undefined;
  let engine: ClusterEngine | undefined =
    text === undefined
      ? undefined
      : new ClusterEngine({ dim: text.dim, threshold, branchingFactor, minSimilarity, dmm });
  let vectorDim: number | undefined;

  // rows are kept for the quality metrics, or to write --out after the topic step
  const rows: Row[] = [];
  const keepRows = labelField !== undefined || (values.out !== undefined && topicOpts !== undefined);
  // Written as the rows go, then once more through the merge record at the end (see `resolved`):
  // the file is kept in a side file until then, so --out holds only final answers.
  const partial = values.out === undefined ? undefined : `${values.out}.partial`;
  const outStream = partial !== undefined && topicOpts === undefined ? openOut(partial) : undefined;
  const errorsByKind = new Map<string, number>();
  let skipped = 0;
  let clustered = 0;
  let nRows = 0;
  const started = performance.now();

  const input = openInput(file);
  // how far through a file: bytes read of its size (stdin has no size)
  const size = file === '-' ? 0 : fileSize(file);
  for await (const rec of readRecords(input, format)) {
    nRows++;
    let row: Row;
    const fallbackId = String(rec.line);
    if (rec.error !== undefined) {
      row = { id: null, cluster: null, error: rec.error };
    } else {
      const checked = checkTweet(rec.record, fields, fallbackId, vectorDim);
      if (!checked.ok) {
        row = { id: idOf(rec.record, fields.id) ?? null, cluster: null, error: checked.error };
      } else {
        const t = checked.tweet;
        if (t.vector !== undefined && engine === undefined) {
          vectorDim = t.vector.length;
          engine = new ClusterEngine({ dim: vectorDim, threshold, branchingFactor, minSimilarity, dmm });
          // the embedder still gives each tweet's terms to its cluster's summary
          text = new TextPipeline({ dim });
        }
        const a = text!.apply(engine!, t, Date.now());
        row = { id: t.id, cluster: a.cluster };
        clustered++;
      }
    }
    if (row.error !== undefined) {
      skipped++;
      const msg = `line ${rec.line}: ${row.error}`;
      if (values.strict) {
        progress.clear();
        process.stderr.write(`birdie: ${msg}\n`);
        if (outStream !== undefined && partial !== undefined && values.out !== undefined) {
          await close(outStream);
          await rewriteResolved(
            partial,
            values.out,
            engine?.mergeRecordSize ? (c) => engine?.resolve(c) ?? c : undefined,
          );
        }
        return 2;
      }
      const kind = row.error.replace(/".*?"|\d+/g, '#');
      errorsByKind.set(kind, (errorsByKind.get(kind) ?? 0) + 1);
      if (skipped <= 20 && !quiet) {
        progress.clear();
        process.stderr.write(`birdie: skipped ${msg}\n`);
      }
    }
    if (labelField !== undefined && rec.record !== undefined) {
      const l = rec.record[labelField];
      row.label = l === undefined || l === null ? undefined : String(l);
    }
    // respect back-pressure, or a slow disk would buffer the whole output in memory
    if (outStream !== undefined && !writeRow(outStream, row)) await once(outStream, 'drain');
    if (keepRows) rows.push(row);
    progress.tick(
      nRows,
      engine?.clusterCount ?? 0,
      size > 0 ? (input as ReadStream).bytesRead / size : undefined,
    );
  }
  progress.clear();

  // A tweet's cluster is what the API would answer for it now: the cluster it was assigned, or
  // the one that absorbed that cluster since (outliers re-absorbed, rebuilds), as resolve() says.
  const final = engine;
  const resolved = (c: number): number => final?.resolve(c) ?? c;
  for (const r of rows) if (r.cluster !== null) r.cluster = resolved(r.cluster);
  if (outStream !== undefined && partial !== undefined && values.out !== undefined) {
    await close(outStream);
    await rewriteResolved(partial, values.out, engine?.mergeRecordSize === 0 ? undefined : resolved);
  }
  // the rate counts every tweet's final answer in, --out included; the topic step apart
  const seconds = (performance.now() - started) / 1000;

  let topics: Map<number, number> | undefined;
  if (topicOpts !== undefined && engine !== undefined) topics = engine.topics(topicOpts);
  if (values.out !== undefined && topicOpts !== undefined) {
    const s = openOut(values.out);
    for (const r of rows) if (!writeRow(s, r, topics)) await once(s, 'drain');
    await close(s);
  }
  if (values['clusters-out'] !== undefined && engine !== undefined) {
    const s = openOut(values['clusters-out']);
    for (const c of engine.clusters(10)) {
      const centroid = new Float64Array(engine.dim);
      engine.tree.centroidInto(c.id, centroid);
      const line: Record<string, unknown> = {
        id: c.id,
        n: c.size,
        first_seen: new Date(c.firstSeen).toISOString(),
        last_seen: new Date(c.lastSeen).toISOString(),
        cohesion: round6(c.cohesion),
        growth: round6(c.growth),
        terms: c.terms.map((t) => t.term),
        term_counts: c.terms,
        hashtags: c.hashtags,
        representatives: c.representatives.map((r) => ({ ...r, similarity: round6(r.similarity) })),
        timeline: c.timeline.map((b) => ({ start: new Date(b.start).toISOString(), count: b.count })),
        centroid: Array.from(centroid, round6),
      };
      if (topics !== undefined) line.topic = topics.get(c.id);
      s.write(`${JSON.stringify(line)}\n`);
    }
    await close(s);
  }

  let quality: QualityReport | undefined;
  let topicQuality: QualityReport | undefined;
  if (labelField !== undefined) {
    const truth: string[] = [];
    const pred: number[] = [];
    for (const r of rows) {
      if (r.cluster === null || r.label === undefined) continue;
      truth.push(r.label);
      pred.push(r.cluster);
    }
    quality = evaluate(truth, pred);
    // with a topic step, the topics are scored too: the same rows, each labelled by its topic
    if (topics !== undefined)
      topicQuality = evaluate(
        truth,
        pred.map((c) => topics.get(c) ?? -1),
      );
    if (values['metrics-json'] !== undefined) {
      const s = openOut(values['metrics-json']);
      const report = {
        ...quality,
        tweetsPerSecond: clustered / seconds,
        skipped,
        rows: nRows,
        threshold: minSimilarity === undefined && dmm === undefined ? threshold : null,
        similarity: minSimilarity ?? null,
        dmm: dmm ?? null,
        merged: engine?.mergedClusters ?? 0,
        topics: topicQuality ?? null,
      };
      s.write(`${JSON.stringify(report, null, 2)}\n`);
      await close(s);
    }
  }

  if (!quiet) {
    const out = process.stdout;
    const shape = engine?.shape();
    out.write(
      `birdie: ${clustered} tweets into ${engine?.clusterCount ?? 0} clusters in ${seconds.toFixed(2)} s ` +
        `(${Math.round(clustered / Math.max(seconds, 1e-9))} tweets/s); ${absorb}, ` +
        `tree height ${shape?.height ?? 0}, ${shape?.nodes ?? 0} nodes\n`,
    );
    if (skipped > 0) {
      const kinds = [...errorsByKind].map(([k, n]) => `${n} ${k}`).join('; ');
      out.write(`skipped ${skipped} of ${nRows} rows: ${kinds}\n`);
    }
    if (engine !== undefined && top > 0) {
      out.write(`\nlargest clusters:\n`);
      for (const c of engine.largest(top, 6)) {
        const terms = c.terms.map((t) => t.term).join(' ');
        const topic = topics?.get(c.id);
        out.write(
          `  #${c.id}  ${c.size} tweets${topic === undefined ? '' : `, topic ${topic}`}  [${terms}]\n`,
        );
        if (c.example !== undefined) out.write(`      "${oneLine(c.example, 100)}"\n`);
      }
    }
    if (topics !== undefined) out.write(`\n${new Set(topics.values()).size} topics\n`);
    if (quality !== undefined) out.write(`\nquality against "${labelField}":\n${formatReport(quality)}\n`);
    if (topicQuality !== undefined)
      out.write(`\ntopic quality against "${labelField}":\n${formatReport(topicQuality)}\n`);
  }
  return 0;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function num(raw: string | undefined, name: string, dflt: number, ok: (v: number) => boolean): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !ok(v))
    throw new UsageError(`${name}: invalid value "${raw}"`);
  return v;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // the read itself reports a missing file
  }
}

function idOf(record: Record<string, unknown>, field: string): string | undefined {
  const v = record[field];
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

function openOut(file: string): WriteStream {
  return createWriteStream(file);
}

function close(s: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    s.on('error', reject);
    s.end(resolve);
  });
}

/**
 * Moves the side file of --out to its place; with `map`, rewrites each line's cluster through
 * it on the way (one line at a time: the output can be larger than memory).
 */
async function rewriteResolved(from: string, to: string, map?: (c: number) => number): Promise<void> {
  if (map === undefined) {
    renameSync(from, to);
    return;
  }
  const s = openOut(to);
  const lines = createInterface({ input: createReadStream(from), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line === '') continue;
    const row = JSON.parse(line) as Record<string, unknown>;
    if (typeof row.cluster === 'number') row.cluster = map(row.cluster);
    if (!s.write(`${JSON.stringify(row)}\n`)) await once(s, 'drain');
  }
  await close(s);
  unlinkSync(from);
}

function writeRow(s: WriteStream, r: Row, topics?: Map<number, number>): boolean {
  const line: Record<string, unknown> = { id: r.id, cluster: r.cluster };
  if (topics !== undefined) line.topic = r.cluster === null ? null : (topics.get(r.cluster) ?? null);
  if (r.error !== undefined) line.error = r.error;
  return s.write(`${JSON.stringify(line)}\n`);
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
