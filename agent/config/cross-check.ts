import { topicRootProblem } from '../../protocol/topics.js';
import { sensorSourceProblem, validateTopicFilter } from '../ingest/topic-filter.js';
import type { ConfigProblem } from './errors.js';

/**
 * Checks that span fields (unique ids, pipeline → model references, ordered bounds). They run
 * on the raw document, before and independent of the schema, so that a file with a type error
 * and a dangling reference reports both in one pass.
 */
export function crossReferenceProblems(raw: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const modelIds = new Set<string>();
  for (const [i, m] of entries(raw.models)) {
    const id = m.id;
    if (typeof id !== 'string') continue;
    if (modelIds.has(id))
      problems.push({ path: `models[${i}].id`, found: `"${id}" again`, expected: 'a unique model id' });
    modelIds.add(id);
  }
  const pipelineIds = new Set<string>();
  for (const [i, p] of entries(raw.pipelines)) {
    if (typeof p.id === 'string') {
      if (pipelineIds.has(p.id)) {
        problems.push({
          path: `pipelines[${i}].id`,
          found: `"${p.id}" again`,
          expected: 'a unique pipeline id',
        });
      }
      pipelineIds.add(p.id);
    }
    problems.push(...inputProblems(i, p.input), ...windowBudgetProblems(i, p.window));
    problems.push(...calibrationProblems(i, p));
    if (typeof p.model === 'string' && !modelIds.has(p.model)) {
      const known = [...modelIds].map((m) => `"${m}"`).join(', ') || 'none are defined';
      problems.push({
        path: `pipelines[${i}].model`,
        found: `"${p.model}", but there is no model "${p.model}" in models`,
        expected: `the id of an entry in models (${known})`,
      });
    }
  }
  const root = (raw.mqtt as { topicRoot?: unknown } | undefined)?.topicRoot;
  const rootProblem = typeof root === 'string' ? topicRootProblem(root) : null;
  if (rootProblem !== null) {
    problems.push({
      path: 'mqtt.topicRoot',
      found: JSON.stringify(root),
      expected: `a plain topic prefix (this one ${rootProblem})`,
    });
  }
  const reconnect = (raw.mqtt as { reconnect?: { minMs?: unknown; maxMs?: unknown } } | undefined)?.reconnect;
  if (
    typeof reconnect?.minMs === 'number' &&
    typeof reconnect.maxMs === 'number' &&
    reconnect.maxMs < reconnect.minMs
  ) {
    problems.push({
      path: 'mqtt.reconnect.maxMs',
      found: String(reconnect.maxMs),
      expected: 'a value ≥ mqtt.reconnect.minMs',
    });
  }
  problems.push(...mqttTlsProblems(raw.mqtt), ...settlementProblems(raw.settlement));
  problems.push(...meshProblems(raw));
  return problems;
}

/** Calibration learns normalise and threshold: an explicit value of either says otherwise. */
function calibrationProblems(i: number, p: Record<string, unknown>): ConfigProblem[] {
  const c = p.calibration;
  if (typeof c !== 'object' || c === null) return [];
  const { normalise, threshold } = c as { normalise?: unknown; threshold?: unknown };
  const problems: ConfigProblem[] = [];
  for (const [field, learns] of [
    ['normalise', normalise !== false],
    ['threshold', threshold !== false],
  ] as const) {
    if (!learns || p[field] === undefined) continue;
    problems.push({
      path: `pipelines[${i}].${field}`,
      found: `a fixed ${field}, while calibration learns it`,
      expected: `either no ${field} here, or calibration.${field}: false (keep the fixed one, learn the rest)`,
    });
  }
  if (normalise === false && threshold === false) {
    problems.push({
      path: `pipelines[${i}].calibration`,
      found: 'normalise: false and threshold: false, so nothing to learn',
      expected: 'calibration.normalise and/or calibration.threshold true, or no calibration section',
    });
  }
  return problems;
}

/** Choosing the broker with peers, or running windows on them, needs the mesh. */
function meshProblems(raw: Record<string, unknown>): ConfigProblem[] {
  const meshOn = (raw.mesh as { enabled?: unknown } | undefined)?.enabled === true;
  if (meshOn) return [];
  const problems: ConfigProblem[] = [];
  if ((raw.broker as { mode?: unknown } | undefined)?.mode === 'auto') {
    problems.push({
      path: 'broker.mode',
      found: 'auto, but mesh.enabled is not true',
      expected: 'mesh.enabled: true (auto picks the broker with the peers the mesh finds), or broker on/off',
    });
  }
  for (const [i, p] of entries(raw.pipelines)) {
    if (p.placement === 'peer' || p.placement === 'auto') {
      problems.push({
        path: `pipelines[${i}].placement`,
        found: `${String(p.placement)}, but mesh.enabled is not true`,
        expected: 'mesh.enabled: true (peers are found by the mesh), or placement: local',
      });
    }
  }
  return problems;
}

