import sparkplugPayload from 'sparkplug-payload';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import type { PipelineConfig } from '../../../agent/config/schema.js';
import { SparkplugInput, sparkplugInputProblem } from '../../../agent/pipeline/sparkplug-input.js';
import { quietLogger } from '../../helpers/broker.js';

const spb = sparkplugPayload.get('spBv1.0');
if (spb === null) throw new Error('sparkplug-payload lacks spBv1.0');

/** The input section as the schema hands it over, from a raw pipeline input. */
function inputOf(input: Record<string, unknown>): PipelineConfig['input'] {
  const cfg = validateConfig(
    { models: [{ id: 'm', manifest: 'm.json' }], pipelines: [{ id: 'p', model: 'm', input }] },
    'test.yaml',
    { env: {} },
  );
  return cfg.pipelines[0]!.input;
}

describe('Sparkplug input configuration', () => {
  const sparkplug = { metrics: ['Temperature'] };

  it('accepts a Sparkplug input with metrics and a namespace filter', () => {
    const input = inputOf({ topic: 'spBv1.0/plant1/#', format: 'sparkplug', sparkplug });
    expect(sparkplugInputProblem(input)).toBeNull();
    expect(input.sparkplug).toEqual({ metrics: ['Temperature'], rebirth: true, rebirthIntervalMs: 5000 });
    expect(sparkplugInputProblem(inputOf({ topic: 'plant/+/t', format: 'number' }))).toBeNull();
  });

  it('says what to change when the settings cannot work together', () => {
    const problem = (input: Record<string, unknown>) => sparkplugInputProblem(inputOf(input));
    expect(problem({ topic: 'spBv1.0/plant1/#', format: 'sparkplug' })).toContain(
      'input.sparkplug is missing; list the metrics',
    );
    expect(problem({ topic: 'plant/+/t', sparkplug })).toContain('set input.format: sparkplug');
    expect(problem({ topic: 'spBv1.0/plant1/#', format: 'sparkplug', sparkplug, field: 'v' })).toContain(
      'input.field is set',
    );
    expect(
      problem({
        topic: 'spBv1.0/plant1/#',
        format: 'sparkplug',
        sparkplug,
        sensor: { from: 'level', level: 1 },
      }),
    ).toContain('remove input.sensor');
    expect(problem({ topic: 'spBv1.0/plant1/#', format: 'sparkplug', sparkplug, length: 4 })).toContain(
      'input.length is 4',
    );
    expect(problem({ topic: 'spBv1.0/plant1/DDATA/+/+', format: 'sparkplug', sparkplug })).toBe(
      'input.topic "spBv1.0/plant1/DDATA/+/+" fixes the message type to "DDATA", so the births and deaths that define metric aliases would be missed; write spBv1.0/plant1/#',
    );
  });
});

describe('Sparkplug input: rebirth requests', () => {
  function harness(rebirth = true) {
    let now = 1000;
    const published: { topic: string; payload: Uint8Array }[] = [];
    const rejects: string[] = [];
    const admitted: string[] = [];
    const input = new SparkplugInput(
      { metrics: ['Temperature'], maxBytes: 65_536, maxEdgeNodes: 10, rebirth, rebirthIntervalMs: 5000 },
      {
        admit: (sensor) => {
          admitted.push(sensor);
          return null;
        },
        reject: (reason) => rejects.push(reason),
        publish: (topic, payload) => published.push({ topic, payload }),
        now: () => now,
        logger: quietLogger,
      },
    );
    const advance = (ms: number) => {
      now += ms;
    };
    return { input, published, rejects, admitted, advance };
  }
  const ddata = (seq: number) =>
    spb.encodePayload({ seq, metrics: [{ alias: 1, type: 'Double', value: 1 }] });

  it('sends NCMD Node Control/Rebirth = true, at most once per interval per edge node', () => {
    const h = harness();
    h.input.ingest('spBv1.0/plant1/DDATA/gw1/boiler', ddata(3));
    h.input.ingest('spBv1.0/plant1/DDATA/gw1/boiler', ddata(4));
    h.input.ingest('spBv1.0/plant1/NDATA/gw2', ddata(9));
    expect(h.published.map((p) => p.topic)).toEqual(['spBv1.0/plant1/NCMD/gw1', 'spBv1.0/plant1/NCMD/gw2']);
    const command = spb.decodePayload(h.published[0]!.payload);
    expect(command.metrics).toEqual([
      expect.objectContaining({ name: 'Node Control/Rebirth', type: 'Boolean', value: true }),
    ]);
    h.advance(5000);
    h.input.ingest('spBv1.0/plant1/DDATA/gw1/boiler', ddata(5));
    expect(h.published).toHaveLength(3);
    expect(h.rejects).toEqual(Array(4).fill('sparkplug_no_birth'));
    expect(h.input.stats()).toMatchObject({ rebirthsRequested: 3, edgeNodes: 0 });
  });

  it('sends nothing when rebirth is off, but still rejects and counts', () => {
    const h = harness(false);
    h.input.ingest('spBv1.0/plant1/DDATA/gw1/boiler', ddata(3));
    expect(h.published).toEqual([]);
    expect(h.rejects).toEqual(['sparkplug_no_birth']);
    expect(h.input.stats().rebirthsRequested).toBe(0);
  });
});
