/**
 * The footprint suite's baseline: a bare Node process that loads onnxruntime-node and the
 * agent's model with the agent's session options, warms it up as the agent does, says `ready`,
 * and idles. On SIGUSR2 it starts running the model at the agent's window rate (fresh
 * normalised windows, one call at a time on the main thread, as the agent's `worker: auto` runs
 * a model this fast), so under load both sides do the same inference work. SIGTERM ends it.
 *
 * Usage: node bare.js <model.onnx> <window size> <windows per s> <mean> <std>
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';

const [modelPath = '', sizeText = '32', rateText = '0', meanText = '0', stdText = '1'] =
  process.argv.slice(2);
const size = Number(sizeText);
const rate = Number(rateText);
const mean = Number(meanText);
const std = Number(stdText);
const TICK_MS = 2;
/** The agent's `warmupRuns` default; `worker: auto` makes it at least 3. */
const WARMUP_RUNS = 3;

// The options agent/infer/model-runtime.ts gives every native session (threads: 1, arena on).
const session = await ort.InferenceSession.create(await readFile(modelPath), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  enableCpuMemArena: true,
  graphOptimizationLevel: 'all',
});
const inputName = session.inputNames[0] as string;

async function runWindow(n: number): Promise<number> {
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = (Math.sin((n + i) / 5) - mean) / std;
  const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [1, size]) });
  const first = Object.values(out)[0];
  return (first?.data as Float32Array | undefined)?.[0] ?? Number.NaN;
}

for (let i = 0; i < WARMUP_RUNS; i++) await runWindow(i);
process.stdout.write('ready\n');

let loaded = false;
async function load(): Promise<void> {
  const started = performance.now();
  let done = 0;
  let next = started;
  for (;;) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; done < due; done++) await runWindow(done);
    next += TICK_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
}

process.on('SIGUSR2', () => {
  if (loaded || rate <= 0) return;
  loaded = true;
  void load();
});
process.on('SIGTERM', () => process.exit(0));
// Idle: keep the event loop alive without work, as an agent waiting for readings does.
setInterval(() => undefined, 60_000);
