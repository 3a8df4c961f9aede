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
    if (modelIds.has(id)) problems.push({ path: `models[${i}].id`, found: `"${id}" again`, expected: 'a unique model id' });
    modelIds.add(id);
  }
  const pipelineIds = new Set<string>();
  for (const [i, p] of entries(raw.pipelines)) {
    if (typeof p.id === 'string') {
      if (pipelineIds.has(p.id)) {
        problems.push({ path: `pipelines[${i}].id`, found: `"${p.id}" again`, expected: 'a unique pipeline id' });
      }
      pipelineIds.add(p.id);
    }
    if (typeof p.model === 'string' && !modelIds.has(p.model)) {
      const known = [...modelIds].map((m) => `"${m}"`).join(', ') || 'none are defined';
      problems.push({
        path: `pipelines[${i}].model`,
        found: `"${p.model}", but there is no model "${p.model}" in models`,
        expected: `the id of an entry in models (${known})`,
      });
    }
  }
  const reconnect = (raw.mqtt as { reconnect?: { minMs?: unknown; maxMs?: unknown } } | undefined)?.reconnect;
  if (typeof reconnect?.minMs === 'number' && typeof reconnect.maxMs === 'number' && reconnect.maxMs < reconnect.minMs) {
    problems.push({ path: 'mqtt.reconnect.maxMs', found: String(reconnect.maxMs), expected: 'a value ≥ mqtt.reconnect.minMs' });
  }
  return problems;
}

function entries(list: unknown): [number, Record<string, unknown>][] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item, i) =>
    typeof item === 'object' && item !== null ? [[i, item as Record<string, unknown>] as [number, Record<string, unknown>]] : [],
  );
}
