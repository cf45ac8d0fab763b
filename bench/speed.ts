/**
 * speed: inserts per second of the CF-tree against scikit-learn's Birch on the same stream, in
 * one run, with the ratio checked against the targets; plus memory per cluster and how close
 * the descent comes to the arithmetic speed of plain JavaScript.
 *
 *   npm run bench -- speed                  50,000 rows, d in {256, 384}, T in {0.3, 0.5}
 *   BENCH_QUICK=1 npm run bench -- speed    10,000 rows
 *   npm run bench -- speed --limit 20000 --runs 5 --no-sklearn
 *
 * Modes, per (d, T), B = 50:
 *   insert-only    ours: CFTree.insert per row. sklearn: partial_fit in batches of 1000 with
 *                  compute_labels=False.
 *   assign+answer  ours: insert (which returns the row's cluster) and lastSimilarity (what the
 *                  service answers). sklearn: partial_fit per batch, reading labels_ after each.
 *
 * Order of work, per (d, T): our timings (warm-up, then runs alternating the two modes, each on
 * a fresh tree), then sklearn in a child process right after, so that the ratio compares
 * neighbours in time; then one more build for memory, descend() and the reference dot loops.
 * The flop counts come last of all: they patch a method on one tree instance, which makes V8's
 * inline caches in CFTree polymorphic, so no timed run may follow them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { CFTree, type TreeShape } from '../src/birch/cftree.js';
import { generateBlobs, type LoadedBlobs, loadBlobs, streamSpec } from './blobs.js';
import {
  fmtBytes,
  fmtInt,
  fmtRatio,
  fmtSi,
  gc,
  hasFlag,
  intFlag,
  type MemSnapshot,
  memory,
  memoryDelta,
  mulberry32,
  peakRss,
  RssSampler,
  rates,
  type Stats,
  type Suite,
  type SuiteContext,
  sink,
  stats,
  table,
  time,
  timed,
  timeRuns,
} from './lib.js';

const DIMS = [256, 384];
const THRESHOLDS = [0.3, 0.5];
const BRANCHING = 50;
/** sklearn's partial_fit batch: a service would buffer about this many tweets per call. */
const BATCH = 1000;
const FULL_ROWS = 50_000;
const QUICK_ROWS = 10_000;
const PYTHON = '/usr/bin/python3';
const SKLEARN_SCRIPT = new URL('./sklearn_birch.py', import.meta.url).pathname;

type Mode = 'insert-only' | 'assign+answer';
const MODES: Mode[] = ['insert-only', 'assign+answer'];

/** Minimum ours / sklearn throughput, by mode and threshold. */
const TARGETS: Record<Mode, Record<number, number>> = {
  'assign+answer': { 0.3: 10, 0.5: 2 },
  'insert-only': { 0.3: 2, 0.5: 2 },
};

// ---------------------------------------------------------------- our side

function buildInsertOnly(rows: Float64Array, n: number, d: number, threshold: number): CFTree {
  const tree = new CFTree({ dim: d, threshold, branchingFactor: BRANCHING });
  let last = 0;
  for (let r = 0; r < n; r++) last = tree.insert(rows, r * d);
  sink.value += last;
  return tree;
}

/** What the service does per tweet: the cluster id, and how typical the tweet is of it. */
function buildAnswer(rows: Float64Array, n: number, d: number, threshold: number): CFTree {
  const tree = new CFTree({ dim: d, threshold, branchingFactor: BRANCHING });
  let acc = 0;
  for (let r = 0; r < n; r++) {
    const id = tree.insert(rows, r * d);
    acc += id + tree.lastSimilarity(rows, r * d);
  }
  sink.value += acc;
  return tree;
}

function descendAll(tree: CFTree, rows: Float64Array, n: number, d: number): void {
  let acc = 0;
  for (let r = 0; r < n; r++) acc += tree.descend(rows, r * d);
  sink.value += acc;
}

interface MemoryResult {
  before: MemSnapshot;
  delta: MemSnapshot;
  /** Highest process RSS seen while building (the cached rows included). */
  rssPeak: number;
  /** rssPeak minus the RSS before; small when the tree reuses pages a collected one freed. */
  rssGrowthPeak: number;
  bytesPerCluster: number;
  treeReservedBytes: number;
  heapBytesPerCluster: number;
}

