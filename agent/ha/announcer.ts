import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { topicsFor } from '../../protocol/topics.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { nodeName, SOFTWARE_VERSION } from '../node-record.js';
import {
  type DiscoveryMessage,
  type DiscoveryNode,
  type DiscoveryPipeline,
  discoveryMessages,
} from './discovery.js';

export interface HomeAssistantInit {
  node: DiscoveryNode;
  /** The pipelines to announce: enabled, with homeAssistant on. */
  pipelines: DiscoveryPipeline[];
  /** Remembers the config topics announced last, so that the ones no longer wanted are removed. */
  stateFile: string;
}

export interface HomeAssistantComponents {
  link: Pick<MqttLink, 'publish' | 'on' | 'off'>;
  logger: Logger;
}

/** The announcer's init from the agent's config; the node id is the peer id. */
export function homeAssistantInit(config: Readonly<Config>, nodeId: string): HomeAssistantInit {
  const topics = topicsFor(config.mqtt.topicRoot);
  return {
    node: {
      id: nodeId,
      name: nodeName(config.node.name),
      version: SOFTWARE_VERSION,
      recordTopic: topics.node(nodeId),
    },
    pipelines: config.pipelines
      .filter((p) => p.enabled && p.homeAssistant.enabled)
      .map((p) => ({
        id: p.id,
        resultTopic: p.results.topic ?? topics.results(p.id),
        resultQos: p.results.qos,
        homeAssistant: p.homeAssistant,
      })),
    stateFile: path.join(config.node.dataDir, 'home-assistant.json'),
  };
}

/**
 * Publishes the retained discovery configs of the opted-in pipelines each time the link
 * connects (a broker restarted without persistence has lost them), and an empty retained
 * config for each entity announced before but no longer wanted, which removes it from HA.
 */
export class HomeAssistantDiscovery {
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly onConnected = (): void => {
    this.queue = this.queue.then(() => this.announce());
  };

  constructor(
    private readonly init: HomeAssistantInit,
    private readonly components: HomeAssistantComponents,
  ) {}

  /** Listens for connections; call before the link starts so the first one is not missed. */
  start(): void {
    this.components.link.on('connected', this.onConnected);
  }

  /**
   * Not waiting for a round in flight: with the broker gone its QoS 1 publishes complete only
   * when the link stops and fails them, which it does after this.
   */
  stop(): void {
    this.stopped = true;
    this.components.link.off('connected', this.onConnected);
  }

  /** One round of announcing; logs and never throws (it runs from an event handler). */
  async announce(): Promise<void> {
    if (this.stopped) return;
    const log = this.components.logger;
    const messages = this.init.pipelines.flatMap((p) => discoveryMessages(this.init.node, p));
    const wanted = new Set(messages.map((m) => m.topic));
    const stale = (await this.announcedBefore()).filter((t) => !wanted.has(t));
    if (messages.length === 0 && stale.length === 0) return;
    const removals: DiscoveryMessage[] = stale.map((topic) => ({ topic, payload: '' }));
    try {
      await Promise.all(
        [...messages, ...removals].map((m) =>
          this.components.link.publish(m.topic, m.payload, { qos: 1, retain: true }),
        ),
      );
      await this.remember([...wanted]);
      log.info({ entities: messages.length, removed: stale.length }, 'home assistant discovery published');
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        'home assistant discovery not published; retried on reconnect',
      );
    }
  }

  private async announcedBefore(): Promise<string[]> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.init.stateFile, 'utf8'));
      const topics = (parsed as { topics?: unknown }).topics;
      return Array.isArray(topics) ? topics.filter((t): t is string => typeof t === 'string') : [];
    } catch {
      return []; // none yet, or unreadable: nothing we know of to remove
    }
  }

  private async remember(topics: string[]): Promise<void> {
    const file = this.init.stateFile;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, `${JSON.stringify({ topics: topics.sort() }, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  }
}
