import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchModelFromPeer, ModelFetchError } from '../../../agent/mesh/model-fetch.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { issueMeshToken } from '../../../protocol/mesh-token.js';
import { startTestNode, type TestNode } from './mesh-node.js';

const requester = identityFromSeed(new Uint8Array(32).fill(21));
const stranger = identityFromSeed(new Uint8Array(32).fill(22));
const modelBytes = Buffer.from('not really onnx, but bytes with a digest '.repeat(5000));
const digest = createHash('sha256').update(modelBytes).digest('hex');
const liar = createHash('sha256').update('another model').digest('hex');
let dir: string;
let server: TestNode;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fm-model-fetch-'));
  await writeFile(path.join(dir, 'model.onnx'), modelBytes);
  server = await startTestNode(20, { trustedNodes: [requester.peerId] }, (sha) =>
    sha === digest || sha === liar ? path.join(dir, 'model.onnx') : null,
  );
});

afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const opts = () => ({ identity: requester, timeoutMs: 5000, maxBytes: 10_000_000 });
const peer = () => ({ peerId: server.identity.peerId, apiUrl: server.api.url });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ModelFetchError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'fetched';
}

describe('fetching a model from a peer', () => {
  it('downloads, checks the digest and renames into place', async () => {
    const dest = path.join(dir, 'copy.onnx');
    const { bytes } = await fetchModelFromPeer(peer(), digest, dest, opts());
    expect(bytes).toBe(modelBytes.length);
    expect(await readFile(dest)).toEqual(modelBytes);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('reports its progress: increasing bytes, the declared size, ending at the model size', async () => {
    const seen: [number, number | null][] = [];
    const dest = path.join(dir, 'progress.onnx');
    await fetchModelFromPeer(peer(), digest, dest, {
      ...opts(),
      onProgress: (done, total) => seen.push([done, total]),
    });
    expect(seen.length).toBeGreaterThanOrEqual(2); // the first chunk, then the end
    const done = seen.map(([d]) => d);
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThanOrEqual(done[i - 1] as number);
    expect(done[0]).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual([modelBytes.length, modelBytes.length]);
    expect(seen.every(([, total]) => total === modelBytes.length)).toBe(true);
  });

  it('discards a download whose bytes do not hash to the asked digest, naming both and the peer', async () => {
    const dest = path.join(dir, 'liar.onnx');
    const result = await codeOf(fetchModelFromPeer(peer(), liar, dest, opts()));
    expect(result).toContain('MODEL_FETCH_DIGEST_MISMATCH');
    expect(result).toContain(liar);
    expect(result).toContain(digest);
    expect(result).toContain(server.identity.peerId);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('is refused to a node that is not trusted (403) and for an unknown model (404)', async () => {
    const dest = path.join(dir, 'refused.onnx');
    const untrusted = await codeOf(
      fetchModelFromPeer(peer(), digest, dest, { ...opts(), identity: stranger }),
    );
    expect(untrusted).toMatch(/MODEL_FETCH_REFUSED.*403 MESH_PEER_UNTRUSTED/);
    const unknown = await codeOf(fetchModelFromPeer(peer(), 'ab'.repeat(32), dest, opts()));
    expect(unknown).toMatch(/404 MESH_MODEL_NOT_FOUND/);
    expect(await codeOf(fetchModelFromPeer(peer(), digest, dest, { ...opts(), maxBytes: 1000 }))).toContain(
      'MODEL_FETCH_TOO_LARGE',
    );
    expect(existsSync(dest)).toBe(false);
  });

  it('answers 401 with a JSON body saying what to do, without or with a misused token', async () => {
    const url = `${server.api.url}/v1/models/${digest}`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({
      code: 'MESH_TOKEN_MISSING',
      error: expect.stringContaining('Authorization'),
    });
    const otherPath = issueMeshToken(requester, {
      audience: server.identity.peerId,
      scope: `/v1/models/${liar}`,
      nowMs: Date.now(),
      lifetimeMs: 60_000,
    });
    const misused = await fetch(url, { headers: { authorization: `Fieldmesh ${otherPath}` } });
    expect(misused.status).toBe(401);
    expect(await misused.json()).toMatchObject({ code: 'MESH_TOKEN_INVALID' });
    const bad = await fetch(`${server.api.url}/v1/models/XYZ`);
    expect(bad.status).toBe(400);
    const nothing = await fetch(`${server.api.url}/nothing`);
    expect(await nothing.json()).toMatchObject({ code: 'MESH_API_NOT_FOUND' });
  });
});
