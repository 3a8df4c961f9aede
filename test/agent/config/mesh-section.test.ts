import { describe, expect, it } from 'vitest';
import { brokerHost, brokerMode } from '../../../agent/config/broker-schema.js';
import { ConfigInvalidError } from '../../../agent/config/errors.js';
import { parseConfigText } from '../../../agent/config/load.js';

const FILE = '/srv/site.yaml';
const parse = (text: string) => parseConfigText(text, FILE, { env: {} });

function problemsOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('mesh and broker: auto settings', () => {
  it('reads `broker: auto` as mode auto, listening on every interface', () => {
    const cfg = parse('broker: auto\nmesh: { enabled: true }\n');
    expect(brokerMode(cfg.broker)).toBe('auto');
    expect(brokerHost(cfg.broker)).toBe('0.0.0.0');
    expect(cfg.broker.priority).toBe(1);
    expect(cfg.mesh.trustedNodes).toBe('any');
  });

  it('keeps broker.enabled meaning on, and loopback as the default address', () => {
    const cfg = parse('broker: { enabled: true }\n');
    expect(brokerMode(cfg.broker)).toBe('on');
    expect(brokerHost(cfg.broker)).toBe('127.0.0.1');
    expect(brokerMode(parse('{}\n').broker)).toBe('off');
  });

  it('refuses broker: auto and peer placement without the mesh, saying what to set', () => {
    const text = `broker: auto
models: [{ id: m, manifest: m.json }]
pipelines: [{ id: p, model: m, input: { topic: a/+ }, placement: peer }]
`;
    const message = problemsOf(text);
    expect(message).toMatch(/broker\.mode.*mesh\.enabled: true/s);
    expect(message).toMatch(/pipelines\[0\]\.placement.*mesh\.enabled: true/s);
  });

  it('checks mesh values: interface address, service tag, trusted node ids', () => {
    const message = problemsOf(
      'mesh: { enabled: true, interface: eth0, serviceTag: fieldmesh, trustedNodes: [nobody] }\n',
    );
    expect(message).toMatch(/mesh\.interface/);
    expect(message).toMatch(/mesh\.serviceTag/);
    expect(message).toMatch(/mesh\.trustedNodes/);
  });
});
