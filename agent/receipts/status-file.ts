import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NodeCredits } from './credits.js';

/**
 * The receipt status a running agent publishes for `fieldmesh receipts`: the agent holds the
 * outbox's leveldb lock, so the CLI reads this file instead. Written atomically (temp file +
 * rename), so a reader sees the previous or the next version, never half of one.
 */
export interface ReceiptsStatus {
  /** Receipts not yet acknowledged: on disk (the in-flight batch included) and buffered. */
  readonly pending: number;
  /** Sequence of the batch sent and waiting for its acknowledgement, if any. */
  readonly inFlightBatch: number | null;
  /** Receipts accepted since the agent started. */
  readonly appended: number;
  /** Receipts refused since the agent started because the outbox disk budget was reached. */
  readonly refused: number;
  /** Receipts the service acknowledged since the agent started. */
  readonly acknowledgedReceipts: number;
  /** When the last acknowledgement arrived (persisted across restarts), Unix epoch ms. */
  readonly lastAckAtMs: number | null;
  /** The last failure to settle, cleared by the next acknowledged batch. */
  readonly lastError: { readonly code: string; readonly message: string; readonly atMs: number } | null;
  /** What the service last said it credited this node; null until it answered (absent in older files). */
  readonly credits?: NodeCredits | null;
}

export interface ReceiptsStatusFile {
  readonly nodeId: string;
  /** Base URL of the settlement service. */
  readonly url: string;
  readonly pid: number;
  readonly updatedAtMs: number;
  readonly receipts: ReceiptsStatus;
}

export function statusFilePath(dataDir: string): string {
  return path.join(dataDir, 'status', 'receipts.json');
}

export async function writeStatusFile(dataDir: string, status: ReceiptsStatusFile): Promise<void> {
  const file = statusFilePath(dataDir);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(status, null, 2)}\n`);
  await rename(temp, file);
}

/** The status file, or undefined when there is none (or it is not a status file). */
export async function readStatusFile(dataDir: string): Promise<ReceiptsStatusFile | undefined> {
  let text: string;
  try {
    text = await readFile(statusFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ReceiptsStatusFile>;
    if (typeof parsed.nodeId !== 'string' || typeof parsed.updatedAtMs !== 'number' || !parsed.receipts) {
      return undefined;
    }
    return parsed as ReceiptsStatusFile;
  } catch {
    return undefined;
  }
}
