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
