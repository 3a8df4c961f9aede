/**
 * The floor of the e2e suite: the shortest script that does the agent's job with mqtt.js and
 * onnxruntime-node and nothing else — subscribe, keep the last 32 readings per sensor, every
 * 4th reading normalise and run the model, publish the score. No validation, no counters,
 * no error reports: what it costs to do the job at all.
 *
 * Usage: node floor.js <broker url> <model.onnx> <mean> <std> <sensor filter> <result topic>
 */
import mqtt from 'mqtt';
import * as ort from 'onnxruntime-node';

const [url = '', modelPath = '', meanText = '0', stdText = '1', filter = '', resultTopic = ''] =
  process.argv.slice(2);
const mean = Number(meanText);
const std = Number(stdText);
const SIZE = 32;
const STRIDE = 4;

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const inputName = session.inputNames[0] as string;
const client = await mqtt.connectAsync(url, { clientId: `bench-floor-${process.pid}`, clean: true });
(client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);

const windows = new Map<string, { values: number[]; seen: number }>();
client.on('message', (topic, payload) => {
  const { value, ts } = JSON.parse(payload.toString()) as { value: number; ts: number };
  let w = windows.get(topic);
  if (!w) {
    w = { values: [], seen: 0 };
    windows.set(topic, w);
  }
  w.values.push(value);
  if (w.values.length > SIZE) w.values.shift();
  w.seen++;
  if (w.values.length < SIZE || (w.seen - SIZE) % STRIDE !== 0) return;
  const x = Float32Array.from(w.values, (v) => (v - mean) / std);
  session
    .run({ [inputName]: new ort.Tensor('float32', x, [1, SIZE]) })
    .then((out) => {
      const score = (out.score?.data as Float32Array | undefined)?.[0];
      client.publish(resultTopic, JSON.stringify({ sensor: topic, window: { end: ts }, score }), { qos: 1 });
    })
    .catch((err: Error) => process.stderr.write(`${err.message}\n`));
});
await client.subscribeAsync(filter, { qos: 0 });
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  client.end(false, {}, () => process.exit(0));
});
