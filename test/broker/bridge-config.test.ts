import { describe, expect, it } from 'vitest';
import { bridgeInitFromConfig, bridgeSection } from '../../agent/config/bridge-schema.js';
import { createBridge } from '../../broker/bridge/bridge.js';
import { hasCode } from '../../protocol/errors.js';
import { quietLogger } from '../helpers/broker.js';

describe('bridge config section', () => {
  it('fills defaults, and maps to settings the bridge accepts', () => {
    const section = bridgeSection.parse({
      upstream: { url: 'mqtts://mqtt.example.net:8883' },
      topics: [{ filter: 'plant/+/vibration', remotePrefix: 'site-a/' }],
    });
    expect(section).toMatchObject({
      store: { maxBytes: 64 * 1024 * 1024, overflow: 'drop-oldest' },
      inflight: 32,
      topics: [{ filter: 'plant/+/vibration', qos: 1, remotePrefix: 'site-a/' }],
    });
    const init = bridgeInitFromConfig(section!, {
      nodeId: '12D3KooWabc',
      dataDir: '/var/lib/fieldmesh',
      localUrl: 'mqtt://127.0.0.1:1883',
    });
    expect(init).toMatchObject({
      local: { url: 'mqtt://127.0.0.1:1883', clientId: 'fieldmesh-bridge-12D3KooWabc' },
      store: { dir: '/var/lib/fieldmesh/bridge' },
    });
    expect(() => createBridge(init, { logger: quietLogger })).not.toThrow();
  });

  it('reports overlapping filters and a lone client certificate with their paths', () => {
    const result = bridgeSection.safeParse({
      upstream: { url: 'mqtts://up:8883', certFile: 'c.pem' },
      topics: [{ filter: 'plant/#' }, { filter: 'plant/l1/+' }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([
      'topics.1.filter',
      'upstream.keyFile',
    ]);
  });

  it('makes createBridge list every unusable setting at once', () => {
    try {
      createBridge(
        {
          local: { url: 'http://x', clientId: 'a' },
          upstream: { url: 'mqtt://up:1883', clientId: 'a' },
          topics: [],
          store: { dir: '/tmp/x', maxBytes: 10 },
        },
        { logger: quietLogger },
      );
      expect.unreachable();
    } catch (err) {
      expect(hasCode(err, 'BRIDGE_CONFIG_INVALID')).toBe(true);
      expect((err as { problems: string[] }).problems).toHaveLength(3);
    }
  });
});
