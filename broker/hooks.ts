import type { AedesOptions, Client } from 'aedes';
import type { Logger } from 'pino';
import { ConnectRefusedError, PublishRefusedError } from './errors.js';

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3 that the hooks use. */
export const CONNACK_IDENTIFIER_REJECTED = 2;
export const CONNACK_SERVER_UNAVAILABLE = 3;

/** What the hooks need from the broker they guard. */
export interface HookContext {
  /** Refuse new clients once this many are connected; undefined means no limit. */
  readonly maxClients: number | undefined;
  /** Ids of the clients currently connected (a takeover of one of them is never refused). */
  readonly connectedIds: ReadonlySet<string>;
  /** Called for each CONNECT refused here, before the CONNACK goes out. */
  connectRefused(): void;
  /** Called for each PUBLISH (or will) allowed, before it is routed to subscribers. */
  publishAccepted(): void;
}

export type BrokerHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish'>>;

/** True for topic names under `$SYS`, which this broker keeps for itself. */
export function isReservedTopic(topic: string): boolean {
  return topic.startsWith('$SYS/') || topic === '$SYS';
}

/**
 * The broker's hooks. Each has a safe default and denies what the spec reserves; everything
 * else is allowed (authentication and ACLs are separate, later layers).
 */
export function createBrokerHooks(context: HookContext, logger: Logger): BrokerHooks {
  // aedes has already replaced an empty client id by a generated one when `authenticate` runs,
  // so `preConnect`, which still sees the CONNECT packet, marks the clients to refuse.
  const emptyIdWithSession = new WeakSet<Client>();

  return {
    preConnect(client, packet, callback) {
      if ((packet.clientId === '' || packet.clientId === undefined) && packet.clean === false) {
        emptyIdWithSession.add(client);
      }
      callback(null, true);
    },

    authenticate(client, _username, _password, done) {
      if (emptyIdWithSession.has(client)) {
        // [MQTT-3.1.3-8]: a zero-byte ClientId with CleanSession 0 MUST be answered with
        // CONNACK 0x02 (Identifier rejected) and the connection closed. aedes would accept it
        // and give the client a session nobody can ever resume.
        logger.warn(
          { remote: remoteOf(client) },
          'refused CONNECT: empty client id with a persistent session',
        );
        context.connectRefused();
        done(
          new ConnectRefusedError(
            CONNACK_IDENTIFIER_REJECTED,
            'identifier rejected: an empty client id needs clean session on [MQTT-3.1.3-8]',
          ),
          false,
        );
        return;
      }
      const { maxClients, connectedIds } = context;
      if (maxClients !== undefined && connectedIds.size >= maxClients && !connectedIds.has(client.id)) {
        logger.warn({ client: client.id, maxClients }, 'refused CONNECT: client limit reached');
        context.connectRefused();
        done(
          new ConnectRefusedError(
            CONNACK_SERVER_UNAVAILABLE,
            `server unavailable: ${maxClients} clients connected`,
          ),
          false,
        );
        return;
      }
      done(null, true);
    },

    authorizePublish(client, packet, callback) {
      // §4.7.2: the server SHOULD prevent clients from using `$` topics to talk to each other;
      // `$SYS/` carries this broker's own state. MQTT 3.1.1 has no negative PUBACK, so refusing
      // closes the connection [MQTT-3.3.5-2]. `client` is null for wills aedes republishes on
      // behalf of a client that is gone.
      if (isReservedTopic(packet.topic)) {
        logger.warn(
          { client: client?.id ?? null, topic: packet.topic },
          'refused PUBLISH to a reserved $SYS topic',
        );
        callback(new PublishRefusedError(packet.topic, '$SYS topics are reserved for the broker'));
        return;
      }
      context.publishAccepted();
      callback(null);
    },
  };
}

function remoteOf(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: string; remotePort?: number };
  return conn.remoteAddress === undefined ? undefined : `${conn.remoteAddress}:${conn.remotePort ?? ''}`;
}
