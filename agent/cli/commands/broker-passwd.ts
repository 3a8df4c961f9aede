import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  CredentialsFileError,
  deleteCredential,
  hashPassword,
  parseCredentials,
  readCredentialsText,
  setCredential,
  usernameProblem,
} from '../../../broker/credentials.js';
import { parse, UsageError } from '../args.js';
import { EXIT, EXIT_HELP } from '../exit-codes.js';

export const BROKER_PASSWD_HELP = `fieldmesh broker passwd FILE USER [--delete] [--password-stdin]

Adds, changes or deletes USER in the broker's credentials file FILE: one line per user,
"USER:$fm-scrypt$…" (a salted scrypt hash, never the password). FILE is created, mode 0600, if
it does not exist; comments and the other users' lines are kept as they are. The file is
replaced atomically, so a broker reading it sees the old or the new version, never half of one.

Without --password-stdin the password is asked twice on the terminal, without echo.

Options:
  --password-stdin   read the password from standard input (one line), for scripts:
                       printf '%s\\n' "$PW" | fieldmesh broker passwd FILE USER --password-stdin
  --delete           remove USER instead (exit 5 if FILE has no such user)
  -h, --help         this help

${EXIT_HELP}`;

const COMMAND = 'broker passwd';
const MAX_PASSWORD_BYTES = 4096;

export async function brokerPasswdCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(COMMAND, argv, {
    delete: { type: 'boolean' },
    'password-stdin': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${BROKER_PASSWD_HELP}\n`);
    return EXIT.ok;
  }
  const [fileArg, username, ...extra] = positionals;
  if (fileArg === undefined || username === undefined || extra.length > 0) {
    throw new UsageError(
      `fieldmesh ${COMMAND}: expected FILE and USER, got ${positionals.length} argument(s). Run "fieldmesh ${COMMAND} --help".`,
    );
  }
  const badName = usernameProblem(username);
  if (badName !== null) throw new UsageError(`fieldmesh ${COMMAND}: ${badName}`);
  if (values.delete && values['password-stdin']) {
    throw new UsageError(`fieldmesh ${COMMAND}: --delete takes no password; leave out --password-stdin`);
  }
  const file = path.resolve(fileArg);
  try {
    // Refuse to touch a damaged file before asking for a password that could not be stored.
    const text = (await readCredentialsText(file)) ?? '';
    parseCredentials(text, file);
    if (values.delete) {
      const next = deleteCredential(text, file, username);
      if (next === null) {
        process.stderr.write(`${file} has no user "${username}"; nothing deleted\n`);
        return EXIT.input;
      }
      await writeAtomically(file, next);
      process.stdout.write(`deleted user "${username}" from ${file}\n`);
      return EXIT.ok;
    }
    const password = values['password-stdin'] ? await passwordFromStdin() : await passwordFromTerminal();
    if (password === null) {
      process.stderr.write(`cancelled; ${file} unchanged\n`);
      return EXIT.ok;
    }
    const existed = parseCredentials(text, file).has(username);
    await writeAtomically(file, setCredential(text, file, username, await hashPassword(password)));
    process.stdout.write(`${existed ? 'updated' : 'added'} user "${username}" in ${file}\n`);
    return EXIT.ok;
  } catch (err) {
    // The file is this command's input: every problem with it exits 5, one line per problem.
    if (!(err instanceof CredentialsFileError)) throw err;
    for (const problem of err.problems) process.stderr.write(`error [${err.code}]: ${problem}\n`);
    return EXIT.input;
  }
}

function checkPassword(password: string): string {
  if (password === '') throw new UsageError(`fieldmesh ${COMMAND}: the password is empty; refusing it`);
  if (/[\r\n]/.test(password)) {
    throw new UsageError(`fieldmesh ${COMMAND}: the password must be a single line`);
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw new UsageError(`fieldmesh ${COMMAND}: the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  return password;
}

/** All of stdin, less one trailing line ending (what `echo` and `printf '%s\n'` add). */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(bytes);
    size += bytes.length;
    if (size > MAX_PASSWORD_BYTES + 2) break; // checkPassword refuses it; no need to read on
  }
  return checkPassword(
    Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, ''),
  );
}

/** Asks twice without echo; null when the operator pressed Ctrl-C or Ctrl-D. */
async function passwordFromTerminal(): Promise<string | null> {
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `fieldmesh ${COMMAND}: standard input is not a terminal, so no password can be asked; ` +
        `pipe it in with --password-stdin, e.g. printf '%s\\n' "$PW" | fieldmesh ${COMMAND} FILE USER --password-stdin`,
    );
  }
  const first = await readHidden('Password: ');
  if (first === null) return null;
  checkPassword(first);
  const second = await readHidden('Password again: ');
  if (second === null) return null;
  if (first !== second) throw new UsageError(`fieldmesh ${COMMAND}: the passwords differ; nothing changed`);
  return first;
}

function readHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve) => {
    let value = '';
    const finish = (result: string | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(value);
        // Raw mode turns Ctrl-C into a byte instead of SIGINT.
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(null);
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * Writes a temporary file (mode 0600) beside FILE, syncs it, renames it over FILE and syncs
 * the directory: a power cut leaves the old file or the new one, never a torn one.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CredentialsFileError(
      'CREDENTIALS_FILE_UNWRITABLE',
      file,
      [`${file}: cannot write the credentials file (${code}); check that ${dir} exists and is writable`],
      err,
    );
  }
}
