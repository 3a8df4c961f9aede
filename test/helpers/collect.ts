import type { MqttClient } from 'mqtt';
import { withTimeout } from './wait-for.js';

/** Every JSON message an MQTT client receives on topics matching `match`, in arrival order. */
export class Collector<T = Record<string, unknown>> {
  readonly messages: { topic: string; body: T; retain: boolean }[] = [];
  private waiters: (() => void)[] = [];

  constructor(client: MqttClient, match: (topic: string) => boolean) {
    client.on('message', (topic, payload, packet) => {
      if (!match(topic)) return;
      this.messages.push({ topic, body: JSON.parse(payload.toString()) as T, retain: packet.retain });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Resolves once `predicate` holds for the messages so far; rejects after the timeout. */
  async until(
    predicate: (msgs: this['messages']) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<void> {
    const check = async () => {
      while (!predicate(this.messages)) await new Promise<void>((r) => this.waiters.push(r));
    };
    await withTimeout(check(), what, timeoutMs);
  }

  bodies(): T[] {
    return this.messages.map((m) => m.body);
  }
}
