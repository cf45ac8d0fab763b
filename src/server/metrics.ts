/**
 * Prometheus metrics, one registry per app (tests run several apps in one process). The seed's
 * names stay (birch_tweets_processed_total, birch_clusters_active,
 * birch_api_request_duration_seconds, birch_api_errors_total); gauges that describe the tree
 * are read at scrape time in collect(), not on a timer.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DurableObserver } from '../pipeline/durable.js';
import type { EmbedderObserver } from '../pipeline/embedders.js';
import type { Observer, Service } from '../pipeline/service.js';

export class Metrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly errors: Counter<'code'>;
  readonly tweetsProcessed: Counter;
  readonly tweetsRejected: Counter<'code'>;
  readonly tweetsDuplicate: Counter;
  readonly embedDuration: Histogram;
  readonly embeddedTweets: Counter;
  readonly batchSize: Histogram;
  readonly tweetsLate: Counter;
  readonly cacheHits: Counter<'tier'>;
  readonly cacheMisses: Counter;
  readonly cacheErrors: Counter;
  readonly redisUp: Gauge;
  readonly embedderFailures: Counter<'code'>;
  readonly embedderCalls: Histogram<'ok'>;
  /** the service whose state the gauges describe (a restore swaps it); undefined while loading */
  serviceOf: () => Service | undefined = () => undefined;
  readonly backupSuccess: Counter;
  readonly backupFailures: Counter;
  readonly backupLastTime: Gauge;
  readonly backupLastBytes: Gauge;
  readonly backupDuration: Histogram;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requestDuration = new Histogram({
      name: 'birch_api_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.errors = new Counter({
      name: 'birch_api_errors_total',
      help: 'Error answers by error code (BRD_ERR_*)',
      labelNames: ['code'],
      registers,
    });
    this.tweetsProcessed = new Counter({
      name: 'birch_tweets_processed_total',
      help: 'Tweets applied to the clustering engine',
      registers,
    });
    this.tweetsRejected = new Counter({
      name: 'birch_tweets_rejected_total',
      help: 'Tweets refused, by error code',
      labelNames: ['code'],
      registers,
    });
    this.tweetsDuplicate = new Counter({
      name: 'birch_tweets_duplicate_total',
      help: 'Tweets whose id was seen before (answered with the first cluster, not applied)',
      registers,
    });
    this.embedDuration = new Histogram({
      name: 'birch_embedding_duration_seconds',
      help: 'Time spent embedding the tweets of one request',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.embeddedTweets = new Counter({
      name: 'birch_embedded_tweets_total',
      help: 'Tweets embedded (tweets with their own embedding are not)',
      registers,
    });
    this.batchSize = new Histogram({
      name: 'birch_ingest_batch_size',
      help: 'Tweets per POST /tweets',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 5000],
      registers,
    });
    this.tweetsLate = new Counter({
      name: 'birch_tweets_late_total',
      help: 'Tweets older than the expiry window behind the clock (clustered, but their story may be gone)',
      registers,
    });
    this.cacheHits = new Counter({
      name: 'birch_embedding_cache_hits_total',
      help: 'Embeddings served from the cache, by tier (lru: in process; redis)',
      labelNames: ['tier'],
      registers,
    });
    // exported at 0 from the start, so that dashboards and alerts see the series
    this.cacheHits.labels('lru').inc(0);
    this.cacheHits.labels('redis').inc(0);
    this.cacheMisses = new Counter({
      name: 'birch_embedding_cache_misses_total',
      help: 'Embeddings computed by the model or the embedding service (cache misses)',
      registers,
    });
    this.cacheErrors = new Counter({
      name: 'birch_embedding_cache_errors_total',
      help: 'Redis commands of the embedding cache that failed (the request went on without it)',
      registers,
    });
    this.redisUp = new Gauge({
      name: 'birch_embedding_cache_redis_up',
      help: 'Whether the Redis embedding cache is usable (1) or not (0); 0 without REDIS_URL',
      registers,
    });
    this.embedderFailures = new Counter({
      name: 'birch_embedder_failures_total',
      help: 'Requests whose texts the embedder (model or service) failed to embed, by error code',
      labelNames: ['code'],
      registers,
    });
    this.embedderCalls = new Histogram({
      name: 'birch_embedder_call_duration_seconds',
      help: 'One model call (transformers) or one request to the embedding service (http)',
      labelNames: ['ok'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.backupSuccess = new Counter({
      name: 'birch_backup_success_total',
      help: 'Backups (snapshots) written to the store',
      registers,
    });
    this.backupFailures = new Counter({
      name: 'birch_backup_failures_total',
      help: 'Failed backup attempts (each retry counts)',
      registers,
    });
    this.backupLastTime = new Gauge({
      name: 'birch_backup_last_success_timestamp_seconds',
      help: 'Unix time of the last successful backup',
      registers,
    });
    this.backupLastBytes = new Gauge({
      name: 'birch_backup_last_size_bytes',
      help: 'Size of the last successful backup',
      registers,
    });
    this.backupDuration = new Histogram({
      name: 'birch_backup_duration_seconds',
      help: 'Time to snapshot and write one backup',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    const self = this;
    const gauge = (name: string, help: string, read: (s: Service) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = self.serviceOf();
          if (s !== undefined) this.set(read(s));
        },
      });
    gauge(
      'birch_clusters_active',
      'Stories: clusters of at least MIN_CLUSTER_SIZE tweets',
      (s) => s.engine.storyCount,
    );
    gauge(
      'birch_clusters_in_tree',
      'Clusters in the CF-tree, outliers included',
      (s) => s.engine.clusterCount,
    );
    gauge(
      'birch_cluster_merge_record_size',
      'Absorbed cluster ids remembered to follow merges',
      (s) => s.engine.mergeRecordSize,
    );
    gauge(
      'birch_tweet_ids_forgotten',
      'Remembered tweet ids forgotten (oldest first) to stay within MAX_TWEET_IDS since the process started',
      (s) => s.memory.idsDropped,
    );
    gauge(
      'birch_tweets_held_dropped',
      'Held tweets dropped (oldest first) to stay within MAX_TWEET_EMBEDDINGS since the process started',
      (s) => s.memory.heldDropped,
    );
    gauge('birch_tree_height', 'Height of the CF-tree', (s) => s.engine.tree.height);
    gauge('birch_tree_nodes', 'Nodes of the CF-tree', (s) => s.engine.shape().nodes);
    gauge('birch_tree_memory_bytes', 'Bytes of the CF-tree arrays in use', (s) => s.engine.tree.memoryBytes);
    gauge('birch_tweets_held', 'Tweets held in memory for GET /tweets/:id', (s) => s.memory.heldCount);
    gauge(
      'birch_tweet_ids_remembered',
      'Tweet ids remembered for duplicate detection',
      (s) => s.memory.idCount,
    );
    // counters kept by the engine (part of its state, so they survive restarts), read at scrape
    const counter = (name: string, help: string, read: (s: Service) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = self.serviceOf();
          if (s === undefined) return;
          this.reset();
          this.inc(read(s));
        },
      });
    counter(
      'birch_clusters_expired_total',
      'Clusters removed by expiry (CLUSTER_EXPIRY_HOURS)',
      (s) => s.engine.expired,
    );
    counter(
      'birch_outliers_removed_total',
      'Outliers (under MIN_CLUSTER_SIZE tweets) removed: quiet for OUTLIER_EXPIRY_HOURS, or the longest quiet at MAX_CLUSTERS_IN_MEMORY',
      (s) => s.engine.outliersRemoved,
    );
    counter(
      'birch_tree_rebuilds_total',
      'Rebuilds of the CF-tree with a looser threshold because it reached MAX_CLUSTERS_IN_MEMORY',
      (s) => s.engine.rebuilds,
    );
    counter(
      'birch_clusters_merged_total',
      'Clusters absorbed by others (rebuilds at MAX_CLUSTERS_IN_MEMORY; with ABSORB=dmm, stale small clusters re-absorbed): their ids lead to the survivor',
      (s) => s.engine.mergedClusters,
    );
  }

  /** The embedder's and the cache's hooks, feeding these metrics. */
  embedderObserver(): EmbedderObserver {
    return {
      call: (seconds, ok) => this.embedderCalls.observe({ ok: String(ok) }, seconds),
      cacheHit: (tier, n) => this.cacheHits.inc({ tier }, n),
      cacheMiss: (n) => this.cacheMisses.inc(n),
      cacheError: () => this.cacheErrors.inc(),
      redis: (up) => this.redisUp.set(up ? 1 : 0),
    };
  }

  backupObserver(): DurableObserver {
    return {
      backupSucceeded: (bytes, seconds, when) => {
        this.backupSuccess.inc();
        this.backupLastBytes.set(bytes);
        this.backupLastTime.set(when / 1000);
        this.backupDuration.observe(seconds);
      },
      backupFailed: () => this.backupFailures.inc(),
    };
  }

  /** The pipeline's hooks, feeding these metrics. */
  observer(): Observer {
    return {
      embedded: (seconds, tweets) => {
        this.embedDuration.observe(seconds);
        this.embeddedTweets.inc(tweets);
      },
      batch: (size) => this.batchSize.observe(size),
      applied: (n) => this.tweetsProcessed.inc(n),
      rejected: (code) => this.tweetsRejected.inc({ code }),
      duplicate: () => this.tweetsDuplicate.inc(),
      late: () => this.tweetsLate.inc(),
      embedderFailed: (code) => this.embedderFailures.inc({ code }),
    };
  }
}
