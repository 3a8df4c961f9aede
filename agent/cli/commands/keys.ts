import path from 'node:path';
import { keyFileMode, keyFilePath, loadOrCreateIdentity, readIdentity } from '../../../protocol/keystore.js';
import { parse, UsageError } from '../args.js';
import { EXIT, EXIT_HELP } from '../exit-codes.js';

export const KEYS_HELP = `fieldmesh keys [show|create] [--data-dir DIR] [--json]

The node identity: one Ed25519 key pair in DIR/node-key.json (mode 0600). Its PeerId
(12D3KooW…) names the node in MQTT topics, mDNS and receipts.

  show     print the node id and key file (default; exit 5 if there is no key yet)
  create   create the key if there is none (never replaces an existing one), then show it

Options:
  --data-dir DIR   the node's data directory (default $FIELDMESH_DATA_DIR or ./data)
  --json           machine-readable output
  -h, --help       this help

${EXIT_HELP}`;

export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('keys', argv, {
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${KEYS_HELP}\n`);
    return 0;
  }
  const verb = positionals[0] ?? 'show';
  if ((verb !== 'show' && verb !== 'create') || positionals.length > 1) {
    throw new UsageError(`fieldmesh keys: unknown verb "${positionals.join(' ')}"; use show or create`);
  }
  const dataDir = path.resolve(values['data-dir'] ?? process.env.FIELDMESH_DATA_DIR ?? './data');
  let identity = await readIdentity(dataDir);
  let created = false;
  if (!identity) {
    if (verb === 'show') {
      process.stderr.write(`no node key in ${dataDir}: run "fieldmesh keys create --data-dir ${dataDir}"\n`);
      return EXIT.input;
    }
    ({ identity, created } = await loadOrCreateIdentity(dataDir));
  }
  const file = keyFilePath(dataDir);
  const mode = await keyFileMode(dataDir);
  const info = {
    nodeId: identity.peerId,
    publicKey: Buffer.from(identity.publicKey).toString('hex'),
    file,
    created,
    mode: `0${mode.toString(8)}`,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
  } else {
    process.stdout.write(
      `${created ? 'created a new node identity\n' : ''}node id     ${info.nodeId}\npublic key  ${info.publicKey}\nkey file    ${file} (mode ${info.mode})\n`,
    );
  }
  if ((mode & 0o077) !== 0)
    process.stderr.write(`warning: ${file} is readable by other users; run "chmod 600 ${file}"\n`);
  return 0;
}
