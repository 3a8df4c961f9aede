import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CredentialsFileError,
  deleteCredential,
  hashPassword,
  loadCredentials,
  openCredentialStore,
  PasswordHashError,
  parseCredentials,
  parseHash,
  setCredential,
  verifyPassword,
} from '../../broker/credentials.js';

const FILE = '/etc/fieldmesh/broker.passwd';

function problemsOf(text: string): readonly string[] {
  try {
    parseCredentials(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialsFileError);
    expect((err as CredentialsFileError).code).toBe('CREDENTIALS_FILE_INVALID');
    return (err as CredentialsFileError).problems;
  }
  throw new Error('expected the text to be refused');
}

/** Replaces the N, r, p of a hash string, keeping salt and key. */
function withParams(stored: string, params: string): string {
  return stored.replace(/N=\d+,r=\d+,p=\d+/, params);
}

describe('password hashes', () => {
  it('verifies the password it hashed, and nothing else', async () => {
    const stored = await hashPassword('s3nsor-pa55');
    expect(stored).toMatch(/^\$fm-scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword(stored, 's3nsor-pa55')).toBe(true);
    expect(await verifyPassword(stored, Buffer.from('s3nsor-pa55'))).toBe(true);
    expect(await verifyPassword(stored, 's3nsor-pa56')).toBe(false);
    expect(await verifyPassword(stored, '')).toBe(false);
  });

  it('salts every hash: the same password never gives the same string', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
  });

  it('refuses a tampered key or salt', async () => {
    const stored = await hashPassword('pw');
    const h = parseHash(stored);
    const flipped = Buffer.from(h.key);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    const tamperedKey = stored.replace(/[^$]+$/, flipped.toString('base64').replace(/=+$/, ''));
    expect(tamperedKey).not.toBe(stored);
    expect(await verifyPassword(tamperedKey, 'pw')).toBe(false);
    const salt = Buffer.from(h.salt);
    salt[3] = (salt[3] ?? 0) ^ 0x80;
    const parts = stored.split('$');
    parts[3] = salt.toString('base64').replace(/=+$/, '');
    expect(await verifyPassword(parts.join('$'), 'pw')).toBe(false);
  });

  it('refuses parameters that would cost absurd time or memory, before doing any work', async () => {
    const stored = await hashPassword('pw');
    for (const params of [
      'N=1073741824,r=8,p=1', // 1 TiB
      'N=16384,r=4096,p=1',
      'N=16384,r=8,p=9999',
      'N=16383,r=8,p=1', // not a power of two
      'N=2,r=8,p=1', // too weak to be a password hash
      'N=0,r=0,p=0',
    ]) {
      await expect(verifyPassword(withParams(stored, params), 'pw')).rejects.toBeInstanceOf(
        PasswordHashError,
      );
    }
  });

  it('refuses other schemes and damaged strings with a PasswordHashError', async () => {
    for (const bad of [
      '$2b$10$abcdefghijklmnopqrstuv', // bcrypt
      'plaintext',
      '$fm-scrypt$N=16384,r=8,p=1$onlysalt',
      '$fm-scrypt$N=16384,r=8,p=1$c2FsdA$a2V5', // salt and key too short
      '$fm-scrypt$N=16384,r=8,p=1$!!!!!!!!!!!!!!!!!!!!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '$fm-scrypt$N=16384;r=8;p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      expect(() => parseHash(bad), bad).toThrow(PasswordHashError);
    }
  });
});

