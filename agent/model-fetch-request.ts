import { existsSync } from 'node:fs';
import { readManifest } from '../models/manifest.js';
import type { ActionAnswer, ActivityTracker } from './activity.js';
import type { Config, ModelConfig } from './config/schema.js';
import type { Logger } from './log.js';
import { fetchMissingModel, modelFetchLabel } from './mesh/model-on-demand.js';
import type { MeshContext } from './model-load.js';

export interface ModelFetchRequestParts {
  readonly models: readonly ModelConfig[];
  readonly activities: ActivityTracker;
  readonly mesh: MeshContext | null;
  readonly logger: Logger;
  /** How long to wait for a peer that runs the model. */
  readonly waitMs: number;
  loaded(id: string): boolean;
  /** Loads the model once its file is in place and starts what waited for it. */
  fetched(cfg: ModelConfig): Promise<void>;
}

/**
 * `POST /v1/models/<id>/fetch`: fetches a configured model whose .onnx this node lacks from a
 * peer that runs it, now rather than at the next start. Answers at once with the activity to
 * watch; the download and the load go on in the background.
 */
export async function requestModelFetch(id: string, parts: ModelFetchRequestParts): Promise<ActionAnswer> {
  const cfg = parts.models.find((m) => m.id === id);
  if (cfg === undefined) {
    const known = parts.models.map((m) => m.id).join(', ') || 'none';
    return refuse(404, 'MODEL_UNKNOWN', `no model "${id}" in this agent's configuration; models: ${known}`);
  }
  const running = parts.activities.running('model-fetch', modelFetchLabel(id));
  if (running !== undefined) return { accepted: true, activity: running.id };
  if (parts.loaded(id))
    return refuse(409, 'MODEL_PRESENT', `model "${id}" is loaded already; nothing to fetch`);
  if (parts.mesh === null) {
    return refuse(
      409,
      'MESH_OFF',
      `the mesh is off (mesh.enabled: false), so there is no peer to fetch model "${id}" from; copy its .onnx beside ${cfg.manifest}`,
    );
  }
  const { modelPath } = await readManifest(cfg.manifest);
  if (existsSync(modelPath)) {
    return refuse(
      409,
      'MODEL_FILE_PRESENT',
      `model "${id}" has its file ${modelPath} already; it is not loaded because no enabled pipeline uses it or it failed to load (see /v1/status failures)`,
    );
  }
  const { mesh } = parts;
  const activity = parts.activities.begin('model-fetch', modelFetchLabel(id), { unit: 'bytes' });
  const log = parts.logger.child({ component: 'mesh', model: id });
  fetchMissingModel(cfg.manifest, {
    directory: mesh.node.directory,
    identity: mesh.identity,
    logger: parts.logger,
    waitMs: parts.waitMs,
    activity,
  })
    .then(async (ok) => {
      if (ok) await parts.fetched(cfg);
    })
    .catch((err: unknown) => {
      activity.fail((err as Error).message);
      log.error({ err }, 'model fetched on request did not load');
    });
  return { accepted: true, activity: activity.id };
}

/** The enabled pipelines of model `modelId` not running yet: they waited for it to arrive. */
export function waitingPipelines(
  config: Readonly<Config>,
  modelId: string,
  running: readonly { readonly id: string }[],
): Set<string> {
  const ids = config.pipelines
    .filter((p) => p.enabled && p.model === modelId && !running.some((q) => q.id === p.id))
    .map((p) => p.id);
  return new Set(ids);
}

function refuse(status: 404 | 409 | 503, code: string, reason: string): ActionAnswer {
  return { accepted: false, status, code, reason };
}
