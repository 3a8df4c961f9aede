import { validateTopicFilter } from './topic-filter.js';

/**
 * Sparkplug B topic names (Sparkplug 3.0 §4.1): `spBv1.0/<group>/<type>/<edge node>[/<device>]`,
 * and `spBv1.0/STATE/<host>` for host applications. Pure: no I/O.
 */

export const SPARKPLUG_NAMESPACE = 'spBv1.0';

/** Message types a host application reads from edge nodes. */
export type EdgeMessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'DBIRTH' | 'DDEATH' | 'DDATA';
/** Message types in the namespace that a pipeline does not consume (commands, host state). */
export type OtherMessageType = 'NCMD' | 'DCMD' | 'STATE';

const NODE_TYPES: ReadonlySet<string> = new Set(['NBIRTH', 'NDEATH', 'NDATA', 'NCMD']);
const DEVICE_TYPES: ReadonlySet<string> = new Set(['DBIRTH', 'DDEATH', 'DDATA', 'DCMD']);

export interface EdgeTopic {
  readonly kind: 'edge';
  readonly type: EdgeMessageType;
  readonly group: string;
  readonly edgeNode: string;
  /** Absent for node-level messages (N*). */
  readonly device: string | undefined;
}

export type SparkplugTopic =
  | EdgeTopic
  /** A message of the namespace that carries no readings (NCMD, DCMD, STATE): ignored, not an error. */
  | { readonly kind: 'ignored'; readonly type: OtherMessageType }
  | { readonly kind: 'invalid'; readonly problem: string };

/**
 * Parses a topic name. `invalid` says what is wrong in words an operator can act on; a
 * message on such a topic is rejected, never fatal.
 */
export function parseSparkplugTopic(topic: string): SparkplugTopic {
  const levels = topic.split('/');
  if (levels[0] !== SPARKPLUG_NAMESPACE) {
    return invalid(`does not start with "${SPARKPLUG_NAMESPACE}/"`);
  }
  // Sparkplug 3.0 host state: spBv1.0/STATE/<host id>.
  if (levels[1] === 'STATE') return { kind: 'ignored', type: 'STATE' };
  const [, group, type, edgeNode, device, ...rest] = levels;
  if (type === undefined || group === undefined) return invalid('has no message type level');
  const isNode = NODE_TYPES.has(type);
  if (!isNode && !DEVICE_TYPES.has(type)) {
    return invalid(`has message type "${type}"; expected NBIRTH, NDEATH, NDATA, DBIRTH, DDEATH or DDATA`);
  }
  if (type === 'NCMD' || type === 'DCMD') return { kind: 'ignored', type };
  const expected = isNode ? 4 : 5;
  if (levels.length !== expected || rest.length > 0) {
    const shape = isNode
      ? `${SPARKPLUG_NAMESPACE}/<group>/${type}/<edge node>`
      : `${SPARKPLUG_NAMESPACE}/<group>/${type}/<edge node>/<device>`;
    return invalid(`has ${levels.length} levels; a ${type} topic is ${shape}`);
  }
  for (const [what, id] of [
    ['group', group],
    ['edge node', edgeNode],
    ['device', device],
  ] as const) {
    if (id === '') return invalid(`has an empty ${what} id`);
  }
  return {
    kind: 'edge',
    type: type as EdgeMessageType,
    group,
    edgeNode: edgeNode as string,
    device: isNode ? undefined : device,
  };
}

function invalid(problem: string): SparkplugTopic {
  return { kind: 'invalid', problem };
}

/**
 * Why `filter` cannot feed a Sparkplug pipeline, or null. A host must see the births and
 * deaths that define aliases, not only the DATA messages, so the message-type level must be a
 * wildcard and the filter must reach both node (4-level) and device (5-level) topics. The
 * pipeline subscribes to exactly what the operator wrote, so that broker ACLs stay readable;
 * the problem text names the filter to write instead.
 */
export function sparkplugFilterProblem(filter: string): string | null {
  const invalidFilter = validateTopicFilter(filter);
  if (invalidFilter !== null) return invalidFilter;
  const levels = filter.split('/');
  if (levels[0] !== SPARKPLUG_NAMESPACE) {
    return `does not start with "${SPARKPLUG_NAMESPACE}/"; write e.g. ${SPARKPLUG_NAMESPACE}/<group>/#`;
  }
  const suggestion = suggestFilter(levels);
  const typeLevel = levels[2];
  if (typeLevel !== undefined && typeLevel !== '+' && typeLevel !== '#') {
    return `fixes the message type to "${typeLevel}", so the births and deaths that define metric aliases would be missed; write ${suggestion}`;
  }
  const last = levels[levels.length - 1];
  if (last !== '#' || levels.length > 5) {
    return `does not match both node topics (NBIRTH, NDATA, NDEATH) and device topics (DBIRTH, DDATA, DDEATH); write ${suggestion}`;
  }
  return null;
}

/** The closest filter that works: the operator's group and edge node kept, the rest widened. */
function suggestFilter(levels: readonly string[]): string {
  const group = levels[1] === undefined || levels[1] === '#' ? '+' : levels[1];
  const edgeNode = levels[3];
  if (edgeNode === undefined || edgeNode === '+' || edgeNode === '#') {
    return `${SPARKPLUG_NAMESPACE}/${group}/#`;
  }
  return `${SPARKPLUG_NAMESPACE}/${group}/+/${edgeNode}/#`;
}

/**
 * The sensor id of one metric: `<group>/<edge node>/<device>/<metric name>`, with an empty
 * device level for node metrics (`plant1/gw1//Temperature`). Sparkplug ids never hold '/' and
 * are never empty, so the id is unambiguous even when the metric name holds '/'.
 */
export function sparkplugSensorId(
  group: string,
  edgeNode: string,
  device: string | undefined,
  metric: string,
): string {
  return `${group}/${edgeNode}/${device ?? ''}/${metric}`;
}

/** Where a Rebirth command for an edge node goes (Sparkplug 3.0 §6.4.x, NCMD). */
export function rebirthTopic(group: string, edgeNode: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/NCMD/${edgeNode}`;
}
