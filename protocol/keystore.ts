import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { FieldmeshError } from './errors.js';
import { identityFromSeed, type NodeIdentity } from './identity.js';

export const KEY_FILE_NAME = 'node-key.json';

export class KeyFileInvalidError extends FieldmeshError {
  constructor(file: string, why: string, cause?: unknown) {
    super(
      'KEY_FILE_INVALID',
      `${file}: ${why}. The node identity cannot be read; restore the file from a backup, or move it ` +
        'away to give this node a new identity (its earlier credits stay with the old id).',
      { cause },
    );
  }
}

interface KeyFile {
  type: 'ed25519';
  seed: string; // base64, 32 bytes
  peerId: string; // redundant, for people reading the file; checked on load
}

export function keyFilePath(dataDir: string): string {
  return path.join(dataDir, KEY_FILE_NAME);
}

/** Reads the node key; returns null only when the file does not exist. */
export async function readIdentity(dataDir: string): Promise<NodeIdentity | null> {
  const file = keyFilePath(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KeyFileInvalidError(file, `cannot read (${(err as NodeJS.ErrnoException).code})`, err);
  }
  let parsed: Partial<KeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<KeyFile>;
  } catch (err) {
    throw new KeyFileInvalidError(file, 'not JSON (a torn write or a damaged card?)', err);
  }
  if (parsed.type !== 'ed25519' || typeof parsed.seed !== 'string') {
    throw new KeyFileInvalidError(file, 'expected {"type":"ed25519","seed":"<base64>"}');
  }
  const seed = Buffer.from(parsed.seed, 'base64');
  if (seed.length !== 32)
    throw new KeyFileInvalidError(file, `the seed is ${seed.length} bytes, expected 32`);
  const identity = identityFromSeed(seed);
  if (parsed.peerId !== undefined && parsed.peerId !== identity.peerId) {
    throw new KeyFileInvalidError(
      file,
      `the seed belongs to ${identity.peerId}, but the file says ${parsed.peerId}`,
    );
  }
  return identity;
}

/**
 * Loads the node key, creating it on first start. The file is written to a temporary name,
 * synced and renamed, so a power cut leaves either no key or a whole one — never half a key.
 */
export async function loadOrCreateIdentity(
  dataDir: string,
): Promise<{ identity: NodeIdentity; created: boolean }> {
  const existing = await readIdentity(dataDir);
  if (existing) return { identity: existing, created: false };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const identity = identityFromSeed(randomBytes(32));
  const body: KeyFile = {
    type: 'ed25519',
    seed: Buffer.from(identity.secretKey.subarray(0, 32)).toString('base64'),
    peerId: identity.peerId,
  };
  const file = keyFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  await syncDir(dataDir);
  return { identity, created: true };
}

/** Permission bits of the key file, for warnings when it is readable by others. */
export async function keyFileMode(dataDir: string): Promise<number> {
  return (await stat(keyFilePath(dataDir))).mode & 0o777;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