/** One more build, sampled: the deltas are taken after a full GC, with the tree still alive. */
function measureMemory(
  rows: Float64Array,
  n: number,
  d: number,
  threshold: number,
): { tree: CFTree; mem: MemoryResult } {
  gc();
  const before = memory();
  const rss = new RssSampler();
  const tree = new CFTree({ dim: d, threshold, branchingFactor: BRANCHING });
  for (let r = 0; r < n; r++) {
    tree.insert(rows, r * d);
    if ((r & 1023) === 0) rss.sample();
  }
  rss.sample();
  gc();
  const delta = memoryDelta(memory(), before);
  return {
    tree,
    mem: {
      before,
      delta,
      rssPeak: rss.peak,
      rssGrowthPeak: rss.peak - before.rss,
      // the node pool lives in WebAssembly memory (not counted in arrayBuffers): node records in
      // use, half-full nodes included, per cluster; the pool reserves up to 2x that (doubling)
      bytesPerCluster: tree.memoryBytes / tree.size,
      treeReservedBytes: tree.reservedBytes,
      // the id -> (node, slot) Map and small objects
      heapBytesPerCluster: delta.heapUsed / tree.size,
    },
  };
}

/** One pass of the plainest dot-product loop: each row of `a` (rows of d) against `x`. */
function plainDots(a: Float64Array, x: Float64Array, rows: number, d: number): number {
  let acc = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += a[o + i] * x[i];
    acc += s;
  }
  return acc;
}

/** The same with four accumulators, as cftree's `dot`: the adds no longer wait on each other. */
function unrolledDots(a: Float64Array, x: Float64Array, rows: number, d: number): number {
  let acc = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = 0;
    for (; i + 4 <= d; i += 4) {
      s0 += a[o + i] * x[i];
      s1 += a[o + i + 1] * x[i + 1];
      s2 += a[o + i + 2] * x[i + 2];
      s3 += a[o + i + 3] * x[i + 3];
    }
    for (; i < d; i++) s0 += a[o + i] * x[i];
    acc += s0 + s1 + s2 + s3;
  }
  return acc;
}

/**
 * GFLOP/s (median of 5) of `plainDots` and `unrolledDots` over a Float64Array of `words`
 * doubles: the descent's arithmetic on a working set the size of the tree's pool, without the
 * tree. Top-level functions, so that V8 optimises each once for every configuration.
 */
function dotLoopGflops(words: number, d: number): { plain: number; unrolled4: number; words: number } {
  const rowsN = Math.max(1, Math.floor(words / d));
  const a = new Float64Array(rowsN * d);
  const x = new Float64Array(d);
  const u = mulberry32(99);
  for (let i = 0; i < a.length; i++) a[i] = u() - 0.5;
  for (let i = 0; i < d; i++) x[i] = u() - 0.5;
  const flopsPerPass = 2 * rowsN * d;
  const gflops = (kernel: typeof plainDots): number => {
    for (let w = 0; w < 3; w++) sink.value += kernel(a, x, rowsN, d);
    // enough passes for ~0.2 s a run, so the timer's resolution does not matter
    const reps = Math.max(
      1,
      Math.ceil(
        0.2 /
          Math.max(
            time(() => kernel(a, x, rowsN, d)),
            1e-6,
          ),
      ),
    );
    const t = timeRuns(5, () => {
      for (let k = 0; k < reps; k++) sink.value += kernel(a, x, rowsN, d);
    });
    return (flopsPerPass * reps) / t.median / 1e9;
  };
  return { plain: gflops(plainDots), unrolled4: gflops(unrolledDots), words: rowsN * d };
}

// ---------------------------------------------------------------- flop counting

interface TreeInternals {
  closest(node: number): number;
  base(node: number): number;
  mem: Float64Array;
}

interface Counter {
  /** closest() calls: nodes whose entries were compared (inner nodes and the leaf). */
  calls: number;
  /** Entries compared: one d-long dot product each. */
  entries: number;
}

/**
 * Counts the dot products of the descent exactly, by wrapping the tree's private `closest(node)`
 * (the argmin over a node's entries, one dot product per entry) on this one instance; word 0
 * of a node's record is its entry count. This reads internals on purpose, to count without
 * reimplementing the descent: a self-check on a two-point tree returns null if they changed.
 * Not counted: the rare near-tie recomputation in sklearn's arithmetic, the merge test and the
 * ancestor updates (O(d) per level, not per entry), and splits. 2d flops an entry holds for
 * dense rows like these blobs; a sparse row (cftree's sparse path) would cost 2 nnz instead.
 */
