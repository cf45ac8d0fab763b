/**
 * EMBEDDER=transformers: a sentence-transformer model (BERT-like, exported to ONNX, as the
 * Xenova/* models on the hub are) run in process by transformers.js over onnxruntime-node.
 *
 *   const e = await TransformersEmbedder.load({ modelPath: '/models/all-MiniLM-L6-v2' });
 *   const rows = await e.embed(['a tweet', 'another']);   // unit Float32Array rows of e.dim
 *   await e.close();                                       // ends the worker threads
 *
 * Where the model comes from: `modelPath`, a local directory laid out as transformers.js expects
 * (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx), or `modelName`, a hub
 * name looked up in transformers.js's cache (`cacheDir`) and fetched from the hub only when
 * `allowDownload` is true. Off by default: with it off, transformers.js's allowRemoteModels is
 * false and nothing is fetched.
 *
 * Where it runs: `threads` worker threads (default 1), each with its own copy of the model (the
 * tiny test model: a few MB; all-MiniLM-L6-v2: ~90 MB of weights + ONNX Runtime's arenas), so
 * the HTTP event loop only posts texts and receives vectors. A request is sorted by length and
 * cut into batches of `batchSize` texts (less padding per batch, as sentence-transformers does);
 * the batches queue for the next free worker. `threads: 0` runs on the calling thread, which the
 * embed benchmark uses to show what the workers buy. ONNX Runtime itself uses a thread per core
 * inside each session unless `intraOpThreads` says otherwise; with several workers on few cores,
 * set it to 1.
 *
 * A worker that dies (an uncaught error, out of memory) fails the batch it was running with
 * EMBEDDER_INFERENCE and is replaced by a new one, which loads the model again.
 */
import { Worker } from 'node:worker_threads';
import type { Embedder } from './embedder.js';
import { EmbedderError, EmbedderLoadError } from './errors.js';
import type { CoreOptions, LoadedModel, ModelInfo } from './transformers-core.js';
import type { WorkerReply, WorkerRequest } from './transformers-worker.js';

export type { ModelInfo, Pooling } from './transformers-core.js';

export interface TransformersEmbedderOptions extends CoreOptions {
  /** Texts per inference call. Default 32. */
  batchSize?: number;
  /** Worker threads, each with its own copy of the model. Default 1; 0 runs on the calling thread. */
  threads?: number;
  /** Called after each batch, e.g. for a histogram of inference seconds. */
  observer?: TransformersObserver;
}

export interface TransformersObserver {
  /** one batch of `texts` texts took `seconds` (queueing in the pool included) */
  batch?(texts: number, seconds: number, ok: boolean): void;
  /** a worker thread died outside close(); a new one is being started */
  workerExit?(code: number): void;
}

export const DEFAULT_TRANSFORMERS_BATCH_SIZE = 32;

interface Job {
  texts: string[];
  resolve(vectors: Float32Array): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker | undefined;
  job: Job | undefined;
}

/**
 * Starts the worker module next to this one: the .js file in dist, or the .ts file under tsx
 * (tests, bench). On Node 20 a worker does not inherit the parent's `--import tsx` module hooks,
 * so a .ts worker starts from a small script that registers tsx's hooks in the worker first.
 */