/** A client certificate needs its key and the key its certificate. */
function mqttTlsProblems(mqtt: unknown): ConfigProblem[] {
  const tls = (mqtt as { tls?: { cert?: unknown; key?: unknown } } | undefined)?.tls;
  if (typeof tls !== 'object' || tls === null) return [];
  const hasCert = typeof tls.cert === 'string';
  if (hasCert === (typeof tls.key === 'string')) return [];
  const [missing, present] = hasCert ? ['key', 'cert'] : ['cert', 'key'];
  return [
    {
      path: `mqtt.tls.${missing}`,
      found: `nothing, while mqtt.tls.${present} is set`,
      expected: `the ${missing === 'key' ? "client certificate's private key" : 'client certificate'} (PEM file): a client certificate needs both cert and key`,
    },
  ];
}

/** Ordered bounds of the settlement section: backoff, and an outbox that can hold one batch. */
function settlementProblems(settlement: unknown): ConfigProblem[] {
  if (typeof settlement !== 'object' || settlement === null) return [];
  const s = settlement as {
    backoff?: { minMs?: unknown; maxMs?: unknown };
    batch?: { maxBytes?: unknown };
    outbox?: { maxBytes?: unknown };
  };
  const problems: ConfigProblem[] = [];
  const { minMs, maxMs } = s.backoff ?? {};
  if (typeof minMs === 'number' && typeof maxMs === 'number' && maxMs < minMs) {
    problems.push({
      path: 'settlement.backoff.maxMs',
      found: String(maxMs),
      expected: 'a value ≥ settlement.backoff.minMs',
    });
  }
  const batchBytes = s.batch?.maxBytes;
  const outboxBytes = s.outbox?.maxBytes;
  if (typeof batchBytes === 'number' && typeof outboxBytes === 'number' && outboxBytes < batchBytes) {
    problems.push({
      path: 'settlement.outbox.maxBytes',
      found: String(outboxBytes),
      expected: `a budget ≥ settlement.batch.maxBytes (${batchBytes}), so that the outbox holds a full batch`,
    });
  }
  return problems;
}

function entries(list: unknown): [number, Record<string, unknown>][] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item, i) =>
    typeof item === 'object' && item !== null
      ? [[i, item as Record<string, unknown>] as [number, Record<string, unknown>]]
      : [],
  );
}

/** The sensor topic filter must be a valid MQTT filter, and the sensor level must exist in it. */
function inputProblems(i: number, input: unknown): ConfigProblem[] {
  if (typeof input !== 'object' || input === null) return [];
  const { topic, sensor } = input as { topic?: unknown; sensor?: unknown };
  if (typeof topic !== 'string' || topic === '') return [];
  const invalid = validateTopicFilter(topic);
  if (invalid !== null) {
    return [
      {
        path: `pipelines[${i}].input.topic`,
        found: JSON.stringify(topic),
        expected: `a valid MQTT topic filter (${invalid})`,
      },
    ];
  }
  if (typeof sensor !== 'object' || sensor === null || (sensor as { from?: unknown }).from !== 'level')
    return [];
  const level = (sensor as { level?: unknown }).level;
  if (typeof level !== 'number') return [];
  const problem = sensorSourceProblem({ from: 'level', level }, topic);
  return problem === null
    ? []
    : [
        {
          path: `pipelines[${i}].input.sensor.level`,
          found: String(level),
          expected: `a level that topics matching "${topic}" have (${problem})`,
        },
      ];
}

/** Each tracked sensor holds a window of float32 samples plus float64 times: 12 bytes a sample. */
const MAX_WINDOW_SAMPLES = 20_000_000;

function windowBudgetProblems(i: number, window: unknown): ConfigProblem[] {
  if (typeof window !== 'object' || window === null) return [];
  const { size, maxSensors } = window as { size?: unknown; maxSensors?: unknown };
  if (typeof size !== 'number' || typeof maxSensors !== 'number') return [];
  if (size * maxSensors <= MAX_WINDOW_SAMPLES) return [];
  const mb = Math.round((size * maxSensors * 12) / 1e6);
  return [
    {
      path: `pipelines[${i}].window.maxSensors`,
      found: `${maxSensors} sensors × ${size} samples (up to ${mb} MB of windows)`,
      expected: `window.size × window.maxSensors ≤ ${MAX_WINDOW_SAMPLES.toLocaleString('en')} (about 240 MB)`,
    },
  ];
}
