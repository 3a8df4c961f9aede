import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../protocol/cbor.js';
import { identityFromSeed } from '../../protocol/identity.js';
import {
  decodeOffloadRequest,
  decodeOffloadResponse,
  decodeVoucherMessage,
  encodeOffloadRequest,
  encodeOffloadResponse,
  encodeVoucherMessage,
  OffloadMessageError,
  type OffloadRequest,
  type OffloadResponse,
  offloadPipelineId,
  sessionIdOfPipelineId,
} from '../../protocol/offload.js';
import { topicsFor } from '../../protocol/topics.js';

const consumer = identityFromSeed(new Uint8Array(32).fill(3)).peerId;
const request: OffloadRequest = {
  correlationId: 42,
  sessionId: new Uint8Array(16).fill(0xab),
  consumer,
  modelSha256: new Uint8Array(32).fill(0x11),
  rows: 2,
  width: 3,
  input: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6.5]).buffer),
  deadlineMs: 1_763_690_000_000,
  opening: true,
};
const response: OffloadResponse = {
  correlationId: 42,
  status: 'ok',
  receiptSequence: 7,
  computeUs: 123,
  outputs: [
    { name: 'reconstruction', dims: [2, 3], type: 'float32', bytes: new Uint8Array(24).fill(1) },
    { name: 'score', dims: [2], type: 'int64', bytes: new Uint8Array(16).fill(2) },
  ],
  error: '',
};

function offloadError(fn: () => unknown): OffloadMessageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OffloadMessageError) return err;
    throw err;
  }
  throw new Error('expected an OffloadMessageError');
}

/** The request as a raw field array, with one field replaced. */
function rawRequest(index: number, value: unknown): Uint8Array {
  const fields: unknown[] = [
    1,
    42,
    request.sessionId,
    consumer,
    request.modelSha256,
    2,
    3,
    request.input,
    1,
    1,
  ];
  fields[index] = value;
  return encodeCbor(fields as never);
}

describe('offload request codec', () => {
  it('round-trips, as a 10-field canonical array ending in opening', () => {
    const bytes = encodeOffloadRequest(request);
    expect(decodeOffloadRequest(bytes)).toEqual(request);
    expect(bytes[0]).toBe(0x8a);
    expect(bytes[bytes.length - 1]).toBe(0x01);
    const notOpening = encodeOffloadRequest({ ...request, opening: false });
    expect(notOpening[notOpening.length - 1]).toBe(0x00);
    expect(decodeOffloadRequest(notOpening)).toEqual({ ...request, opening: false });
  });

  it('refuses a request without the opening field, as sent before it existed', () => {
    const nine = encodeCbor([
      1,
      42,
      request.sessionId,
      consumer,
      request.modelSha256,
      2,
      3,
      request.input,
      1,
    ]);
    expect(offloadError(() => decodeOffloadRequest(nine)).field).toBe('body');
  });

  it('refuses opening as a CBOR true (outside the canonical subset) or a non-shortest 1', () => {
    const bytes = encodeOffloadRequest(request);
    const asTrue = Uint8Array.of(...bytes.subarray(0, bytes.length - 1), 0xf5);
    expect(offloadError(() => decodeOffloadRequest(asTrue)).field).toBe('body');
    const longOne = Uint8Array.of(...bytes.subarray(0, bytes.length - 1), 0x18, 0x01);
    expect(offloadError(() => decodeOffloadRequest(longOne)).field).toBe('body');
  });

  it.each([
    [0, 2, 'version'],
    [1, -1, 'correlationId'],
    [2, new Uint8Array(15), 'sessionId'],
    [3, 'not-a-peer', 'consumer'],
    [3, 'a/b/#', 'consumer'],
    [4, new Uint8Array(31), 'modelSha256'],
    [5, 0, 'rows'],
    [5, 2000, 'rows'],
    [6, 0, 'width'],
    [7, new Uint8Array(23), 'input'],
    [7, 'text', 'input'],
    [8, 'soon', 'deadlineMs'],
    [9, 2, 'opening'],
    [9, -1, 'opening'],
    [9, '1', 'opening'],
    [9, Uint8Array.of(1), 'opening'],
  ])('names field %i (%s) as %s', (index, value, field) => {
    expect(offloadError(() => decodeOffloadRequest(rawRequest(index, value))).field).toBe(field);
  });

  it('refuses non-canonical or wrongly shaped bodies as body', () => {
    expect(offloadError(() => decodeOffloadRequest(Uint8Array.of(0xa0))).field).toBe('body'); // a map
    expect(offloadError(() => decodeOffloadRequest(encodeCbor([1, 2]))).field).toBe('body');
    const bytes = encodeOffloadRequest(request);
    expect(offloadError(() => decodeOffloadRequest(bytes.subarray(0, bytes.length - 1))).code).toBe(
      'OFFLOAD_MESSAGE_INVALID',
    );
  });

  it('keeps the correlation id and consumer of a bad request, so it can be answered', () => {
    const err = offloadError(() => decodeOffloadRequest(rawRequest(5, 0)));
    expect(err.correlationId).toBe(42);
    expect(err.consumer).toBe(consumer);
    expect(offloadError(() => decodeOffloadRequest(rawRequest(9, 2))).correlationId).toBe(42);
    const noReply = offloadError(() => decodeOffloadRequest(rawRequest(3, 'x/+')));
    expect(noReply.consumer).toBeUndefined();
  });

  it('enforces the row and byte bounds', () => {
    const bytes = encodeOffloadRequest(request);
    expect(offloadError(() => decodeOffloadRequest(bytes, { maxRows: 1 })).field).toBe('rows');
    expect(offloadError(() => decodeOffloadRequest(bytes, { maxBytes: 20 })).field).toBe('input');
    expect(offloadError(() => decodeOffloadRequest(new Uint8Array(2000), { maxBytes: 100 })).field).toBe(
      'body',
    );
  });
});

