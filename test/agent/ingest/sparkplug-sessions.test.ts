import sparkplugPayload from 'sparkplug-payload';
import tahu from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import { describe, expect, it } from 'vitest';
import { SparkplugSessions, type SparkplugSessionsInit } from '../../../agent/ingest/sparkplug-sessions.js';

// Every payload here is made by Eclipse Tahu's encoder, as a real edge node would make it.
const spb = sparkplugPayload.get('spBv1.0');
if (spb === null) throw new Error('sparkplug-payload lacks spBv1.0');
type Metric = NonNullable<Parameters<typeof spb.encodePayload>[0]['metrics']>[number];
const encode = (seq: number | undefined, metrics: Metric[], timestamp = 1_700_000_000_000): Uint8Array =>
  spb.encodePayload({ timestamp, metrics, ...(seq === undefined ? {} : { seq }) });

const G = 'spBv1.0/plant1';
const T0 = 1_700_000_000_000;

function sessions(init: Partial<SparkplugSessionsInit> = {}): SparkplugSessions {
  return new SparkplugSessions({
    metrics: ['Temperature', 'Vibration/X'],
    maxBytes: 65_536,
    maxEdgeNodes: 100,
    ...init,
  });
}

const nbirth = (bdSeq = 1, extra: Metric[] = []) =>
  encode(0, [
    { name: 'bdSeq', type: 'UInt64', value: bdSeq },
    { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
    ...extra,
  ]);
const dbirth = (seq: number, extra: Metric[] = []) =>
  encode(seq, [
    { name: 'Temperature', alias: 1, type: 'Double', value: 60.5, timestamp: T0 },
    { name: 'Vibration/X', alias: 2, type: 'Float', value: 0.25, timestamp: T0 },
    { name: 'Serial', alias: 3, type: 'String', value: 'A-17' },
    ...extra,
  ]);
const ddata = (seq: number, value: number, ts = T0 + seq) =>
  encode(seq, [{ alias: 1, type: 'Double', value, timestamp: ts }]);

/** An edge node born with device "boiler"; returns the session tracker and the next seq. */
function born(s = sessions()): SparkplugSessions {
  s.handle(`${G}/NBIRTH/gw1`, nbirth());
  s.handle(`${G}/DBIRTH/gw1/boiler`, dbirth(1));
  return s;
}

describe('Sparkplug B sessions: births and aliases', () => {
  it('reads the values a birth carries and the aliased values of DDATA, with their timestamps', () => {
    const s = sessions();
    expect(s.handle(`${G}/NBIRTH/gw1`, nbirth())).toEqual({ samples: [], rejects: [], rebirth: undefined });
    const birth = s.handle(`${G}/DBIRTH/gw1/boiler`, dbirth(1));
    expect(birth.rejects).toEqual([]);
    expect(birth.samples).toEqual([
      { sensor: 'plant1/gw1/boiler/Temperature', value: 60.5, ts: T0 },
      { sensor: 'plant1/gw1/boiler/Vibration/X', value: 0.25, ts: T0 },
    ]);
    const data = s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 61.25, T0 + 1000));
    expect(data).toEqual({
      samples: [{ sensor: 'plant1/gw1/boiler/Temperature', value: 61.25, ts: T0 + 1000 }],
      rejects: [],
      rebirth: undefined,
    });
    expect(s.counters()).toMatchObject({ edgeNodes: 1, births: 1, seqGaps: 0 });
  });

  it('reads node metrics from NBIRTH and NDATA under an empty device level', () => {
    const s = sessions();
    const b = s.handle(
      `${G}/NBIRTH/gw1`,
      nbirth(1, [{ name: 'Temperature', alias: 9, type: 'Int32', value: -4 }]),
    );
    expect(b.samples).toEqual([{ sensor: 'plant1/gw1//Temperature', value: -4, ts: T0 }]);
    const d = s.handle(`${G}/NDATA/gw1`, encode(1, [{ name: 'Temperature', type: 'Int32', value: 7 }]));
    expect(d.samples).toEqual([{ sensor: 'plant1/gw1//Temperature', value: 7, ts: T0 }]);
  });

  it('reads an alias-only metric without a datatype with the datatype of its birth', () => {
    const s = born();
    const P = tahu.org.eclipse.tahu.protobuf.Payload;
    // Sparkplug 3.0: the datatype SHOULD NOT be repeated in DATA; Tahu's proto codec can leave it out.
    const bytes = P.encode(
      P.create({ seq: 2, metrics: [P.Metric.create({ alias: 1, doubleValue: 59.75 })] }),
    ).finish();
    expect(s.handle(`${G}/DDATA/gw1/boiler`, bytes).samples).toEqual([
      { sensor: 'plant1/gw1/boiler/Temperature', value: 59.75, ts: undefined },
    ]);
  });

  it('converts 64-bit and narrow integers with the signedness of their datatype', () => {
    const s = sessions({ metrics: ['i8', 'u32', 'i64', 'u64'] });
    const out = s.handle(
      `${G}/NBIRTH/gw1`,
      encode(0, [
        { name: 'i8', type: 'Int8', value: -5 },
        { name: 'u32', type: 'UInt32', value: 4_000_000_000 },
        { name: 'i64', type: 'Int64', value: -3 },
        { name: 'u64', type: 'UInt64', value: 2 ** 40 },
      ]),
    );
    expect(out.rejects).toEqual([]);
    expect(out.samples.map((x) => x.value)).toEqual([-5, 4_000_000_000, -3, 2 ** 40]);
  });

  it('ignores metrics nobody asked for, even when they are not numeric', () => {
    const out = born().handle(
      `${G}/DDATA/gw1/boiler`,
      encode(2, [{ alias: 3, type: 'String', value: 'B-2' }]),
    );
    expect(out).toEqual({ samples: [], rejects: [], rebirth: undefined });
  });
});

