import sparkplugPayload from 'sparkplug-payload';
import tahu from 'sparkplug-payload/lib/sparkplugPayloadProto.js';

/**
 * Sparkplug B payloads through Eclipse Tahu's `sparkplug-payload`: its protobuf codec reads and
 * writes every byte. Reading goes through the codec's `Payload.decode` rather than the
 * friendlier `decodePayload`, because `decodePayload` picks a metric's value by the datatype
 * carried in the metric itself, and DATA metrics normally omit it (Sparkplug 3.0: the datatype
 * SHOULD NOT be repeated outside births); it would turn every alias-only value into null. Here
 * the value is read from the protobuf oneof and interpreted with the datatype from the birth.
 */

const Payload = tahu.org.eclipse.tahu.protobuf.Payload;
type RawMetric = InstanceType<typeof Payload.Metric>;

const codec = sparkplugPayload.get('spBv1.0');
if (codec === null) throw new Error('sparkplug-payload does not know the spBv1.0 namespace');
/** Tahu's encoder (types by name, values as given); used for every payload this agent sends. */
export const encodeSparkplugPayload = codec.encodePayload;
export type SparkplugPayloadInput = Parameters<typeof codec.encodePayload>[0];

/** Sparkplug datatype codes (Sparkplug 3.0 §6.4.16), 0 = unknown. */
const DATATYPE_NAMES = [
  'Unknown',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Float',
  'Double',
  'Boolean',
  'String',
  'DateTime',
  'Text',
  'UUID',
  'DataSet',
  'Bytes',
  'File',
  'Template',
  'PropertySet',
  'PropertySetList',
] as const;

const SIGNED = new Set([1, 2, 3, 4]);
const NUMERIC_MIN = 1;
const NUMERIC_MAX = 10; // Int8 … UInt64, Float, Double

export function datatypeName(code: number): string {
  return DATATYPE_NAMES[code] ?? `datatype ${code}`;
}

export function isNumericDatatype(code: number): boolean {
  return code >= NUMERIC_MIN && code <= NUMERIC_MAX;
}

/** One metric as sent, before it is matched with its birth. */
export interface SparkplugMetric {
  readonly name: string | undefined;
  /** Decimal text of the uint64 alias, exact at any size. */
  readonly alias: string | undefined;
  readonly datatype: number | undefined;
  readonly isNull: boolean;
  /** Milliseconds since the epoch. */
  readonly timestamp: number | undefined;
  readonly raw: RawMetric;
}

export interface SparkplugMessage {
  /** 0–255; absent if the sender left it out. */
  readonly seq: number | undefined;
  readonly timestamp: number | undefined;
  readonly metrics: readonly SparkplugMetric[];
}

/** 64-bit integers come back from protobufjs as `long` objects (or numbers without `long`). */
interface LongLike {
  toNumber(): number;
  toString(): string;
  toSigned(): LongLike;
  toUnsigned(): LongLike;
}
type Int64 = number | LongLike;

const has = (o: object, key: string): boolean => Object.hasOwn(o, key);

/** Decodes one payload; returns the codec's complaint (text) when the bytes are not Sparkplug B. */
export function decodeSparkplug(bytes: Uint8Array): SparkplugMessage | string {
  let payload: InstanceType<typeof Payload>;
  try {
    payload = Payload.decode(bytes);
  } catch (err) {
    return (err as Error).message;
  }
  return {
    seq: has(payload, 'seq') ? toNumber(payload.seq) : undefined,
    timestamp: has(payload, 'timestamp') ? toNumber(payload.timestamp) : undefined,
    // The codec types its list loosely (IMetric); what it decodes are Metric instances.
    metrics: (payload.metrics as RawMetric[]).map(
      (m): SparkplugMetric => ({
        name: has(m, 'name') ? m.name : undefined,
        alias: has(m, 'alias') ? m.alias.toString() : undefined,
        datatype: has(m, 'datatype') ? m.datatype : undefined,
        isNull: m.isNull === true,
        timestamp: has(m, 'timestamp') ? toNumber(m.timestamp) : undefined,
        raw: m,
      }),
    ),
  };
}

/** Why a metric yields no sample: `not_a_number` (null, no value, wrong type) or `non_finite`. */
export interface ValueProblem {
  readonly problem: 'not_a_number' | 'non_finite';
  readonly found: string;
}

/**
 * The numeric value of `metric` read as `datatype` (the birth's). Integers may arrive in either
 * int_value or long_value (Tahu's JavaScript encoder puts UInt32 in long_value, the 3.0 spec in
 * int_value), so whichever is set is used, with the datatype's signedness.
 */
export function numericValue(metric: SparkplugMetric, datatype: number): number | ValueProblem {
  if (metric.isNull) return { problem: 'not_a_number', found: 'a null value (is_null)' };
  if (!isNumericDatatype(datatype)) {
    return { problem: 'not_a_number', found: `datatype ${datatypeName(datatype)}, which is not numeric` };
  }
  const raw = metric.raw;
  let value: number;
  switch (raw.value) {
    case 'intValue':
      value = SIGNED.has(datatype) ? (raw.intValue as number) | 0 : (raw.intValue as number) >>> 0;
      break;
    case 'longValue':
      value = longToNumber(raw.longValue as Int64, SIGNED.has(datatype));
      break;
    case 'floatValue':
      value = raw.floatValue as number;
      break;
    case 'doubleValue':
      value = raw.doubleValue as number;
      break;
    case undefined:
      return { problem: 'not_a_number', found: 'no value' };
    default:
      return {
        problem: 'not_a_number',
        found: `a ${raw.value} where ${datatypeName(datatype)} was declared`,
      };
  }
  return Number.isFinite(value) ? value : { problem: 'non_finite', found: String(value) };
}

/** The decimal text of an integer metric (bdSeq), or undefined when it holds no integer. */
export function integerText(metric: SparkplugMetric): string | undefined {
  const raw = metric.raw;
  if (raw.value === 'longValue') return (raw.longValue as Int64).toString();
  if (raw.value === 'intValue') return String((raw.intValue as number) >>> 0);
  return undefined;
}

function longToNumber(v: Int64, signed: boolean): number {
  if (typeof v === 'number') return v;
  return (signed ? v.toSigned() : v.toUnsigned()).toNumber();
}

function toNumber(v: Int64): number {
  return typeof v === 'number' ? v : v.toNumber();
}

/** The payload of a Rebirth request to an edge node (Sparkplug 3.0: NCMD, Node Control/Rebirth = true). */
export function rebirthCommand(now: number): Uint8Array {
  return encodeSparkplugPayload({
    timestamp: now,
    metrics: [{ name: REBIRTH_METRIC, type: 'Boolean', value: true }],
  });
}

/**
 * Whether an NCMD asks for a rebirth (a metric Node Control/Rebirth = true; the datatype may be
 * left out, as in any command); the codec's complaint (text) when it is not Sparkplug B.
 */
export function isRebirthCommand(bytes: Uint8Array): boolean | string {
  const msg = decodeSparkplug(bytes);
  if (typeof msg === 'string') return msg;
  return msg.metrics.some(
    (m) => m.name === REBIRTH_METRIC && m.raw.value === 'booleanValue' && m.raw.booleanValue === true,
  );
}

export const REBIRTH_METRIC = 'Node Control/Rebirth';
export const BDSEQ_METRIC = 'bdSeq';
