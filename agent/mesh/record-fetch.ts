import { FieldmeshError } from '../../protocol/errors.js';
import {
  decodeSignedNodeRecord,
  MAX_SIGNED_NODE_RECORD_BYTES,
  type NodeRecordFields,
  verifyNodeRecord,
} from '../../protocol/node-record.js';
import type { MeshPeer } from './peer.js';

/** A peer's record could not be fetched (network, HTTP status, oversized body). */
export class RecordFetchError extends FieldmeshError {
  constructor(apiUrl: string, why: string, cause?: unknown) {
    super(
      'MESH_RECORD_UNREACHABLE',
      `cannot fetch the node record from ${apiUrl}/v1/node: ${why}; check that the peer's agent runs and its mesh API port is reachable`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** Reads at most `maxBytes` of a response body; throws RecordFetchError beyond that. */
export async function readLimited(response: Response, maxBytes: number, where: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new RecordFetchError(where, `the body is ${declared} bytes, more than ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new RecordFetchError(where, `the body is more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  // A plain Uint8Array: the decoder slices it, and Buffer slices would leak into records.
  return new Uint8Array(Buffer.concat(chunks));
}

/** GETs `<apiUrl>/v1/node` and returns the wire bytes; throws RecordFetchError. */
export async function fetchRecordBytes(apiUrl: string, timeoutMs: number): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(`${apiUrl}/v1/node`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : errText(err);
    throw new RecordFetchError(apiUrl, why, err);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new RecordFetchError(apiUrl, `HTTP ${response.status}`);
  }
  try {
    return await readLimited(response, MAX_SIGNED_NODE_RECORD_BYTES, apiUrl);
  } catch (err) {
    if (err instanceof RecordFetchError) throw err;
    throw new RecordFetchError(apiUrl, errText(err), err);
  }
}

function errText(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as Error).message;
}

/**
 * Decodes and verifies a fetched record against the announced PeerId; throws NodeRecordError.
 * Pure: the caller supplies both clocks' worth of context.
 */
export function peerFromRecord(
  bytes: Uint8Array,
  check: { peerId: string; nowMs: number; maxSkewMs: number },
): MeshPeer {
  const fields = verifyNodeRecord(decodeSignedNodeRecord(bytes), check);
  return toMeshPeer(check.peerId, fields, check.nowMs);
}

export function toMeshPeer(peerId: string, f: NodeRecordFields, verifiedAtMs: number): MeshPeer {
  return {
    peerId,
    publicKey: f.publicKey,
    name: f.name,
    version: f.softwareVersion,
    apiUrl: f.apiUrl,
    brokerUrl: f.brokerUrl === '' ? null : f.brokerUrl,
    brokerPriority: f.brokerPriority,
    models: f.models.map((m) => ({
      id: m.id,
      version: m.version,
      sha256: Buffer.from(m.sha256).toString('hex'),
      computeUs: m.computeUs,
    })),
    offloadSlots: f.offloadSlots,
    loadPermille: f.loadPermille,
    issuedAtMs: f.issuedAtMs,
    verifiedAtMs,
  };
}

/** True when two verified views of a peer differ in anything but their timestamps. */
export function peerChanged(a: MeshPeer, b: MeshPeer): boolean {
  const strip = (p: MeshPeer) =>
    JSON.stringify({ ...p, publicKey: undefined, issuedAtMs: undefined, verifiedAtMs: undefined });
  return strip(a) !== strip(b);
}
