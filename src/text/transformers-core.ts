/**
 * The part of the sentence-transformer embedder that touches transformers.js: load a tokenizer
 * and an ONNX model, tokenize, run, pool, normalise. It runs inside each worker thread
 * (transformers-worker.ts) or, with `threads: 0`, on the calling thread. transformers.ts is the
 * only importer, and imports it lazily, so that birdie without EMBEDDER=transformers never loads
 * transformers.js or onnxruntime-node.
 *
 * Pooling is sentence-transformers' (its models/Pooling.py), on the last hidden state H of shape
 * [batch, seq, hidden] and the attention mask m (1 for a token, 0 for padding):
 *
 *   mean:  e_b = sum_s m[b,s] H[b,s,:] / max(sum_s m[b,s], 1e-9)
 *   cls:   e_b = H[b,0,:]
 *
 * then e_b / max(|e_b|, 1e-12) (its Normalize module, torch's F.normalize). Masked mean pooling
 * makes a text's vector independent of the padding its batch adds, up to float rounding in the
 * attention (padding gets -1e4 or -inf before the softmax, so its weight is exp(...) = 0 in
 * float32 but the matrix products run over a longer row). The sums here are in float64.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EmbedderLoadError } from './errors.js';

export type Pooling = 'mean' | 'cls';

/** What a worker is started with: plain data, so that it can cross postMessage. */
export interface CoreOptions {
  /** A local model directory (config.json, tokenizer files, onnx/model.onnx). */
  modelPath?: string;
  /** A model hub name such as `Xenova/all-MiniLM-L6-v2`, used when modelPath is absent. */
  modelName?: string;
  /** Fetch a named model from the hub when it is not in cacheDir. Default false: nothing is fetched. */
  allowDownload?: boolean;
  /** Where hub models are kept (transformers.js's env.cacheDir); its default is inside node_modules. */
  cacheDir?: string;
  /** Hub revision (branch, tag or commit) of a named model. Default 'main'. */
  revision?: string;
  /** Which ONNX file: fp32 is onnx/model.onnx, q8 onnx/model_quantized.onnx, ... Default 'fp32'. */
  dtype?: string;
  /** Default: from 1_Pooling/config.json when the directory has one, else 'mean'. */
  pooling?: Pooling;
  /**
   * Tokens per text, [CLS] and [SEP] included; longer texts are truncated. Default:
   * sentence_bert_config.json's max_seq_length, else the tokenizer's model_max_length, at most the
   * model's max_position_embeddings.
   */
  maxLength?: number;
  /** ONNX Runtime's intra-op threads per session; default: its own (one per core). */
  intraOpThreads?: number;
}

export interface ModelInfo {
  /** the directory's basename, or the hub name */
  name: string;
  dim: number;
  pooling: Pooling;
  maxLength: number;
  /** the ONNX file that was loaded, when it is on disk */
  onnxPath: string | undefined;
  /** SHA-256 (hex) of that file: it changes when the weights change */
  onnxSha256: string | undefined;
}

export interface LoadedModel {
  info: ModelInfo;
  /** One batch through the model: rows of `info.dim` floats, unit length, in one flat array. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** File names transformers.js reads for a BERT-like model, relative to the model directory. */
const DTYPE_SUFFIX: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

function onnxFile(dtype: string): string {
  const suffix = DTYPE_SUFFIX[dtype];
  if (suffix === undefined)
    throw new EmbedderLoadError(
      `unknown model dtype ${JSON.stringify(dtype)}; one of ${Object.keys(DTYPE_SUFFIX).join(', ')}`,
      dtype,
    );
  return `onnx/model${suffix}.onnx`;
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new EmbedderLoadError(`${path} is not valid JSON: ${(err as Error).message}`, path, [], err);
  }
}