describe('credentials file', () => {
  it('reads users, skipping blank lines and comments, with CRLF line endings too', async () => {
    const [a, b] = await Promise.all([hashPassword('a-pw'), hashPassword('b-pw')]);
    const text = `# sensors on line 3\n\nplc-7:${a}\r\n  # indented comment\nvib.pump-2@site:${b}\n`;
    const users = parseCredentials(text, FILE);
    expect([...users.keys()]).toEqual(['plc-7', 'vib.pump-2@site']);
    expect(users.get('plc-7')?.line).toBe(3);
    expect(await verifyPassword(users.get('vib.pump-2@site')!.hash, 'b-pw')).toBe(true);
  });

  it('reports every bad line with file:line and what to do', async () => {
    const good = await hashPassword('pw');
    const problems = problemsOf(
      [
        '# header', // 1
        `alice:${good}`, // 2
        'no-colon-here', // 3
        `bob smith:${good}`, // 4: whitespace in the name
        `alice:${good}`, // 5: duplicate
        'carol:$2b$10$abcdefghijklmnopqrstuv', // 6: unknown scheme
        `dave:${withParams(good, 'N=1048576,r=64,p=1')}`, // 7: absurd
        `:${good}`, // 8: empty name
      ].join('\n'),
    );
    expect(problems).toHaveLength(6);
    expect(problems[0]).toMatch(/^\/etc\/fieldmesh\/broker\.passwd:3: expected "username:<hash>"/);
    expect(problems[1]).toMatch(/:4: username "bob smith" contains ":", whitespace/);
    expect(problems[2]).toMatch(/:5: user "alice" is already defined on line 2; delete one of them/);
    expect(problems[3]).toMatch(/:6: user "carol": unknown password scheme "2b"/);
    expect(problems[3]).toContain(`fieldmesh broker passwd ${FILE} carol`);
    expect(problems[4]).toMatch(/:7: user "dave": scrypt N=1048576 refused/);
    expect(problems[5]).toMatch(/:8: the username is empty/);
  });

  it('puts the first problem in the message and counts the rest', () => {
    try {
      parseCredentials('x\ny\n', FILE);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe(
        `${FILE}:1: expected "username:<hash>"; fix the line or make it a # comment (and 1 more problem(s))`,
      );
    }
  });

  it('sets and deletes one user, leaving every other line as it was', async () => {
    const [a, b, c] = await Promise.all([hashPassword('a'), hashPassword('b'), hashPassword('c')]);
    const text = `# keep me\r\nalice:${a}\r\n\n# and me\nbob:${b}`;
    const updated = setCredential(text, FILE, 'alice', c);
    expect(updated).toBe(`# keep me\r\nalice:${c}\r\n\n# and me\nbob:${b}`);
    const added = setCredential(text, FILE, 'carol', c);
    expect(added).toBe(`${text}\ncarol:${c}\n`);
    expect(setCredential('', FILE, 'carol', c)).toBe(`carol:${c}\n`);
    expect(deleteCredential(text, FILE, 'alice')).toBe(`# keep me\r\n\n# and me\nbob:${b}`);
    expect(deleteCredential(text, FILE, 'nobody')).toBeNull();
    expect(() => setCredential('broken\n', FILE, 'x', c)).toThrow(CredentialsFileError);
  });

  it('loadCredentials says how to create a missing file', async () => {
    const missing = path.join(tmpdir(), 'fm-no-such-dir', 'passwd');
    await expect(loadCredentials(missing)).rejects.toThrow(
      `no such credentials file; create it with "fieldmesh broker passwd ${missing} USER"`,
    );
  });
});

describe('credential store', () => {
  it('authenticates known users, refuses wrong passwords, unknown users and missing fields', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-cred-'));
    const file = path.join(dir, 'passwd');
    await writeFile(file, `plc-7:${await hashPassword('right')}\n`);
    const store = await openCredentialStore({ file });
    expect(store.size).toBe(1);
    expect(await store.authenticate('plc-7', 'right')).toBe(true);
    expect(await store.authenticate('plc-7', Buffer.from('right'))).toBe(true);
    expect(await store.authenticate('plc-7', 'wrong')).toBe(false);
    expect(await store.authenticate('plc-7', undefined)).toBe(false);
    expect(await store.authenticate(undefined, 'right')).toBe(false);
    // An unknown user is refused, whatever the password, including the one of another user.
    expect(await store.authenticate('ghost', 'right')).toBe(false);
    expect(await store.authenticate('ghost', '')).toBe(false);
  });

  it('spends about as long on an unknown user as on a wrong password', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-cred-'));
    const file = path.join(dir, 'passwd');
    await writeFile(file, `plc-7:${await hashPassword('right')}\n`);
    const store = await openCredentialStore({ file });
    const time = async (user: string) => {
      const t0 = performance.now();
      for (let i = 0; i < 4; i++) await store.authenticate(user, 'wrong');
      return performance.now() - t0;
    };
    await time('plc-7'); // warm up
    const known = await time('plc-7');
    const unknown = await time('ghost');
    // One scrypt (N=16384, r=8) takes tens of milliseconds; skipping it would take microseconds.
    expect(unknown).toBeGreaterThan(known / 4);
  });

  it('reload picks up changes, and keeps the old users when the new file is invalid', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-cred-'));
    const file = path.join(dir, 'passwd');
    await writeFile(file, `a:${await hashPassword('pa')}\n`);
    const store = await openCredentialStore({ file });
    await writeFile(file, `a:${await hashPassword('pa2')}\nb:${await hashPassword('pb')}\n`);
    await store.reload();
    expect(store.size).toBe(2);
    expect(await store.authenticate('a', 'pa')).toBe(false);
    expect(await store.authenticate('a', 'pa2')).toBe(true);
    await writeFile(file, 'a:$plain$oops\n');
    await expect(store.reload()).rejects.toThrow(`${file}:1: user "a": unknown password scheme "plain"`);
    expect(await store.authenticate('b', 'pb')).toBe(true);
  });
});
