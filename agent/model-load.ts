import { readManifest } from '../models/manifest.js';
import { checkPublisherPolicy } from '../models/publisher.js';
import type { NodeIdentity } from '../protocol/identity.js';
import type { ActivityTracker } from './activity.js';
import type { Config, ModelConfig } from './config/schema.js';
import type { ModelRuntime } from './infer/model-runtime.js';
import type { Logger } from './log.js';
import type { MeshNode } from './mesh/mesh-node.js';
import { loadModelOrFetch } from './mesh/model-on-demand.js';

/** The started mesh and this node's key: what fetching a model from a peer needs. */
export interface MeshContext {
  readonly node: MeshNode;
  readonly identity: NodeIdentity;
}

export interface ModelLoadParts {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  /** Where a fetch from a peer shows as a `model-fetch` activity. */
  readonly activities: ActivityTracker;
  /** Null with the mesh off, or before it started. */
  mesh(): MeshContext | null;
}

/** Peers need a moment to be found and to load their own models after a site-wide start. */
export function peerWaitMs(config: Readonly<Config>): number {
  return Math.max(2 * config.mesh.electionWaitMs, 5_000);
}

/**
 * The models to load at start: those the enabled pipelines use, or every configured one on a
 * node that serves peers (peers may send windows for any of them).
 */
export function modelsToLoad(config: Readonly<Config>): ModelConfig[] {
  const wanted = new Set(config.pipelines.filter((p) => p.enabled).map((p) => p.model));
  const serving = config.mesh.enabled && config.mesh.offload.slots > 0;
  return config.models.filter((m) => serving || wanted.has(m.id));
}

/**
 * Loads one model once its publisher passes `modelPublishers` (checked on the manifest, before
 * any bytes are fetched or run); with the mesh on, a missing .onnx is fetched from a peer first.
 */
export async function loadModel(cfg: ModelConfig, parts: ModelLoadParts): Promise<ModelRuntime> {
  const { publisher } = await readManifest(cfg.manifest); // a forged signature throws here
  checkPublisherPolicy(publisher, parts.config.modelPublishers, cfg.id, cfg.manifest);
  if (publisher.state === 'signed') {
    parts.logger.info(
      { model: cfg.id, publisher: publisher.id, name: publisher.name },
      'model publisher verified',
    );
  }
  return loadModelOrFetch(cfg, {
    logger: parts.logger,
    mesh: parts.mesh(),
    waitMs: peerWaitMs(parts.config),
    activities: parts.activities,
  });
}
