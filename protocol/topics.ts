/**
 * Topic names of the mesh, all under one configurable root (default `fieldmesh/v1/`).
 * Sensor topics are not here: they are whatever the site already uses.
 */
export const DEFAULT_TOPIC_ROOT = 'fieldmesh/v1/';

export interface Topics {
  readonly root: string;
  /** Retained record of one node; its last will marks it offline. */
  node(peerId: string): string;
  /** Results of one pipeline, from every node that runs it (the node id is in the payload). */
  results(pipelineId: string): string;
  /**
   * Results of a shadow candidate beside the running model (docs/model-swap.md), one per
   * window, with the `seq` of the running model's result for the same window.
   */
  shadowResults(pipelineId: string): string;
  /** Rejected readings and failures of one pipeline. */
  errors(pipelineId: string): string;
  /** Commands to recalibrate one pipeline (docs/calibration.md); not retained. */
  calibrate(pipelineId: string): string;
  /** Retained calibration state of one pipeline on one node. */
  calibrationState(pipelineId: string, peerId: string): string;
  /** Offload requests addressed to one provider (docs/offload.md). */
  offloadRequests(peerId: string): string;
  /** Offload responses addressed to one consumer; the correlation id is in the payload. */
  offloadResponses(peerId: string): string;
  /** Cumulative vouchers consumers sign for one provider. */
  vouchers(peerId: string): string;
}

export function topicsFor(root: string = DEFAULT_TOPIC_ROOT): Topics {
  const r = root.endsWith('/') ? root : `${root}/`;
  return {
    root: r,
    node: (peerId) => `${r}nodes/${peerId}`,
    results: (pipelineId) => `${r}pipelines/${pipelineId}/results`,
    shadowResults: (pipelineId) => `${r}pipelines/${pipelineId}/shadow`,
    errors: (pipelineId) => `${r}pipelines/${pipelineId}/errors`,
    calibrate: (pipelineId) => `${r}pipelines/${pipelineId}/calibrate`,
    calibrationState: (pipelineId, peerId) => `${r}pipelines/${pipelineId}/calibration/${peerId}`,
    offloadRequests: (peerId) => `${r}offload/${peerId}/req`,
    offloadResponses: (peerId) => `${r}offload/${peerId}/res`,
    vouchers: (peerId) => `${r}offload/${peerId}/vouchers`,
  };
}

/** A topic root must be a plain topic prefix: no wildcards, no NUL, not `$`-reserved. */
export function topicRootProblem(root: string): string | null {
  if (root.length === 0) return 'is empty';
  if (root.includes('+') || root.includes('#') || root.includes(String.fromCharCode(0)))
    return 'contains a wildcard (+ or #) or NUL, which topic names may not hold';
  if (root.startsWith('$')) return 'starts with "$", which MQTT reserves for the broker';
  return null;
}
