import { describe, expect, it } from 'vitest';
import { isRejectReason, REJECT_REASON_INFO, REJECT_REASONS } from '../../../agent/ingest/reject-reasons.js';

describe('reject reasons', () => {
  it('is the closed set the metrics, error topics and docs use', () => {
    expect([...REJECT_REASONS]).toEqual([
      'malformed_payload',
      'missing_field',
      'not_a_number',
      'non_finite',
      'wrong_length',
      'payload_too_large',
      'unknown_sensor',
      'duplicate',
      'out_of_order',
      'sensor_limit',
    ]);
  });

  it('describes every reason in one line with a hint, and nothing else', () => {
    expect(Object.keys(REJECT_REASON_INFO).sort()).toEqual([...REJECT_REASONS].sort());
    for (const reason of REJECT_REASONS) {
      const { description, hint } = REJECT_REASON_INFO[reason];
      expect(description.length, reason).toBeGreaterThan(20);
      expect(hint.length, reason).toBeGreaterThan(20);
      expect(description + hint, reason).not.toContain('\n');
    }
  });

  it('cannot be changed at run time', () => {
    expect(Object.isFrozen(REJECT_REASON_INFO)).toBe(true);
    expect(Object.isFrozen(REJECT_REASON_INFO.duplicate)).toBe(true);
  });

  it('recognises its own names only', () => {
    expect(isRejectReason('duplicate')).toBe(true);
    expect(isRejectReason('sensor_limit')).toBe(true);
    expect(isRejectReason('queue_full')).toBe(false);
    expect(isRejectReason('toString')).toBe(false);
    expect(isRejectReason(3)).toBe(false);
    expect(isRejectReason(undefined)).toBe(false);
  });
});