/** Checks a local model directory before transformers.js does, to say exactly what is missing. */
function checkDirectory(dir: string, file: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new EmbedderLoadError(`model directory ${dir} does not exist`, dir);
  }
  if (!isDir) throw new EmbedderLoadError(`model path ${dir} is not a directory`, dir);
  const missing = ['config.json', 'tokenizer.json', 'tokenizer_config.json', file].filter(
    (f) => !existsSync(join(dir, f)),
  );
  if (missing.length > 0)
    throw new EmbedderLoadError(
      `model directory ${dir} is missing ${missing.join(', ')} (a transformers.js model directory holds ` +
        `config.json, tokenizer.json, tokenizer_config.json and ${file})`,
      dir,
      missing,
    );
  // parsed here so that a truncated file is named, not reported as a bare JSON.parse error
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) readJson(join(dir, f));
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

interface Tensor {
  dims: number[];
  data: ArrayLike<number | bigint>;
}

/**
 * What can be checked without loading anything: the options name a model, and a local directory
 * has the files transformers.js will read. Throws EmbedderLoadError.
 */
export function checkModelOptions(o: CoreOptions): void {
  const file = onnxFile(o.dtype ?? 'fp32');
  if (o.modelPath !== undefined) checkDirectory(resolve(o.modelPath), file);
  else if (!o.modelName)
    throw new EmbedderLoadError('no model: give a model directory (modelPath) or a model name', '');
}

/** Loads the model the options name; throws EmbedderLoadError saying what is wrong. */
export async function loadModel(o: CoreOptions): Promise<LoadedModel> {
  checkModelOptions(o);
  const dtype = o.dtype ?? 'fp32';
  const file = onnxFile(dtype);
  const local = o.modelPath !== undefined ? resolve(o.modelPath) : undefined;

  const tf = await import('@huggingface/transformers');
  const { env } = tf;
  // Nothing leaves the machine unless the operator allowed downloads for a named model.
  env.allowRemoteModels = local === undefined && o.allowDownload === true;
  env.allowLocalModels = true;
  if (o.cacheDir !== undefined) env.cacheDir = o.cacheDir;
  // A local directory is read where it is; the file cache would only shadow it.
  env.useFSCache = local === undefined;
  env.logLevel = tf.LogLevel.ERROR;

  const id = local ?? (o.modelName as string);
  const where = local ?? `${id} (cache ${env.cacheDir})`;
  const cached = local === undefined ? findCached(env, id, file) : undefined;
  if (local === undefined && !env.allowRemoteModels && cached === undefined)
    throw new EmbedderLoadError(
      `model ${id} is not in ${env.cacheDir} nor ${env.localModelPath}, and downloads are off: ` +
        'allow downloads once, or give a local model directory',
      id,
      [file],
    );

  const hubOptions = { revision: o.revision ?? 'main', local_files_only: !env.allowRemoteModels };
  let tokenizer: Awaited<ReturnType<typeof tf.AutoTokenizer.from_pretrained>>;
  try {
    tokenizer = await tf.AutoTokenizer.from_pretrained(id, hubOptions);
  } catch (err) {
    throw new EmbedderLoadError(
      `cannot load the tokenizer of ${where}: ${(err as Error).message}`,
      id,
      [],
      err,
    );
  }
  let model: Awaited<ReturnType<typeof tf.AutoModel.from_pretrained>>;
  try {
    model = await tf.AutoModel.from_pretrained(id, {
      ...hubOptions,
      dtype: dtype as 'fp32',
      device: 'cpu',
      session_options:
        o.intraOpThreads === undefined ? {} : { intraOpNumThreads: o.intraOpThreads, interOpNumThreads: 1 },
    });
  } catch (err) {
    const path = local !== undefined ? join(local, file) : id;
    throw new EmbedderLoadError(
      `cannot load the ONNX model ${path}: ${(err as Error).message}`,
      path,
      [],
      err,
    );
  }

  const onnxPath = local !== undefined ? join(local, file) : (cached ?? findCached(env, id, file));
  const dir = local ?? (onnxPath !== undefined ? resolve(onnxPath, '..', '..') : undefined);
  const config = model.config as unknown as Record<string, unknown>;
  const poolingConfig = dir !== undefined ? readJson(join(dir, '1_Pooling', 'config.json')) : undefined;
  const pooling: Pooling =
    o.pooling ??
    (poolingConfig?.pooling_mode_cls_token === true && !poolingConfig.pooling_mode_mean_tokens
      ? 'cls'
      : 'mean');
  const stConfig = dir !== undefined ? readJson(join(dir, 'sentence_bert_config.json')) : undefined;
  const positions = Number(config.max_position_embeddings) || Number.POSITIVE_INFINITY;
  const declared =
    o.maxLength ?? (Number(stConfig?.max_seq_length) || Number(tokenizer.model_max_length) || 512);
  const maxLength = Math.max(2, Math.min(declared, positions));

  async function forward(texts: readonly string[]): Promise<{ hidden: Tensor; mask: Tensor }> {
    const enc = tokenizer(texts as string[], { padding: true, truncation: true, max_length: maxLength });
    const out = (await model(enc)) as Record<string, Tensor | undefined>;
    const hidden = out.last_hidden_state ?? out.token_embeddings;
    if (hidden === undefined || hidden.dims.length !== 3)
      throw new Error(
        `the model's outputs (${Object.keys(out).join(', ')}) have no last_hidden_state [batch, seq, hidden]`,
      );
    return { hidden, mask: enc.attention_mask as unknown as Tensor };
  }

  async function embed(texts: readonly string[]): Promise<Float32Array> {
    if (texts.length === 0) return new Float32Array(0);
    const { hidden, mask } = await forward(texts);
    return pool(hidden, mask, pooling);
  }

  // One inference at load time: the dimension comes from the output, and a model that loads but
  // cannot run (wrong inputs, an op the runtime lacks) fails now, not on the first tweet.
  let dim: number;
  try {
    const { hidden } = await forward(['birdie']);
    dim = hidden.dims[2];
  } catch (err) {
    throw new EmbedderLoadError(
      `the model ${where} loads but cannot run: ${(err as Error).message}`,
      id,
      [],
      err,
    );
  }
  if (Number(config.hidden_size) > 0 && Number(config.hidden_size) !== dim)
    throw new EmbedderLoadError(
      `the model ${where} returns vectors of ${dim} values but its config.json says hidden_size ${config.hidden_size}`,
      id,
    );

  return {
    info: {
      name: local !== undefined ? basename(local) : id,
      dim,
      pooling,
      maxLength,
      onnxPath,
      onnxSha256: onnxPath !== undefined ? sha256File(onnxPath) : undefined,
    },
    embed,
    dispose: async () => {
      await model.dispose();
    },
  };
}

