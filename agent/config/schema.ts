import { z } from 'zod';
import { publicKeyFromPeerId } from '../../protocol/identity.js';
import { DEFAULT_MAX_RECEIPTS } from '../../protocol/submission.js';
import { apiSection } from './api-schema.js';
import { bridgeSection } from './bridge-schema.js';
import { brokerSection, peerId } from './broker-schema.js';
import { homeAssistantSection } from './ha-schema.js';
import { batchSection, calibrationSection, shadowSection, swapSection } from './inference-schema.js';
import { meshSection } from './mesh-schema.js';
import { mqttSection } from './mqtt-schema.js';

/**
 * The one configuration schema. Every field carries a description: the README's config
 * reference is generated from it (`npm run docs:config`), and a test keeps the two in step.
 */

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const id = (what: string) =>
  z
    .string()
    .regex(
      ID,
      `a ${what} id: lower-case letters, digits, '-' or '_', starting with a letter or digit, ≤ 64 chars`,
    );

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const nodeSection = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Human name of this node; defaults to the host name.'),
    dataDir: z
      .string()
      .min(1)
      .default('./data')
      .describe(
        'Where the node key and local state live (relative to the config file). Env: FIELDMESH_DATA_DIR.',
      ),
  })
  .describe('This node.');

const logSection = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Log level. Env: FIELDMESH_LOG_LEVEL.'),
    format: z
      .enum(['json', 'pretty'])
      .default('json')
      .describe('json for log collectors; pretty for a terminal.'),
    levels: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a component name such as mqtt or pipeline'),
        z.enum(LOG_LEVELS),
      )
      .default({})
      .describe('Level per component (mqtt, pipeline, bridge, …), overriding level for that component.'),
  })
  .describe('Logging.');

const modelEntry = z.strictObject({
  id: id('model').describe('Name pipelines use to refer to this model.'),
  manifest: z
    .string()
    .min(1)
    .describe('Path of the model manifest (JSON beside the .onnx), relative to the config.'),
  threads: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe('onnxruntime intra-op threads for this model.'),
  memoryArena: z
    .boolean()
    .default(true)
    .describe('Let onnxruntime keep a CPU memory arena (faster, more RSS).'),
  warmupRuns: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(3)
    .describe('Inference runs on zeros before the model counts as ready.'),
  worker: z
    .union([z.literal('auto'), z.boolean()])
    .default('auto')
    .describe(
      "Where this model's onnxruntime session runs. true: its own worker thread, so a model call never holds up MQTT, receipts or the mesh (costs a thread's memory and a message round trip per call). false: the agent's main thread. auto: a worker thread when one warm call takes 1 ms or more, else the main thread.",
    ),
  backend: z
    .enum(['auto', 'native', 'wasm'])
    .default('auto')
    .describe(
      'Which onnxruntime build runs this model. auto: the native build where this platform has one, else WebAssembly (armv7 has none). native: the native build only; the agent refuses to start where it cannot load. wasm: onnxruntime-web (WebAssembly): single-threaded and always on the main thread (worker and threads do not apply), slower than native on heavy models and slower to load the first model; outputs match native within 1e-4 relative (tested on every example model). See docs/model-backends.md.',
    ),
  swap: swapSection,
  shadow: shadowSection,
});

const sensorFrom = z.discriminatedUnion('from', [
  z.strictObject({ from: z.literal('topic') }),
  z.strictObject({ from: z.literal('level'), level: z.number().int() }),
  z.strictObject({ from: z.literal('field'), field: z.string().min(1) }),
]);

