import type { AgentStatus } from '../agent.js';
import { Exposition, type Sample } from './exposition.js';
import type { RecentActivity } from './recent.js';

/** Reasons the pipeline reports about its own windows, not about a reading that came in. */
const WINDOW_FAILURES: ReadonlySet<string> = new Set([
  'queue_full',
  'inference_failed',
  'calibration_failed',
]);

/** Wall-clock start of this process, seconds since the epoch (fixed at load). */
const PROCESS_START_S = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000;

function perPipeline(status: AgentStatus, value: (p: AgentStatus['pipelines'][number]) => number): Sample[] {
  return status.pipelines.map((p) => ({ labels: { pipeline: p.id }, value: value(p) }));
}

function readingsRejected(rejected: Record<string, number>): number {
  let n = 0;
  for (const [reason, count] of Object.entries(rejected)) if (!WINDOW_FAILURES.has(reason)) n += count;
  return n;
}

/**
 * One scrape: every counter is read now from the parts' own counters (AgentStatus), so the
 * metrics and `fieldmesh status` can never disagree; only the latency histogram lives here.
 */
export function renderMetrics(status: AgentStatus, recent: RecentActivity, up: boolean): string {
  const x = new Exposition();
  x.gauge('fieldmesh_up', 'Whether the agent has started and runs (1) or not (0).', [{ value: up ? 1 : 0 }]);
  x.counter(
    'fieldmesh_messages_in_total',
    'Readings the pipeline took in from MQTT: accepted into windows plus rejected at ingest.',
    perPipeline(status, (p) => p.readings + readingsRejected(p.rejected)),
  );
  x.counter(
    'fieldmesh_messages_out_total',
    'Results the pipeline published (one per window).',
    perPipeline(status, (p) => p.results),
  );
  x.counter(
    'fieldmesh_messages_rejected_total',
    'Readings refused and pipeline failures, by reason (as on the pipeline errors topic).',
    status.pipelines.flatMap((p) =>
      Object.entries(p.rejected).map(([reason, value]) => ({ labels: { pipeline: p.id, reason }, value })),
    ),
  );
  x.counter(
    'fieldmesh_anomalies_total',
    'Results whose score passed the threshold.',
    perPipeline(status, (p) => p.anomalies),
  );
  x.counter(
    'fieldmesh_windows_total',
    'Windows completed and handed to the model.',
    perPipeline(status, (p) => p.windows),
  );
  x.counter(
    'fieldmesh_inference_failures_total',
    'Windows whose model call failed.',
    perPipeline(status, (p) => p.inferenceFailures),
  );
  x.histogram(recent.inference);
  x.gauge(
    'fieldmesh_queue_depth',
    'Windows waiting for the model now.',
    perPipeline(status, (p) => p.queueDepth),
  );
  x.gauge(
    'fieldmesh_pipeline_running',
    'Whether the pipeline runs (1) or not (0).',
    perPipeline(status, (p) => (p.state === 'running' ? 1 : 0)),
  );
  x.gauge('fieldmesh_mqtt_connected', 'Whether the MQTT link to the site broker is up.', [
    { value: status.mqtt.connected ? 1 : 0 },
  ]);
  renderParts(x, status);
  const memory = process.memoryUsage();
  x.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [{ value: memory.rss }]);
  x.gauge(
    'nodejs_memory_bytes',
    'Where the process memory goes: the JavaScript heap (total and used), memory outside it held by JavaScript objects (external, of which array buffers).',
    [
      { labels: { kind: 'heap_total' }, value: memory.heapTotal },
      { labels: { kind: 'heap_used' }, value: memory.heapUsed },
      { labels: { kind: 'external' }, value: memory.external },
      { labels: { kind: 'array_buffers' }, value: memory.arrayBuffers },
    ],
  );
  x.gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', [
    { value: PROCESS_START_S },
  ]);
  return x.text();
}

/** Receipts and mesh: written only when those parts run, so an absent series means "off". */
function renderParts(x: Exposition, status: AgentStatus): void {
  if (status.receipts) {
    x.gauge(
      'fieldmesh_receipts',
      'Contribution receipts by state: pending (not yet acknowledged) and acknowledged since start.',
      [
        { labels: { state: 'pending' }, value: status.receipts.pending },
        { labels: { state: 'acknowledged' }, value: status.receipts.acknowledgedReceipts },
      ],
    );
    const credits = status.receipts.credits;
    if (credits) {
      x.gauge(
        'fieldmesh_credits',
        'Credit units the settlement service reports for this node: credited (final), pending (batches not yet final), voided (failed spot checks); as of its last answer.',
        [
          { labels: { state: 'credited' }, value: credits.credited },
          { labels: { state: 'pending' }, value: credits.pending },
          { labels: { state: 'voided' }, value: credits.voided },
        ],
      );
    }
  }
  if (status.mesh) {
    const peers = status.mesh.peers;
    x.gauge('fieldmesh_peers', 'Mesh peers whose signed record verified and is fresh.', [
      { value: Array.isArray(peers) ? peers.length : 0 },
    ]);
  }
}