describe('Sparkplug B sessions: sequence numbers', () => {
  it('accepts seq wrapping from 255 to 0', () => {
    const s = born();
    for (let seq = 2; seq <= 255; seq++) s.handle(`${G}/DDATA/gw1/boiler`, ddata(seq, 60));
    const wrapped = s.handle(`${G}/DDATA/gw1/boiler`, ddata(0, 62, T0 + 10_000));
    expect(wrapped.rejects).toEqual([]);
    expect(wrapped.samples).toHaveLength(1);
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(1, 63, T0 + 10_001)).samples).toHaveLength(1);
    expect(s.counters().seqGaps).toBe(0);
  });

  it('marks the node stale on a gap, rejects its messages and asks a rebirth until the next NBIRTH', () => {
    const s = born();
    const gap = s.handle(`${G}/DDATA/gw1/boiler`, ddata(5, 60));
    expect(gap.samples).toEqual([]);
    expect(gap.rejects).toEqual([
      { reason: 'sparkplug_stale', detail: expect.stringContaining('seq 5 after 1 (expected 2)') },
    ]);
    expect(gap.rebirth).toEqual({ group: 'plant1', edgeNode: 'gw1', why: 'sparkplug_stale' });
    expect(s.counters().seqGaps).toBe(1);
    const after = s.handle(`${G}/DDATA/gw1/boiler`, ddata(6, 60));
    expect(after.rejects[0]?.reason).toBe('sparkplug_stale');
    expect(after.rebirth).toMatchObject({ group: 'plant1', edgeNode: 'gw1' });
    // The rebirth: a fresh NBIRTH and DBIRTH make the node whole again.
    s.handle(`${G}/NBIRTH/gw1`, nbirth(1));
    s.handle(`${G}/DBIRTH/gw1/boiler`, dbirth(1));
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60)).samples).toHaveLength(1);
    expect(s.counters().seqGaps).toBe(1);
  });

  it('ignores a redelivered message with the same seq', () => {
    const s = born();
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60)).samples).toHaveLength(1);
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60))).toEqual({
      samples: [],
      rejects: [],
      rebirth: undefined,
    });
    expect(s.counters()).toMatchObject({ duplicates: 1, seqGaps: 0 });
  });
});

describe('Sparkplug B sessions: deaths', () => {
  it('forgets a node on an NDEATH whose bdSeq is the birth’s, and asks data from it to rebirth', () => {
    const s = born();
    s.handle(`${G}/NDEATH/gw1`, encode(undefined, [{ name: 'bdSeq', type: 'UInt64', value: 1 }]));
    expect(s.counters()).toMatchObject({ edgeNodes: 0, deaths: 1 });
    const late = s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60));
    expect(late.rejects).toEqual([
      { reason: 'sparkplug_no_birth', detail: expect.stringContaining('before its NBIRTH') },
    ]);
    expect(late.rebirth).toEqual({ group: 'plant1', edgeNode: 'gw1', why: 'sparkplug_no_birth' });
  });

  it('ignores an NDEATH with another bdSeq (an older session’s will) and keeps the session', () => {
    const s = born();
    s.handle(`${G}/NDEATH/gw1`, encode(undefined, [{ name: 'bdSeq', type: 'UInt64', value: 0 }]));
    expect(s.counters()).toMatchObject({ edgeNodes: 1, deaths: 0, staleDeaths: 1 });
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60)).samples).toHaveLength(1);
  });

  it('forgets a device on DDEATH; its data is then refused until a DBIRTH', () => {
    const s = born();
    expect(s.handle(`${G}/DDEATH/gw1/boiler`, encode(2, []))).toEqual({
      samples: [],
      rejects: [],
      rebirth: undefined,
    });
    const out = s.handle(`${G}/DDATA/gw1/boiler`, ddata(3, 60));
    expect(out.rejects[0]).toEqual({
      reason: 'sparkplug_no_birth',
      detail: expect.stringContaining('before its DBIRTH'),
    });
    expect(out.rebirth).toMatchObject({ group: 'plant1', edgeNode: 'gw1' });
    s.handle(`${G}/DBIRTH/gw1/boiler`, dbirth(4));
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(5, 60)).samples).toHaveLength(1);
  });
});

