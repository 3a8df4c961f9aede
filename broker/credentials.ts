import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FieldmeshError } from '../protocol/errors.js';

/**
 * Usernames and password hashes of legacy sensors that can only speak MQTT username/password.
 * One user per line, `username:$fm-scrypt$N=16384,r=8,p=1$<salt>$<key>` (salt and key in
 * unpadded base64); blank lines and lines starting with `#` are comments.
 */
export const SCHEME = 'fm-scrypt';
export const DEFAULT_PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * The hash string carries its own parameters, so a tampered file must not make the broker
 * spend a second or a gigabyte per CONNECT. 128·N·r bytes is the memory scrypt needs.
 */
const LIMITS = { minN: 1024, maxMemory: 64 * 1024 * 1024, maxR: 32, maxP: 16, maxCost: 1 << 20 } as const;

export interface ScryptHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export interface CredentialEntry {
  readonly username: string;
  /** 1-based line in the file, for messages. */
  readonly line: number;
  readonly hash: ScryptHash;
}

/** A stored hash string that is not ours, is damaged, or asks for absurd work. */
export class PasswordHashError extends FieldmeshError {
  constructor(problem: string) {
    super('PASSWORD_HASH_INVALID', problem);
  }
}

/** The credentials file cannot be read, parsed or written; `problems` lists every bad line. */
export class CredentialsFileError extends FieldmeshError {
  readonly file: string;
  readonly problems: readonly string[];

  constructor(
    code: 'CREDENTIALS_FILE_INVALID' | 'CREDENTIALS_FILE_UNREADABLE' | 'CREDENTIALS_FILE_UNWRITABLE',
    file: string,
    problems: readonly string[],
    cause?: unknown,
  ) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
    super(code, `${problems[0] ?? file}${more}`, { cause });
    this.file = file;
    this.problems = problems;
  }
}

const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');

/** Decodes unpadded (or padded) base64, refusing anything Buffer.from would silently skip. */
function fromB64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return b64(bytes) === text.replace(/=+$/, '') ? bytes : null;
}

function derive(password: string | Uint8Array, h: Omit<ScryptHash, 'key'>, keylen: number): Promise<Buffer> {
  const options: ScryptOptions = { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, h.salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export function formatHash(h: ScryptHash): string {
  return `$${SCHEME}$N=${h.N},r=${h.r},p=${h.p}$${b64(h.salt)}$${b64(h.key)}`;
}

/** Parses `$fm-scrypt$N=…,r=…,p=…$salt$key`; throws PasswordHashError naming what is wrong. */
export function parseHash(stored: string): ScryptHash {
  const parts = stored.split('$');
  if (parts[0] !== '' || parts[1] !== SCHEME) {
    throw new PasswordHashError(`unknown password scheme "${parts[1] ?? stored}", expected $${SCHEME}$`);
  }
  const [, , params, saltText, keyText, ...rest] = parts;
  const m = /^N=(\d{1,10}),r=(\d{1,4}),p=(\d{1,4})$/.exec(params ?? '');
  if (!m || saltText === undefined || keyText === undefined || rest.length > 0) {
    throw new PasswordHashError(`malformed $${SCHEME}$ hash: expected $${SCHEME}$N=…,r=…,p=…$<salt>$<key>`);
  }
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < LIMITS.minN || (N & (N - 1)) !== 0 || 128 * N * r > LIMITS.maxMemory) {
    throw new PasswordHashError(
      `scrypt N=${N} refused: N must be a power of two from ${LIMITS.minN}, and 128·N·r at most 64 MiB`,
    );
  }
  if (r < 1 || r > LIMITS.maxR || p < 1 || p > LIMITS.maxP || N * r * p > LIMITS.maxCost) {
    throw new PasswordHashError(
      `scrypt r=${r}, p=${p} refused: r from 1 to ${LIMITS.maxR}, p from 1 to ${LIMITS.maxP}, N·r·p at most ${LIMITS.maxCost}`,
    );
  }
  const salt = fromB64(saltText);
  const key = fromB64(keyText);
  if (!salt || salt.length < SALT_BYTES || salt.length > 64 || !key || key.length < 16 || key.length > 64) {
    throw new PasswordHashError(`malformed $${SCHEME}$ hash: salt and key must be base64 of 16 to 64 bytes`);
  }
  return { N, r, p, salt, key };
}

/** A new hash string for `password`, with a fresh 16-byte salt and the default parameters. */
export async function hashPassword(password: string | Uint8Array): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, { ...DEFAULT_PARAMS, salt }, KEY_BYTES);
  return formatHash({ ...DEFAULT_PARAMS, salt, key });
}

/** True when `password` matches; throws PasswordHashError when `stored` is not a sound hash. */
export async function verifyPassword(
  stored: string | ScryptHash,
  password: string | Uint8Array,
): Promise<boolean> {
  const h = typeof stored === 'string' ? parseHash(stored) : stored;
  const key = await derive(password, h, h.key.length);
  return timingSafeEqual(key, h.key);
}

