/**
 * A worker thread of TransformersEmbedder: loads the model once (workerData: CoreOptions), then
 * answers one embed request at a time. Inference, tokenization and pooling all happen here, so
 * the thread that serves HTTP only posts texts and receives vectors.
 *
 *   parent -> worker   { type: 'embed', id, texts }
 *   worker -> parent   { type: 'ready', info } | { type: 'failed', error }        once, after loading
 *                      { type: 'done', id, vectors } (buffer transferred) | { type: 'error', id, message }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EmbedderLoadError } from './errors.js';
import { type CoreOptions, type LoadedModel, loadModel } from './transformers-core.js';

export type WorkerRequest = { type: 'embed'; id: number; texts: string[] };

export type WorkerReply =
  | { type: 'ready'; info: LoadedModel['info'] }
  | { type: 'failed'; error: { message: string; path: string; missing: string[] } }
  | { type: 'done'; id: number; vectors: Float32Array }
  | { type: 'error'; id: number; message: string };

const port = parentPort;
if (port === null) throw new Error('transformers-worker.ts runs only as a worker thread');

function send(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(reply, transfer);
}

let model: LoadedModel;
try {
  model = await loadModel(workerData as CoreOptions);
  send({ type: 'ready', info: model.info });
} catch (err) {
  const e = err as Error;
  send({
    type: 'failed',
    error: {
      message: e.message,
      path: err instanceof EmbedderLoadError ? err.path : '',
      missing: err instanceof EmbedderLoadError ? [...err.missing] : [],
    },
  });
  process.exit(1);
}

port.on('message', async (req: WorkerRequest) => {
  if (req.type !== 'embed') return;
  try {
    const vectors = await model.embed(req.texts);
    send({ type: 'done', id: req.id, vectors }, [vectors.buffer as ArrayBuffer]);
  } catch (err) {
    send({ type: 'error', id: req.id, message: (err as Error).message });
  }
});
