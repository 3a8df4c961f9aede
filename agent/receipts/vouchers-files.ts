import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { type CborValue, decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import type { SignedVoucher } from '../../protocol/voucher.js';

/**
 * One small file per offload session in `<dataDir>/vouchers/`, named
 * `<consumer key hex>-<session id hex>.voucher`, holding canonical CBOR
 * `[voucherBytes, signature, acknowledged (0 | 1)]`: the latest voucher of the session exactly as
 * the consumer signed it, and whether the settlement service has answered it.
 *
 * Written atomically for SD cards and power cuts: a temporary file is written and fsynced, then
 * renamed over the old one, then the directory is fsynced, so after a crash the file is either
 * the previous voucher or the new one, never a torn mix. Files are a few hundred bytes.
 */
export interface StoredVoucher {
  readonly signed: SignedVoucher;
  readonly acknowledged: boolean;
}

const SUFFIX = '.voucher';
const TEMP_SUFFIX = '.tmp';

export function voucherFileName(consumerKey: Uint8Array, sessionId: Uint8Array): string {
  return `${Buffer.from(consumerKey).toString('hex')}-${Buffer.from(sessionId).toString('hex')}${SUFFIX}`;
}

export function encodeStoredVoucher(v: StoredVoucher): Uint8Array {
  return encodeCbor([v.signed.voucherBytes, v.signed.signature, v.acknowledged ? 1 : 0]);
}

/** Throws a plain Error naming what is wrong. */
export function decodeStoredVoucher(bytes: Uint8Array): StoredVoucher {
  const decoded: CborValue = decodeCbor(bytes, { maxDepth: 1 });
  if (!Array.isArray(decoded) || decoded.length !== 3) throw new Error('not a 3-field array');
  const [voucherBytes, signature, acknowledged] = decoded as readonly CborValue[];
  if (!(voucherBytes instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
    throw new Error('voucherBytes and signature must be byte strings');
  }
  if (acknowledged !== 0 && acknowledged !== 1) throw new Error('acknowledged must be 0 or 1');
  return { signed: { voucherBytes, signature }, acknowledged: acknowledged === 1 };
}

/** Writes `bytes` to `dir/name` atomically and durably (write, fsync, rename, fsync the directory). */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const file = path.join(dir, name);
  const temp = `${file}${TEMP_SUFFIX}`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export interface LoadedVoucherFile {
  readonly name: string;
  readonly stored?: StoredVoucher;
  readonly problem?: string;
}

/** Every voucher file in `dir` (created when missing); leftovers of interrupted writes are removed. */
export async function loadVoucherFiles(dir: string): Promise<LoadedVoucherFile[]> {
  await mkdir(dir, { recursive: true });
  const out: LoadedVoucherFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.endsWith(TEMP_SUFFIX)) {
      await unlink(path.join(dir, name)).catch(() => undefined);
      continue;
    }
    if (!name.endsWith(SUFFIX)) continue;
    try {
      out.push({ name, stored: decodeStoredVoucher(new Uint8Array(await readFile(path.join(dir, name)))) });
    } catch (err) {
      out.push({ name, problem: (err as Error).message });
    }
  }
  return out;
}

export async function removeVoucherFile(dir: string, name: string): Promise<void> {
  await unlink(path.join(dir, name)).catch(() => undefined);
}
