import type { AedesOptions, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { Acl, AclClient, Decision } from './acl.js';
import type { BrokerAuthenticator } from './auth.js';
import { ConnectRefusedError } from './errors.js';
import { LogThrottle } from './log-throttle.js';

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3 that the hooks use. */
export const CONNACK_IDENTIFIER_REJECTED = 2;
export const CONNACK_SERVER_UNAVAILABLE = 3;
export const CONNACK_NOT_AUTHORIZED = 5;

/** What the hooks count; the broker reads these for its counters. */
export interface HookCounts {
  connectsRefused: number;
  /** CONNECTs refused for bad or missing credentials (part of connectsRefused). */
  authFailures: number;
  messagesPublished: number;
  /** PUBLISHes acknowledged but dropped because the ACL denies them. */
  publishesDenied: number;
  subscriptionsDenied: number;
  /** QoS 0 messages not sent to a subscriber whose socket was too far behind. */
  droppedSlowConsumer: number;
  /** Subscribers disconnected for falling more than limits.slowConsumerBytes behind. */
  slowConsumersDisconnected: number;
}

/** What the hooks need from the broker they guard. */
export interface HookContext {
  /** Refuse new clients once this many are connected; undefined means no limit. */
  readonly maxClients: number | undefined;
  /** Ids of the clients currently connected (a takeover of one of them is never refused). */
  readonly connectedIds: ReadonlySet<string>;
  readonly auth: BrokerAuthenticator;
  readonly acl: Acl;
  /** Unsent bytes a subscriber may have before QoS 0 messages to it are dropped. */
  readonly qos0BacklogBytes: number;
  /** Unsent bytes past which a subscriber is disconnected. */
  readonly slowConsumerBytes: number;
  readonly counts: HookCounts;
  /**
   * PUBLISH packets the ACL denied. MQTT 3.1.1 lets a server acknowledge a PUBLISH it will not
   * deliver [MQTT-3.3.5-2]; the broker's publish step skips these, so the client gets its PUBACK
   * and keeps its connection, and nobody receives the message.
   */
  readonly denied: WeakSet<object>;
}

export type BrokerHooks = Required<
  Pick<
    AedesOptions,
    'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'
  >
>;

/** What the hooks know of a connected client: who it proved to be, and its publish decisions. */
interface Principal {
  readonly acl: AclClient;
  readonly published: Map<string, Decision>;
}

const MAX_MEMO_TOPICS = 1024;

/** True for topic names under `$SYS`, which this broker keeps for itself. */
export function isReservedTopic(topic: string): boolean {
  return topic.startsWith('$SYS/') || topic === '$SYS';
}

/** The broker's hooks: identity at CONNECT, the ACL at PUBLISH and SUBSCRIBE, backlog at delivery. */
export function createBrokerHooks(context: HookContext, logger: Logger): BrokerHooks {
  const { counts, acl } = context;
  // aedes has already replaced an empty client id by a generated one when `authenticate` runs,
  // so `preConnect`, which still sees the CONNECT packet, marks the clients to refuse.
  const emptyIdWithSession = new WeakSet<Client>();
  const wills = new WeakMap<Client, string>();
  const principals = new WeakMap<Client, Principal>();
  const throttle = new LogThrottle();
  const cutOff = new WeakSet<Client>();

  /**
   * A client's decision for a topic never changes while it is connected (same identity, same
   * rules), and sensors publish to the same few topics over and over: the ACL is evaluated once
   * per client and topic. The memo is bounded and lives as long as the connection.
   */
  const publishDecision = (client: Client, topic: string): Decision => {
    const principal = principals.get(client);
    if (principal === undefined) return acl.canPublish({ clientId: client.id }, topic);
    let decision = principal.published.get(topic);
    if (decision === undefined) {
      decision = acl.canPublish(principal.acl, topic);
      if (principal.published.size >= MAX_MEMO_TOPICS) principal.published.clear();
      principal.published.set(topic, decision);
    }
    return decision;
  };

  const refuse = (
    client: Client,
    code: 2 | 3 | 4 | 5,
    reason: string,
    done: (e: ConnectRefusedError, ok: false) => void,
  ) => {
    counts.connectsRefused++;
    if (code === 4 || code === 5) counts.authFailures++;
    const remote = remoteAddressOf(client);
    const held = throttle.admit(`connect:${remote ?? '?'}:${code}`);
    if (held >= 0) logger.warn({ client: client.id, remote, code, held }, `refused CONNECT: ${reason}`);
    done(new ConnectRefusedError(code, reason), false);
  };

  return {
    preConnect(client, packet, callback) {
      if ((packet.clientId === '' || packet.clientId === undefined) && packet.clean === false) {
        emptyIdWithSession.add(client);
      }
      if (packet.will?.topic !== undefined) wills.set(client, packet.will.topic);
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      if (emptyIdWithSession.has(client)) {
        // [MQTT-3.1.3-8]: a zero-byte ClientId with CleanSession 0 MUST be answered with
        // CONNACK 0x02 and the connection closed; aedes would give it a session nobody can resume.
        refuse(
          client,
          CONNACK_IDENTIFIER_REJECTED,
          'empty client id with a persistent session [MQTT-3.1.3-8]',
          done,
        );
        return;
      }
      const { maxClients, connectedIds } = context;
      if (maxClients !== undefined && connectedIds.size >= maxClients && !connectedIds.has(client.id)) {
        refuse(client, CONNACK_SERVER_UNAVAILABLE, `client limit of ${maxClients} reached`, done);
        return;
      }
      context.auth.check(client.id, username, password).then(
        (outcome) => {
          if (!outcome.ok) return refuse(client, outcome.code, outcome.reason, done);
          const will = wills.get(client);
          if (will !== undefined) {
            const decision = acl.canPublish(outcome.principal, will);
            if (!decision.allowed) {
              return refuse(
                client,
                CONNACK_NOT_AUTHORIZED,
                `will topic ${JSON.stringify(will)}: ${decision.reason}`,
                done,
              );
            }
          }
          principals.set(client, { acl: outcome.principal, published: new Map() });
          done(null, true);
        },
        (err: Error) =>
          refuse(client, CONNACK_SERVER_UNAVAILABLE, `authentication failed: ${err.message}`, done),
      );
    },

    authorizePublish(client, packet, callback) {
      // `client` is null for wills aedes republishes for a client that is gone: their topic was
      // checked when that client connected.
      if (client !== null) {
        const decision = publishDecision(client, packet.topic);
        if (!decision.allowed) {
          counts.publishesDenied++;
          context.denied.add(packet);
          const held = throttle.admit(`pub:${client.id}:${packet.topic}`);
          if (held >= 0)
            logger.warn(
              { client: client.id, topic: packet.topic, held },
              `dropped PUBLISH: ${decision.reason}`,
            );
          callback(null);
          return;
        }
      }
      counts.messagesPublished++;
      callback(null);
    },

    authorizeSubscribe(client, sub, callback) {
      const principal = principals.get(client)?.acl ?? { clientId: client.id };
      const decision = acl.canSubscribe(principal, sub.topic);
      if (decision.allowed) {
        callback(null, sub);
        return;
      }
      counts.subscriptionsDenied++;
      const held = throttle.admit(`sub:${client.id}:${sub.topic}`);
      if (held >= 0)
        logger.warn(
          { client: client.id, filter: sub.topic, held },
          `refused SUBSCRIBE (SUBACK 0x80): ${decision.reason}`,
        );
      // A null subscription is answered with return code 0x80 in the SUBACK.
      callback(null, null as unknown as Subscription);
    },

    authorizeForward(client, packet) {
      const backlog = (client.conn as { writableLength?: number }).writableLength ?? 0;
      if (backlog <= context.qos0BacklogBytes) return packet;
      if (packet.qos === 0) {
        counts.droppedSlowConsumer++;
        return null;
      }
      if (backlog > context.slowConsumerBytes && !cutOff.has(client)) {
        cutOff.add(client);
        counts.slowConsumersDisconnected++;
        logger.warn(
          { client: client.id, backlogBytes: backlog },
          'disconnected a subscriber that stopped reading (broker.limits.slowConsumerBytes); its session keeps QoS 1 messages',
        );
        setImmediate(() => disconnectSlow(client));
      }
      // QoS 1/2 goes on: aedes stores it in the session before writing, so a persistent
      // subscriber cut off here receives it when it reconnects.
      return packet;
    },
  };
}

/** Makes aedes skip the publish step for packets the hooks denied (it has already acked them). */
export function skipDeniedPublishes(aedes: object, denied: WeakSet<object>): void {
  // aedes's typings give publish(packet, callback); client.js calls publish(packet, client, done).
  type Publish = (packet: PublishPacket, client: unknown, done?: (err?: Error) => void) => void;
  const target = aedes as { publish: Publish };
  const publish = target.publish.bind(aedes);
  target.publish = (packet, client, done) => {
    if (denied.has(packet)) {
      (done ?? noop)();
      return;
    }
    publish(packet, client, done);
  };
}

const noop = () => {};

/**
 * Ends a slow subscriber's connection the way aedes's drain timeout does (its pending writes are
 * failed, which frees the deliveries waiting on them), without waiting for that timeout.
 */
function disconnectSlow(client: Client): void {
  const c = client as unknown as {
    _handleDrainTimeout?: () => void;
    _drainTimer?: unknown;
    conn: { destroy(): void };
  };
  if (typeof c._handleDrainTimeout === 'function' && c._drainTimer) {
    clearTimeout(c._drainTimer as NodeJS.Timeout);
    c._handleDrainTimeout();
  } else {
    c.conn.destroy();
  }
}

/**
 * The client's remote address: its socket's for TCP and TLS; for WebSocket clients, whose stream
 * is not a socket, that of the HTTP request's socket. Undefined once the connection is gone.
 */
export function remoteAddressOf(client: {
  conn: unknown;
  req?: { socket?: { remoteAddress?: string | undefined } } | null;
}): string | undefined {
  return (client.conn as { remoteAddress?: string }).remoteAddress ?? client.req?.socket?.remoteAddress;
}