/** A Sparkplug group, edge node or device id: no '/', '+' or '#' (Sparkplug 3.0 §4.1). */
const sparkplugId = (what: string) =>
  z.string().regex(/^[^/+#\s]{1,64}$/, `a Sparkplug ${what} id: 1-64 characters, no '/', '+', '#' or spaces`);

const sparkplugInput = z
  .strictObject({
    metrics: z
      .array(z.string().min(1))
      .min(1)
      .describe('Names of the metrics to read (as in the births); each is one sensor per device.'),
    rebirth: z
      .boolean()
      .default(true)
      .describe('Send NCMD Node Control/Rebirth on a sequence gap, unknown alias or data before a birth.'),
    rebirthIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5000)
      .describe('Least time between two rebirth requests to one edge node.'),
  })
  .optional()
  .describe(
    'With format sparkplug: which metrics to read. Sensor id = <group>/<edge node>/<device>/<metric>.',
  );

const sparkplugOutput = z
  .strictObject({
    group: sparkplugId('group').describe('Sparkplug group id of the results.'),
    edgeNode: sparkplugId('edge node').describe('Edge node id; unique per pipeline on the broker.'),
    device: sparkplugId('device').optional().describe('Device id of the results; the pipeline id if absent.'),
  })
  .optional()
  .describe('Also publish results as Sparkplug B (NBIRTH, DBIRTH, DDATA) for SCADA hosts.');

const pipelineEntry = z.strictObject({
  id: id('pipeline').describe('Pipeline id; appears in result topics, metrics and receipts.'),
  enabled: z.boolean().default(true).describe('Set false to keep a pipeline in the file but not run it.'),
  model: id('model').describe('Id of an entry in models.'),
  input: z
    .strictObject({
      topic: z.string().min(1).describe('MQTT topic filter of the sensors, e.g. plant/+/vibration.'),
      qos: z
        .union([z.literal(0), z.literal(1)])
        .default(0)
        .describe('Subscription QoS.'),
      format: z
        .enum(['json', 'number', 'cbor', 'sparkplug'])
        .default('json')
        .describe('Payload format; sparkplug = Sparkplug B, see docs/sparkplug.md.'),
      field: z
        .string()
        .min(1)
        .optional()
        .describe('Path of the value in a JSON/CBOR payload, e.g. data.accel[0].'),
      timestampField: z
        .string()
        .min(1)
        .optional()
        .describe('Path of a timestamp (ms, s or ISO-8601); arrival time if absent.'),
      length: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe('Expected number of samples per payload, if fixed.'),
      maxBytes: z.number().int().min(16).default(65_536).describe('Larger payloads are rejected.'),
      sensor: sensorFrom
        .default({ from: 'topic' })
        .describe('Where the sensor id comes from: the whole topic, one topic level, or a payload field.'),
      sensors: z.array(z.string().min(1)).optional().describe('If set, only these sensor ids are accepted.'),
      sparkplug: sparkplugInput,
    })
    .describe('Where readings come from.'),
  window: z
    .strictObject({
      size: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .optional()
        .describe("Samples per window; the model's if absent."),
      stride: z.number().int().min(1).default(1).describe('New samples between two windows.'),
      maxGapMs: z.number().int().min(1).default(10_000).describe('A longer silence restarts the window.'),
      staleMs: z.number().int().min(1).default(600_000).describe('A sensor silent this long is forgotten.'),
      maxSensors: z
        .number()
        .int()
        .min(1)
        .default(10_000)
        .describe('Bound on sensors tracked by this pipeline.'),
    })
    .prefault({})
    .describe('Sliding windows, one per sensor.'),
  normalise: z
    .strictObject({
      mean: z.number().describe('Subtracted from every sample.'),
      std: z.number().positive().describe('Divides every centred sample.'),
    })
    .optional()
    .describe("Override the manifest's normalisation (x - mean) / std."),
  threshold: z.number().optional().describe("Override the manifest's anomaly threshold."),
  calibration: calibrationSection,
  placement: z
    .enum(['local', 'peer', 'auto'])
    .default('local')
    .describe(
      'Where windows run: local; peer (a mesh peer with the model, local as fallback); auto (peers when this node lacks the model, is busy, or a peer is clearly faster).',
    ),
  maxLocalQueue: z
    .number()
    .int()
    .min(0)
    .default(2)
    .describe('With placement auto: windows waiting for the local model beyond which new ones go to peers.'),
  batch: batchSection,
  results: z
    .strictObject({
      topic: z
        .string()
        .min(1)
        .optional()
        .describe('Result topic; <topicRoot>pipelines/<id>/results if absent.'),
      qos: z
        .union([z.literal(0), z.literal(1)])
        .default(1)
        .describe('QoS of result messages.'),
      includeOutputs: z.boolean().default(false).describe('Also publish the raw model outputs.'),
      sparkplug: sparkplugOutput,
    })
    .prefault({})
    .describe('Where results go.'),
  homeAssistant: homeAssistantSection,
});

const MIB = 1024 * 1024;
/** Smallest usable submission: the batch envelope (agent/receipts/batch-policy.ts) plus a byte. */
const MIN_SUBMISSION_BYTES = 193;

/** The 32-byte service key from a PeerId (12D3KooW…) or 64 hex digits; undefined if neither. */
export function servicePublicKeyBytes(text: string): Uint8Array | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  try {
    return publicKeyFromPeerId(text);
  } catch {
    return undefined;
  }
}

