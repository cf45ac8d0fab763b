/**
 * EMBEDDER=http: vectors from a remote embedding service, over two common APIs:
 *
 *   openai  POST .../v1/embeddings  {"model", "input": [texts], "encoding_format": "float" | "base64"}
 *           -> {"data": [{"embedding": [...] | "<base64 float32>", "index": i}, ...]}
 *                                                              (OpenAI, vLLM, Ollama, LiteLLM, ...)
 *   tei     POST .../embed          {"inputs": [texts], "truncate": true}
 *           -> [[...], ...]                                         (Hugging Face text-embeddings-inference)
 *
 * `url` is the endpoint itself or the service's base URL (the endpoint's path is added); `api`
 * may be left out when the path ends in /embeddings (openai) or /embed (tei).
 *
 * A request is cut into batches of `batchSize` texts, `concurrency` of them in flight at once.
 * Each HTTP attempt has `timeoutMs` (AbortSignal.timeout, which covers reading the body too).
 * Network errors, timeouts, 429 and 5xx are retried up to `retries` times after an exponential
 * backoff with jitter, d = min(maxBackoffMs, backoffMs * 2^attempt), waiting d/2 + U(0, d/2)
 * ("equal jitter": never less than half the step, so retries do not bunch up at 0, and spread
 * so that many clients do not retry in lockstep); a Retry-After header (seconds or an HTTP date)
 * is honoured as a lower bound, up to maxRetryAfterMs; a service that asks for longer fails at
 * once. Other 4xx are not retried: the same request would fail the same way.
 *
 * Rows are checked (count, dimension, finite) and L2-normalised here whatever the service says
 * it does. Empty texts are not sent (OpenAI rejects them) and get the zero vector, as the
 * built-in embedder gives them.
 *
 * The API key goes in `Authorization: Bearer ...` and nowhere else: error messages show the URL
 * without credentials or query string, and a response body quoted in an error has the key blanked.
 *
 * modelId is `http:<api>:<model, else the endpoint's host and path>:<dim>`, from the options
 * alone so that it is the same on every start: set `model` (tei ignores it in requests) to say
 * which model a service runs, and change it when that model changes.
 */
import type { Embedder } from './embedder.js';
import { EmbedderError, type EmbedderErrorCode } from './errors.js';

export type HttpEmbeddingApi = 'openai' | 'tei';

export interface HttpEmbedderOptions {
  /** The endpoint (…/v1/embeddings, …/embed) or the service's base URL. */
  url: string;
  /** Default: from the URL's path (…/embeddings: openai, …/embed: tei). */
  api?: HttpEmbeddingApi;
  /** Sent as `Authorization: Bearer <apiKey>`. Never logged, never in an error message. */
  apiKey?: string;
  /** The model to ask for (openai: required by most services) and the name in modelId. */
  model?: string;
  /** Length of the vectors the service returns; HttpEmbedder.connect() asks the service when absent. */
  dim: number;
  /** Texts per request. Default 64 (text-embeddings-inference's default limit is 32 per request: set 32 there). */
  batchSize?: number;
  /** Requests in flight at once for one embed() call. Default 2. */
  concurrency?: number;
  /** Per attempt, body included. Default 10 000. */
  timeoutMs?: number;
  /** Further attempts after the first one fails with a retryable error. Default 3. */
  retries?: number;
  /** First backoff step. Default 200 ms. */
  backoffMs?: number;
  /** Largest backoff step. Default 5 000 ms. */
  maxBackoffMs?: number;
  /** Longest Retry-After that is waited for; longer ones fail at once. Default 30 000 ms. */
  maxRetryAfterMs?: number;
  /**
   * openai: ask for base64 float32 vectors instead of JSON numbers (encoding_format "base64"):
   * about 4x fewer bytes and much less parsing. OpenAI and vLLM support it; not every service
   * does. Default false. Either form is accepted in answers.
   */
  base64?: boolean;
  /** Extra request headers (e.g. an `api-key` header for Azure OpenAI). */
  headers?: Record<string, string>;
  observer?: HttpEmbedderObserver;
}

