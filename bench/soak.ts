/**
 * soak: a long generated tweet stream through the service with the memory caps set, to show
 * that a process left running stays fast and bounded (issue 5): throughput over time (the last
 * 10% must run at >= 80% of the first 10%) and RSS over time (it must plateau). Beside it, the
 * same stream with no caps for its first tweets, to show what the caps buy.
 *
 *   npm run bench -- soak                      1,000,000 tweets capped, first 200,000 uncapped
 *   BENCH_QUICK=1 npm run bench -- soak        200,000 capped, first 50,000 uncapped
 *   npm run bench -- soak --tweets 300000 --uncapped 100000 --batch 500 --rate 200 --seed 1
 *   npm run bench -- soak --max-clusters 5000 --expiry-hours 0.5 --outlier-hours 0.1
 *   npm run bench -- soak --uncapped 0         the capped run only
 *   npm run bench -- soak --cpu-prof DIR       the capped run writes a V8 CPU profile to DIR
 *   npm run bench -- soak --node-flags "--max-old-space-size=256"   node/V8 flags for both runs
 *
 * What runs: Service.ingest (src/pipeline/service.ts) in batches of --batch items, as the HTTP
 * route and the CLI call it: schema check, the built-in hashed TF-IDF embedder (the real
 * tokenizer), ClusterEngine.apply (CF-tree insert, summaries, expiry sweeps, rebuilds when the
 * tree passes MAX_CLUSTERS_IN_MEMORY), TweetMemory (ids and held tweets). No HTTP, no log.
 * Each run is its own child process (node --expose-gc), so that one run's RSS is not the
 * other's; the uncapped run goes first and the capped one right after, so the two compare
 * neighbours in time. Each starts with a warm-up of 10,000 tweets of another seed on a throw-away
 * service, so the first slice is not charged for V8 compiling the code.
 *
 * The stream (TweetStream, deterministic for a seed; the uncapped run sees exactly the capped
 * run's first tweets): created_at advances at --rate tweets per simulated second (default 200:
 * 1,000,000 tweets span 83 simulated minutes), so the expiry windows act during the run. Stories
 * are born as a Poisson process (0.6 per simulated second: about 3,000 over the run, plus those
 * alive at the start) with Pareto (Zipf-like) popularity; each rises over 0.5-5 min, decays with
 * a half-life of minutes (one in ten runs for hours) and may have a second burst. A story tweet
 * mixes its story's core and related words, its hashtags, a mention or a link, with common
 * filler words (Zipf over 20,000 words, stop words among them); 20% of story tweets are "RT
 * @user: " copies of one of its recent tweets; 10% of tweets are noise (one-offs from filler
 * words); 1% repeat an earlier tweet's id (a duplicate, answered and not applied); 5% arrive up to
 * 30 s late (created_at behind the stream). The words are made-up syllable strings, so the
 * vectors are the embedder's real ones, not a stand-in.
 *
 * Measured, per slice of the stream: tweets per second of time spent inside ingest (generation
 * is outside the clock), tweets per CPU second (the process's user + system time over the same
 * span: less sensitive to other work on a shared machine, though it counts GC threads too), the
 * slowest batch (a rebuild or a sweep lands in one). At every 10% (and at the comparison points
 * of the uncapped run): a full GC (global.gc, from --expose-gc), then RSS and heap used, and the
 * engine's and memory's counters. Every 0.5%, RSS and heap used without a GC (what the
 * operator sees, garbage included) and the process's peak RSS so far (getrusage).
 *
 * How long it takes is mostly the engine's: the capped run's time goes into the rebuilds that
 * MAX_CLUSTERS_IN_MEMORY triggers (the "rebuilds" line says how many, how often and what a batch
 * with one cost). --tweets shortens the run; the criteria then judge a shorter stream, whose first
 * 10% may not yet include a rebuild.
 *
 * Criteria:
 *   throughput  last 10% tweets/s / first 10% tweets/s >= 0.80
 *   plateau     both (a) trend: the least-squares line through the RSS samples (every 0.5%, no
 *               GC) over 50-100% of the stream rises by less than 10% of its value at 50% (RSS
 *               saw-tooths by tens of MiB with V8's collections and the CF-tree's pool, which
 *               doubles as a rebuilt tree grows back, so two single readings would judge the
 *               teeth, not the trend), and (b) peaks: the highest RSS sample over 70-100% is
 *               within 10% of the highest over 40-70% (windows of equal length, so that neither
 *               has more chances to catch a peak). RSS after a full GC at 50% and 100% is shown
 *               beside them.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import type { RebuildEvent } from '../src/engine/engine.js';
import { Service } from '../src/pipeline/service.js';
import { DEFAULTS } from '../src/pipeline/text.js';
import {
  flag,
  fmtBytes,
  fmtInt,
  fmtRatio,
  hasFlag,
  intFlag,
  gc as libGc,
  mulberry32,
  type Suite,
  type SuiteContext,
  table,
} from './lib.js';
import { gitState, ROOT } from './service.js';

const SOAK_PATH = fileURLToPath(import.meta.url);
const CHILD_FLAG = '--soak-child';

const FULL_TWEETS = 1_000_000;
const QUICK_TWEETS = 200_000;
const FULL_UNCAPPED = 200_000;
const QUICK_UNCAPPED = 50_000;
const BATCH = 500;
/** tweets per simulated second */
const RATE = 200;
const SEED = 20_240_601;
const WARMUP_TWEETS = 10_000;
/** A simulated start; created_at values are this plus the stream's own time. */
const EPOCH = Date.UTC(2024, 5, 1, 12, 0, 0);

/** The caps of the capped run (the service's option names). */
interface Caps {
  maxClustersInMemory: number;
  maxTweetEmbeddings: number;
  maxTweetIds: number;
  clusterExpiryHours: number;
  outlierExpiryHours: number;
  minClusterSize: number;
}

const CAPS: Caps = {
  maxClustersInMemory: 5_000,
  maxTweetEmbeddings: 10_000,
  maxTweetIds: 100_000,
  // 30 simulated minutes = 360,000 tweets at 200/s: expiry is in force from 36% of a 1M run on,
  // so the second half, which the plateau is judged on, runs with every bound acting
  clusterExpiryHours: 0.5,
  outlierExpiryHours: 0.1,
  minClusterSize: 2,
};

const THROUGHPUT_TARGET = 0.8;
const PLATEAU_GROWTH = 0.1;
const PLATEAU_PEAK = 0.1;

// ---------------------------------------------------------------- the stream