const settlementSection = z
  .strictObject({
    url: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'an http:// or https:// URL such as http://127.0.0.1:8710')
      .describe(
        'Base URL of the settlement service, e.g. http://127.0.0.1:8710; batches go to <url>/v1/batches. Env: FIELDMESH_SETTLEMENT_URL.',
      ),
    servicePublicKey: z
      .string()
      .refine((v) => servicePublicKeyBytes(v) !== undefined, {
        message: "the service's Ed25519 PeerId (12D3KooW…) or its public key as 64 hex digits",
      })
      .describe(
        "The settlement service's identity (PeerId 12D3KooW… or 64 hex); acknowledgements must verify under it.",
      ),
    batch: z
      .strictObject({
        maxReceipts: z
          .number()
          .int()
          .min(1)
          .max(DEFAULT_MAX_RECEIPTS)
          .default(500)
          .describe('Most receipts in one batch; a full batch is sent at once.'),
        maxAgeMs: z
          .number()
          .int()
          .min(0)
          .default(10_000)
          .describe('A batch is sent, however small, once its oldest receipt has waited this long.'),
        maxBytes: z
          .number()
          .int()
          .min(MIN_SUBMISSION_BYTES)
          .default(MIB)
          .describe('Upper bound on one encoded batch, bytes.'),
      })
      .prefault({})
      .describe('When receipts are cut into a signed batch.'),
    outbox: z
      .strictObject({
        maxBytes: z
          .number()
          .int()
          .min(1)
          .default(256 * MIB)
          .describe(
            'Disk budget of unacknowledged receipts (<dataDir>/receipts); past it new receipts are refused, counted and logged.',
          ),
      })
      .prefault({})
      .describe('The durable receipt outbox.'),
    retention: z
      .strictObject({
        maxAgeMs: z
          .number()
          .int()
          .min(1)
          .default(3_600_000)
          .describe(
            "How long job tensors are kept for spot checks; set it past the service's challenge deadline.",
          ),
        maxBytes: z
          .number()
          .int()
          .min(1)
          .default(128 * MIB)
          .describe('Disk budget of kept tensors (<dataDir>/reveals); the oldest go first.'),
      })
      .prefault({})
      .describe('Input and output tensors kept so that a challenged receipt can be revealed.'),
    requestTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('One request to the service is abandoned (and retried) after this long.'),
    backoff: z
      .strictObject({
        minMs: z.number().int().min(1).default(1_000).describe('First retry delay (before jitter).'),
        maxMs: z.number().int().min(1).default(60_000).describe('Longest retry delay.'),
      })
      .prefault({})
      .describe('Retry backoff while the service is unreachable: exponential with full jitter.'),
    challengePollMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe('How often the service is asked for spot-check challenges.'),
    creditsPollMs: z
      .number()
      .int()
      .min(100)
      .default(15_000)
      .describe(
        'How often the service is asked what it has credited this node (shown by the operator API, metrics and dashboard).',
      ),
  })
  .optional()
  .describe(
    'Contribution receipts: one per inference job, batched, signed and sent to the settlement service. Receipts are off when this section is absent.',
  );

export const configSchema = z.strictObject({
  node: nodeSection.prefault({}),
  log: logSection.prefault({}),
  mqtt: mqttSection.prefault({}),
  broker: brokerSection.prefault({}),
  bridge: bridgeSection,
  models: z.array(modelEntry).default([]).describe('ONNX models this node can run.'),
  modelPublishers: z
    .union([z.literal('any'), z.array(peerId).min(1)])
    .default('any')
    .describe(
      'Publishers whose signed models this node runs (their key ids, 12D3KooW…); "any" also runs unsigned models. A manifest whose signature does not verify is refused either way.',
    ),
  pipelines: z.array(pipelineEntry).default([]).describe('Sensor topics bound to models.'),
  settlement: settlementSection,
  mesh: meshSection,
  api: apiSection,
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type PipelineConfig = Config['pipelines'][number];
export type ModelConfig = Config['models'][number];
export type SensorSource = PipelineConfig['input']['sensor'];
export type SettlementConfig = NonNullable<Config['settlement']>;
export const LOG_LEVEL_NAMES = LOG_LEVELS;