export interface HttpEmbedderObserver {
  /** Each HTTP attempt: its seconds and whether it gave usable vectors. */
  request?(seconds: number, ok: boolean): void;
  /** A failed attempt that will be tried again after `delayMs`. */
  retry?(reason: EmbedderErrorCode, attempt: number, delayMs: number): void;
  /** An embed() batch that finally failed: the error's code. */
  failure?(reason: EmbedderErrorCode): void;
}

const DEFAULTS = {
  batchSize: 64,
  concurrency: 2,
  timeoutMs: 10_000,
  retries: 3,
  backoffMs: 200,
  maxBackoffMs: 5_000,
  maxRetryAfterMs: 30_000,
} as const;

/** A failed attempt: what to report, and whether another attempt may succeed. */
class AttemptError extends Error {
  constructor(
    readonly code: EmbedderErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function resolveEndpoint(
  url: string,
  api: HttpEmbeddingApi | undefined,
): { endpoint: URL; api: HttpEmbeddingApi } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError('the embedding service URL is not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new RangeError(`the embedding service URL must be http or https, not ${u.protocol}`);
  const path = u.pathname.replace(/\/+$/, '');
  const inferred: HttpEmbeddingApi | undefined = path.endsWith('/embeddings')
    ? 'openai'
    : path.endsWith('/embed')
      ? 'tei'
      : undefined;
  const chosen = api ?? inferred;
  if (chosen === undefined)
    throw new RangeError(
      `cannot tell the API of ${safeUrl(u)} from its path: set api to 'openai' or 'tei', or give the endpoint (…/v1/embeddings or …/embed)`,
    );
  if (inferred === undefined)
    u.pathname =
      chosen === 'tei'
        ? `${path}/embed`
        : path.endsWith('/v1')
          ? `${path}/embeddings`
          : `${path}/v1/embeddings`;
  return { endpoint: u, api: chosen };
}

/** The URL as it may appear in a message: no user, password, query or fragment. */
function safeUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Retry-After in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class HttpEmbedder implements Embedder {
  readonly dim: number;
  readonly modelId: string;
  readonly cacheable = true;
  readonly api: HttpEmbeddingApi;
  /** the endpoint, without credentials: safe to log */
  readonly endpoint: string;

  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly apiKey: string | undefined;
  /** blanked out of anything quoted in an error */
  private readonly secrets: string[];
  private readonly model: string | undefined;
  private readonly base64: boolean;
  private readonly o: Required<
    Pick<
      HttpEmbedderOptions,
      'batchSize' | 'concurrency' | 'timeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs' | 'maxRetryAfterMs'
    >
  >;
  private readonly observer: HttpEmbedderObserver | undefined;
  /** aborts requests and backoff waits in flight at close() */
  private readonly closing = new AbortController();

  constructor(opts: HttpEmbedderOptions) {
    const { endpoint, api } = resolveEndpoint(opts.url, opts.api);
    if (!Number.isInteger(opts.dim) || opts.dim < 1)
      throw new RangeError(`dim must be a positive integer, got ${opts.dim}`);
    this.o = {
      batchSize: opts.batchSize ?? DEFAULTS.batchSize,
      concurrency: opts.concurrency ?? DEFAULTS.concurrency,
      timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
      retries: opts.retries ?? DEFAULTS.retries,
      backoffMs: opts.backoffMs ?? DEFAULTS.backoffMs,
      maxBackoffMs: opts.maxBackoffMs ?? DEFAULTS.maxBackoffMs,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs,
    };
    for (const k of ['batchSize', 'concurrency', 'timeoutMs'] as const)
      if (!Number.isInteger(this.o[k]) || this.o[k] < 1)
        throw new RangeError(`${k} must be a positive integer`);
    if (!Number.isInteger(this.o.retries) || this.o.retries < 0)
      throw new RangeError('retries must be an integer >= 0');
    this.dim = opts.dim;
    this.api = api;
    this.url = endpoint;
    this.endpoint = safeUrl(endpoint);
    this.apiKey = opts.apiKey || undefined;
    this.model = opts.model;
    this.base64 = opts.base64 === true;
    this.observer = opts.observer;
    this.headers = { 'content-type': 'application/json', accept: 'application/json', ...opts.headers };
    // fetch refuses URLs with credentials (and would put them in its error): user:password in
    // the URL becomes Basic auth, unless an API key is given
    const user = decodeURIComponent(endpoint.username);
    const password = decodeURIComponent(endpoint.password);
    endpoint.username = '';
    endpoint.password = '';
    if (this.apiKey !== undefined) this.headers.authorization = `Bearer ${this.apiKey}`;
    else if (user !== '' || password !== '')
      this.headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    this.secrets = [this.apiKey, password].filter((x): x is string => x !== undefined && x.length >= 4);
    this.modelId = `http:${api}:${opts.model ?? `${endpoint.host}${endpoint.pathname}`}:${opts.dim}`;
  }

  /**
   * An HttpEmbedder whose dimension, when not given, is read from the service's answer for one
   * short text. Fails (EmbedderError) when the service cannot be reached after the retries.
   */
  static async connect(opts: Omit<HttpEmbedderOptions, 'dim'> & { dim?: number }): Promise<HttpEmbedder> {
    if (opts.dim !== undefined) return new HttpEmbedder({ ...opts, dim: opts.dim });
    // dim 1 is a placeholder for the probe: its one row is checked below, not against it
    const probe = new HttpEmbedder({ ...opts, dim: 1 });
    const [row] = await probe.request(['birdie'], false);
    return new HttpEmbedder({ ...opts, dim: row.length });
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.closing.signal.aborted)
      throw new EmbedderError('EMBEDDER_CLOSED', 'the HTTP embedder is closed');
    const out = new Array<Float32Array>(texts.length);
    // empty texts are not sent
    const todo: number[] = [];
    for (let i = 0; i < texts.length; i++) {
      if (texts[i].trim() === '') out[i] = new Float32Array(this.dim);
      else todo.push(i);
    }
    const batches: number[][] = [];
    for (let s = 0; s < todo.length; s += this.o.batchSize) batches.push(todo.slice(s, s + this.o.batchSize));
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < batches.length && !failed) {
        const idx = batches[next++];
        const rows = await this.request(
          idx.map((i) => texts[i]),
          true,
        ).catch((err) => {
          failed = true; // the call fails: send no more of its batches
          throw err;
        });
        for (let j = 0; j < idx.length; j++) out[idx[j]] = rows[j];
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, batches.length) }, worker));
    return out;
  }

  /** Aborts requests in flight; later embeds fail with EMBEDDER_CLOSED. */
  async close(): Promise<void> {
    this.closing.abort(new EmbedderError('EMBEDDER_CLOSED', 'the HTTP embedder was closed'));
  }

  /** One batch, with retries; rows checked and normalised. */
  private async request(texts: string[], checkDim: boolean): Promise<Float32Array[]> {
    const body = JSON.stringify(
      this.api === 'tei'
        ? { inputs: texts, truncate: true }
        : {
            ...(this.model !== undefined ? { model: this.model } : {}),
            input: texts,
            encoding_format: this.base64 ? 'base64' : 'float',
          },
    );
    let last: AttemptError | undefined;
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const rows = this.parse(await this.attempt(body), texts.length, checkDim);
        this.observer?.request?.((performance.now() - t0) / 1000, true);
        return rows;
      } catch (err) {
        this.observer?.request?.((performance.now() - t0) / 1000, false);
        if (this.closing.signal.aborted) throw this.closing.signal.reason;
        last =
          err instanceof AttemptError
            ? err
            : new AttemptError('EMBEDDER_NETWORK', `request failed: ${(err as Error).message}`, true);
        if (!last.retryable || attempt >= this.o.retries) break;
        const step = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** attempt);
        let delay = step / 2 + Math.random() * (step / 2);
        if (last.retryAfterMs !== undefined) {
          if (last.retryAfterMs > this.o.maxRetryAfterMs) {
            last = new AttemptError(
              last.code,
              `${last.message}; the service asks to wait ${Math.ceil(last.retryAfterMs / 1000)} s (Retry-After), longer than ${this.o.maxRetryAfterMs} ms`,
              false,
              last.status,
            );
            break;
          }
          delay = Math.max(delay, last.retryAfterMs);
        }
        this.observer?.retry?.(last.code, attempt + 1, delay);
        await sleep(delay, this.closing.signal);
      }
    }
    const attempts = last.retryable ? this.o.retries + 1 : undefined;
    this.observer?.failure?.(last.code);
    throw new EmbedderError(
      last.code,
      `embedding service ${this.endpoint} (${this.api}): ${last.message}${
        attempts !== undefined && attempts > 1 ? ` (after ${attempts} attempts)` : ''
      }`,
      { status: last.status, attempts },
    );
  }

  /** One HTTP attempt; resolves to the parsed JSON of a 2xx answer. */
  private async attempt(body: string): Promise<unknown> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs), this.closing.signal]);
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers: this.headers, body, signal });
    } catch (err) {
      throw this.fetchError(err);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const retryable = res.status === 429 || res.status >= 500;
      const code: EmbedderErrorCode = 'EMBEDDER_HTTP';
      throw new AttemptError(
        code,
        `HTTP ${res.status}${text ? `: ${this.redact(text.slice(0, 200))}` : ''}`,
        retryable,
        res.status,
        retryable ? parseRetryAfter(res.headers.get('retry-after')) : undefined,
      );
    }
    try {
      return await res.json();
    } catch (err) {
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError')
        throw this.fetchError(err);
      throw new AttemptError('EMBEDDER_BAD_RESPONSE', 'the answer is not JSON', false, res.status);
    }
  }

  private fetchError(err: unknown): AttemptError {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError')
      return new AttemptError('EMBEDDER_TIMEOUT', `no answer within ${this.o.timeoutMs} ms`, true);
    const detail = e.cause?.code ?? e.cause?.message ?? e.message;
    return new AttemptError(
      'EMBEDDER_NETWORK',
      `cannot reach the service (${this.redact(String(detail))})`,
      true,
    );
  }

  private redact(s: string): string {
    for (const secret of this.secrets) s = s.replaceAll(secret, '***');
    return s;
  }

  /** The rows of an answer, in input order, checked and unit length. */
  private parse(json: unknown, n: number, checkDim: boolean): Float32Array[] {
    let raw: unknown[];
    if (this.api === 'tei') {
      if (!Array.isArray(json)) throw this.bad('expected a JSON array of vectors');
      raw = json;
    } else {
      const data = (json as { data?: unknown } | null)?.data;
      if (!Array.isArray(data)) throw this.bad('expected {"data": [{"embedding", "index"}, ...]}');
      raw = new Array(data.length);
      for (const [k, item] of data.entries()) {
        const index = (item as { index?: unknown })?.index ?? k;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= data.length)
          throw this.bad(`data[${k}].index is not an index of the input`);
        raw[index] = (item as { embedding?: unknown }).embedding;
      }
    }
    if (raw.length !== n) throw this.bad(`${raw.length} vectors for ${n} texts`);
    const rows = new Array<Float32Array>(n);
    for (let i = 0; i < n; i++) {
      let r = raw[i];
      // base64: the float32 values, little-endian (OpenAI's encoding_format "base64")
      if (typeof r === 'string') {
        const bytes = Buffer.from(r, 'base64');
        if (bytes.byteLength === 0 || bytes.byteLength % 4 !== 0)
          throw this.bad(`vector ${i} is base64 of ${bytes.byteLength} bytes, not float32 values`);
        const f = new Float32Array(bytes.byteLength / 4);
        new Uint8Array(f.buffer).set(bytes);
        r = Array.from(f);
      }
      if (!Array.isArray(r) || r.length === 0) throw this.bad(`vector ${i} is not an array of numbers`);
      if (checkDim && r.length !== this.dim)
        throw new AttemptError(
          'EMBEDDER_DIMENSION',
          `vector ${i} has ${r.length} values, this embedder's dimension is ${this.dim}`,
          false,
        );
      // the norm and the division in float64, rounded to float32 once
      let sq = 0;
      for (let d = 0; d < r.length; d++) {
        const x = r[d];
        if (typeof x !== 'number' || !Number.isFinite(x))
          throw this.bad(`vector ${i} holds a value that is not a finite number`);
        sq += x * x;
      }
      const v = new Float32Array(r.length);
      const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
      for (let d = 0; d < v.length; d++) v[d] = (r[d] as number) * inv;
      rows[i] = v;
    }
    return rows;
  }

  private bad(what: string): AttemptError {
    return new AttemptError('EMBEDDER_BAD_RESPONSE', `unexpected answer: ${what}`, false);
  }
}