function newWorker(workerData: CoreOptions): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./transformers-worker.js', import.meta.url), { workerData });
  const entry = new URL('./transformers-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class TransformersEmbedder implements Embedder {
  readonly dim: number;
  /**
   * `transformers:<name>:<dim>:<pooling>:<maxLength>:<sha256 of the ONNX file, 12 hex>`: the
   * name alone would not change when the weights in a directory are replaced.
   */
  readonly modelId: string;
  readonly cacheable = true;
  readonly info: Readonly<ModelInfo>;
  readonly batchSize: number;
  readonly threads: number;

  private readonly core: CoreOptions;
  private readonly observer: TransformersObserver | undefined;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  /** set when threads is 0 */
  private readonly inline: LoadedModel | undefined;
  /** the last inline batch queued: the next one starts after it */
  private inlineTail: Promise<void> = Promise.resolve();
  private closed = false;
  private nextId = 1;

  private constructor(
    info: ModelInfo,
    core: CoreOptions,
    opts: TransformersEmbedderOptions,
    workers: Worker[],
    inline: LoadedModel | undefined,
  ) {
    this.info = Object.freeze({ ...info });
    this.dim = info.dim;
    this.modelId = `transformers:${info.name}:${info.dim}:${info.pooling}:${info.maxLength}:${
      info.onnxSha256?.slice(0, 12) ?? 'unhashed'
    }`;
    this.core = core;
    this.observer = opts.observer;
    this.batchSize = opts.batchSize ?? DEFAULT_TRANSFORMERS_BATCH_SIZE;
    this.threads = workers.length;
    this.inline = inline;
    for (const w of workers) this.adopt({ worker: undefined, job: undefined }, w);
  }

  /** Loads the model (in every worker); throws EmbedderLoadError naming what is missing or broken. */
  static async load(opts: TransformersEmbedderOptions): Promise<TransformersEmbedder> {
    const threads = opts.threads ?? 1;
    const batchSize = opts.batchSize ?? DEFAULT_TRANSFORMERS_BATCH_SIZE;
    if (!Number.isInteger(threads) || threads < 0)
      throw new RangeError(`threads must be an integer >= 0, got ${threads}`);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    const core: CoreOptions = {
      modelPath: opts.modelPath,
      modelName: opts.modelName,
      allowDownload: opts.allowDownload ?? false,
      cacheDir: opts.cacheDir,
      revision: opts.revision,
      dtype: opts.dtype,
      pooling: opts.pooling,
      maxLength: opts.maxLength,
      intraOpThreads: opts.intraOpThreads,
    };
    // the core module loads transformers.js only inside loadModel()
    const { checkModelOptions, loadModel } = await import('./transformers-core.js');
    checkModelOptions(core);
    if (threads === 0) {
      const model = await loadModel(core);
      return new TransformersEmbedder(model.info, core, opts, [], model);
    }
    // A model that may be downloaded is fetched by the first worker alone; the others then
    // find it in the cache instead of writing the same files at the same time.
    const started = [startWorker(core)];
    if (core.modelPath === undefined && core.allowDownload) await started[0].ready.catch(() => {});
    while (started.length < threads) started.push(startWorker(core));
    const settled = await Promise.allSettled(started.map((s) => s.ready));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
    const info = (settled[0] as PromiseFulfilledResult<ModelInfo>).value;
    return new TransformersEmbedder(
      info,
      core,
      opts,
      started.map((s) => s.worker),
      undefined,
    );
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.closed) throw new EmbedderError('EMBEDDER_CLOSED', 'the transformers embedder is closed');
    const n = texts.length;
    if (n === 0) return [];
    // longest first, so that each batch pads to lengths close to its own
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => texts[b].length - texts[a].length || a - b,
    );
    const batches: Promise<Float32Array>[] = [];
    for (let start = 0; start < n; start += this.batchSize) {
      const idx = order.slice(start, start + this.batchSize);
      batches.push(this.run(idx.map((i) => texts[i])));
    }
    const results = await Promise.all(batches);
    const out = new Array<Float32Array>(n);
    const dim = this.dim;
    for (let b = 0; b < results.length; b++) {
      const flat = results[b];
      const count = flat.length / dim;
      if (!Number.isInteger(count) || count !== Math.min(this.batchSize, n - b * this.batchSize))
        throw new EmbedderError('EMBEDDER_DIMENSION', `the model returned ${flat.length} values for a batch`);
      // a copy per row: a row kept by the engine must not keep the whole batch's buffer alive
      for (let j = 0; j < count; j++) out[order[b * this.batchSize + j]] = flat.slice(j * dim, (j + 1) * dim);
    }
    return out;
  }

  /** Ends the worker threads (or frees the in-process session). Pending embeds fail with EMBEDDER_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new EmbedderError('EMBEDDER_CLOSED', 'the transformers embedder was closed');
    for (const job of this.queue.splice(0)) job.reject(err);
    await Promise.all(
      this.slots.map(async (slot) => {
        const { worker, job } = slot;
        slot.worker = undefined;
        slot.job = undefined;
        job?.reject(err);
        await worker?.terminate();
      }),
    );
    await this.inline?.dispose();
  }

  private run(texts: string[]): Promise<Float32Array> {
    const t0 = performance.now();
    const done = (ok: boolean) => this.observer?.batch?.(texts.length, (performance.now() - t0) / 1000, ok);
    let p: Promise<Float32Array>;
    if (this.inline !== undefined) {
      const model = this.inline;
      // One batch at a time, each after a turn of the event loop: onnxruntime-node's run()
      // does its work before it returns, so batches started together would hold the loop for
      // the whole call; this way requests are served between batches, at least.
      p = this.inlineTail
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => {
          if (this.closed) throw new EmbedderError('EMBEDDER_CLOSED', 'the transformers embedder was closed');
          return model.embed(texts);
        })
        .catch((err: Error) => {
          if (err instanceof EmbedderError) throw err;
          throw new EmbedderError('EMBEDDER_INFERENCE', `inference failed: ${err.message}`, { cause: err });
        });
      this.inlineTail = p.then(
        () => {},
        () => {},
      );
    } else {
      p = new Promise<Float32Array>((resolve, reject) => {
        this.queue.push({ texts, resolve, reject });
        this.pump();
      });
    }
    return p.then(
      (v) => {
        done(true);
        return v;
      },
      (err) => {
        done(false);
        throw err;
      },
    );
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.worker === undefined || slot.job !== undefined) continue;
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      const req: WorkerRequest = { type: 'embed', id: this.nextId++, texts: job.texts };
      slot.worker.postMessage(req);
    }
  }

  /** Puts a loaded worker in a slot (new, or replacing one that died). */
  private adopt(slot: Slot, worker: Worker): void {
    if (!this.slots.includes(slot)) this.slots.push(slot);
    slot.worker = worker;
    // an idle worker does not keep the process alive; ref() while it has a job
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const job = slot.job;
      if (job === undefined || (reply.type !== 'done' && reply.type !== 'error')) return;
      slot.job = undefined;
      worker.unref();
      if (reply.type === 'done') job.resolve(reply.vectors);
      else job.reject(new EmbedderError('EMBEDDER_INFERENCE', `inference failed: ${reply.message}`));
      this.pump();
    });
    worker.on('error', () => {
      // followed by 'exit', handled there
    });
    worker.on('exit', (code) => {
      if (this.closed || slot.worker !== worker) return;
      slot.worker = undefined;
      const job = slot.job;
      slot.job = undefined;
      job?.reject(
        new EmbedderError('EMBEDDER_INFERENCE', `the embedding worker thread exited (code ${code})`),
      );
      this.observer?.workerExit?.(code);
      this.respawn(slot);
    });
  }

  private respawn(slot: Slot): void {
    const next = startWorker(this.core);
    next.ready.then(
      () => {
        if (this.closed) void next.worker.terminate();
        else {
          this.adopt(slot, next.worker);
          this.pump();
        }
      },
      (err: Error) => {
        // the model loaded before and no longer does (files removed?): fail what waits rather
        // than hang; later embeds fail the same way until a worker comes back
        if (this.slots.every((s) => s.worker === undefined))
          for (const job of this.queue.splice(0)) job.reject(err);
        if (!this.closed) setTimeout(() => this.respawn(slot), 1000).unref();
      },
    );
  }
}

function startWorker(core: CoreOptions): { worker: Worker; ready: Promise<ModelInfo> } {
  const worker = newWorker(core);
  const where = core.modelPath ?? core.modelName ?? '';
  const ready = new Promise<ModelInfo>((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve(reply.info);
      } else if (reply.type === 'failed') {
        cleanup();
        reject(new EmbedderLoadError(reply.error.message, reply.error.path, reply.error.missing));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(
        new EmbedderLoadError(
          `the embedding worker for ${where} failed to start: ${err.message}`,
          where,
          [],
          err,
        ),
      );
    };
    const onExit = (code: number) => {
      cleanup();
      reject(
        new EmbedderLoadError(`the embedding worker for ${where} exited (code ${code}) while loading`, where),
      );
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  return { worker, ready };
}
