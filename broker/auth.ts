import { BrokerTokenError, isBrokerToken, verifyBrokerToken } from '../protocol/broker-token.js';
import type { AclClient } from './acl.js';
import type { CredentialStore } from './credentials.js';

/**
 * Who may connect to the embedded broker. Three ways in, tried in this order:
 *  1. a mesh node: username = its PeerId, password = a token signed with its node key
 *     (protocol/broker-token.ts), when the node is trusted;
 *  2. a device: username and password checked against the scrypt credentials file;
 *  3. anonymous (no username, no password), only when explicitly allowed.
 */

export interface BrokerAuthInit {
  /** Let clients in without a username. Off unless set. */
  allowAnonymous: boolean;
  /** The credentials file's users; absent means no device passwords are accepted. */
  credentials?: CredentialStore;
  /** Nodes allowed to log in with their key: a list of PeerIds, or 'any' valid node key. */
  trustedNodes: 'any' | readonly string[];
  /** Tolerated clock difference between a node and the broker (default 120 s). */
  clockSkewMs?: number;
  /** Longest token lifetime accepted (default 15 min). */
  maxTokenLifetimeMs?: number;
  /** Password checks (scrypt, ~16 MiB and ~50 ms each) running at once; more are refused. Default 8. */
  maxConcurrentChecks?: number;
}

export type AuthOutcome =
  | { readonly ok: true; readonly principal: AclClient; readonly method: 'node' | 'password' | 'anonymous' }
  | { readonly ok: false; readonly code: 4 | 5 | 3; readonly reason: string };

export interface BrokerAuthenticator {
  check(clientId: string, username: string | undefined, password: Buffer | undefined): Promise<AuthOutcome>;
  /** Number of password checks in progress (for counters). */
  readonly checking: number;
}

/** CONNACK codes of MQTT 3.1.1 §3.2.2.3. */
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;
const SERVER_UNAVAILABLE = 3;
const DEFAULT_SKEW_MS = 120_000;
const DEFAULT_MAX_LIFETIME_MS = 15 * 60_000;
const DEFAULT_MAX_CHECKS = 8;

export function createBrokerAuthenticator(
  init: BrokerAuthInit,
  now: () => number = Date.now,
): BrokerAuthenticator {
  const trusted = init.trustedNodes === 'any' ? null : new Set(init.trustedNodes);
  const seen = new NonceCache();
  const maxChecks = init.maxConcurrentChecks ?? DEFAULT_MAX_CHECKS;
  let checking = 0;

  const nodeLogin = (clientId: string, peerId: string, password: Buffer): AuthOutcome => {
    if (trusted !== null && !trusted.has(peerId)) {
      return {
        ok: false,
        code: NOT_AUTHORIZED,
        reason: `node ${peerId} is not trusted by this broker; add it to broker.auth.trustedNodes`,
      };
    }
    try {
      const nowMs = now();
      const claims = verifyBrokerToken(password, {
        peerId,
        clientId,
        nowMs,
        clockSkewMs: init.clockSkewMs ?? DEFAULT_SKEW_MS,
        maxLifetimeMs: init.maxTokenLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS,
      });
      if (!seen.add(claims.nonce, claims.expiresAtMs + (init.clockSkewMs ?? DEFAULT_SKEW_MS), nowMs)) {
        return { ok: false, code: BAD_CREDENTIALS, reason: `node ${peerId} presented a token already used` };
      }
    } catch (err) {
      const why = err instanceof BrokerTokenError ? err.message : String(err);
      return { ok: false, code: BAD_CREDENTIALS, reason: `node ${peerId}: ${why}` };
    }
    return { ok: true, principal: { clientId, nodeId: peerId }, method: 'node' };
  };

  const passwordLogin = async (
    clientId: string,
    username: string,
    password: Buffer | undefined,
  ): Promise<AuthOutcome> => {
    const store = init.credentials;
    if (store === undefined) {
      return {
        ok: false,
        code: BAD_CREDENTIALS,
        reason: `user ${JSON.stringify(username)}: this broker has no credentials file (broker.auth.credentialsFile)`,
      };
    }
    if (checking >= maxChecks) {
      return { ok: false, code: SERVER_UNAVAILABLE, reason: `${maxChecks} password checks already running` };
    }
    checking++;
    try {
      if (await store.authenticate(username, password)) {
        return { ok: true, principal: { clientId, username }, method: 'password' };
      }
    } finally {
      checking--;
    }
    return {
      ok: false,
      code: BAD_CREDENTIALS,
      reason: `user ${JSON.stringify(username)}: wrong username or password`,
    };
  };

  return {
    get checking() {
      return checking;
    },
    async check(clientId, username, password) {
      if (username !== undefined && password !== undefined && isBrokerToken(password)) {
        return nodeLogin(clientId, username, password);
      }
      if (username !== undefined) return passwordLogin(clientId, username, password);
      if (password !== undefined) {
        return { ok: false, code: BAD_CREDENTIALS, reason: 'a password without a username' };
      }
      if (!init.allowAnonymous) {
        return {
          ok: false,
          code: NOT_AUTHORIZED,
          reason:
            'anonymous access is off; give the client a username and password (fieldmesh broker passwd)',
        };
      }
      return { ok: true, principal: { clientId }, method: 'anonymous' };
    },
  };
}

/** Nonces of tokens seen and not yet expired; a replay within a token's lifetime is refused. */
class NonceCache {
  private readonly expiries = new Map<string, number>();
  private static readonly MAX = 100_000;

  /** False if `nonce` was already seen. */
  add(nonce: Uint8Array, expiresAtMs: number, nowMs: number): boolean {
    const key = Buffer.from(nonce).toString('base64');
    if (this.expiries.has(key)) return false;
    if (this.expiries.size >= NonceCache.MAX) this.prune(nowMs);
    this.expiries.set(key, expiresAtMs);
    return true;
  }

  private prune(nowMs: number): void {
    for (const [key, expiry] of this.expiries) if (expiry < nowMs) this.expiries.delete(key);
    // Still full of live tokens: forget the oldest half rather than grow without bound.
    if (this.expiries.size >= NonceCache.MAX) {
      let drop = this.expiries.size / 2;
      for (const key of this.expiries.keys()) {
        if (drop-- <= 0) break;
        this.expiries.delete(key);
      }
    }
  }
}