function instrument(tree: CFTree): Counter | null {
  const proto = Object.getPrototypeOf(tree) as Partial<TreeInternals>;
  const inner = proto.closest;
  if (typeof inner !== 'function' || typeof proto.base !== 'function') return null;
  if (!((tree as unknown as Partial<TreeInternals>).mem instanceof Float64Array)) return null;
  const counter: Counter = { calls: 0, entries: 0 };
  (tree as unknown as TreeInternals).closest = function (this: TreeInternals, node: number): number {
    counter.calls++;
    counter.entries += this.mem[this.base(node)];
    return inner.call(this, node);
  };
  return counter;
}

function instrumentWorks(): boolean {
  const t = new CFTree({ dim: 2, threshold: 0.1, branchingFactor: 4 });
  const c = instrument(t);
  if (c === null) return false;
  t.insert([1, 0]); // empty leaf: nothing to compare
  t.insert([0, 1]); // one entry compared
  t.insert([0.6, 0.8]); // two
  return c.calls === 2 && c.entries === 3;
}

/**
 * The same count estimated from `shape()` alone, for when the internals are gone: an insert
 * compares the entries of one node per level, taken as the average node of its level (inner
 * nodes hold nodes - 1 entries between them, leaves hold all the entries), with the shape
 * sampled every 1000 inserts. Kept beside the exact count in the JSON to show its bias.
 */
function estimateFromShape(s: TreeShape): number {
  const leafAvg = s.leaves > 0 ? s.entries / s.leaves : 0;
  const inner = s.nodes - s.leaves;
  const innerAvg = inner > 0 ? (s.nodes - 1) / inner : 0;
  return (s.height - 1) * innerAvg + leafAvg;
}

interface FlopCount {
  method: 'exact (instrumented closest)' | 'estimated from shape()';
  /** Per insert: nodes compared, entries compared, descent flops (entries x 2d). */
  insert: { nodes: number | null; entries: number; flops: number };
  /** Per descend() on the final tree. */
  descend: { nodes: number | null; entries: number; flops: number } | null;
  /** Entries per insert estimated from shape(), for comparison. */
  shapeEstimateEntries: number;
}

function countFlops(rows: Float64Array, n: number, d: number, threshold: number, exact: boolean): FlopCount {
  const tree = new CFTree({ dim: d, threshold, branchingFactor: BRANCHING });
  const counter = exact ? instrument(tree) : null;
  let estimate = 0;
  let shape = tree.shape();
  for (let r = 0; r < n; r++) {
    if (r % 1000 === 0) shape = tree.shape();
    estimate += shape.entries > 0 ? estimateFromShape(shape) : 0;
    tree.insert(rows, r * d);
  }
  if (counter === null) {
    return {
      method: 'estimated from shape()',
      insert: { nodes: null, entries: estimate / n, flops: (2 * d * estimate) / n },
      descend: null,
      shapeEstimateEntries: estimate / n,
    };
  }
  const ins = { ...counter };
  counter.calls = 0;
  counter.entries = 0;
  descendAll(tree, rows, n, d);
  return {
    method: 'exact (instrumented closest)',
    insert: { nodes: ins.calls / n, entries: ins.entries / n, flops: (2 * d * ins.entries) / n },
    descend: { nodes: counter.calls / n, entries: counter.entries / n, flops: (2 * d * counter.entries) / n },
    shapeEstimateEntries: estimate / n,
  };
}

// ---------------------------------------------------------------- sklearn side

interface SklearnResult {
  d: number;
  threshold: number;
  mode: Mode;
  seconds: number;
  points_per_s: number;
  n_subclusters: number;
}

interface SklearnRun {
  skipped?: string;
  sklearn?: string;
  numpy?: string;
  python?: string;
  blas?: unknown;
  peak_rss_bytes?: number;
  results?: SklearnResult[];
}

