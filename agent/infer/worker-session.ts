import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Feed } from '../../models/tensor-plan.js';
import { FieldmeshError } from '../../protocol/errors.js';
import type { ModelOutputs } from './postprocess.js';
import {
  type HostToWorker,
  type SessionWorkerData,
  sessionWorkerMain,
  type WorkerToHost,
} from './session-worker.js';

/** The model's worker thread stopped (crashed, ran out of memory, or was terminated). */
export class ModelWorkerError extends FieldmeshError {
  constructor(modelId: string, why: string) {
    super('MODEL_WORKER_FAILED', `model "${modelId}": its inference thread ${why}`);
  }
}

/** How a ModelRuntime reaches its onnxruntime session: on the agent's thread or in a worker. */
export interface InferenceBackend {
  /** Runs one call; resolves with the outputs named in `fetches`, as onnxruntime gives them. */
  run(feeds: readonly Feed[], fetches: readonly string[]): Promise<ModelOutputs>;
  release(): Promise<void>;
}

const workerSource = `(${sessionWorkerMain.toString()})(require);`;
let ortPath: string | undefined;

/**
 * An onnxruntime session that lives in its own worker thread, so a model call never blocks
 * the event loop that serves MQTT, receipts and the mesh. Calls are answered in order.
 * If the thread dies, the calls waiting on it fail, and the next call starts a fresh thread
 * from the same model bytes.
 */
export class WorkerBackend implements InferenceBackend {
  private worker: Worker | null = null;
  private starting: Promise<void> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { ok: (o: ModelOutputs) => void; fail: (e: Error) => void }>();
  private released = false;

  private constructor(
    private readonly modelId: string,
    private readonly data: SessionWorkerData,
  ) {}

  /** Starts the thread and creates the session; rejects with onnxruntime's reason if it refuses. */
  static async create(
    modelId: string,
    bytes: Uint8Array,
    options: Record<string, unknown>,
  ): Promise<WorkerBackend> {
    ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node');
    const backend = new WorkerBackend(modelId, { ortPath, bytes, options });
    await backend.start();
    return backend;
  }

  run(feeds: readonly Feed[], fetches: readonly string[]): Promise<ModelOutputs> {
    if (this.released) return Promise.reject(new ModelWorkerError(this.modelId, 'was closed'));
    const id = this.nextId++;
    return new Promise<ModelOutputs>((ok, fail) => {
      this.pending.set(id, { ok, fail });
      // Copies of exactly the fed values, handed over rather than cloned: posting a view would
      // clone the whole buffer behind it (the runner's room for 64 windows), and transferring
      // the caller's own arrays would empty them.
      const own = feeds.map((f) => ({ ...f, data: f.data.slice() }));
      const send = (w: Worker): void =>
        w.postMessage(
          { kind: 'run', id, feeds: own, fetches } satisfies HostToWorker,
          own.map((f) => f.data.buffer as ArrayBuffer),
        );
      if (this.worker) send(this.worker);
      else {
        this.starting ??= this.start().finally(() => {
          this.starting = null;
        });
        this.starting.then(
          () => (this.worker ? send(this.worker) : undefined),
          (err: Error) => this.settle(id, err),
        );
      }
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const w = this.worker;
    if (!w) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(done, 2000);
      w.on('message', (m: WorkerToHost) => {
        if (m.kind === 'released') {
          clearTimeout(timer);
          done();
        }
      });
      w.postMessage({ kind: 'release' } satisfies HostToWorker);
    });
    this.worker = null;
    await w.terminate();
  }

  private start(): Promise<void> {
    return new Promise<void>((ready, refused) => {
      const w = new Worker(workerSource, { eval: true, workerData: this.data });
      let up = false;
      w.on('message', (m: WorkerToHost) => {
        if (m.kind === 'ready') {
          up = true;
          this.worker = w;
          ready();
        } else if (m.kind === 'failed') {
          refused(new Error(m.message));
          void w.terminate();
        } else if (m.kind === 'done') this.settle(m.id, null, m.outputs);
        else if (m.kind === 'error') this.settle(m.id, new Error(m.message));
      });
      w.on('error', (err) => (up ? this.lost(w, `failed: ${err.message}`) : refused(err)));
      w.on('exit', (code) =>
        up ? this.lost(w, `exited (code ${code})`) : refused(new Error(`exited (code ${code})`)),
      );
    });
  }

  /** The thread is gone: fail every call waiting on it; the next call starts a new one. */
  private lost(w: Worker, why: string): void {
    if (this.worker !== w) return;
    this.worker = null;
    const err = new ModelWorkerError(this.modelId, why);
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }

  private settle(id: number, err: Error | null, outputs?: ModelOutputs): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (err) p.fail(err);
    else p.ok(outputs as ModelOutputs);
  }
}
