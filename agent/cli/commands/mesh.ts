import { hostname } from 'node:os';
import path from 'node:path';
import { loadOrCreateIdentity } from '../../../protocol/keystore.js';
import { createLogger } from '../../log.js';
import { createMeshApiServer } from '../../mesh/api-server.js';
import { createDiscovery, DISCOVERY_DEFAULTS } from '../../mesh/discovery.js';
import { announcedAddresses, DEFAULT_MDNS_PORT, DEFAULT_SERVICE_TAG } from '../../mesh/mdns.js';
import type { MeshPeer } from '../../mesh/peer.js';
import { SOFTWARE_VERSION } from '../../node-record.js';
import { intOption, numberOption, parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const DEFAULT_MESH_API_PORT = 8721;

export const MESH_HELP = `fieldmesh mesh peers [options]

Finds the other fieldmesh nodes on this LAN over mDNS and prints each one whose signed node
record verifies against its PeerId, as it appears and as it leaves. It also serves this node's
own record (mesh API) and announces it, so other nodes see this one. Runs until Ctrl-C or
--duration.

Options:
  --data-dir DIR         the node's data directory, for its key (default $FIELDMESH_DATA_DIR or ./data)
  --interface IP         IPv4 address of the one interface to use for mDNS and the mesh API
                         (default: every interface; multicast leaves by the default route)
  --mdns-port P          mDNS UDP port (default ${DEFAULT_MDNS_PORT})
  --service-tag T        mDNS service tag (default ${DEFAULT_SERVICE_TAG})
  --api-port N           mesh API TCP port (default ${DEFAULT_MESH_API_PORT}; 0 picks a free one)
  --refresh-ms N         re-verify each peer's record this often (default ${DISCOVERY_DEFAULTS.refreshMs})
  --peer-timeout-ms N    drop a peer without a verified record for this long (default ${DISCOVERY_DEFAULTS.peerTimeoutMs})
  --duration S           stop after S seconds
  --json                 one JSON object per line: {"event":"ready"|"added"|"updated"|"removed",…}
  -h, --help             this help

${EXIT_HELP}`;

export async function meshCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('mesh', argv, {
    'data-dir': { type: 'string' },
    interface: { type: 'string' },
    'mdns-port': { type: 'string' },
    'service-tag': { type: 'string' },
    'api-port': { type: 'string' },
    'refresh-ms': { type: 'string' },
    'peer-timeout-ms': { type: 'string' },
    duration: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${MESH_HELP}\n`);
    return 0;
  }
  if (positionals[0] !== 'peers' || positionals.length > 1) {
    throw new UsageError(
      `fieldmesh mesh: unknown verb "${positionals.join(' ')}"; use "fieldmesh mesh peers"`,
    );
  }
  const iface = values.interface;
  if (iface !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(iface)) {
    throw new UsageError(
      `fieldmesh mesh: --interface takes an IPv4 address such as 10.0.0.2, got "${iface}"`,
    );
  }
  const mdnsPort = intOption('mesh', 'mdns-port', values['mdns-port'], 1, 65535) ?? DEFAULT_MDNS_PORT;
  const apiPort = intOption('mesh', 'api-port', values['api-port'], 0, 65535) ?? DEFAULT_MESH_API_PORT;
  const refreshMs = intOption('mesh', 'refresh-ms', values['refresh-ms'], 100, 3_600_000);
  const peerTimeoutMs = intOption('mesh', 'peer-timeout-ms', values['peer-timeout-ms'], 100, 86_400_000);
  const duration = numberOption('mesh', 'duration', values.duration, 0);
  const json = values.json === true;

  const dataDir = path.resolve(values['data-dir'] ?? process.env.FIELDMESH_DATA_DIR ?? './data');
  const { identity } = await loadOrCreateIdentity(dataDir);
  // stdout carries the peer list; logs go to stderr.
  const logger = createLogger({
    level: process.env.FIELDMESH_LOG_LEVEL ?? 'warn',
    format: 'json',
    destination: process.stderr,
  });
  const api = createMeshApiServer(
    { host: iface ?? '0.0.0.0', port: apiPort, trustedNodes: 'any' },
    {
      identity,
      logger: logger.child({ component: 'mesh-api' }),
      nodeRecord: () => discovery.signedRecord(),
      modelFile: () => null,
    },
  );
  await api.start();
  const advertisedHost = iface ?? firstAddress(api.port) ?? '127.0.0.1';
  const mdnsInit = {
    apiPort: api.port,
    port: mdnsPort,
    serviceTag: values['service-tag'] ?? DEFAULT_SERVICE_TAG,
    ...(iface === undefined ? {} : { interface: iface }),
  };
  const discovery = createDiscovery(
    {
      mdns: mdnsInit,
      trustedNodes: 'any',
      ...(refreshMs === undefined ? {} : { refreshMs }),
      ...(peerTimeoutMs === undefined ? {} : { peerTimeoutMs }),
    },
    {
      identity,
      logger: logger.child({ component: 'discovery' }),
      record: () => ({
        name: hostname().slice(0, 64),
        softwareVersion: SOFTWARE_VERSION,
        apiUrl: `http://${advertisedHost}:${api.port}`,
        brokerUrl: '',
        brokerPriority: 0,
        offloadSlots: 0,
        loadPermille: 0,
        models: [],
      }),
    },
  );
  const print = printer(json);
  for (const event of ['added', 'updated', 'removed'] as const) {
    discovery.on(event, (peer) => print(event, peer));
  }
  print('ready', { peerId: identity.peerId, apiUrl: `http://${advertisedHost}:${api.port}` });
  // The API already listens (its port goes into the announcement); the lifecycle only stops it.
  const apiPart = { start: async () => {}, stop: () => api.stop() };
  await runUntilStopped([apiPart, { start: () => discovery.start(), stop: () => discovery.stop() }], {
    logger,
    ...(duration === undefined ? {} : { durationMs: duration * 1000 }),
  });
  return 0;
}

function firstAddress(port: number): string | undefined {
  const [first] = announcedAddresses({ peerId: 'x', apiPort: port });
  return first?.getComponents()[0]?.value;
}

function printer(json: boolean) {
  return (event: string, peer: Pick<MeshPeer, 'peerId' | 'apiUrl'> & Partial<MeshPeer>) => {
    if (json) {
      const { publicKey: _key, ...rest } = peer;
      process.stdout.write(`${JSON.stringify({ event, ...rest })}\n`);
      return;
    }
    const mark = { ready: '=', added: '+', updated: '~', removed: '-' }[event] ?? '?';
    const models = peer.models?.map((m) => m.id).join(',') ?? '';
    process.stdout.write(`${mark} ${peer.peerId} ${peer.name ?? '(this node)'} ${peer.apiUrl} ${models}\n`);
  };
}
