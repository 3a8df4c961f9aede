import { describe, expect, it } from 'vitest';
import {
  BrokerTokenError,
  isBrokerToken,
  issueBrokerToken,
  type TokenCheck,
  verifyBrokerToken,
} from '../../protocol/broker-token.js';
import { identityFromSeed } from '../../protocol/identity.js';

const node = identityFromSeed(new Uint8Array(32).fill(7));
const other = identityFromSeed(new Uint8Array(32).fill(9));
const NOW = 1_790_000_000_000;
const check: TokenCheck = {
  peerId: node.peerId,
  clientId: 'fieldmesh-a',
  nowMs: NOW,
  clockSkewMs: 120_000,
  maxLifetimeMs: 900_000,
};

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerTokenError) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('broker login tokens', () => {
  it('round-trips: the claims come back for the node that signed them', () => {
    const token = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000);
    expect(isBrokerToken(token)).toBe(true);
    expect(isBrokerToken(Buffer.from(token))).toBe(true);
    expect(isBrokerToken('hunter2')).toBe(false);
    const claims = verifyBrokerToken(Buffer.from(token), check);
    expect(claims).toMatchObject({ clientId: 'fieldmesh-a', issuedAtMs: NOW, expiresAtMs: NOW + 300_000 });
    expect(claims.nonce).toHaveLength(16);
    // A fresh nonce each time: two tokens issued in the same millisecond differ.
    expect(issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000)).not.toBe(token);
  });

  it('refuses a token signed by another key, whatever username it claims', () => {
    const forged = issueBrokerToken(other.secretKey, 'fieldmesh-a', NOW, 300_000);
    expect(reasonOf(() => verifyBrokerToken(forged, check))).toBe('bad_signature');
  });

  it('refuses a token whose body was altered after signing', () => {
    const token = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000);
    const [prefix, body, sig] = [token.slice(0, 5), ...token.slice(5).split('.')] as [string, string, string];
    const bytes = Buffer.from(body, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    const tampered = `${prefix}${bytes.toString('base64url')}.${sig}`;
    expect(reasonOf(() => verifyBrokerToken(tampered, check))).toBe('bad_signature');
  });

  it('binds the token to its client id and bounds its time', () => {
    const token = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000);
    expect(reasonOf(() => verifyBrokerToken(token, { ...check, clientId: 'other' }))).toBe('client_mismatch');
    expect(reasonOf(() => verifyBrokerToken(token, { ...check, nowMs: NOW + 300_000 + 121_000 }))).toBe(
      'expired',
    );
    expect(reasonOf(() => verifyBrokerToken(token, { ...check, nowMs: NOW + 300_000 + 119_000 }))).toBe(
      'accepted',
    );
    expect(reasonOf(() => verifyBrokerToken(token, { ...check, nowMs: NOW - 121_000 }))).toBe(
      'not_yet_valid',
    );
    const long = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 3_600_000);
    expect(reasonOf(() => verifyBrokerToken(long, check))).toBe('too_long');
  });

  it('says what to do when clocks disagree', () => {
    const token = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000);
    expect(() => verifyBrokerToken(token, { ...check, nowMs: NOW + 3_600_000 })).toThrow(
      /expired 3300 s ago.*sync them/,
    );
  });

  it('refuses malformed text and usernames that are not PeerIds without throwing anything else', () => {
    for (const bad of ['fmt1.', 'fmt1.a.b.c', 'fmt1.!!!.???', `fmt1.${'A'.repeat(2000)}.x`]) {
      expect(['malformed', 'bad_signature']).toContain(reasonOf(() => verifyBrokerToken(bad, check)));
    }
    const token = issueBrokerToken(node.secretKey, 'fieldmesh-a', NOW, 300_000);
    expect(reasonOf(() => verifyBrokerToken(token, { ...check, peerId: 'sensor-7' }))).toBe('malformed');
  });
});