/** One tweet as a client posts it. */
interface GenTweet {
  id: string;
  text: string;
  created_at: string;
  user: string;
  lang: string;
}

const ONSETS = 'b c d f g h j k l m n p r s t v w z br st tr pl gr ch sh th kr fl sp'.split(' ');
const VOWELS = 'a e i o u ai ou ea io'.split(' ');
const CODAS = ['', '', '', 'n', 'r', 's', 'l', 't', 'm', 'x', 'ck', 'nd'];
const STOP = 'the a is to of and in for on this that it with are was just so at be my now'.split(' ');

/** `n` distinct made-up words of 2-3 syllables. */
function makeWords(n: number, u: () => number): string[] {
  const pick = <T>(a: readonly T[]) => a[Math.floor(u() * a.length)];
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < n) {
    const syl = 2 + (u() < 0.35 ? 1 : 0);
    let w = '';
    for (let s = 0; s < syl; s++) w += pick(ONSETS) + pick(VOWELS) + pick(CODAS);
    if (seen.has(w)) continue;
    seen.add(w);
    out.push(w);
  }
  return out;
}

/**
 * Zipf-Mandelbrot over ranks 0..n-1, p(r) ~ 1/(r + 1 + q)^s, by inverse CDF (binary search).
 * q > 0 flattens the head: the commonest words are the stop words, already dropped.
 */