/** Runs bench/sklearn_birch.py on the cached rows; its progress goes to our stderr. */
function runSklearn(dataPath: string, d: number, threshold: number, limit: number): Promise<SklearnRun> {
  if (!existsSync(PYTHON)) return Promise.resolve({ skipped: `${PYTHON} not found` });
  const args = [
    SKLEARN_SCRIPT,
    '--data',
    dataPath,
    '--dim',
    String(d),
    '--thresholds',
    String(threshold),
    '--branching',
    String(BRANCHING),
    '--batch',
    String(BATCH),
    '--limit',
    String(limit),
  ];
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
    });
    child.on('error', (e) => resolve({ skipped: `could not start ${PYTHON}: ${e.message}` }));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        resolve({ skipped: `sklearn_birch.py exited with ${signal ?? `code ${code}`}` });
        return;
      }
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as SklearnRun);
      } catch {
        resolve({ skipped: `sklearn_birch.py printed no JSON: ${JSON.stringify(last.slice(0, 200))}` });
      }
    });
  });
}

// ---------------------------------------------------------------- the suite

interface ConfigResult {
  d: number;
  threshold: number;
  /** Points per second. */
  ours: Record<Mode, Stats>;
  oursSeconds: Record<Mode, Stats>;
  subclusters: number;
  /** Subcluster counts of every timed run, all equal unless something is not deterministic. */
  subclustersPerRun: number[];
  shape: TreeShape;
  memory: MemoryResult;
  descendPerSecond: Stats;
  dotLoop: { plain: number; unrolled4: number; words: number };
  flops?: FlopCount;
  sklearn: Partial<Record<Mode, SklearnResult>>;
  /** Peak RSS of the Python process (both modes). */
  sklearnPeakRss: number | null;
}