/** Where transformers.js keeps a named model's ONNX file, if it has it. */
function findCached(env: { cacheDir: string | null; localModelPath: string }, id: string, file: string) {
  for (const root of [env.localModelPath, env.cacheDir]) {
    if (!root) continue;
    const p = join(root, id, file);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Pools [batch, seq, dim] hidden states into unit rows, per the formulas at the top of the file.
 * Exported for the tests, which check it against a computation of their own.
 */
export function pool(hidden: Tensor, mask: Tensor, pooling: Pooling): Float32Array {
  const [batch, seq, dim] = hidden.dims;
  const h = hidden.data as Float32Array;
  const m = mask.data;
  const out = new Float32Array(batch * dim);
  const acc = new Float64Array(dim);
  for (let b = 0; b < batch; b++) {
    acc.fill(0);
    let count = 0;
    if (pooling === 'cls') {
      for (let d = 0; d < dim; d++) acc[d] = h[b * seq * dim + d];
      count = 1;
    } else {
      for (let s = 0; s < seq; s++) {
        if (Number(m[b * seq + s]) === 0) continue;
        count++;
        const base = (b * seq + s) * dim;
        for (let d = 0; d < dim; d++) acc[d] += h[base + d];
      }
    }
    const inv = 1 / Math.max(count, 1e-9);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      acc[d] *= inv;
      norm += acc[d] * acc[d];
    }
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let d = 0; d < dim; d++) out[b * dim + d] = acc[d] * scale;
  }
  return out;
}