/** Why a username cannot be stored, or null when it can. */
export function usernameProblem(username: string): string | null {
  if (username === '') return 'the username is empty';
  if (username.startsWith('#')) return 'a username cannot start with "#" (that line would be a comment)';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (/[:\s\u0000-\u001f\u007f]/u.test(username)) {
    return `username ${JSON.stringify(username)} contains ":", whitespace or a control character`;
  }
  // MQTT 3.1.1 §1.5.3: a UTF-8 string is at most 65535 bytes.
  if (Buffer.byteLength(username) > 65_535) return 'the username is longer than 65535 bytes';
  return null;
}

/** Parses a credentials file; every bad line is reported, each with file:line and what to do. */
export function parseCredentials(text: string, file: string): Map<string, CredentialEntry> {
  const users = new Map<string, CredentialEntry>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const colon = content.indexOf(':');
    const username = colon < 0 ? content : content.slice(0, colon);
    const at = `${file}:${line}`;
    const fix = `run "fieldmesh broker passwd ${file} ${username}" to set it again`;
    if (colon < 0) {
      problems.push(`${at}: expected "username:<hash>"; fix the line or make it a # comment`);
      return;
    }
    const bad = usernameProblem(username);
    if (bad !== null) {
      problems.push(`${at}: ${bad}; rename the user or make the line a # comment`);
      return;
    }
    const first = users.get(username);
    if (first !== undefined) {
      problems.push(`${at}: user "${username}" is already defined on line ${first.line}; delete one of them`);
      return;
    }
    try {
      users.set(username, { username, line, hash: parseHash(content.slice(colon + 1)) });
    } catch (err) {
      problems.push(`${at}: user "${username}": ${(err as Error).message}; ${fix}`);
    }
  });
  if (problems.length > 0) throw new CredentialsFileError('CREDENTIALS_FILE_INVALID', file, problems);
  return users;
}

/** Reads the file's text; null when it does not exist. */
export async function readCredentialsText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new CredentialsFileError(
      'CREDENTIALS_FILE_UNREADABLE',
      file,
      [`${file}: cannot read the credentials file (${code ?? String(err)}); check its path and permissions`],
      err,
    );
  }
}

export async function loadCredentials(file: string): Promise<Map<string, CredentialEntry>> {
  const text = await readCredentialsText(file);
  if (text === null) {
    throw new CredentialsFileError('CREDENTIALS_FILE_UNREADABLE', file, [
      `${file}: no such credentials file; create it with "fieldmesh broker passwd ${file} USER"`,
    ]);
  }
  return parseCredentials(text, file);
}

/** The users a broker accepts; reload() swaps the set only when the new file is valid. */
export interface CredentialStore {
  authenticate(username: string | undefined, password: string | Uint8Array | undefined): Promise<boolean>;
  /** Re-reads the file; on error throws CredentialsFileError and keeps the users it had. */
  reload(): Promise<void>;
  readonly size: number;
}

export async function openCredentialStore(init: { file: string }): Promise<CredentialStore> {
  let users = await loadCredentials(init.file);
  // Unknown users cost one scrypt too, against a hash no password matches, so response time
  // does not tell an attacker which usernames exist.
  const dummy: ScryptHash = { ...DEFAULT_PARAMS, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) };
  return {
    async authenticate(username, password) {
      const entry = username === undefined ? undefined : users.get(username);
      const ok = await verifyPassword(entry?.hash ?? dummy, password ?? '');
      return ok && entry !== undefined && password !== undefined;
    },
    async reload() {
      users = await loadCredentials(init.file);
    },
    get size() {
      return users.size;
    },
  };
}

/**
 * The file's text with `username` set to `stored`: its line replaced in place, or a new line
 * appended. Every other line, comments and line endings included, stays as it was. The text
 * must already have passed parseCredentials.
 */
export function setCredential(text: string, file: string, username: string, stored: string): string {
  const entry = parseCredentials(text, file).get(username);
  const lines = text.split('\n');
  const record = `${username}:${stored}`;
  if (entry !== undefined) {
    const old = lines[entry.line - 1] ?? '';
    lines[entry.line - 1] = old.endsWith('\r') ? `${record}\r` : record;
    return lines.join('\n');
  }
  if (text === '') return `${record}\n`;
  return `${text.endsWith('\n') ? text : `${text}\n`}${record}\n`;
}

/** The file's text without `username`'s line; null when there is no such user. */
export function deleteCredential(text: string, file: string, username: string): string | null {
  const entry = parseCredentials(text, file).get(username);
  if (entry === undefined) return null;
  const lines = text.split('\n');
  lines.splice(entry.line - 1, 1);
  return lines.join('\n');
}