class Zipf {
  private readonly cdf: Float64Array;
  constructor(n: number, s: number, q = 0) {
    this.cdf = new Float64Array(n);
    let acc = 0;
    for (let r = 0; r < n; r++) {
      acc += 1 / (r + 1 + q) ** s;
      this.cdf[r] = acc;
    }
    for (let r = 0; r < n; r++) this.cdf[r] /= acc;
  }
  sample(u: number): number {
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface Story {
  /** birth order */
  n: number;
  born: number;
  end: number;
  weight: number;
  rise: number;
  tau: number;
  burstAt: number;
  burstLen: number;
  burstMult: number;
  core: string[];
  related: string[];
  tags: string[];
  mention: string | null;
  host: string | null;
  /** the story's last original texts, for retweets */
  recent: string[];
  recentAt: number;
}

const BIRTHS_PER_SECOND = 0.6;
/** Stories are born from this far before the stream's start, so it starts in full flow. */
const PREHISTORY_S = 1800;
const DUPLICATE_P = 0.01;
const NOISE_P = 0.1;
const RETWEET_P = 0.2;
const LATE_P = 0.05;
const LATE_MAX_S = 30;
const DUP_RING = 20_000;
const RECENT_PER_STORY = 16;

/**
 * A deterministic tweet stream (see the header). Memory is bounded: only live stories keep
 * words and recent texts, and the duplicate source is a fixed ring.
 */
export class TweetStream {
  private readonly u: () => number;
  private readonly su: () => number;
  private readonly filler: string[];
  private readonly fillerZipf: Zipf;
  private readonly topicWords: string[];
  private readonly users: Zipf;
  private readonly hosts: string[];
  private readonly active: Story[] = [];
  private cum = new Float64Array(0);
  private nextBirth: number;
  private second = Number.NEGATIVE_INFINITY;
  private readonly ring: GenTweet[] = [];
  /** items emitted so far (duplicates included): the position in the stream */
  emitted = 0;
  storiesBorn = 0;
  /** the story of the last item (-1: noise or a duplicate), for looking at the stream's shape */
  lastStory = -1;

  constructor(
    seed: number,
    private readonly rate: number,
  ) {
    const vocab = mulberry32(seed ^ 0x5eed);
    const words = makeWords(70_000, vocab);
    this.filler = words.slice(0, 20_000);
    this.topicWords = words.slice(20_000);
    this.fillerZipf = new Zipf(this.filler.length, 1, 50);
    this.users = new Zipf(200_000, 0.8);
    this.hosts = makeWords(300, vocab).map((w) => `${w}.com`);
    this.u = mulberry32(seed);
    this.su = mulberry32(seed ^ 0x57041e5);
    this.nextBirth = -PREHISTORY_S + this.expo(BIRTHS_PER_SECOND);
  }

  private expo(rate: number): number {
    return -Math.log(1 - this.su()) / rate;
  }

  private newStory(born: number): Story {
    const u = this.su;
    const pickTopic = () => this.topicWords[Math.floor(u() * this.topicWords.length)];
    const long = u() < 0.1;
    const rise = 30 + 270 * u();
    // log-normal half-life around 4 minutes for most, hours for the long-running ones
    const halfLife = long ? 3600 * (1 + 3 * u()) : 240 * Math.exp(0.8 * (u() + u() + u() - 1.5));
    const tau = halfLife / Math.LN2;
    // Pareto(1.1): a heavy tail of very popular stories among many small ones
    const weight = Math.min(500, (1 - u()) ** (-1 / 1.1)) * (long ? 0.3 : 1);
    const cap = (w: string) => w[0].toUpperCase() + w.slice(1);
    const tags: string[] = [];
    const nTags = 1 + (u() < 0.4 ? 1 : 0);
    for (let k = 0; k < nTags; k++)
      tags.push(`#${cap(pickTopic())}${u() < 0.5 ? cap(pickTopic()) : String(2024 + Math.floor(u() * 3))}`);
    const core = [pickTopic(), pickTopic(), pickTopic()];
    const related: string[] = [];
    for (let k = 0; k < 10; k++) related.push(pickTopic());
    this.storiesBorn++;
    return {
      n: this.storiesBorn - 1,
      born,
      // down to e^-5 of its peak; the long-running ones stop after 1-3 hours
      end: born + rise + (long ? 3600 * (1 + 2 * u()) : 5 * tau),
      weight,
      rise,
      tau,
      burstAt: u() < 0.3 ? born + rise + u() * 3 * tau : Number.POSITIVE_INFINITY,
      burstLen: 60 + 240 * u(),
      burstMult: 3 + 7 * u(),
      core,
      related,
      tags,
      mention: u() < 0.5 ? `@${pickTopic()}` : null,
      host: u() < 0.5 ? this.hosts[Math.floor(u() * this.hosts.length)] : null,
      recent: [],
      recentAt: 0,
    };
  }

  private intensity(s: Story, t: number): number {
    const age = t - s.born;
    const up = Math.min(1, (age + 1) / s.rise);
    const down = Math.exp(-Math.max(0, age - s.rise) / s.tau);
    // a second wave: a jump that fades over its length
    const burst =
      t >= s.burstAt && t < s.burstAt + s.burstLen
        ? s.burstMult * Math.exp(-(t - s.burstAt) / s.burstLen)
        : 0;
    return s.weight * up * (down + burst);
  }

  /** Once per simulated second: births, deaths, and the cumulative popularity of the live. */
  private advance(sec: number): void {
    while (this.nextBirth < sec + 1) {
      const s = this.newStory(this.nextBirth);
      if (s.end > sec) this.active.push(s);
      this.nextBirth += this.expo(BIRTHS_PER_SECOND);
    }
    // the dead leave; the live keep their birth order
    let live = 0;
    for (let i = 0; i < this.active.length; i++) {
      const s = this.active[i];
      if (s.end > sec) this.active[live++] = s;
    }
    this.active.length = live;
    let w = 0;
    if (this.cum.length < live) this.cum = new Float64Array(2 * live);
    for (let i = 0; i < this.active.length; i++) {
      w += this.intensity(this.active[i], sec + 0.5);
      this.cum[i] = w;
    }
  }

  private pickStory(): Story | undefined {
    const n = this.active.length;
    if (n === 0 || this.cum[n - 1] <= 0) return undefined;
    const x = this.u() * this.cum[n - 1];
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cum[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return this.active[lo];
  }

  private fillers(n: number, out: string[]): void {
    for (let k = 0; k < n; k++)
      out.push(
        this.u() < 0.25
          ? STOP[Math.floor(this.u() * STOP.length)]
          : this.filler[this.fillerZipf.sample(this.u())],
      );
  }

  private shuffled(words: string[]): string {
    for (let i = words.length - 1; i > 0; i--) {
      const j = Math.floor(this.u() * (i + 1));
      const t = words[i];
      words[i] = words[j];
      words[j] = t;
    }
    const s = words.join(' ');
    return s[0].toUpperCase() + s.slice(1);
  }

  private storyText(s: Story): string {
    const u = this.u;
    const w: string[] = [];
    const nCore = 2 + (u() < 0.5 ? 1 : 0);
    for (let k = 0; k < nCore; k++) w.push(s.core[Math.floor(u() * s.core.length)]);
    const nRel = 1 + Math.floor(u() * 3);
    for (let k = 0; k < nRel; k++) w.push(s.related[Math.floor(u() * s.related.length)]);
    this.fillers(2 + Math.floor(u() * 5), w);
    if (s.mention !== null && u() < 0.4) w.push(s.mention);
    let text = this.shuffled(w);
    if (u() < 0.6) text += ` ${s.tags[Math.floor(u() * s.tags.length)]}`;
    // a shortened link (its host is dropped by the tokenizer), or a link to the story's site
    const link = u();
    if (link < 0.3) text += ` https://t.co/${Math.floor(u() * 2 ** 40).toString(36)}`;
    else if (s.host !== null && link < 0.5) text += ` https://${s.host}/${Math.floor(u() * 1e6)}`;
    if (u() < 0.1) text += ' !!';
    return text;
  }

  private noiseText(): string {
    const w: string[] = [];
    this.fillers(4 + Math.floor(this.u() * 8), w);
    let text = this.shuffled(w);
    if (this.u() < 0.2) text += ` #${this.topicWords[Math.floor(this.u() * this.topicWords.length)]}`;
    return text;
  }

  private userName(): string {
    return `u${this.users.sample(this.u())}`;
  }

  /** The next item of the stream. */
  next(): GenTweet {
    const i = this.emitted++;
    const t = i / this.rate;
    const sec = Math.floor(t);
    if (sec !== this.second) {
      this.second = sec;
      this.advance(sec);
    }
    const u = this.u;
    const r = u();
    this.lastStory = -1;
    if (r < DUPLICATE_P && this.ring.length > 0) return this.ring[Math.floor(u() * this.ring.length)];
    let text: string;
    const story = r < DUPLICATE_P + NOISE_P ? undefined : this.pickStory();
    this.lastStory = story?.n ?? -1;
    if (story === undefined) {
      text = this.noiseText();
    } else if (story.recent.length > 0 && u() < RETWEET_P) {
      text = `RT @${this.userName()}: ${story.recent[Math.floor(u() * story.recent.length)]}`;
    } else {
      text = this.storyText(story);
      if (story.recent.length < RECENT_PER_STORY) story.recent.push(text);
      else story.recent[story.recentAt++ % RECENT_PER_STORY] = text;
    }
    const lateBy = u() < LATE_P ? u() * LATE_MAX_S : 0;
    const tweet: GenTweet = {
      // a 19-digit snowflake-like id
      id: `17${String(i).padStart(17, '0')}`,
      text,
      created_at: new Date(EPOCH + Math.round((t - lateBy) * 1000)).toISOString(),
      user: this.userName(),
      lang: 'en',
    };
    if (this.ring.length < DUP_RING) this.ring.push(tweet);
    else this.ring[i % DUP_RING] = tweet;
    return tweet;
  }

  /** Simulated seconds at the current position. */
  get seconds(): number {
    return this.emitted / this.rate;
  }

  get liveStories(): number {
    return this.active.length;
  }
}

// ---------------------------------------------------------------- one run (a child process)

interface RunConfig {
  label: 'capped' | 'uncapped';
  tweets: number;
  batch: number;
  rate: number;
  seed: number;
  caps: Caps | null;
  /** positions (tweets emitted) of the full checkpoints */
  marks: number[];
  /** positions of the light (RSS only) samples */
  samples: number[];
}

interface Checkpoint {
  pos: number;
  /** simulated minutes of stream time */
  simMinutes: number;
  sliceTweets: number;
  sliceSeconds: number;
  sliceCpuSeconds: number;
  tweetsPerSecond: number;
  tweetsPerCpuSecond: number;
  maxBatchMs: number;
  /** ingest seconds and tweets of the slice's batches in which a rebuild happened */
  rebuildSeconds: number;
  rebuildTweets: number;
  gcMs: number;
  rssBeforeGc: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  clusters: number;
  stories: number;
  rebuilds: number;
  merged: number;
  mergeRecord: number;
  held: number;
  ids: number;
  expired: number;
  outliersRemoved: number;
  similarityInUse: number | null;
  treeReservedBytes: number;
  /** V8 heap spaces after the GC: bytes used and committed, by space */
  spaces: Record<string, { used: number; committed: number; available: number }>;
  accepted: number;
  duplicates: number;
  rejected: number;
  liveStories: number;
}

interface Sample {
  pos: number;
  rss: number;
  heapUsed: number;
  /** the process's peak RSS so far */
  maxRss: number;
}

interface RunResult {
  label: string;
  gc: string;
  warmupSeconds: number;
  generateSeconds: number;
  ingestSeconds: number;
  wallSeconds: number;
  storiesBorn: number;
  rebuildEvents: {
    at: number;
    passes: number;
    merged: number;
    before: number;
    after: number;
    to: number;
    /** ms of the ingest batch it happened in */
    batchMs: number;
  }[];
  /** median ms of an ingest batch */
  medianBatchMs: number;
  checkpoints: Checkpoint[];
  samples: Sample[];
}

type ChildMessage =
  | { type: 'checkpoint'; label: string; checkpoint: Checkpoint; total: number }
  | { type: 'done'; result: RunResult };

function serviceFor(
  caps: Caps | null,
  tweets: number,
  clock: () => number,
  onRebuild?: (e: RebuildEvent) => void,
) {
  return new Service({
    embeddingDim: DEFAULTS.dim,
    similarityThreshold: DEFAULTS.similarity,
    birchThreshold: undefined,
    branchingFactor: DEFAULTS.branchingFactor,
    // no caps: every id and tweet held, no expiry, no cluster cap
    maxTweetEmbeddings: caps?.maxTweetEmbeddings ?? tweets,
    maxTweetIds: caps?.maxTweetIds ?? tweets,
    clusterExpiryHours: caps?.clusterExpiryHours ?? 0,
    outlierExpiryHours: caps?.outlierExpiryHours ?? 0,
    minClusterSize: caps?.minClusterSize ?? 2,
    maxClustersInMemory: caps?.maxClustersInMemory ?? 0,
    topics: 0,
    clock,
    observer: onRebuild ? { rebuilt: onRebuild } : undefined,
  });
}

async function child(cfg: RunConfig): Promise<void> {
  const exposed = typeof globalThis.gc === 'function';
  const fullGc: () => void = exposed
    ? () => {
        (globalThis.gc as () => void)();
        (globalThis.gc as () => void)();
      }
    : libGc;
  const send = (m: ChildMessage) =>
    new Promise<void>((resolve) => {
      if (process.send) process.send(m, () => resolve());
      else resolve();
    });

  // warm-up on another seed, on a service thrown away after
  const w0 = performance.now();
  {
    const gen = new TweetStream(cfg.seed + 1, cfg.rate);
    const svc = serviceFor(cfg.caps, WARMUP_TWEETS, () => EPOCH + gen.seconds * 1000 + 1000);
    const items: GenTweet[] = new Array(cfg.batch);
    for (let done = 0; done < WARMUP_TWEETS; done += cfg.batch) {
      for (let k = 0; k < cfg.batch; k++) items[k] = gen.next();
      svc.ingest(items);
    }
  }
  const warmupSeconds = (performance.now() - w0) / 1000;
  fullGc();

  const gen = new TweetStream(cfg.seed, cfg.rate);
  // arrival: a second after the newest created_at so far (created_at ahead of it would count as clock skew)
  const clock = () => EPOCH + gen.seconds * 1000 + 1000;
  const rebuildEvents: RunResult['rebuildEvents'] = [];
  const svc = serviceFor(cfg.caps, cfg.tweets, clock, (e) =>
    rebuildEvents.push({
      at: gen.emitted,
      passes: e.passes,
      merged: e.merged,
      before: e.clustersBefore,
      after: e.clustersAfter,
      to: e.thresholdAfter,
      batchMs: 0,
    }),
  );
  const engine = svc.engine;
  const marks = new Set(cfg.marks);
  const sampleAt = new Set(cfg.samples);
  const checkpoints: Checkpoint[] = [];
  const samples: Sample[] = [];
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let generateSeconds = 0;
  let ingestSeconds = 0;
  const newSlice = (from: number) => ({
    from,
    seconds: 0,
    cpu: 0,
    maxBatchMs: 0,
    rebuildSeconds: 0,
    rebuildTweets: 0,
  });
  let slice = newSlice(0);
  const items: GenTweet[] = new Array(cfg.batch);
  const batchMs: number[] = [];
  const t0 = performance.now();
  while (gen.emitted < cfg.tweets) {
    const n = Math.min(cfg.batch, cfg.tweets - gen.emitted);
    const g0 = performance.now();
    items.length = n;
    for (let k = 0; k < n; k++) items[k] = gen.next();
    const c1 = process.cpuUsage();
    const g1 = performance.now();
    const r = svc.ingest(items);
    const g2 = performance.now();
    const cpu = process.cpuUsage(c1);
    batchMs.push(g2 - g1);
    let rebuilt = false;
    for (let e = rebuildEvents.length - 1; e >= 0 && rebuildEvents[e].batchMs === 0; e--) {
      rebuildEvents[e].batchMs = g2 - g1;
      rebuilt = true;
    }
    if (rebuilt) {
      slice.rebuildSeconds += (g2 - g1) / 1000;
      slice.rebuildTweets += n;
    }
    slice.cpu += (cpu.user + cpu.system) / 1e6;
    generateSeconds += (g1 - g0) / 1000;
    ingestSeconds += (g2 - g1) / 1000;
    slice.seconds += (g2 - g1) / 1000;
    if (g2 - g1 > slice.maxBatchMs) slice.maxBatchMs = g2 - g1;
    accepted += r.accepted;
    duplicates += r.duplicates;
    rejected += r.rejected;
    const pos = gen.emitted;
    if (sampleAt.has(pos)) {
      const m = process.memoryUsage();
      samples.push({ pos, rss: m.rss, heapUsed: m.heapUsed, maxRss: process.resourceUsage().maxRSS * 1024 });
    }
    if (!marks.has(pos)) continue;
    const sliceTweets = pos - slice.from;
    const rssBeforeGc = process.memoryUsage.rss();
    const gc0 = performance.now();
    fullGc();
    const gcMs = performance.now() - gc0;
    const m = process.memoryUsage();
    const cp: Checkpoint = {
      pos,
      simMinutes: gen.seconds / 60,
      sliceTweets,
      sliceSeconds: slice.seconds,
      sliceCpuSeconds: 0,
      tweetsPerSecond: sliceTweets / slice.seconds,
      tweetsPerCpuSecond: 0,
      maxBatchMs: slice.maxBatchMs,
      rebuildSeconds: slice.rebuildSeconds,
      rebuildTweets: slice.rebuildTweets,
      gcMs,
      rssBeforeGc,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      clusters: engine.clusterCount,
      stories: engine.storyCount,
      rebuilds: engine.rebuilds,
      merged: engine.mergedClusters,
      mergeRecord: engine.mergeRecordSize,
      held: svc.memory.heldCount,
      ids: svc.memory.idCount,
      expired: engine.expired,
      outliersRemoved: engine.outliersRemoved,
      similarityInUse: engine.tree.minSimilarity ?? null,
      treeReservedBytes: engine.tree.reservedBytes,
      spaces: Object.fromEntries(
        v8
          .getHeapSpaceStatistics()
          .map((sp) => [
            sp.space_name,
            { used: sp.space_used_size, committed: sp.space_size, available: sp.space_available_size },
          ]),
      ),
      accepted,
      duplicates,
      rejected,
      liveStories: gen.liveStories,
    };
    cp.sliceCpuSeconds = slice.cpu;
    cp.tweetsPerCpuSecond = sliceTweets / slice.cpu;
    checkpoints.push(cp);
    await send({ type: 'checkpoint', label: cfg.label, checkpoint: cp, total: cfg.tweets });
    slice = newSlice(pos);
  }
  const result: RunResult = {
    label: cfg.label,
    gc: exposed ? 'global.gc (node --expose-gc)' : 'gc via v8.setFlagsFromString (no --expose-gc)',
    warmupSeconds,
    generateSeconds,
    ingestSeconds,
    wallSeconds: (performance.now() - t0) / 1000,
    storiesBorn: gen.storiesBorn,
    rebuildEvents,
    medianBatchMs: batchMs.sort((a, b) => a - b)[batchMs.length >> 1] ?? 0,
    checkpoints,
    samples,
  };
  await send({ type: 'done', result });
}

// ---------------------------------------------------------------- the suite (parent)

function runChild(
  cfg: RunConfig,
  nodeArgs: string[],
  onCheckpoint: (c: Checkpoint) => void,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', ...nodeArgs, SOAK_PATH, CHILD_FLAG, JSON.stringify(cfg)],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    let result: RunResult | undefined;
    const kill = () => c.kill('SIGKILL');
    process.once('exit', kill);
    c.on('message', (m: ChildMessage) => {
      if (m.type === 'checkpoint') onCheckpoint(m.checkpoint);
      else result = m.result;
    });
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      process.removeListener('exit', kill);
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`the ${cfg.label} run exited with ${signal ?? `code ${code}`}`));
    });
  });
}

