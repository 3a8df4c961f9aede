import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import { discoveryMessages } from '../../../agent/ha/discovery.js';
import { haDeviceId, haSafeId, haUniqueId } from '../../../agent/ha/ids.js';
import { renderValueTemplate } from './template.js';

const NODE = '12D3KooWAbcDefGhi';
const node = { id: NODE, name: 'shed-pi', version: '0.1.0', recordTopic: `fieldmesh/v1/nodes/${NODE}` };
const pipeline = {
  id: 'press-line',
  resultTopic: 'fieldmesh/v1/pipelines/press-line/results',
  resultQos: 1 as const,
  homeAssistant: { enabled: true, discoveryPrefix: 'homeassistant' },
};

describe('haSafeId', () => {
  it('keeps ids made of [a-zA-Z0-9_-] as they are', () => {
    expect(haSafeId('press-line_2')).toBe('press-line_2');
    expect(haSafeId(NODE)).toBe(NODE);
  });

  it('makes odd ids safe, stable and distinct', () => {
    const ids = ['a.b', 'a/b', 'a b', 'a+b', '#', 'é', 'a_b'];
    const safe = ids.map(haSafeId);
    for (const s of safe) expect(s).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(new Set(safe).size).toBe(ids.length);
    expect(safe.map((s, i) => haSafeId(ids[i] as string) === s)).not.toContain(false);
    expect(haSafeId('a.b')).toMatch(/^a_b_[0-9a-f]{8}$/);
  });

  it('builds device and unique ids from node and pipeline', () => {
    expect(haDeviceId(NODE)).toBe(`fieldmesh_${NODE}`);
    expect(haUniqueId(NODE, 'press', 'anomaly')).toBe(`fieldmesh_${NODE}_press_anomaly`);
  });
});

describe('discoveryMessages', () => {
  const [binary, sensor] = discoveryMessages(node, pipeline).map((m) => ({
    topic: m.topic,
    config: JSON.parse(m.payload) as Record<string, unknown>,
  }));

  it('announces a binary_sensor and a sensor on the discovery topics', () => {
    expect(binary?.topic).toBe(`homeassistant/binary_sensor/fieldmesh_${NODE}/press-line_anomaly/config`);
    expect(sensor?.topic).toBe(`homeassistant/sensor/fieldmesh_${NODE}/press-line_anomaly_score/config`);
  });

  it('fills the entity, device and availability fields', () => {
    expect(binary?.config).toMatchObject({
      name: 'press-line anomaly',
      unique_id: `fieldmesh_${NODE}_press-line_anomaly`,
      device_class: 'problem',
      state_topic: pipeline.resultTopic,
      json_attributes_topic: pipeline.resultTopic,
      payload_on: 'ON',
      payload_off: 'OFF',
      qos: 1,
      device: {
        identifiers: [`fieldmesh_${NODE}`],
        name: 'shed-pi',
        manufacturer: 'fieldmesh',
        sw_version: '0.1.0',
      },
      availability: [
        {
          topic: node.recordTopic,
          value_template: '{{ value_json.status }}',
          payload_available: 'online',
          payload_not_available: 'offline',
        },
      ],
    });
    expect(sensor?.config).toMatchObject({
      name: 'press-line anomaly score',
      unique_id: `fieldmesh_${NODE}_press-line_anomaly_score`,
      state_class: 'measurement',
    });
    expect(sensor?.config.device_class).toBeUndefined();
  });

  it('uses the configured name and prefix', () => {
    const msgs = discoveryMessages(node, {
      ...pipeline,
      homeAssistant: { enabled: true, discoveryPrefix: 'ha', name: 'Press line' },
    });
    expect(msgs[0]?.topic.startsWith('ha/binary_sensor/')).toBe(true);
    expect(JSON.parse(msgs[1]?.payload ?? '{}').name).toBe('Press line anomaly score');
  });

  it("renders this node's verdicts and ignores other nodes and calibration results", () => {
    const anomaly = binary?.config.value_template as string;
    const score = sensor?.config.value_template as string;
    const mine = { node: NODE, score: 0.42, anomaly: true };
    expect(renderValueTemplate(anomaly, mine)).toBe('ON');
    expect(renderValueTemplate(anomaly, { ...mine, anomaly: false })).toBe('OFF');
    expect(renderValueTemplate(score, mine)).toBe('0.42');
    expect(renderValueTemplate(anomaly, { ...mine, node: '12D3KooWOther' })).toBe('');
    expect(renderValueTemplate(score, { node: NODE, calibrating: { done: 1, of: 10 } })).toBe('');
  });
});

describe('homeAssistant config', () => {
  const withHa = (homeAssistant: unknown) =>
    validateConfig(
      {
        models: [{ id: 'm', manifest: 'm.json' }],
        pipelines: [{ id: 'p', model: 'm', input: { topic: 's/+' }, homeAssistant } as never],
      },
      'test.yaml',
      { env: {} },
    ).pipelines[0]?.homeAssistant;

  it('is off by default', () => {
    expect(withHa(undefined)).toEqual({ enabled: false, discoveryPrefix: 'homeassistant' });
  });

  it('takes true as shorthand and the full form', () => {
    expect(withHa(true)).toEqual({ enabled: true, discoveryPrefix: 'homeassistant' });
    expect(withHa({ enabled: true, discoveryPrefix: 'ha/', name: 'Press' })).toEqual({
      enabled: true,
      discoveryPrefix: 'ha',
      name: 'Press',
    });
  });

  it('refuses a prefix with wildcards', () => {
    expect(() => withHa({ enabled: true, discoveryPrefix: 'ha/#' })).toThrow(/discoveryPrefix/);
  });
});