async function run(ctx: SuiteContext): Promise<Record<string, unknown>> {
  const n = intFlag(ctx.args, 'limit', ctx.quick ? QUICK_ROWS : FULL_ROWS);
  if (n > FULL_ROWS) throw new Error(`--limit ${n} is more than the ${FULL_ROWS} rows generated`);
  const runs = intFlag(ctx.args, 'runs', 3);
  const withSklearn = !hasFlag(ctx.args, 'no-sklearn');
  console.log(
    `speed: ${fmtInt(n)} rows, d in {${DIMS}}, T in {${THRESHOLDS}}, B = ${BRANCHING}, ${runs} runs each` +
      (withSklearn ? `, sklearn partial_fit batches of ${BATCH}` : ', sklearn skipped (--no-sklearn)'),
  );

  const configs: ConfigResult[] = [];
  /** By `${d}/${T}`: each configuration's baseline runs right after ours, so drift hits both. */
  const sklearnRuns: Record<string, SklearnRun> = {};
  let sklearnSkipped: string | null = withSklearn ? null : '--no-sklearn';
  const data: Record<number, LoadedBlobs> = {};

  for (const d of DIMS) {
    const t0 = performance.now();
    const blobs = loadBlobs(streamSpec(d));
    data[d] = blobs;
    console.log(
      `  d=${d}: ${blobs.note} in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
        `(${blobs.spec.blobs} blobs of ${blobs.sizes[blobs.sizes.length - 1]}..${blobs.sizes[0]} rows)`,
    );
    const rows = blobs.rows;
    // warm-up on a separate seeded set, so that V8 has optimised insert before the clock runs
    const warm = generateBlobs({ ...blobs.spec, n: 3000, blobs: 30, seed: 7 });

    for (const threshold of THRESHOLDS) {
      for (let w = 0; w < 2; w++) {
        buildInsertOnly(warm.rows, 3000, d, threshold);
        descendAll(buildAnswer(warm.rows, 3000, d, threshold), warm.rows, 3000, d);
      }
      const secs: Record<Mode, number[]> = { 'insert-only': [], 'assign+answer': [] };
      const sizes: number[] = [];
      for (let r = 0; r < runs; r++) {
        // alternate the modes so that drift on a shared machine hits both alike
        for (const mode of MODES) {
          gc();
          const build = mode === 'insert-only' ? buildInsertOnly : buildAnswer;
          const { value: tree, seconds } = timed(() => build(rows, n, d, threshold));
          secs[mode].push(seconds);
          sizes.push(tree.size);
        }
      }
      const oursSeconds = {
        'insert-only': stats(secs['insert-only']),
        'assign+answer': stats(secs['assign+answer']),
      };
      console.log(
        `  d=${d} T=${threshold}: ours ${fmtSi(n / oursSeconds['insert-only'].median)} inserts/s, ` +
          `${fmtSi(n / oursSeconds['assign+answer'].median)} answers/s, ${fmtInt(sizes[0])} subclusters`,
      );
      const key = `${d}/${threshold}`;
      const sk: SklearnRun =
        sklearnSkipped === null
          ? await runSklearn(blobs.files.data, d, threshold, n)
          : { skipped: sklearnSkipped };
      sklearnRuns[key] = sk;
      if (sk.skipped && sklearnSkipped === null) {
        // no point in trying (and installing) again for the next configuration
        sklearnSkipped = sk.skipped;
        console.log(`  sklearn baseline skipped: ${sk.skipped}`);
      }
      const { tree, mem } = measureMemory(rows, n, d, threshold);
      const descend = timeRuns(runs, () => descendAll(tree, rows, n, d));
      const dotLoop = dotLoopGflops(Math.max(d, Math.round(mem.treeReservedBytes / 8)), d);
      const c: ConfigResult = {
        d,
        threshold,
        oursSeconds,
        ours: {
          'insert-only': rates(n, oursSeconds['insert-only']),
          'assign+answer': rates(n, oursSeconds['assign+answer']),
        },
        subclusters: tree.size,
        subclustersPerRun: sizes,
        shape: tree.shape(),
        memory: mem,
        descendPerSecond: rates(n, descend),
        dotLoop,
        sklearn: Object.fromEntries((sk.results ?? []).map((r) => [r.mode, r])),
        sklearnPeakRss: sk.peak_rss_bytes ?? null,
      };
      configs.push(c);
    }
  }

  // last: the counting wrapper changes CFTree's inline caches (see the header)
  const exact = instrumentWorks();
  if (!exact) console.log('  flop count: CFTree internals changed, estimating from shape() instead');
  for (const c of configs) c.flops = countFlops(data[c.d].rows, n, c.d, c.threshold, exact);

  report(configs, sklearnRuns, n);

  const sk = Object.values(sklearnRuns).find((s) => !s.skipped);
  return {
    params: { rows: n, dims: DIMS, thresholds: THRESHOLDS, branchingFactor: BRANCHING, batch: BATCH, runs },
    data: Object.fromEntries(
      DIMS.map((d) => [d, { file: relative(process.cwd(), data[d].files.data), spec: data[d].spec }]),
    ),
    sklearn: sk
      ? { version: sk.sklearn, numpy: sk.numpy, python: sk.python, blas: sk.blas }
      : { skipped: sklearnSkipped },
    configs: configs.map((c) => ({ ...c, gflops: gflops(c), targets: MODES.map((m) => verdict(c, m)) })),
    peakRss: peakRss(),
    sink: sink.value,
  };
}

interface Verdict {
  mode: Mode;
  ratio: number | null;
  target: number;
  pass: boolean | null;
}

function verdict(c: ConfigResult, mode: Mode): Verdict {
  const target = TARGETS[mode][c.threshold];
  const sk = c.sklearn[mode];
  if (!sk) return { mode, ratio: null, target, pass: null };
  const ratio = c.ours[mode].median / sk.points_per_s;
  return { mode, ratio, target, pass: ratio >= target };
}

/**
 * GFLOP/s of the descent. During insert: the descent's flops over the whole insert time, so a
 * lower bound (the merge, the ancestor updates and the splits are on the clock but not
 * counted). descend(): the same descent alone, on the final tree.
 */
function gflops(c: ConfigResult): { insert: number; descend: number | null } | null {
  if (!c.flops) return null;
  const insert = (c.flops.insert.flops * c.ours['insert-only'].median) / 1e9;
  const descend = c.flops.descend ? (c.flops.descend.flops * c.descendPerSecond.median) / 1e9 : null;
  return { insert, descend };
}

function report(configs: ConfigResult[], sklearnRuns: Record<string, SklearnRun>, n: number): void {
  const sk = Object.values(sklearnRuns).find((s) => !s.skipped);
  const skName = sk ? `sklearn ${sk.sklearn} (numpy ${sk.numpy}, Python ${sk.python})` : 'sklearn skipped';
  console.log();
  console.log(
    table(
      `Throughput, points/s (${fmtInt(n)} rows, B = ${BRANCHING}; ours: min/median/max of fresh-tree runs; ${skName}, one run, batches of ${BATCH})`,
      [
        'd',
        'T',
        'mode',
        'ours min',
        'ours median',
        'ours max',
        'sklearn',
        'ours/sklearn',
        'target',
        'verdict',
      ],
      configs.flatMap((c) =>
        MODES.map((m) => {
          const v = verdict(c, m);
          return [
            c.d,
            c.threshold,
            m,
            fmtInt(c.ours[m].min),
            fmtInt(c.ours[m].median),
            fmtInt(c.ours[m].max),
            c.sklearn[m] ? fmtInt(c.sklearn[m].points_per_s) : null,
            v.ratio === null ? null : fmtRatio(v.ratio),
            `>= ${v.target}x`,
            v.pass === null ? 'n/a' : v.pass ? 'PASS' : 'MISS',
          ];
        }),
      ),
    ),
  );

  console.log();
  console.log(
    table(
      'Tree and memory (memory: one more build, deltas after a full GC with the tree alive)',
      [
        'd',
        'T',
        'subclusters',
        'sklearn',
        'match',
        'height',
        'nodes',
        'heapUsed Δ',
        'tree reserved',
        'bytes/cluster',
        'peak RSS',
      ],
      configs.map((c) => {
        const skCounts = [
          ...new Set(MODES.map((m) => c.sklearn[m]?.n_subclusters).filter((x) => x !== undefined)),
        ];
        const ourCounts = new Set(c.subclustersPerRun);
        let match = 'n/a';
        if (ourCounts.size > 1) match = `MISMATCH (ours varies: ${[...ourCounts].join('/')})`;
        else if (skCounts.length > 0) match = skCounts.every((x) => x === c.subclusters) ? 'yes' : 'MISMATCH';
        return [
          c.d,
          c.threshold,
          fmtInt(c.subclusters),
          skCounts.length ? skCounts.map(fmtInt).join('/') : null,
          match,
          c.shape.height,
          fmtInt(c.shape.nodes),
          fmtBytes(c.memory.delta.heapUsed),
          fmtBytes(c.memory.treeReservedBytes),
          fmtInt(c.memory.bytesPerCluster),
          fmtBytes(c.memory.rssPeak),
        ];
      }),
    ),
  );

  const method = configs[0]?.flops?.method ?? 'not counted';
  console.log();
  console.log(
    table(
      `Descent arithmetic (flops = entries compared x 2d, ${method}; loop = dot products over a Float64Array the size of the tree's pool)`,
      [
        'd',
        'T',
        'nodes/insert',
        'entries/insert',
        'kflop/insert',
        'insert GFLOP/s',
        'descend GFLOP/s',
        'plain loop',
        'x4 loop',
        'insert/plain',
        'descend/plain',
      ],
      configs.map((c) => {
        const g = gflops(c);
        const f = c.flops;
        return [
          c.d,
          c.threshold,
          f?.insert.nodes?.toFixed(2),
          f?.insert.entries.toFixed(1),
          f ? (f.insert.flops / 1e3).toFixed(1) : null,
          g?.insert.toFixed(2),
          g?.descend?.toFixed(2),
          c.dotLoop.plain.toFixed(2),
          c.dotLoop.unrolled4.toFixed(2),
          g ? `${((100 * g.insert) / c.dotLoop.plain).toFixed(0)}%` : null,
          g?.descend ? `${((100 * g.descend) / c.dotLoop.plain).toFixed(0)}%` : null,
        ];
      }),
    ),
  );
  console.log(
    '  insert GFLOP/s counts only the descent but divides by the whole insert time: a lower bound on the kernel.',
  );
  if (sk) console.log(`  sklearn BLAS: ${JSON.stringify(sk.blas)}`);
  const skipped = new Map<string, string[]>();
  for (const [key, s] of Object.entries(sklearnRuns))
    if (s.skipped) skipped.set(s.skipped, [...(skipped.get(s.skipped) ?? []), key]);
  for (const [reason, keys] of skipped)
    console.log(`  sklearn skipped for d/T ${keys.join(', ')}: ${reason}`);
  console.log(`  sink ${sink.value.toPrecision(6)}`);
}

export const speed: Suite = {
  name: 'speed',
  description: 'CF-tree inserts/s vs scikit-learn Birch (d 256/384, T 0.3/0.5), memory, GFLOP/s',
  run,
};
