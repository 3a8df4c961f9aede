import { describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '../../../agent/config/errors.js';
import { parseConfigText } from '../../../agent/config/load.js';

const parse = (text: string) => parseConfigText(text, '/etc/fieldmesh/site.yaml', { env: {} });

function problemsOf(text: string) {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as ConfigInvalidError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('config: mqtt section', () => {
  it("negotiates the MQTT version unless told ('auto') and has no TLS settings by default", () => {
    const cfg = parse('{}');
    expect(cfg.mqtt.protocolVersion).toBe('auto');
    expect(cfg.mqtt.tls).toBeUndefined();
    expect(parse('mqtt: { protocolVersion: 4 }').mqtt.protocolVersion).toBe(4);
  });

  it('takes TLS files and verifies certificates unless told otherwise', () => {
    const cfg = parse('mqtt: { url: "mqtts://broker.local", tls: { ca: /etc/fieldmesh/ca.pem } }');
    expect(cfg.mqtt.tls).toEqual({ ca: '/etc/fieldmesh/ca.pem', rejectUnauthorized: true });
  });

  it('refuses a client certificate without its key, and an MQTT version it does not speak', () => {
    expect(problemsOf('mqtt: { tls: { cert: client.pem } }')).toContainEqual(
      expect.objectContaining({ path: 'mqtt.tls.key', found: 'nothing, while mqtt.tls.cert is set' }),
    );
    expect(problemsOf('mqtt: { protocolVersion: 3 }').map((p) => p.path)).toContain('mqtt.protocolVersion');
  });
});
