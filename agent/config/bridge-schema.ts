import { z } from 'zod';
import type { BridgeInit } from '../../broker/bridge/bridge.js';
import { MIN_BUDGET_BYTES } from '../../broker/bridge/bridge.js';
import { topicRuleProblems } from '../../broker/bridge/topic-rules.js';

/**
 * The `bridge:` section: selected local topics forwarded to an upstream (plant or cloud)
 * broker, stored on disk while the link is down. Absent = no bridge. See docs/bridge.md.
 */

const MIB = 1024 * 1024;
const brokerUrl = z
  .string()
  .regex(/^(mqtts?|tcp|ssl):\/\/[^\s/]+\/?$/, 'a URL such as mqtt://10.0.0.5:1883 (mqtt:// or mqtts://)');
const file = (what: string) => z.string().min(1).describe(`${what} (relative to the config file).`);

const topicRule = z.strictObject({
  filter: z.string().min(1).describe('Local topic filter to forward, e.g. plant/+/vibration.'),
  qos: z
    .union([z.literal(0), z.literal(1)])
    .default(1)
    .describe('QoS of the local subscription and of the upstream publish; 1 for at least once.'),
  stripPrefix: z
    .string()
    .min(1)
    .optional()
    .describe('Taken off the front of the local topic (a wildcard-free start of filter), e.g. plant/.'),
  remotePrefix: z.string().min(1).optional().describe('Put in front of the topic upstream, e.g. site-a/.'),
});

export const bridgeSection = z
  .strictObject({
    clientId: z
      .string()
      .min(1)
      .max(120)
      .optional()
      .describe(
        'MQTT client id on both brokers (fixed: the local broker keeps its session); defaults to fieldmesh-bridge-<node id>.',
      ),
    local: z
      .strictObject({
        url: brokerUrl
          .optional()
          .describe('The local broker; defaults to the embedded broker when it is enabled, else mqtt.url.'),
        username: z.string().optional().describe('Local broker user name, if it asks for one.'),
        password: z.string().optional().describe('Local broker password.'),
      })
      .prefault({})
      .describe('Where the forwarded topics are read.'),
    upstream: z
      .strictObject({
        url: brokerUrl.describe('The plant or cloud broker, e.g. mqtts://mqtt.example.net:8883.'),
        username: z.string().optional().describe('Upstream user name, if it asks for one.'),
        password: z.string().optional().describe('Upstream password.'),
        caFile: file(
          'CA certificates that signed the upstream certificate, PEM; system CAs if absent',
        ).optional(),
        certFile: file('Client certificate for mutual TLS, PEM').optional(),
        keyFile: file('Private key of certFile, PEM').optional(),
      })
      .describe('Where they are sent.'),
    topics: z
      .array(topicRule)
      .min(1)
      .describe('Which local topics are forwarded, under which upstream names.'),
    store: z
      .strictObject({
        dir: z
          .string()
          .min(1)
          .optional()
          .describe('Store directory (relative to the config file); defaults to <dataDir>/bridge.'),
        maxBytes: z
          .number()
          .int()
          .min(MIN_BUDGET_BYTES)
          .default(64 * MIB)
          .describe('Disk budget of messages waiting for the upstream.'),
        overflow: z
          .enum(['drop-oldest', 'drop-newest'])
          .default('drop-oldest')
          .describe(
            'When the budget is full: drop-oldest keeps the newest data, drop-newest refuses new messages.',
          ),
      })
      .prefault({})
      .describe('Store-and-forward queue on disk while the upstream is unreachable.'),
    inflight: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .default(32)
      .describe('Most messages awaiting the upstream PUBACK at once.'),
    reconnect: z
      .strictObject({
        minMs: z.number().int().min(10).default(500).describe('First reconnect delay (before jitter).'),
        maxMs: z.number().int().min(10).default(30_000).describe('Longest reconnect delay.'),
      })
      .prefault({})
      .describe('Reconnect backoff of both sides: exponential with full jitter.'),
  })
  .superRefine((b, ctx) => {
    for (const problem of topicRuleProblems(b.topics)) {
      // The problem text starts with its own path (topics[2].filter …).
      const path = /^topics\[(\d+)\]\.(\w+)/.exec(problem);
      ctx.addIssue({
        code: 'custom',
        path: path === null ? ['topics'] : ['topics', Number(path[1]), path[2]!],
        message: problem,
      });
    }
    if ((b.upstream.certFile === undefined) !== (b.upstream.keyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream', b.upstream.certFile === undefined ? 'certFile' : 'keyFile'],
        message: 'certFile and keyFile go together: give both for mutual TLS, or neither',
      });
    }
    if (b.reconnect.maxMs < b.reconnect.minMs) {
      ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxMs'], message: 'must be ≥ reconnect.minMs' });
    }
  })
  .optional()
  .describe('Forward selected local topics to an upstream broker, with store-and-forward on disk.');

export type BridgeConfig = NonNullable<z.output<typeof bridgeSection>>;

/**
 * The bridge's settings from its validated section and what the agent knows: the node id (for
 * the default client id), the data directory, and the URL of the local broker. Paths must
 * already be resolved against the config file's directory.
 */
export function bridgeInitFromConfig(
  section: BridgeConfig,
  context: { nodeId: string; dataDir: string; localUrl: string },
): BridgeInit {
  const clientId = section.clientId ?? `fieldmesh-bridge-${context.nodeId}`;
  const { local, upstream } = section;
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  return {
    local: {
      url: local.url ?? context.localUrl,
      clientId,
      ...optional('username', local.username),
      ...optional('password', local.password),
    },
    upstream: {
      url: upstream.url,
      clientId,
      ...optional('username', upstream.username),
      ...optional('password', upstream.password),
      ...optional('caFile', upstream.caFile),
      ...optional('certFile', upstream.certFile),
      ...optional('keyFile', upstream.keyFile),
    },
    topics: section.topics.map((t) => ({
      filter: t.filter,
      qos: t.qos,
      ...optional('stripPrefix', t.stripPrefix),
      ...optional('remotePrefix', t.remotePrefix),
    })),
    store: {
      dir: section.store.dir ?? `${context.dataDir}/bridge`,
      maxBytes: section.store.maxBytes,
      overflow: section.store.overflow,
    },
    inflight: section.inflight,
    reconnect: section.reconnect,
  };
}
