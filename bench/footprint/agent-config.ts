import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort as loopbackFreePort } from '../lib/mosquitto-server.js';

/** What the footprint agent is built around; the baseline loads the same model. */
export const SENSOR_PREFIX = 'bench/sensors/';
export const RESULT_TOPIC = 'bench/agent/results';
export const STRIDE = 4;

/**
 * A site gateway as it would run in the field, on loopback: the embedded broker (anonymous on
 * 127.0.0.1, sessions in memory), the mesh on (mDNS and the mesh API on 127.0.0.1, a service
 * tag and mDNS port of its own so it meets no other node), one model at the schema's defaults
 * (one onnxruntime thread, arena on, `worker: auto`) and one pipeline on it, results at QoS 1.
 * No settlement section: receipts are off.
 */
export async function writeAgentConfig(
  file: string,
  init: { dataDir: string; manifest: string; brokerPort: number; mdnsPort: number; tag: string },
): Promise<void> {
  const q = JSON.stringify;
  await writeFile(
    file,
    [
      `node: { name: footprint-${init.tag}, dataDir: ${q(init.dataDir)} }`,
      'log: { level: info }',
      'broker:',
      '  enabled: true',
      '  host: 127.0.0.1',
      `  port: ${init.brokerPort}`,
      '  auth: { allowAnonymous: true, trustedNodes: any }',
      '  storage: memory',
      'mesh:',
      '  enabled: true',
      '  interface: 127.0.0.1',
      `  mdnsPort: ${init.mdnsPort}`,
      `  serviceTag: _fieldmesh-fp-${init.tag}._udp.local`,
      '  api: { host: 127.0.0.1, port: 0 }',
      'api: { host: 127.0.0.1, port: 0 }',
      `models: [{ id: vibration-ae, manifest: ${q(init.manifest)} }]`,
      'pipelines:',
      '  - id: vibration',
      '    model: vibration-ae',
      `    input: { topic: "${SENSOR_PREFIX}+", field: value, timestampField: ts }`,
      `    window: { stride: ${STRIDE} }`,
      `    results: { topic: ${RESULT_TOPIC}, qos: 1 }`,
      '',
    ].join('\n'),
  );
}

/** A port nothing listens on right now (TCP; the same number serves as the mDNS UDP port). */
export const freePort = loopbackFreePort;

export function configPath(work: string, tag: string): string {
  return path.join(work, `agent-${tag}.yaml`);
}