/** Positions at k/parts of n, rounded to whole batches (at least one batch each). */
function positions(n: number, parts: number, batch: number): number[] {
  const out = new Set<number>();
  for (let k = 1; k <= parts; k++) {
    const p = k === parts ? n : Math.max(batch, Math.round((n * k) / parts / batch) * batch);
    out.add(Math.min(n, p));
  }
  return [...out].sort((a, b) => a - b);
}

function numFlag(args: string[], name: string, fallback: number): number {
  const v = flag(args, name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new Error(`--${name} must be a number >= 0, got ${v}`);
  return x;
}

function markdown(header: string[], rows: (string | number | null)[][]): string {
  const cell = (c: string | number | null) => (c === null ? '-' : String(c));
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ':--' : '--:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const pctOf = (x: number) => `${(100 * x).toFixed(1)}%`;
const sign = (x: number) => (x >= 0 ? '+' : '');

interface Criteria {
  throughput: {
    first: number;
    last: number;
    ratio: number;
    target: number;
    pass: boolean;
    cpuRatio: number;
    /** the same without the batches in which a rebuild happened: the per-tweet path alone */
    firstNoRebuild: number;
    lastNoRebuild: number;
    noRebuildRatio: number;
  };
  plateau: {
    /** the least-squares line through the RSS samples over 50-100%, at 50% and at 100% */
    trendAt50: number;
    trendAt100: number;
    /** trendAt100 / trendAt50 - 1 */
    growth: number;
    growthLimit: number;
    peak40to70: number;
    peak70to100: number;
    /** the process's peak RSS (getrusage) at 70% and at 100% */
    maxRssAt70: number;
    maxRssAt100: number;
    peakRatio: number;
    peakLimit: number;
    /** after a full GC, at the 50% and 100% checkpoints */
    rssGcAt50: number;
    rssGcAt100: number;
    heapAt50: number;
    heapAt100: number;
    heapTotalAt50: number;
    heapTotalAt100: number;
    pass: boolean;
  };
}

function criteria(r: RunResult, n: number): Criteria {
  const cps = r.checkpoints;
  const tenth = positions(n, 10, 1);
  const at = (p: number) => {
    // the checkpoint at the mark nearest p
    let best = cps[0];
    for (const c of cps) if (Math.abs(c.pos - p) < Math.abs(best.pos - p)) best = c;
    return best;
  };
  // the first and last 10% slices: checkpoints at the 10% marks hold the slice that ends there,
  // but extra comparison marks can split the first 10%: sum the slices within it
  const sliceRate = (from: number, to: number) => {
    let tweets = 0;
    let secs = 0;
    let cpu = 0;
    let rbTweets = 0;
    let rbSecs = 0;
    for (const c of cps)
      if (c.pos > from && c.pos <= to) {
        tweets += c.sliceTweets;
        secs += c.sliceSeconds;
        cpu += c.sliceCpuSeconds;
        rbTweets += c.rebuildTweets;
        rbSecs += c.rebuildSeconds;
      }
    return { rate: tweets / secs, cpuRate: tweets / cpu, noRebuild: (tweets - rbTweets) / (secs - rbSecs) };
  };
  const firstEnd = at(tenth[0]).pos;
  const lastStart = at(tenth[8]).pos;
  const first = sliceRate(0, firstEnd);
  const last = sliceRate(lastStart, n);
  const ratio = last.rate / first.rate;
  const mid = at(n / 2);
  const end = cps[cps.length - 1];
  const peakIn = (lo: number, hi: number) => {
    let p = 0;
    for (const s of r.samples) if (s.pos > lo && s.pos <= hi) p = Math.max(p, s.rss);
    for (const c of cps) if (c.pos > lo && c.pos <= hi) p = Math.max(p, c.rssBeforeGc);
    return p;
  };
  const peak40to70 = peakIn(0.4 * n, 0.7 * n);
  const peak70to100 = peakIn(0.7 * n, n);
  const peakRatio = peak70to100 / peak40to70 - 1;
  const maxRssAt = (p: number) => {
    let m = 0;
    for (const s of r.samples) if (s.pos <= p) m = Math.max(m, s.maxRss);
    return m;
  };
  // the trend of RSS over the second half: a line fitted to its samples (every 0.5%), robust to
  // where the sawtooths of the GC and of the tree's pool happen to be at the two ends
  const half = r.samples.filter((s) => s.pos >= n / 2);
  let slope = 0;
  let meanX = n / 2;
  let meanY = mid.rss;
  if (half.length >= 2) {
    meanX = half.reduce((a, s) => a + s.pos, 0) / half.length;
    meanY = half.reduce((a, s) => a + s.rss, 0) / half.length;
    let sxy = 0;
    let sxx = 0;
    for (const s of half) {
      sxy += (s.pos - meanX) * (s.rss - meanY);
      sxx += (s.pos - meanX) ** 2;
    }
    slope = sxx > 0 ? sxy / sxx : 0;
  }
  const trendAt50 = meanY + slope * (n / 2 - meanX);
  const trendAt100 = meanY + slope * (n - meanX);
  const growth = trendAt100 / trendAt50 - 1;
  return {
    throughput: {
      first: first.rate,
      last: last.rate,
      ratio,
      target: THROUGHPUT_TARGET,
      pass: ratio >= THROUGHPUT_TARGET,
      cpuRatio: last.cpuRate / first.cpuRate,
      firstNoRebuild: first.noRebuild,
      lastNoRebuild: last.noRebuild,
      noRebuildRatio: last.noRebuild / first.noRebuild,
    },
    plateau: {
      trendAt50,
      trendAt100,
      growth,
      growthLimit: PLATEAU_GROWTH,
      peak40to70,
      peak70to100,
      maxRssAt70: maxRssAt(0.7 * n),
      maxRssAt100: maxRssAt(n),
      peakRatio,
      peakLimit: PLATEAU_PEAK,
      rssGcAt50: mid.rss,
      rssGcAt100: end.rss,
      heapAt50: mid.heapUsed,
      heapAt100: end.heapUsed,
      heapTotalAt50: mid.heapTotal,
      heapTotalAt100: end.heapTotal,
      pass: growth < PLATEAU_GROWTH && peakRatio <= PLATEAU_PEAK,
    },
  };
}

function progressLine(label: string, c: Checkpoint, total: number): string {
  return (
    `  ${label.padEnd(8)} ${fmtInt(c.pos).padStart(9)} (${((100 * c.pos) / total).toFixed(0).padStart(3)}%)` +
    `  ${fmtInt(c.tweetsPerSecond).padStart(6)} tweets/s  RSS ${mib(c.rss).padStart(8)}` +
    `  heap ${mib(c.heapUsed).padStart(8)}  clusters ${fmtInt(c.clusters).padStart(7)}  rebuilds ${c.rebuilds}`
  );
}

async function run(ctx: SuiteContext): Promise<Record<string, unknown>> {
  const args = ctx.args;
  const n = intFlag(args, 'tweets', ctx.quick ? QUICK_TWEETS : FULL_TWEETS);
  const batch = intFlag(args, 'batch', BATCH);
  const rate = intFlag(args, 'rate', RATE);
  const seed = intFlag(args, 'seed', SEED);
  const uncappedN = Math.min(
    n,
    Math.round(numFlag(args, 'uncapped', ctx.quick ? QUICK_UNCAPPED : FULL_UNCAPPED)),
  );
  const caps: Caps = {
    ...CAPS,
    maxClustersInMemory: Math.round(numFlag(args, 'max-clusters', CAPS.maxClustersInMemory)),
    maxTweetEmbeddings: Math.round(numFlag(args, 'max-held', CAPS.maxTweetEmbeddings)),
    maxTweetIds: Math.round(numFlag(args, 'max-ids', CAPS.maxTweetIds)),
    clusterExpiryHours: numFlag(args, 'expiry-hours', CAPS.clusterExpiryHours),
    outlierExpiryHours: numFlag(args, 'outlier-hours', CAPS.outlierExpiryHours),
  };
  const nodeFlags = (flag(args, 'node-flags') ?? '').split(/\s+/).filter((f) => f !== '');
  const profDir = flag(args, 'cpu-prof');
  if (hasFlag(args, 'cpu-prof') && profDir === undefined) throw new Error('--cpu-prof wants a directory');
  if (n < 10 * batch) throw new Error(`--tweets ${n} is less than 10 batches of ${batch}`);

  const git = gitState();
  const spanMin = n / rate / 60;
  console.log(
    `soak: ${fmtInt(n)} tweets capped${uncappedN > 0 ? `, first ${fmtInt(uncappedN)} uncapped` : ''}; batches of ${batch};` +
      ` ${rate} tweets per simulated second (${spanMin.toFixed(0)} simulated minutes); seed ${seed}`,
  );
  console.log(
    `  caps: MAX_CLUSTERS_IN_MEMORY ${fmtInt(caps.maxClustersInMemory)}, MAX_TWEET_EMBEDDINGS ${fmtInt(caps.maxTweetEmbeddings)},` +
      ` max tweet ids ${fmtInt(caps.maxTweetIds)}, CLUSTER_EXPIRY_HOURS ${caps.clusterExpiryHours}` +
      ` (${((caps.clusterExpiryHours * 3600 * rate * 100) / n).toFixed(0)}% of the stream),` +
      ` outlier expiry ${caps.outlierExpiryHours} h, MIN_CLUSTER_SIZE ${caps.minClusterSize};` +
      ` similarity ${DEFAULTS.similarity}, dim ${DEFAULTS.dim}, B ${DEFAULTS.branchingFactor}`,
  );
  console.log(
    `  commit ${git.commit?.slice(0, 10) ?? 'unknown'}${git.srcDirty ? ' with uncommitted changes in src/' : ''};` +
      ` ${os.cpus().length} cores; each run a child process (node --expose-gc${nodeFlags.length > 0 ? ` ${nodeFlags.join(' ')}` : ''})`,
  );

  const cappedMarks = positions(n, 10, batch);
  const compareMarks = uncappedN > 0 ? positions(uncappedN, 10, batch) : [];
  const samplesOf = (len: number) => positions(len, 200, batch);

  let uncapped: RunResult | null = null;
  if (uncappedN > 0) {
    uncapped = await runChild(
      {
        label: 'uncapped',
        tweets: uncappedN,
        batch,
        rate,
        seed,
        caps: null,
        marks: compareMarks,
        samples: samplesOf(uncappedN),
      },
      nodeFlags,
      (c) => console.log(progressLine('uncapped', c, uncappedN)),
    );
  }
  const capped = await runChild(
    {
      label: 'capped',
      tweets: n,
      batch,
      rate,
      seed,
      caps,
      marks: [...new Set([...cappedMarks, ...compareMarks])].sort((a, b) => a - b),
      samples: samplesOf(n),
    },
    profDir === undefined ? nodeFlags : [...nodeFlags, '--cpu-prof', '--cpu-prof-dir', profDir],
    (c) => {
      if (cappedMarks.includes(c.pos)) console.log(progressLine('capped', c, n));
    },
  );

  const crit = criteria(capped, n);
  report(n, uncappedN, capped, uncapped, cappedMarks, crit, caps, rate);

  return {
    params: {
      tweets: n,
      uncapped: uncappedN,
      batch,
      rate,
      seed,
      caps,
      similarity: DEFAULTS.similarity,
      dim: DEFAULTS.dim,
    },
    git,
    criteria: crit,
    capped,
    uncapped,
  };
}

function report(
  n: number,
  uncappedN: number,
  capped: RunResult,
  uncapped: RunResult | null,
  cappedMarks: number[],
  crit: Criteria,
  caps: Caps,
  rate: number,
): void {
  const main = capped.checkpoints.filter((c) => cappedMarks.includes(c.pos));
  // slices that extra comparison marks split are summed back into their 10% slice
  const sliceOf = (c: Checkpoint, prev: number) => {
    let tweets = 0;
    let secs = 0;
    let cpu = 0;
    let maxMs = 0;
    for (const x of capped.checkpoints)
      if (x.pos > prev && x.pos <= c.pos) {
        tweets += x.sliceTweets;
        secs += x.sliceSeconds;
        cpu += x.sliceCpuSeconds;
        maxMs = Math.max(maxMs, x.maxBatchMs);
      }
    return { rate: tweets / secs, cpuRate: tweets / cpu, maxMs };
  };
  const rows = main.map((c, i) => {
    const s = sliceOf(c, i === 0 ? 0 : main[i - 1].pos);
    return { c, s };
  });
  console.log();
  console.log(
    table(
      `Capped run, every 10% (tweets/s: time inside Service.ingest; RSS and heap after a full GC, ${capped.gc})`,
      [
        'tweets',
        'sim min',
        'tweets/s',
        'per CPU-s',
        'max batch',
        'RSS',
        'RSS no GC',
        'heap used',
        'clusters',
        'stories',
        'rebuilds',
        'merged',
        'merge rec',
        'held',
        'ids',
        'expired',
        'outliers rm',
        'similarity',
      ],
      rows.map(({ c, s }) => [
        fmtInt(c.pos),
        c.simMinutes.toFixed(1),
        fmtInt(s.rate),
        fmtInt(s.cpuRate),
        `${s.maxMs.toFixed(0)} ms`,
        fmtBytes(c.rss),
        fmtBytes(c.rssBeforeGc),
        fmtBytes(c.heapUsed),
        fmtInt(c.clusters),
        fmtInt(c.stories),
        c.rebuilds,
        fmtInt(c.merged),
        fmtInt(c.mergeRecord),
        fmtInt(c.held),
        fmtInt(c.ids),
        fmtInt(c.expired),
        fmtInt(c.outliersRemoved),
        c.similarityInUse === null ? null : c.similarityInUse.toFixed(3),
      ]),
    ),
  );
  const last = capped.checkpoints[capped.checkpoints.length - 1];
  console.log(
    `  ${fmtInt(last.accepted)} applied, ${fmtInt(last.duplicates)} duplicates, ${fmtInt(last.rejected)} rejected;` +
      ` ${fmtInt(capped.storiesBorn)} stories born (${last.liveStories} live at the end);` +
      ` ingest ${capped.ingestSeconds.toFixed(0)} s, generating ${capped.generateSeconds.toFixed(0)} s,` +
      ` warm-up ${capped.warmupSeconds.toFixed(1)} s; tree pool ${fmtBytes(last.treeReservedBytes)}`,
  );
  if (capped.rebuildEvents.length > 0) {
    const ev = capped.rebuildEvents;
    const passes = ev.reduce((a, e) => a + e.passes, 0);
    const ms = ev.map((e) => e.batchMs).sort((a, b) => a - b);
    console.log(
      `  rebuilds: ${ev.length} (${passes} passes), first at tweet ${fmtInt(ev[0].at)}, last at ${fmtInt(ev[ev.length - 1].at)};` +
        ` similarity bound ${ev[0].to.toFixed(3)} after the first, ${ev[ev.length - 1].to.toFixed(3)} after the last;` +
        ` a batch with a rebuild took ${ms[ms.length >> 1].toFixed(0)} ms (median; max ${ms[ms.length - 1].toFixed(0)} ms),` +
        ` a batch ${capped.medianBatchMs.toFixed(0)} ms (median)`,
    );
  }

  console.log();
  console.log(
    table(
      'Capped run, memory after the full GC at every 10% (external includes the CF-tree pool, a WebAssembly memory)',
      [
        'tweets',
        'RSS',
        'heap committed',
        'heap used',
        'old space used/committed',
        'large objects used/committed',
        'external',
        'tree pool',
        'clusters',
      ],
      main.map((c) => {
        const sp = (name: string) => {
          const x = c.spaces[name];
          return x ? `${mib(x.used)} / ${mib(x.committed)}` : null;
        };
        return [
          fmtInt(c.pos),
          mib(c.rss),
          mib(c.heapTotal),
          mib(c.heapUsed),
          sp('old_space'),
          sp('large_object_space'),
          mib(c.external),
          mib(c.treeReservedBytes),
          fmtInt(c.clusters),
        ];
      }),
    ),
  );

  if (uncapped !== null) {
    const cmp = uncapped.checkpoints.map((u) => {
      const c = capped.checkpoints.find((x) => x.pos === u.pos);
      return { u, c };
    });
    console.log();
    console.log(
      table(
        `Caps vs no caps, same stream, same positions (each slice ${fmtInt(uncappedN / 10)} tweets; uncapped: no cluster cap, no expiry, every id and tweet held)`,
        [
          'tweets',
          'capped t/s',
          'uncapped t/s',
          'capped/uncapped',
          'per CPU-s',
          'capped RSS',
          'uncapped RSS',
          'RSS ratio',
          'capped heap',
          'uncapped heap',
          'capped clusters',
          'uncapped clusters',
        ],
        cmp.map(({ u, c }) => [
          fmtInt(u.pos),
          c ? fmtInt(c.tweetsPerSecond) : null,
          fmtInt(u.tweetsPerSecond),
          c ? fmtRatio(c.tweetsPerSecond / u.tweetsPerSecond) : null,
          c ? fmtRatio(c.tweetsPerCpuSecond / u.tweetsPerCpuSecond) : null,
          c ? fmtBytes(c.rss) : null,
          fmtBytes(u.rss),
          c ? fmtRatio(c.rss / u.rss) : null,
          c ? fmtBytes(c.heapUsed) : null,
          fmtBytes(u.heapUsed),
          c ? fmtInt(c.clusters) : null,
          fmtInt(u.clusters),
        ]),
      ),
    );
    const ue = uncapped.checkpoints[uncapped.checkpoints.length - 1];
    console.log(
      `  uncapped over ${fmtInt(uncappedN)}: ${fmtInt(uncappedN / uncapped.ingestSeconds)} tweets/s overall, ` +
        `capped over the same tweets: ${fmtInt(sumRate(capped, uncappedN))} tweets/s; ` +
        `uncapped RSS ${fmtBytes(ue.rss)} with ${fmtInt(ue.clusters)} clusters ` +
        `(${fmtBytes(((ue.rss - uncapped.checkpoints[0].rss) / Math.max(1, ue.pos - uncapped.checkpoints[0].pos)) * 100_000)} per 100,000 tweets after the first slice)`,
    );
  }

  const t = crit.throughput;
  const p = crit.plateau;
  console.log();
  console.log('Criteria');
  console.log(
    `  throughput: last 10% ${fmtInt(t.last)} tweets/s / first 10% ${fmtInt(t.first)} tweets/s = ${t.ratio.toFixed(2)}` +
      ` (target >= ${t.target.toFixed(2)}): ${t.pass ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `    per CPU second: ${t.cpuRatio.toFixed(2)}; without the batches that rebuilt the tree:` +
      ` ${fmtInt(t.lastNoRebuild)} / ${fmtInt(t.firstNoRebuild)} = ${t.noRebuildRatio.toFixed(2)}`,
  );
  console.log(
    `  RSS plateau: (a) trend over 50-100% ${fmtBytes(p.trendAt50)} -> ${fmtBytes(p.trendAt100)}: ${sign(p.growth)}${pctOf(p.growth)}` +
      ` (limit < ${pctOf(p.growthLimit)}); (b) peak RSS 70-100% ${fmtBytes(p.peak70to100)} vs 40-70% ${fmtBytes(p.peak40to70)}:` +
      ` ${sign(p.peakRatio)}${pctOf(p.peakRatio)} (limit <= ${pctOf(p.peakLimit)}): ${p.pass ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `    after a full GC, 50% -> 100%: RSS ${fmtBytes(p.rssGcAt50)} -> ${fmtBytes(p.rssGcAt100)},` +
      ` V8 heap committed ${fmtBytes(p.heapTotalAt50)} -> ${fmtBytes(p.heapTotalAt100)}, used ${fmtBytes(p.heapAt50)} -> ${fmtBytes(p.heapAt100)};` +
      ` process peak RSS (getrusage) ${fmtBytes(p.maxRssAt70)} at 70%, ${fmtBytes(p.maxRssAt100)} at 100%`,
  );

  console.log();
  console.log(
    `Markdown (README): ${fmtInt(n)} generated tweets through Service.ingest in batches, ${rate} tweets per simulated second;` +
      ` MAX_CLUSTERS_IN_MEMORY ${fmtInt(caps.maxClustersInMemory)}, MAX_TWEET_EMBEDDINGS ${fmtInt(caps.maxTweetEmbeddings)},` +
      ` ${fmtInt(caps.maxTweetIds)} ids, CLUSTER_EXPIRY_HOURS ${caps.clusterExpiryHours}, outlier expiry ${caps.outlierExpiryHours} h, MIN_CLUSTER_SIZE ${caps.minClusterSize}`,
  );
  console.log();
  const ucp = new Map((uncapped?.checkpoints ?? []).map((u) => [u.pos, u]));
  console.log(
    markdown(
      [
        'tweets',
        'tweets/s',
        'RSS',
        'heap',
        'clusters',
        'stories',
        'rebuilds',
        'merge record',
        'held',
        'ids',
        'expired',
        'outliers removed',
        ...(uncapped ? ['uncapped tweets/s', 'uncapped RSS'] : []),
      ],
      rows.map(({ c, s }) => [
        fmtInt(c.pos),
        fmtInt(s.rate),
        mib(c.rss),
        mib(c.heapUsed),
        fmtInt(c.clusters),
        fmtInt(c.stories),
        c.rebuilds,
        fmtInt(c.mergeRecord),
        fmtInt(c.held),
        fmtInt(c.ids),
        fmtInt(c.expired),
        fmtInt(c.outliersRemoved),
        ...(uncapped
          ? [
              ucp.has(c.pos) ? fmtInt(sliceRateOf(uncapped, c.pos, cappedMarks)) : null,
              ucp.get(c.pos) ? mib((ucp.get(c.pos) as Checkpoint).rss) : null,
            ]
          : []),
      ]),
    ),
  );
  console.log();
  console.log(
    `Throughput, last 10% / first 10%: **${t.ratio.toFixed(2)}** (target >= 0.80, ${t.pass ? 'PASS' : 'MISS'}). ` +
      `RSS trend over the second half ${mib(p.trendAt50)} -> ${mib(p.trendAt100)} (${sign(p.growth)}${pctOf(p.growth)}), ` +
      `peak ${mib(p.peak70to100)} over 70-100% vs ${mib(p.peak40to70)} over 40-70% (${sign(p.peakRatio)}${pctOf(p.peakRatio)}): plateau ${p.pass ? 'PASS' : 'MISS'}.`,
  );
}

/** Tweets/s of `r` over [0, upTo] from its checkpoint slices. */
function sumRate(r: RunResult, upTo: number): number {
  let tweets = 0;
  let secs = 0;
  for (const c of r.checkpoints)
    if (c.pos <= upTo) {
      tweets += c.sliceTweets;
      secs += c.sliceSeconds;
    }
  return tweets / secs;
}

/** The uncapped run's tweets/s over the capped 10% slice that ends at `pos`. */
function sliceRateOf(r: RunResult, pos: number, marks: number[]): number {
  const i = marks.indexOf(pos);
  const from = i <= 0 ? 0 : marks[i - 1];
  let tweets = 0;
  let secs = 0;
  for (const c of r.checkpoints)
    if (c.pos > from && c.pos <= pos) {
      tweets += c.sliceTweets;
      secs += c.sliceSeconds;
    }
  return tweets / secs;
}

export const soak: Suite = {
  name: 'soak',
  description: '1,000,000 generated tweets through Service.ingest with caps: throughput and RSS over time',
  run,
};

if (process.argv[1] === SOAK_PATH && process.argv[2] === CHILD_FLAG) {
  await child(JSON.parse(process.argv[3]) as RunConfig);
  process.disconnect?.();
}
