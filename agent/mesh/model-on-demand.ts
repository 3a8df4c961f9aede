import { readManifest } from '../../models/manifest.js';
import { hasCode } from '../../protocol/errors.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import type { ActivityHandle, ActivityTracker } from '../activity.js';
import type { ModelConfig } from '../config/schema.js';
import { ModelRuntime } from '../infer/model-runtime.js';
import type { Logger } from '../log.js';
import type { MeshNode } from './mesh-node.js';
import { fetchModelFromPeer } from './model-fetch.js';
import type { MeshPeer, PeerDirectory } from './peer.js';

/** Largest model file fetched from a peer. */
const MAX_MODEL_BYTES = 512 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 120_000;

/**
 * A model whose manifest is here but whose .onnx file is not: fetch it by digest from a peer
 * that runs it (docs/mesh.md "Models on demand"). Waits up to `waitMs` for such a peer, tries
 * each one until a download verifies, and writes the file where the manifest says it is.
 * Resolves true when the file is in place; false (logged) when no peer could provide it.
 * With `activity`, the download's bytes show in /v1/status and the log as it goes.
 */
export async function fetchMissingModel(
  manifestPath: string,
  context: {
    directory: PeerDirectory;
    identity: NodeIdentity;
    logger: Logger;
    waitMs: number;
    activity?: ActivityHandle;
  },
): Promise<boolean> {
  const { activity } = context;
  const { manifest, modelPath } = await readManifest(manifestPath);
  const sha = manifest.sha256.toLowerCase();
  const log = context.logger.child({ component: 'mesh', model: manifest.id, sha256: sha });
  const holders = (): MeshPeer[] =>
    context.directory.peers().filter((p) => p.models.some((m) => m.sha256.toLowerCase() === sha));
  const deadline = Date.now() + context.waitMs;
  while (holders().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const tried: string[] = [];
  for (const peer of holders()) {
    try {
      const { bytes } = await fetchModelFromPeer(peer, sha, modelPath, {
        identity: context.identity,
        timeoutMs: FETCH_TIMEOUT_MS,
        maxBytes: MAX_MODEL_BYTES,
        ...(activity
          ? { onProgress: (done: number, total: number | null) => activity.update(done, total) }
          : {}),
      });
      log.info({ peer: peer.peerId, bytes, file: modelPath }, 'model fetched from a peer');
      activity?.finish(`fetched ${bytes} bytes from ${peer.peerId}, sha256 ok`, bytes);
      return true;
    } catch (err) {
      tried.push(`${peer.peerId}: ${(err as Error).message}`);
    }
  }
  activity?.fail(
    tried.length === 0
      ? `no peer runs this model (waited ${context.waitMs} ms)`
      : `no peer could provide it: ${tried.join('; ')}`,
  );
  log.warn(
    { file: modelPath, tried },
    tried.length === 0
      ? `no peer runs this model (waited ${context.waitMs} ms); copy the .onnx beside the manifest`
      : 'no peer could provide this model; copy the .onnx beside the manifest',
  );
  return false;
}

/** Loads a model; when its .onnx file is missing and the mesh is on, fetches it from a peer first. */
export async function loadModelOrFetch(
  cfg: ModelConfig,
  context: {
    logger: Logger;
    mesh: { node: MeshNode; identity: NodeIdentity } | null;
    waitMs: number;
    activities?: ActivityTracker;
  },
): Promise<ModelRuntime> {
  const { logger, mesh } = context;
  try {
    return await ModelRuntime.load(cfg, { logger });
  } catch (err) {
    if (!hasCode(err, 'MODEL_FILE_MISSING') || mesh === null) throw err;
    // One fetch of a model at a time: an operator's request may already be running.
    const activity = context.activities?.begin('model-fetch', modelFetchLabel(cfg.id), { unit: 'bytes' });
    const fetch = {
      directory: mesh.node.directory,
      identity: mesh.identity,
      logger,
      waitMs: context.waitMs,
      ...(activity ? { activity } : {}),
    };
    if (!(await fetchMissingModel(cfg.manifest, fetch))) throw err;
    return ModelRuntime.load(cfg, { logger });
  }
}

/** The label of a model's fetch activity; the operator API finds a running fetch by it. */
export function modelFetchLabel(modelId: string): string {
  return `model ${modelId}`;
}
