import { z } from 'zod';
import { DEFAULT_TOPIC_ROOT } from '../../protocol/topics.js';

/** The `mqtt:` section: how the agent reaches its site broker. */
export const mqttSection = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|tcp):\/\/[^\s]+$/, 'a URL such as mqtt://127.0.0.1:1883 (mqtt:// or mqtts://)')
      .default('mqtt://127.0.0.1:1883')
      .describe('The site broker. Env: FIELDMESH_MQTT_URL.'),
    clientId: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('MQTT client id; defaults to fieldmesh-<node id>.'),
    username: z.string().optional().describe('Broker user name, if the broker asks for one.'),
    password: z.string().optional().describe('Broker password. Env: FIELDMESH_MQTT_PASSWORD.'),
    nodeLogin: z
      .boolean()
      .default(true)
      .describe(
        'Without a username, log in with the node key (username = node id, password = a signed token; fieldmesh brokers check it, others take it as any username).',
      ),
    protocolVersion: z
      .union([z.literal(4), z.literal(5), z.literal('auto')])
      .default('auto')
      .describe(
        "4 = MQTT 3.1.1, 5 = MQTT 5; 'auto' offers 5 and falls back to 3.1.1 when the broker refuses it (aedes), then keeps what the broker accepted.",
      ),
    keepaliveS: z.number().int().min(5).max(3600).default(30).describe('Keep-alive interval, seconds.'),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('How long the first connection may take before start-up fails.'),
    topicRoot: z.string().min(1).default(DEFAULT_TOPIC_ROOT).describe('Prefix of every mesh topic.'),
    reconnect: z
      .strictObject({
        minMs: z.number().int().min(10).default(500).describe('First reconnect delay (before jitter).'),
        maxMs: z.number().int().min(10).default(30_000).describe('Longest reconnect delay.'),
      })
      .prefault({})
      .describe('Reconnect backoff: exponential with full jitter.'),
    tls: z
      .strictObject({
        ca: z
          .string()
          .min(1)
          .optional()
          .describe("PEM file of the CA that signed the broker's certificate; without it, the system CAs."),
        cert: z
          .string()
          .min(1)
          .optional()
          .describe('PEM client certificate, for brokers that ask for one (with key).'),
        key: z.string().min(1).optional().describe('PEM private key of cert (unencrypted).'),
        rejectUnauthorized: z
          .boolean()
          .default(true)
          .describe('Refuse a broker whose certificate does not verify; false only for experiments.'),
        servername: z
          .string()
          .min(1)
          .optional()
          .describe("Name the broker's certificate must carry, when mqtt.url uses another (e.g. an IP)."),
      })
      .optional()
      .describe('TLS for mqtts:// URLs. Files are read when the agent starts.'),
  })
  .describe('Connection to the site broker.');
