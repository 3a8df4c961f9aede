import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { mdns } from '@libp2p/mdns';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import multicastDNS from 'multicast-dns';
import { FieldmeshError } from '../../protocol/errors.js';
import type { Logger } from '../log.js';

/**
 * mDNS announcement and browsing for the mesh, on top of @libp2p/mdns (which runs without a
 * libp2p node: it only needs an address manager and a logger).
 *
 * Announcement convention: each node answers PTR queries for the service tag
 * (`_fieldmesh._udp.local`) with one TXT record per IPv4 address it is reachable on:
 *
 *     dnsaddr=/ip4/<address>/tcp/<apiPort>/http/p2p/<peerId>
 *
 * i.e. the base URL of its mesh API (`http://<address>:<apiPort>`) and the PeerId whose key must
 * sign the node record served there. The library only announces private-network addresses.
 * An announcement proves nothing; discovery.ts trusts a peer only after its record verifies.
 */

export const DEFAULT_MDNS_PORT = 5353;
export const DEFAULT_SERVICE_TAG = '_fieldmesh._udp.local';
export const DEFAULT_QUERY_INTERVAL_MS = 5000;
const MDNS_GROUP = '224.0.0.251';

export interface MeshMdnsInit {
  readonly peerId: string;
  /** TCP port of this node's mesh API. */
  readonly apiPort: number;
  /**
   * IPv4 address of the one interface to multicast on (`10.0.0.2`, `127.0.0.1`). Unset: the
   * library's default (the interface of the default route), announcing every IPv4 address.
   */
  readonly interface?: string;
  /** UDP port (default 5353; tests pick their own so parallel test files never meet). */
  readonly port?: number;
  readonly serviceTag?: string;
  readonly queryIntervalMs?: number;
}

/** A peer as announced over mDNS: unverified until its node record checks out. */
export interface MdnsAnnouncement {
  readonly peerId: string;
  /** `http://<address>:<port>` from the announced `/ip4/…/tcp/…/http` multiaddr. */
  readonly apiUrl: string;
}

export interface MeshMdns {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'peer', listener: (peer: MdnsAnnouncement) => void): void;
  off(event: 'peer', listener: (peer: MdnsAnnouncement) => void): void;
}

export class MdnsInternalsChangedError extends FieldmeshError {
  constructor(missing: string) {
    super(
      'MDNS_INTERNALS_CHANGED',
      `@libp2p/mdns no longer has ${missing}, which fieldmesh needs to bind mDNS to one interface; ` +
        'pin @libp2p/mdns to 12.x or update agent/mesh/mdns.ts, or run without an mDNS interface setting',
    );
  }
}

/** The addresses to announce: the chosen interface's, or every non-loopback IPv4 address. */
export function announcedAddresses(init: MeshMdnsInit): Multiaddr[] {
  const hosts =
    init.interface !== undefined
      ? [init.interface]
      : Object.values(networkInterfaces())
          .flat()
          .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
          .map((a) => a?.address as string);
  return hosts.map((host) => multiaddr(`/ip4/${host}/tcp/${init.apiPort}/http/p2p/${init.peerId}`));
}

/** The mesh API URL in an announced multiaddr, or null when it is not `/ip4/…/tcp/…/http`. */
export function apiUrlOf(ma: Multiaddr): string | null {
  const parts = ma.getComponents();
  const [ip, tcp, http] = parts;
  if (ip?.name !== 'ip4' || tcp?.name !== 'tcp' || http?.name !== 'http') return null;
  if (parts.length > 3 && !(parts.length === 4 && parts[3]?.name === 'p2p')) return null;
  return `http://${ip.value}:${tcp.value}`;
}

/** The part of @libp2p/mdns 12's MulticastDNS that the interface override relies on. */
interface LibraryInternals {
  mdns?: multicastDNS.MulticastDNS | undefined;
  _queryInterval: ReturnType<typeof setInterval> | null;
  _onMdnsQuery(event: multicastDNS.QueryPacket): void;
  _onMdnsResponse(event: multicastDNS.ResponsePacket): void;
  _onMdnsWarning(err: Error): void;
  _onMdnsError(err: Error): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  addEventListener(type: 'peer', listener: (event: CustomEvent<LibraryPeer>) => void): void;
}

interface LibraryPeer {
  id: { toString(): string };
  multiaddrs: Multiaddr[];
}

const HANDLERS = ['_onMdnsQuery', '_onMdnsResponse', '_onMdnsWarning', '_onMdnsError'] as const;