describe('Sparkplug B sessions: bad metrics and messages are counted, never fatal', () => {
  it('rejects an unknown alias and asks a rebirth, but keeps the known metrics of the message', () => {
    const out = born().handle(
      `${G}/DDATA/gw1/boiler`,
      encode(2, [
        { alias: 77, type: 'Double', value: 1 },
        { alias: 1, type: 'Double', value: 60.1, timestamp: T0 + 5 },
      ]),
    );
    expect(out.samples).toEqual([{ sensor: 'plant1/gw1/boiler/Temperature', value: 60.1, ts: T0 + 5 }]);
    expect(out.rejects).toEqual([
      { reason: 'sparkplug_unknown_metric', detail: expect.stringContaining('alias 77 is not in its birth') },
    ]);
    expect(out.rebirth).toEqual({ group: 'plant1', edgeNode: 'gw1', why: 'sparkplug_unknown_metric' });
  });

  it('rejects null, non-numeric and non-finite values of wanted metrics with a reason each', () => {
    const s = born(sessions({ metrics: ['Temperature', 'Serial', 'Vibration/X'] }));
    const out = s.handle(
      `${G}/DDATA/gw1/boiler`,
      encode(2, [
        { alias: 1, type: 'Double', value: null },
        { alias: 3, type: 'String', value: 'B-2' },
        { alias: 2, type: 'Float', value: Number.NaN },
      ]),
    );
    expect(out.samples).toEqual([]);
    expect(out.rejects).toEqual([
      { reason: 'not_a_number', detail: expect.stringContaining('a null value (is_null)') },
      { reason: 'not_a_number', detail: expect.stringContaining('datatype String, which is not numeric') },
      { reason: 'non_finite', detail: expect.stringContaining('NaN') },
    ]);
    expect(out.rebirth).toBeUndefined();
  });

  it('rejects data from a node whose NBIRTH it never saw and asks that node to rebirth', () => {
    const out = sessions().handle(`${G}/NDATA/gw9`, encode(4, [{ alias: 1, type: 'Double', value: 1 }]));
    expect(out.rejects).toEqual([
      { reason: 'sparkplug_no_birth', detail: expect.stringContaining('"plant1/gw9"') },
    ]);
    expect(out.rebirth).toEqual({ group: 'plant1', edgeNode: 'gw9', why: 'sparkplug_no_birth' });
  });

  it('rejects garbage bytes and oversized payloads', () => {
    const s = born(sessions({ maxBytes: 512 }));
    const garbage = s.handle(`${G}/DDATA/gw1/boiler`, new TextEncoder().encode('{"temperature": 61.5}'));
    expect(garbage.rejects).toEqual([
      { reason: 'malformed_payload', detail: expect.stringContaining('not Sparkplug B') },
    ]);
    const big = s.handle(`${G}/DDATA/gw1/boiler`, new Uint8Array(513));
    expect(big.rejects[0]?.reason).toBe('payload_too_large');
    // Neither touched the session: the next in-order message is read.
    expect(s.handle(`${G}/DDATA/gw1/boiler`, ddata(2, 60)).samples).toHaveLength(1);
  });

  it('rejects topics of the wrong shape and ignores commands and host state', () => {
    const s = born();
    for (const topic of [
      `${G}/DDATA/gw1`,
      `${G}/NDATA/gw1/extra`,
      `${G}/FOO/gw1`,
      'spBv1.0/plant1',
      `${G}/DDATA//boiler`,
    ]) {
      expect(s.handle(topic, ddata(2, 60)).rejects[0]?.reason, topic).toBe('sparkplug_bad_topic');
    }
    for (const topic of [`${G}/NCMD/gw1`, `${G}/DCMD/gw1/boiler`, 'spBv1.0/STATE/scada-1']) {
      expect(s.handle(topic, ddata(2, 60)), topic).toEqual({ samples: [], rejects: [], rebirth: undefined });
    }
    expect(s.counters().seqGaps).toBe(0);
  });

  it('rejects birth metrics without a datatype, and births past the edge-node bound', () => {
    const P = tahu.org.eclipse.tahu.protobuf.Payload;
    const s = sessions({ maxEdgeNodes: 1 });
    const noType = P.encode(
      P.create({ seq: 0, metrics: [P.Metric.create({ name: 'Temperature', doubleValue: 1 })] }),
    ).finish();
    expect(s.handle(`${G}/NBIRTH/gw1`, noType).rejects).toEqual([
      { reason: 'malformed_payload', detail: expect.stringContaining('lacks a name or a datatype') },
    ]);
    expect(s.handle(`${G}/NBIRTH/gw2`, nbirth()).rejects).toEqual([
      { reason: 'sensor_limit', detail: expect.stringContaining('1 edge nodes are tracked') },
    ]);
    expect(s.counters().edgeNodes).toBe(1);
  });
});
