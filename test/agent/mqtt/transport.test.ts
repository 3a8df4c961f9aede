import { describe, expect, it } from 'vitest';
import { parseBrokerUrl } from '../../../agent/mqtt/transport.js';
import { hasCode } from '../../../protocol/errors.js';

describe('broker URL', () => {
  it('reads TCP URLs with and without a port', () => {
    expect(parseBrokerUrl('mqtt://127.0.0.1:1884')).toEqual({
      protocol: 'mqtt',
      host: '127.0.0.1',
      port: 1884,
      displayUrl: 'mqtt://127.0.0.1:1884',
    });
    expect(parseBrokerUrl('tcp://broker.local').port).toBe(1883);
    expect(parseBrokerUrl('tcp://broker.local').displayUrl).toBe('mqtt://broker.local:1883');
  });

  it('reads TLS URLs, defaulting to 8883', () => {
    expect(parseBrokerUrl('mqtts://broker.example.org')).toMatchObject({ protocol: 'mqtts', port: 8883 });
    expect(parseBrokerUrl('ssl://broker.example.org:9883')).toMatchObject({ protocol: 'mqtts', port: 9883 });
  });

  it('unwraps IPv6 literals for the socket and keeps brackets for display', () => {
    expect(parseBrokerUrl('mqtt://[::1]:1883')).toMatchObject({
      host: '::1',
      displayUrl: 'mqtt://[::1]:1883',
    });
  });

  it('takes credentials out of the URL and keeps them out of the display form', () => {
    const target = parseBrokerUrl('mqtt://sensor%40site:p%3Ass@10.0.0.2');
    expect(target).toMatchObject({
      username: 'sensor@site',
      password: 'p:ss',
      displayUrl: 'mqtt://10.0.0.2:1883',
    });
  });

  it('refuses what the link cannot dial, naming mqtt.url', () => {
    for (const url of ['ws://127.0.0.1:9001', 'wss://h/mqtt', 'http://h', 'not a url', 'mqtt://']) {
      let err: unknown;
      try {
        parseBrokerUrl(url);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'MQTT_CONFIG_INVALID'), url).toBe(true);
      expect((err as Error).message).toMatch(/^mqtt\.url /);
    }
  });
});
