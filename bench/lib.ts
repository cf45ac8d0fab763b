/**
 * Helpers shared by the benchmark suites: a suite's shape, a seeded PRNG, timing over runs,
 * memory sampling, table printing and the JSON written to bench/out/<suite>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

export { mulberry32 } from '../src/birch/random.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/** Everything a suite writes goes here (gitignored). */
export const OUT_DIR = join(BENCH_DIR, 'out');

// ---------------------------------------------------------------- suites

export interface SuiteContext {
  /** Arguments after the suite names, e.g. `npm run bench -- speed --limit 5000`. */
  args: string[];
  /** BENCH_QUICK=1: a smaller run that still exercises every code path. */
  quick: boolean;
}

export interface Suite {
  name: string;
  /** One line, shown by the dispatcher's list. */
  description: string;
  /** Prints its own tables; returns what goes to bench/out/<name>.json. */
  run(ctx: SuiteContext): Promise<Record<string, unknown>>;
}

/** `--name value` or `--name=value` from `args`; undefined when absent. */
export function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function hasFlag(args: string[], name: string): boolean {
  return args.includes(`--${name}`);
}

/** A positive integer flag, or `fallback`; a malformed value is an error, not a silent default. */
export function intFlag(args: string[], name: string, fallback: number): number {
  const v = flag(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

export function writeJson(suite: string, data: unknown): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = join(OUT_DIR, `${suite}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  v8: string;
  os: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

export function machineLine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}`;
}

/**
 * 1-minute load average and a warning when other work is running: on a shared machine the
 * absolute numbers drift, which is why suites report ratios measured side by side. Meaningful
 * before a suite starts; after it, the average includes the suite's own work.
 */
export function loadNote(): { load1: number; note: string } {
  const load1 = os.loadavg()[0];
  const busy =
    load1 > 0.5 ? ' (busy: other processes are running; compare ratios, not absolute numbers)' : '';
  return { load1, note: `load average ${load1.toFixed(2)}${busy}` };
}

// ---------------------------------------------------------------- seeded data

/**
 * Standard normal deviates by Box-Muller from a uniform source, both values of each pair used.
 * V8's Math.log/sin/cos are fdlibm ports, so the stream is the same on every machine.
 */
export function gaussian(uniform: () => number): () => number {
  let spare = 0;
  let hasSpare = false;
  return () => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    // 1 - u is in (0, 1], so the log is finite
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    hasSpare = true;
    return r * Math.cos(theta);
  };
}

/** Fisher-Yates, in place. */
export function shuffle<T extends { length: number; [i: number]: number }>(a: T, uniform: () => number): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

// ---------------------------------------------------------------- timing

/**
 * Results flow here so that the optimiser cannot drop the work that produced them; print it
 * (or put it in the JSON) at the end of a suite.
 */
export const sink = { value: 0 };

export interface Stats {
  min: number;
  median: number;
  max: number;
  samples: number[];
}

export function stats(samples: number[]): Stats {
  if (samples.length === 0) throw new Error('stats of no samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { min: s[0], median, max: s[s.length - 1], samples };
}

/** Seconds taken by `fn`. */
export function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/** The value of `fn` and the seconds it took. */
export function timed<T>(fn: () => T): { value: T; seconds: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

/** Runs `fn` `runs` times and returns the seconds of each. */
export function timeRuns(runs: number, fn: (run: number) => void): Stats {
  const secs: number[] = [];
  for (let r = 0; r < runs; r++) secs.push(time(() => fn(r)));
  return stats(secs);
}

/** Items per second from timing stats in seconds: the fastest run gives the max rate. */
export function rates(items: number, seconds: Stats): Stats {
  return {
    min: items / seconds.max,
    median: items / seconds.median,
    max: items / seconds.min,
    samples: seconds.samples.map((s) => items / s),
  };
}

// ---------------------------------------------------------------- memory

/**
 * A full garbage collection, without starting node with --expose-gc: the flag can be set at
 * run time and `gc` picked up from a fresh context. Memory deltas mean little without it.
 */
export const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const fn = vm.runInNewContext('gc') as () => void;
  return () => {
    // two passes: the first may only queue finalisers (ArrayBuffer backing stores)
    fn();
    fn();
  };
})();

export interface MemSnapshot {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export function memory(): MemSnapshot {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

export function memoryDelta(after: MemSnapshot, before: MemSnapshot): MemSnapshot {
  return {
    rss: after.rss - before.rss,
    heapUsed: after.heapUsed - before.heapUsed,
    heapTotal: after.heapTotal - before.heapTotal,
    external: after.external - before.external,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers,
  };
}

/**
 * Peak RSS over a synchronous loop: timers cannot fire inside one, so the loop calls
 * `sample()` every so often (process.memoryUsage.rss() is one syscall, no heap walk).
 */
export class RssSampler {
  peak = 0;
  samples = 0;
  constructor() {
    this.sample();
  }
  sample(): void {
    const r = process.memoryUsage.rss();
    if (r > this.peak) this.peak = r;
    this.samples++;
  }
}

/** The process's peak RSS so far (getrusage ru_maxrss), in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

// ---------------------------------------------------------------- printing

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 3 significant digits with k/M/G suffixes: 1234567 -> "1.23M". */
export function fmtSi(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return n.toPrecision(3);
}

export function fmtBytes(n: number): string {
  const a = Math.abs(n);
  if (a >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (a >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(x >= 10 ? 1 : 2)}x` : '-';
}

/**
 * A plain-text table: columns of numbers right-aligned, text left-aligned.
 * `null`/`undefined` print as "-".
 */
export function table(
  title: string,
  header: string[],
  rows: (string | number | null | undefined)[][],
): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const width = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+]?[\d.,]+(e[-+]?\d+)?\s*([kMGx%]|[KMG]iB|B)?$/;
  // a column is right-aligned, header included, when every cell in it is a number (or "-")
  const right = header.map((_, i) => cells.every((r) => r[i] === '-' || numeric.test(r[i] ?? '')));
  const line = (r: string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(width[i]) : c.padEnd(width[i])))
      .join('  ')
      .trimEnd();
  const rule = width.map((w) => '-'.repeat(w)).join('  ');
  return [title, line(header), rule, ...cells.map(line)].join('\n');
}
