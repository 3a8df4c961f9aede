import { createHash } from 'node:crypto';

/**
 * Home Assistant accepts only [a-zA-Z0-9_-] in the node_id and object_id of a discovery topic
 * and wants unique_id stable forever. An id already made of those characters is kept as it
 * is (readable, and stable across releases); any other id has its other characters replaced
 * by `_` and a short hash of the original appended, so that `a.b` and `a/b` stay distinct.
 */
export function haSafeId(id: string): string {
  if (/^[a-zA-Z0-9_-]+$/.test(id)) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  const readable = id.replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return readable ? `${readable}_${hash}` : hash;
}

/** The Home Assistant device of one node: `fieldmesh_<peer id>`. */
export function haDeviceId(nodeId: string): string {
  return `fieldmesh_${haSafeId(nodeId)}`;
}

/** Unique id of one entity: node + pipeline + what it shows, e.g. `…_press_anomaly_score`. */
export function haUniqueId(nodeId: string, pipelineId: string, entity: string): string {
  return `${haDeviceId(nodeId)}_${haSafeId(pipelineId)}_${entity}`;
}
