import { readFile } from 'node:fs/promises';
import type { ModelConfig } from './config/schema.js';
import type { ModelRuntime } from './infer/model-runtime.js';
import { type ModelIdentity, ModelSlot, type SwapRecord } from './infer/model-slot.js';
import { type ManifestWatch, watchManifest } from './infer/model-watch.js';
import type { Logger } from './log.js';

export interface ModelStatus {
  id: string;
  version: string;
  sha256: string;
  runs: number;
  failures: number;
  /** Swaps to new versions, newest last (docs/model-swap.md); absent when there were none. */
  swaps?: SwapRecord[];
  /** The candidate running beside this model, when there is one. */
  shadow?: { version: string; sha256: string };
  /** Why the configured shadow candidate is not running (did not load, or does not fit). */
  shadowProblem?: string;
}

/** Who a model version must fit: the running pipelines on that model. */
export interface SwapFit {
  /** Why `candidate` cannot replace the running version (`shadow`: run beside it); empty when it can. */
  problems(modelId: string, candidate: ModelRuntime, as: 'swap' | 'shadow'): string[];
}

export interface ModelSwapsComponents {
  readonly logger: Logger;
  /** Loads a model entry as the agent does at start (publisher policy, fetch from peers). */
  load(cfg: ModelConfig): Promise<ModelRuntime>;
  readonly fit: SwapFit;
  /** After the version peers should be offered has changed. */
  changed(): void;
  /** Watcher timing; the defaults suit operators (tests shorten them). */
  readonly watch?: { debounceMs?: number; pollMs?: number };
}

/**
 * The models of an agent as swappable slots: watches each manifest (and each shadow manifest),
 * loads a changed one beside the running version and offers it to the slot, which keeps it or
 * rolls it back (model-slot.ts). One swap at a time per model; a load that fails leaves the
 * running version alone and is recorded with its reason.
 */
export class ModelSwaps {
  private readonly slots = new Map<string, ModelSlot>();
  private readonly configs = new Map<string, ModelConfig>();
  private readonly watches: ManifestWatch[] = [];
  private readonly queues = new Map<string, Promise<void>>();
  /** Why a model's shadow candidate is not running, when it was configured and is not. */
  private readonly shadowProblems = new Map<string, string>();
  private closed = false;

  constructor(private readonly components: ModelSwapsComponents) {}

  /** Adds a model loaded at start. */
  add(cfg: ModelConfig, model: ModelRuntime): ModelSlot {
    const slot = new ModelSlot(model, cfg.swap, { logger: this.log.child({ model: cfg.id }) });
    this.slots.set(cfg.id, slot);
    this.configs.set(cfg.id, cfg);
    return slot;
  }

  get(id: string): ModelSlot | undefined {
    return this.slots.get(id);
  }

  all(): ModelSlot[] {
    return [...this.slots.values()];
  }

  /** Every version loaded now, for peers to run windows on. */
  runtimes(): ModelRuntime[] {
    return this.all().flatMap((s) => s.loaded());
  }

  /** Each model as status shows it: the running version, its swaps and its shadow. */
  status(): ModelStatus[] {
    return this.all().map((slot) => {
      const m = slot.current;
      const swaps = slot.history();
      const shadow = slot.shadow;
      const shadowProblem = this.shadowProblems.get(slot.id);
      return {
        id: m.id,
        version: m.manifest.version,
        sha256: m.sha256,
        ...m.stats,
        ...(swaps.length === 0 ? {} : { swaps: [...swaps] }),
        ...(shadow === null ? {} : { shadow: { version: shadow.manifest.version, sha256: shadow.sha256 } }),
        ...(shadowProblem === undefined ? {} : { shadowProblem }),
      };
    });
  }

  /** Loads the shadow candidates and starts watching the manifests; call once pipelines run. */
  async start(): Promise<void> {
    for (const [id, cfg] of this.configs) {
      if (cfg.shadow !== undefined) await this.enqueue(id, () => this.loadShadow(id));
      if (cfg.swap.watch) await this.watch(id, cfg.manifest, () => this.swap(id));
      if (cfg.shadow !== undefined && cfg.swap.watch) {
        await this.watch(id, cfg.shadow.manifest, () => this.loadShadow(id));
      }
    }
  }

  /** Loads the model's manifest again and offers it if it names other bytes than the running version. */
  swap(id: string): Promise<void> {
    return this.enqueue(id, async () => {
      const slot = this.slots.get(id);
      const cfg = this.configs.get(id);
      if (slot === undefined || cfg === undefined) return;
      let candidate: ModelRuntime;
      try {
        candidate = await this.components.load(cfg);
      } catch (err) {
        slot.refuse(await describeManifest(cfg.manifest), (err as Error).message);
        return;
      }
      if (candidate.sha256 === slot.current.sha256) {
        await candidate.close(); // the manifest changed, the model bytes did not
        return;
      }
      const record = slot.offer(candidate, this.components.fit.problems(id, candidate, 'swap'));
      if (record.outcome === 'probation') this.components.changed();
    });
  }

  /** No more swaps: the manifests are no longer watched (the running versions stay). */
  stopWatching(): void {
    this.closed = true;
    for (const w of this.watches.splice(0)) w.close();
  }

  async close(): Promise<void> {
    this.stopWatching();
    await Promise.all([...this.queues.values()].map((q) => q.catch(() => undefined)));
    await Promise.all(this.all().map((s) => s.close()));
  }

  private async loadShadow(id: string): Promise<void> {
    const slot = this.slots.get(id);
    const cfg = this.configs.get(id);
    if (slot === undefined || cfg?.shadow === undefined) return;
    const log = this.log.child({ model: id });
    let candidate: ModelRuntime;
    try {
      candidate = await this.components.load({ ...cfg, manifest: cfg.shadow.manifest });
    } catch (err) {
      this.shadowProblems.set(id, `not loaded: ${(err as Error).message}`);
      log.error({ err: (err as Error).message }, 'shadow candidate not loaded; the model runs without one');
      return;
    }
    const problems = this.components.fit.problems(id, candidate, 'shadow');
    if (problems.length > 0) {
      this.shadowProblems.set(id, `refused: ${problems.join('; ')}`);
      log.error({ reason: problems.join('; ') }, 'shadow candidate refused');
      await candidate.close();
      return;
    }
    this.shadowProblems.delete(id);
    slot.setShadow(candidate);
    log.info({ version: candidate.manifest.version, sha256: candidate.sha256 }, 'shadow candidate running');
  }

  private async watch(id: string, file: string, onChange: () => Promise<void>): Promise<void> {
    const log = this.log.child({ model: id, manifest: file });
    const w = await watchManifest(
      file,
      () => {
        if (!this.closed) void onChange();
      },
      (message) => log.warn(message),
      this.components.watch ?? {},
    );
    this.watches.push(w);
  }

  /** Runs swap work for one model after the work already queued for it. */
  private enqueue(id: string, work: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(id) ?? Promise.resolve()).then(async () => {
      if (this.closed) return;
      try {
        await work();
      } catch (err) {
        this.log.error({ model: id, err: (err as Error).message }, 'model swap failed');
      }
    });
    this.queues.set(id, next);
    return next;
  }

  private get log(): Logger {
    return this.components.logger;
  }
}

/** The version and digest a manifest names, as far as it can be read ('?' where not). */
async function describeManifest(file: string): Promise<ModelIdentity> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 80) : '?');
    return { version: text(json.version), sha256: text(json.sha256) };
  } catch {
    return { version: '?', sha256: '?' };
  }
}