describe('offload response codec', () => {
  it('round-trips every status', () => {
    expect(decodeOffloadResponse(encodeOffloadResponse(response))).toEqual(response);
    for (const status of [
      'no_such_model',
      'overloaded',
      'bad_request',
      'inference_failed',
      'expired',
      'unknown_session',
    ] as const) {
      const r = { ...response, status, outputs: [], error: 'why' };
      expect(decodeOffloadResponse(encodeOffloadResponse(r))).toEqual(r);
    }
  });

  const raw = (index: number, value: unknown) => {
    const fields: unknown[] = [1, 42, 0, 7, 123, [], ''];
    fields[index] = value;
    return encodeCbor(fields as never);
  };

  it.each([
    [2, 7, 'status'],
    [3, -2, 'receiptSequence'],
    [4, 'x', 'computeUs'],
    [5, 'x', 'outputs'],
    [5, [['score', [2], 0, new Uint8Array(7)]], 'outputs[0]'],
    [5, [['score', [2], 99, new Uint8Array(8)]], 'outputs[0]'],
    [5, [['', [2], 0, new Uint8Array(8)]], 'outputs[0]'],
    [5, [['s', [1, 1, 1, 1, 1, 1, 1, 1, 1], 0, new Uint8Array(4)]], 'outputs[0]'],
    [6, 5, 'error'],
  ])('names field %i (%s) as %s', (index, value, field) => {
    expect(offloadError(() => decodeOffloadResponse(raw(index, value))).field).toBe(field);
  });

  it('bounds the total output bytes', () => {
    const bytes = encodeOffloadResponse(response);
    expect(offloadError(() => decodeOffloadResponse(bytes, { maxBytes: 30 })).field).toBe('outputs');
  });
});

describe('voucher messages', () => {
  it('round-trip and refuse a short signature', () => {
    const signed = { voucherBytes: Uint8Array.of(1, 2, 3), signature: new Uint8Array(64).fill(9) };
    expect(decodeVoucherMessage(encodeVoucherMessage(signed))).toEqual(signed);
    const bad = encodeCbor([Uint8Array.of(1), new Uint8Array(63)]);
    expect(offloadError(() => decodeVoucherMessage(bad)).field).toBe('signature');
    expect(offloadError(() => decodeVoucherMessage(Uint8Array.of(0xff))).field).toBe('body');
  });
});

describe('offload pipeline ids and topics', () => {
  it('name the session in 32 lower-case hex digits, and read it back', () => {
    const id = offloadPipelineId(request.sessionId);
    expect(id).toBe(`offload/${'ab'.repeat(16)}`);
    expect(sessionIdOfPipelineId(id)).toEqual(request.sessionId);
    for (const other of [
      'offload/AB',
      `offload/${'AB'.repeat(16)}`,
      'vibration',
      `offload/${'ab'.repeat(17)}`,
    ]) {
      expect(sessionIdOfPipelineId(other)).toBeNull();
    }
    expect(() => offloadPipelineId(new Uint8Array(3))).toThrow(OffloadMessageError);
  });

  it('put offload topics under the root', () => {
    const t = topicsFor('site/');
    expect(t.offloadRequests('P')).toBe('site/offload/P/req');
    expect(t.offloadResponses('P')).toBe('site/offload/P/res');
    expect(t.vouchers('P')).toBe('site/offload/P/vouchers');
    expect(topicsFor().node('P')).toBe('fieldmesh/v1/nodes/P');
  });
});
