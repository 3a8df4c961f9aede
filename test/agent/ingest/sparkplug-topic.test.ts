import { describe, expect, it } from 'vitest';
import {
  parseSparkplugTopic,
  rebirthTopic,
  sparkplugFilterProblem,
  sparkplugSensorId,
} from '../../../agent/ingest/sparkplug-topic.js';

describe('Sparkplug B topic names', () => {
  it('parses node and device topics', () => {
    expect(parseSparkplugTopic('spBv1.0/plant1/NBIRTH/gw1')).toEqual({
      kind: 'edge',
      type: 'NBIRTH',
      group: 'plant1',
      edgeNode: 'gw1',
      device: undefined,
    });
    expect(parseSparkplugTopic('spBv1.0/plant1/DDATA/gw1/boiler')).toEqual({
      kind: 'edge',
      type: 'DDATA',
      group: 'plant1',
      edgeNode: 'gw1',
      device: 'boiler',
    });
  });

  it('names what is wrong with a topic of the wrong shape', () => {
    expect(parseSparkplugTopic('spBv1.0/plant1/DDATA/gw1')).toEqual({
      kind: 'invalid',
      problem: 'has 4 levels; a DDATA topic is spBv1.0/<group>/DDATA/<edge node>/<device>',
    });
    expect(parseSparkplugTopic('spBv1.0/plant1/NDATA/gw1/x')).toMatchObject({ kind: 'invalid' });
    expect(parseSparkplugTopic('spBv1.0/plant1/BIRTH/gw1')).toMatchObject({
      problem: expect.stringContaining('message type "BIRTH"'),
    });
    expect(parseSparkplugTopic('spAv1.0/plant1/NDATA/gw1')).toMatchObject({ kind: 'invalid' });
    expect(parseSparkplugTopic('spBv1.0/plant1/NDATA/')).toMatchObject({
      problem: 'has an empty edge node id',
    });
  });

  it('treats commands and host state as part of the namespace, to be ignored', () => {
    expect(parseSparkplugTopic('spBv1.0/plant1/NCMD/gw1')).toEqual({ kind: 'ignored', type: 'NCMD' });
    expect(parseSparkplugTopic('spBv1.0/plant1/DCMD/gw1/boiler')).toEqual({ kind: 'ignored', type: 'DCMD' });
    expect(parseSparkplugTopic('spBv1.0/STATE/scada')).toEqual({ kind: 'ignored', type: 'STATE' });
  });

  it('builds unambiguous sensor ids and the rebirth topic', () => {
    expect(sparkplugSensorId('plant1', 'gw1', 'boiler', 'Vibration/X')).toBe('plant1/gw1/boiler/Vibration/X');
    expect(sparkplugSensorId('plant1', 'gw1', undefined, 'Temperature')).toBe('plant1/gw1//Temperature');
    expect(rebirthTopic('plant1', 'gw1')).toBe('spBv1.0/plant1/NCMD/gw1');
  });
});

describe('Sparkplug B input filters', () => {
  it('accepts filters that see births, deaths and data of nodes and devices', () => {
    for (const f of [
      'spBv1.0/#',
      'spBv1.0/plant1/#',
      'spBv1.0/+/#',
      'spBv1.0/plant1/+/gw1/#',
      'spBv1.0/+/+/+/#',
    ]) {
      expect(sparkplugFilterProblem(f), f).toBeNull();
    }
  });

  it('refuses filters that would miss births or node topics, and says what to write', () => {
    expect(sparkplugFilterProblem('spBv1.0/plant1/DDATA/+/+')).toBe(
      'fixes the message type to "DDATA", so the births and deaths that define metric aliases would be missed; write spBv1.0/plant1/#',
    );
    expect(sparkplugFilterProblem('spBv1.0/plant1/+/gw1/+')).toContain('write spBv1.0/plant1/+/gw1/#');
    expect(sparkplugFilterProblem('spBv1.0/+/+/+/+/#')).toContain('does not match both node topics');
    expect(sparkplugFilterProblem('plant/#')).toContain('does not start with "spBv1.0/"');
    expect(sparkplugFilterProblem('spBv1.0/a#')).toContain('"#" must be a level on its own');
  });
});
