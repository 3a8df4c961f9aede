import { createHash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FieldmeshError } from '../../protocol/errors.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import { issueMeshToken } from '../../protocol/mesh-token.js';
import { MODEL_PATH_PREFIX } from './api-server.js';
import type { MeshPeer } from './peer.js';

export type ModelFetchErrorCode =
  | 'MODEL_FETCH_FAILED'
  | 'MODEL_FETCH_REFUSED'
  | 'MODEL_FETCH_TOO_LARGE'
  | 'MODEL_FETCH_DIGEST_MISMATCH';

export class ModelFetchError extends FieldmeshError {
  constructor(code: ModelFetchErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface ModelFetchOptions {
  readonly identity: NodeIdentity;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /**
   * Bytes received so far and the size the peer declared (null without a content-length):
   * after the first chunk, at most every PROGRESS_EVERY_MS, and once at the end.
   */
  readonly onProgress?: (bytesDone: number, bytesTotal: number | null) => void;
}

/** A Pi on Wi-Fi reads a chunk every few ms; a progress bar needs a few updates a second. */
export const PROGRESS_EVERY_MS = 250;

const TOKEN_LIFETIME_MS = 60_000;

/**
 * Downloads the model with `sha256` (hex) from `peer`'s mesh API into `destFile`. The bytes go
 * to `destFile.part`, are hashed while they stream, synced, and renamed into place only when
 * the digest matches, so `destFile` is either absent or the whole, right model.
 */
export async function fetchModelFromPeer(
  peer: Pick<MeshPeer, 'peerId' | 'apiUrl'>,
  sha256: string,
  destFile: string,
  options: ModelFetchOptions,
): Promise<{ bytes: number }> {
  const digest = sha256.toLowerCase();
  const scope = `${MODEL_PATH_PREFIX}${digest}`;
  const where = `model ${digest} from ${peer.peerId} (${peer.apiUrl})`;
  const token = issueMeshToken(options.identity, {
    audience: peer.peerId,
    scope,
    nowMs: Date.now(),
    lifetimeMs: TOKEN_LIFETIME_MS,
  });
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await fetch(`${peer.apiUrl}${scope}`, {
      headers: { authorization: `Fieldmesh ${token}` },
      signal,
    });
  } catch (err) {
    throw failed(where, err);
  }
  if (response.status !== 200) throw await refused(where, response);
  const length = response.headers.get('content-length');
  const declared = Number(length ?? '0');
  if (declared > options.maxBytes) {
    await response.body?.cancel();
    throw tooLarge(where, options.maxBytes);
  }
  const part = `${destFile}.part`;
  try {
    const size = length === null || !Number.isFinite(declared) ? null : declared;
    const progress = throttled(size, options.onProgress);
    const bytes = await streamToFile(response, part, { digest, where, maxBytes: options.maxBytes, progress });
    await rename(part, destFile);
    await syncDir(path.dirname(destFile));
    return { bytes };
  } catch (err) {
    await rm(part, { force: true });
    if (err instanceof ModelFetchError) throw err;
    throw failed(where, err);
  }
}

/** Reports the first chunk at once (a bar appears), then at most every PROGRESS_EVERY_MS. */
function throttled(
  size: number | null,
  onProgress: ModelFetchOptions['onProgress'],
): (bytes: number, last: boolean) => void {
  if (onProgress === undefined) return () => {};
  let lastAt = Number.NEGATIVE_INFINITY;
  return (bytes, last) => {
    const t = Date.now();
    if (!last && t - lastAt < PROGRESS_EVERY_MS) return;
    lastAt = t;
    onProgress(bytes, size);
  };
}

async function streamToFile(
  response: Response,
  part: string,
  to: {
    digest: string;
    where: string;
    maxBytes: number;
    progress: (bytes: number, last: boolean) => void;
  },
): Promise<number> {
  const { digest, where, maxBytes } = to;
  const hash = createHash('sha256');
  let total = 0;
  let handle: FileHandle | undefined;
  try {
    handle = await open(part, 'w', 0o644);
    if (response.body !== null) {
      for await (const chunk of response.body) {
        total += chunk.length;
        if (total > maxBytes) throw tooLarge(where, maxBytes);
        hash.update(chunk);
        await handle.write(chunk);
        to.progress(total, false);
      }
    }
    await handle.sync();
    to.progress(total, true);
  } finally {
    await handle?.close();
  }
  const actual = hash.digest('hex');
  if (actual !== digest) {
    throw new ModelFetchError(
      'MODEL_FETCH_DIGEST_MISMATCH',
      `${where}: the bytes received hash to sha256 ${actual}, not the expected ${digest}; the peer serves a damaged or different file — the download was discarded, fetch it from another peer`,
    );
  }
  return total;
}

// A rename is durable only once the directory entry is; not every file system allows it.
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  try {
    await handle?.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is already synced.
  } finally {
    await handle?.close();
  }
}

function tooLarge(where: string, maxBytes: number): ModelFetchError {
  return new ModelFetchError(
    'MODEL_FETCH_TOO_LARGE',
    `${where}: the model is larger than the ${maxBytes}-byte limit; raise the limit if the model is expected to be this large`,
  );
}

function failed(where: string, err: unknown): ModelFetchError {
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const why = (err as Error).name === 'TimeoutError' ? 'timed out' : (cause ?? (err as Error).message);
  return new ModelFetchError(
    'MODEL_FETCH_FAILED',
    `${where}: ${why}; check that the peer is up and reachable, or fetch from another peer`,
    { cause: err },
  );
}

async function refused(where: string, response: Response): Promise<ModelFetchError> {
  let detail = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown; code?: unknown };
    if (typeof body.error === 'string') detail += ` ${String(body.code)}: ${body.error}`;
  } catch {
    // Not our JSON error body; the status says enough.
  }
  return new ModelFetchError('MODEL_FETCH_REFUSED', `${where}: the peer refused: ${detail}`);
}
