import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseManifest } from '../../models/manifest.js';
import { GraphBuilder, type TensorValue } from '../../models/onnx/graph-builder.js';
import { createRng } from '../../models/prng.js';

/**
 * The mesh suite's heavy model, built at bench time: a dense autoencoder over windows of
 * WIDTH readings, WIDTH → HIDDEN, then `depth` HIDDEN → HIDDEN layers sharing one weight
 * matrix, then HIDDEN → WIDTH, tanh between. Sharing the square weights keeps the file small
 * (≈ 6 MiB) and in cache while each window still costs depth + 1 million multiply-adds, so
 * inference dominates what a node does per window. The batch dimension is fixed at 1: each
 * window is one call of known cost, on this node and on a peer alike (no batching effects).
 */
export const HEAVY_WIDTH = 256;
const HIDDEN = 1024;

export interface HeavyModel {
  readonly id: string;
  readonly manifestPath: string;
  readonly sha256: string;
  readonly bytes: number;
}

export async function buildHeavyModel(dir: string, depth: number): Promise<HeavyModel> {
  const id = 'bench-heavy-mlp';
  const bytes = heavyGraph(id, depth);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.onnx'), bytes);
  const manifest = {
    id,
    version: '1.0.0',
    description: `Bench-only dense autoencoder ${HEAVY_WIDTH}-${HIDDEN}×${depth + 1}-${HEAVY_WIDTH}, random weights.`,
    file: 'model.onnx',
    sha256,
    inputs: [{ name: 'window', type: 'float32', shape: [1, HEAVY_WIDTH] }],
    outputs: [
      { name: 'score', type: 'float32', shape: [1] },
      { name: 'reconstruction', type: 'float32', shape: [1, HEAVY_WIDTH] },
    ],
    preprocessing: { window: HEAVY_WIDTH, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'score', threshold: 1, labels: [] },
  };
  parseManifest(manifest, 'bench heavy model'); // the agent would refuse anything this refuses
  const manifestPath = path.join(dir, 'manifest.json');
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { id, manifestPath, sha256, bytes: bytes.length };
}

function heavyGraph(name: string, depth: number): Uint8Array {
  const rng = createRng(5);
  const weights = (rows: number, cols: number) => {
    const scale = 1 / Math.sqrt(rows);
    return Float32Array.from({ length: rows * cols }, () => rng.normal() * scale);
  };
  const g = new GraphBuilder(name);
  const x = g.input('window', 'float32', [1, HEAVY_WIDTH]);
  const dense = (h: TensorValue, w: TensorValue, b: TensorValue) => g.tanh(g.add(g.matmul(h, w), b));
  const wIn = g.initializer('in.weight', weights(HEAVY_WIDTH, HIDDEN), [HEAVY_WIDTH, HIDDEN]);
  const bIn = g.initializer('in.bias', new Float32Array(HIDDEN), [HIDDEN]);
  const wMid = g.initializer('mid.weight', weights(HIDDEN, HIDDEN), [HIDDEN, HIDDEN]);
  const bMid = g.initializer('mid.bias', new Float32Array(HIDDEN), [HIDDEN]);
  const wOut = g.initializer('out.weight', weights(HIDDEN, HEAVY_WIDTH), [HIDDEN, HEAVY_WIDTH]);
  const bOut = g.initializer('out.bias', new Float32Array(HEAVY_WIDTH), [HEAVY_WIDTH]);
  let h = dense(x, wIn, bIn);
  for (let i = 0; i < depth; i++) h = dense(h, wMid, bMid);
  const reconstruction = g.add(g.matmul(h, wOut), bOut, 'reconstruction');
  const score = g.reduceMean(g.square(g.sub(reconstruction, x)), [1], false, 'score');
  g.output(score, 'score', 'float32', [1]);
  g.output(reconstruction, 'reconstruction', 'float32', [1, HEAVY_WIDTH]);
  return g.toBytes();
}
