import { z } from 'zod';
import { publicKeyFromPeerId } from '../../protocol/identity.js';

/** The `broker:` section: the embedded MQTT broker an agent can run for its site. */

const file = (what: string) => z.string().min(1).describe(`${what} (relative to the config file).`);

/** A node id (Ed25519 PeerId); shared with the mesh section. */
export const peerId = z.string().refine(
  (s) => {
    try {
      publicKeyFromPeerId(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'a node id (Ed25519 PeerId, 12D3KooW…); `fieldmesh keys show` prints one' },
);

const tlsFiles = z.strictObject({
  cert: file('Server certificate chain, PEM'),
  key: file('Private key of the certificate, PEM'),
  ca: file('CA bundle for client certificates, PEM').optional(),
  requireClientCert: z
    .boolean()
    .default(false)
    .describe('Only clients with a certificate signed by `ca` may connect.'),
});

const port = (fallback: number) => z.number().int().min(0).max(65535).default(fallback);

export const brokerSection = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Run the embedded MQTT broker (aedes) in this agent; the agent then uses it and ignores mqtt.url.',
      ),
    mode: z
      .enum(['on', 'off', 'auto'])
      .optional()
      .describe(
        'on: run the embedded broker; off: use mqtt.url; auto: use the broker a mesh peer hosts, or host it when elected (needs mesh.enabled). `broker: auto` is short for this. Absent: on when enabled is true.',
      ),
    priority: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(1)
      .describe(
        'With mode auto: election rank for hosting the site broker (highest wins, ties by node id); 0 = never host. Give the designated node a high one.',
      ),
    host: z
      .string()
      .min(1)
      .optional()
      .describe('Address the embedded broker listens on; 127.0.0.1, or 0.0.0.0 with mode auto.'),
    port: port(1883).describe('Port of the plain MQTT listener (0 = any free).'),
    tls: tlsFiles
      .extend({
        host: z.string().min(1).optional().describe('Address of the TLS listener; broker.host if absent.'),
        port: port(8883).describe('Port of the MQTT-over-TLS listener.'),
      })
      .optional()
      .describe('An MQTT-over-TLS listener (mqtts://) besides the plain one.'),
    websocket: z
      .strictObject({
        host: z
          .string()
          .min(1)
          .optional()
          .describe('Address of the WebSocket listener; broker.host if absent.'),
        port: port(8080).describe('Port of the WebSocket listener.'),
        path: z.string().startsWith('/').default('/mqtt').describe('HTTP path of MQTT over WebSocket.'),
        secure: z.boolean().default(false).describe('wss:// with the certificate of broker.tls.'),
      })
      .optional()
      .describe('An MQTT-over-WebSocket listener (ws:// or wss://) for browsers and HMIs.'),
    auth: z
      .strictObject({
        allowAnonymous: z
          .boolean()
          .default(false)
          .describe('Let clients in without a username. Only for closed test networks.'),
        credentialsFile: file(
          'Device users and their scrypt hashes, managed with `fieldmesh broker passwd`',
        ).optional(),
        trustedNodes: z
          .union([z.literal('any'), z.array(peerId)])
          .default([])
          .describe(
            'Other nodes that may log in with their node key (this node always may); "any" trusts every valid key.',
          ),
        clockSkewS: z
          .number()
          .int()
          .min(0)
          .max(86_400)
          .default(120)
          .describe("Tolerated difference between a node's clock and the broker's for node-key logins."),
      })
      .prefault({})
      .describe('Who may connect: nodes by key, devices by password, anonymous only if enabled.'),
    aclFile: file('Topic ACL (YAML: users, roles, anonymous, authenticated, nodes)')
      .optional()
      .describe('Topic ACL file; without one every authenticated client may use every topic.'),
    storage: z
      .enum(['disk', 'memory', 'redis'])
      .default('disk')
      .describe(
        'Where sessions, retained and queued messages live: disk (<dataDir>/broker, survives restarts), memory, or redis.',
      ),
    diskSync: z
      .boolean()
      .default(false)
      .describe(
        'storage: disk fsyncs every write before acknowledging it: survives power cuts, slower on SD cards.',
      ),
    redisPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)')
      .default('fieldmesh')
      .describe('Brokers sharing one Redis and one prefix act as one site broker.'),
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, 'a redis:// URL')
      .optional()
      .describe('Redis shared by several brokers acting as one (storage: redis).'),
    limits: z
      .strictObject({
        maxClients: z.number().int().min(1).optional().describe('Most clients at once; more get CONNACK 3.'),
        maxPacketBytes: z
          .number()
          .int()
          .min(64)
          .max(268_435_455)
          .default(1_048_576)
          .describe('Largest packet a client may send; a larger one closes its connection.'),
        connectTimeoutMs: z
          .number()
          .int()
          .min(100)
          .default(10_000)
          .describe('A connection must send CONNECT within this time.'),
        connectionsPerSecond: z
          .number()
          .min(0.1)
          .default(20)
          .describe('New connections per second from one address...'),
        connectionBurst: z.number().int().min(1).default(50).describe('...with bursts up to this many.'),
        drainTimeoutMs: z
          .number()
          .int()
          .min(100)
          .default(30_000)
          .describe('A subscriber that reads nothing for this long is disconnected.'),
        qos0BacklogBytes: z
          .number()
          .int()
          .min(1024)
          .default(262_144)
          .describe('QoS 0 messages to a subscriber this far behind are dropped for it.'),
        slowConsumerBytes: z
          .number()
          .int()
          .min(4096)
          .default(1_048_576)
          .describe('A subscriber this far behind is disconnected (its session keeps QoS 1 messages).'),
      })
      .prefault({})
      .describe('Bounds that keep one bad or slow client from hurting the others.'),
  })
  .superRefine((b, ctx) => {
    if (b.storage === 'redis' && b.redisUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: 'storage: redis needs redisUrl' });
    }
    if (b.websocket?.secure === true && b.tls === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['websocket', 'secure'],
        message: 'wss needs broker.tls (cert and key)',
      });
    }
  })
  .describe('The embedded broker.');

export type BrokerConfig = z.output<typeof brokerSection>;

/** What the agent does about the embedded broker: mode if set, else `enabled`. */
export function brokerMode(b: Pick<BrokerConfig, 'mode' | 'enabled'>): 'on' | 'off' | 'auto' {
  return b.mode ?? (b.enabled ? 'on' : 'off');
}

/** The listen address: as configured, else all interfaces when peers must reach it (auto). */
export function brokerHost(b: Pick<BrokerConfig, 'mode' | 'enabled' | 'host'>): string {
  return b.host ?? (brokerMode(b) === 'auto' ? '0.0.0.0' : '127.0.0.1');
}
