/**
 * The body of the worker thread that owns one onnxruntime session.
 *
 * It is started from source text (`new Worker(text, { eval: true })`), so this function must
 * not use anything from the module around it: everything it needs arrives through `req`
 * (the worker's own CommonJS `require`) and `workerData`. Running from text keeps it working
 * from TypeScript sources under vitest, from the compiled `dist/`, and inside a packaged binary.
 */

import type { Feed } from '../../models/tensor-plan.js';

/** What the host passes as `workerData`. */
export interface SessionWorkerData {
  /** Resolved path of onnxruntime-node's entry point (the worker cannot resolve it itself). */
  readonly ortPath: string;
  readonly bytes: Uint8Array;
  readonly options: Readonly<Record<string, unknown>>;
}

export type HostToWorker =
  | { kind: 'run'; id: number; feeds: readonly Feed[]; fetches: readonly string[] }
  | { kind: 'release' };

export interface WireTensor {
  data: ArrayLike<number> | BigInt64Array | BigUint64Array;
  dims: number[];
  type: string;
}

export type WorkerToHost =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'done'; id: number; outputs: Record<string, WireTensor> }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'released' };

export function sessionWorkerMain(req: (id: string) => unknown): void {
  const wt = req('node:worker_threads') as typeof import('node:worker_threads');
  const data = wt.workerData as SessionWorkerData;
  const port = wt.parentPort;
  if (port === null) return;
  const ort = req(data.ortPath) as typeof import('onnxruntime-node');
  const say = (m: WorkerToHost, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

  ort.InferenceSession.create(data.bytes, data.options).then(
    (session) => {
      say({ kind: 'ready' });
      port.on('message', (m: HostToWorker) => {
        if (m.kind === 'release') {
          session.release().finally(() => say({ kind: 'released' }));
          return;
        }
        const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
        for (const f of m.feeds) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
        session.run(feeds, m.fetches).then(
          (out) => {
            const outputs: Record<string, WireTensor> = {};
            const transfer: ArrayBuffer[] = [];
            for (const [name, t] of Object.entries(out)) {
              const values = t.data as Float32Array;
              outputs[name] = { data: values, dims: [...t.dims], type: t.type };
              if (values.buffer instanceof ArrayBuffer && !transfer.includes(values.buffer)) {
                transfer.push(values.buffer);
              }
            }
            say({ kind: 'done', id: m.id, outputs }, transfer);
          },
          (err: unknown) => say({ kind: 'error', id: m.id, message: reason(err) }),
        );
      });
    },
    (err: unknown) => say({ kind: 'failed', message: reason(err) }),
  );
}
