import { hostname } from 'node:os';

/** Retained on `<root>nodes/<peerId>`; the last will publishes the same record with status offline. */
export interface NodeRecord {
  id: string;
  name: string;
  status: 'online' | 'offline';
  version: string;
  models: { id: string; version: string; sha256: string }[];
  pipelines: { id: string; state: string }[];
  broker?: string;
  ts: number;
}

export function nodeName(configured: string | undefined): string {
  return configured ?? hostname();
}

export const SOFTWARE_VERSION = '0.1.0';

/** The retained JSON record of a node, from what the agent runs now. */
export function nodeRecordJson(
  status: NodeRecord['status'],
  node: {
    id: string;
    name: string;
    models: readonly { id: string; manifest: { version: string }; sha256: string }[];
    pipelines: NodeRecord['pipelines'];
    broker: string | undefined;
  },
): string {
  const record: NodeRecord = {
    id: node.id,
    name: node.name,
    status,
    version: SOFTWARE_VERSION,
    models: node.models.map((m) => ({ id: m.id, version: m.manifest.version, sha256: m.sha256 })),
    pipelines: node.pipelines,
    ts: Date.now(),
  };
  if (node.broker !== undefined) record.broker = node.broker;
  return JSON.stringify(record);
}