/** Throws MdnsInternalsChangedError unless `instance` still looks like @libp2p/mdns 12. */
export function checkLibraryInternals(instance: object): asserts instance is LibraryInternals {
  for (const name of [...HANDLERS, 'stop']) {
    if (typeof (instance as Record<string, unknown>)[name] !== 'function') {
      throw new MdnsInternalsChangedError(`the method ${name}()`);
    }
  }
  for (const name of ['mdns', '_queryInterval', 'serviceTag', 'interval']) {
    if (!(name in instance)) throw new MdnsInternalsChangedError(`the field ${name}`);
  }
}

/**
 * @libp2p/mdns builds its socket with only `{ port, ip }`, so multicast-dns joins the group on
 * every interface but sends out of the default route's interface only: on a box with a LAN
 * port and an uplink, or in a test namespace, queries go to the wrong network. When an
 * interface is set we replace start() with one that builds the socket on that interface
 * (`bind: '0.0.0.0'` so group traffic is received; measured to work even on `lo` without the
 * MULTICAST flag) and wires it exactly as the library does, so the library's own stop(),
 * query answering and response parsing keep working unchanged.
 */
function bindToInterface(instance: LibraryInternals, init: MeshMdnsInit, serviceTag: string): void {
  const intervalMs = init.queryIntervalMs ?? DEFAULT_QUERY_INTERVAL_MS;
  instance.start = async () => {
    if (instance.mdns != null) return;
    const socket = multicastDNS({
      port: init.port ?? DEFAULT_MDNS_PORT,
      ip: MDNS_GROUP,
      interface: init.interface,
      bind: '0.0.0.0',
    });
    instance.mdns = socket;
    socket.on('query', instance._onMdnsQuery);
    socket.on('response', instance._onMdnsResponse);
    socket.on('warning', instance._onMdnsWarning);
    socket.on('error', instance._onMdnsError);
    const query = () => socket.query({ questions: [{ name: serviceTag, type: 'PTR' }] });
    query();
    instance._queryInterval = setInterval(query, intervalMs);
  };
}

/** The ComponentLogger shape @libp2p/mdns asks for, writing to pino at debug/warn. */
function libraryLogger(logger: Logger) {
  const forComponent = (name: string) => {
    const log = Object.assign(
      (fmt: unknown, ...args: unknown[]) => logger.debug({ name, args }, String(fmt)),
      {
        enabled: logger.isLevelEnabled('debug'),
        trace: (fmt: unknown, ...args: unknown[]) => logger.trace({ name, args }, String(fmt)),
        error: (fmt: unknown, ...args: unknown[]) =>
          logger.warn({ name, args: args.map((a) => (a instanceof Error ? a.message : a)) }, String(fmt)),
        newScope: (scope: string) => forComponent(`${name}:${scope}`),
      },
    );
    return log;
  };
  return { forComponent };
}

function announcementOf(peer: LibraryPeer, selfPeerId: string): MdnsAnnouncement | null {
  const peerId = peer.id.toString();
  if (peerId === selfPeerId) return null;
  for (const ma of peer.multiaddrs) {
    const apiUrl = apiUrlOf(ma);
    if (apiUrl !== null) return { peerId, apiUrl };
  }
  return null;
}

/** Builds the mesh's mDNS part; see the announcement convention above. */
export function createMeshMdns(init: MeshMdnsInit, components: { logger: Logger }): MeshMdns {
  const serviceTag = init.serviceTag ?? DEFAULT_SERVICE_TAG;
  const addresses = announcedAddresses(init);
  const events = new EventEmitter();
  const factory = mdns({
    serviceTag,
    interval: init.queryIntervalMs ?? DEFAULT_QUERY_INTERVAL_MS,
    port: init.port ?? DEFAULT_MDNS_PORT,
    ip: MDNS_GROUP,
  });
  // The library types its components as libp2p's full AddressManager and ComponentLogger; it
  // calls only getAddresses() and forComponent(), which is all we can offer without libp2p.
  const instance: object = factory({
    addressManager: { getAddresses: () => addresses },
    logger: libraryLogger(components.logger),
  } as unknown as Parameters<typeof factory>[0]);
  checkLibraryInternals(instance);
  if (init.interface !== undefined) bindToInterface(instance, init, serviceTag);
  instance.addEventListener('peer', (event) => {
    try {
      const announcement = announcementOf(event.detail, init.peerId);
      if (announcement !== null) events.emit('peer', announcement);
    } catch (err) {
      // A listener or a malformed answer must never break the library's receive path.
      components.logger.warn({ err }, 'mDNS announcement handling failed');
    }
  });
  return {
    start: () => instance.start(),
    stop: () => instance.stop(),
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
}
