import { describeTlsFailure, TLS_CODES, type TlsFailureContext } from './explain-tls.js';

/**
 * Turns what mqtt.js and the socket report into a sentence an operator can act on: what the
 * broker or the network said, and what to change. Pure: no I/O, no state.
 */

/** Where the operator sets the broker's address; quoted in every "cannot reach" hint. */
const URL_SETTING = 'set mqtt.url or FIELDMESH_MQTT_URL';

/** Mosquitto answers "not authorized", not "bad user name or password", to a wrong password. */
const NOT_AUTHORIZED_HINT =
  "check mqtt.username and mqtt.password (FIELDMESH_MQTT_PASSWORD); if they are right, the broker's access rules refuse this client: ask its operator";

/**
 * CONNACK refusals: MQTT 3.1.1 return codes 1–5 (§3.2.2.3) and the MQTT 5 reason codes ≥ 0x80
 * (§3.2.2.2) a broker sends for a refused CONNECT.
 */
const CONNACK_REFUSALS: Record<number, { meaning: string; hint: string }> = {
  1: {
    meaning: 'unacceptable protocol version',
    hint: "the broker does not speak this MQTT version (aedes speaks 3.1.1 only): set mqtt.protocolVersion to 4 or 'auto'",
  },
  2: {
    meaning: 'identifier rejected',
    hint: 'the broker refuses this client id (some 3.1.1 brokers allow only 23 letters and digits): set mqtt.clientId',
  },
  3: {
    meaning: 'server unavailable',
    hint: 'the broker is up but takes no clients now (overloaded or full)',
  },
  4: {
    meaning: 'bad user name or password',
    hint: 'check mqtt.username and mqtt.password (FIELDMESH_MQTT_PASSWORD)',
  },
  5: { meaning: 'not authorized', hint: NOT_AUTHORIZED_HINT },
  128: { meaning: 'unspecified error', hint: "see the broker's log" },
  129: { meaning: 'malformed packet', hint: "see the broker's log" },
  130: { meaning: 'protocol error', hint: "see the broker's log" },
  132: { meaning: 'unsupported protocol version', hint: "set mqtt.protocolVersion to 4 or 'auto'" },
  133: { meaning: 'client identifier not valid', hint: 'set mqtt.clientId to one the broker accepts' },
  134: {
    meaning: 'bad user name or password',
    hint: 'check mqtt.username and mqtt.password (FIELDMESH_MQTT_PASSWORD)',
  },
  135: { meaning: 'not authorized', hint: NOT_AUTHORIZED_HINT },
  136: { meaning: 'server unavailable', hint: 'the broker takes no clients now' },
  137: { meaning: 'server busy', hint: 'the broker takes no clients now' },
  138: { meaning: 'banned', hint: 'the broker has banned this client: ask its operator' },
  140: { meaning: 'bad authentication method', hint: "see the broker's authentication settings" },
  149: { meaning: 'packet too large', hint: 'the CONNECT (will message?) exceeds what the broker accepts' },
  151: { meaning: 'quota exceeded', hint: 'the broker limits this client: ask its operator' },
  156: { meaning: 'use another server', hint: URL_SETTING },
  157: { meaning: 'server moved', hint: URL_SETTING },
  159: {
    meaning: 'connection rate exceeded',
    hint: 'the broker limits reconnects; the link backs off and retries',
  },
};

/** True for a CONNACK code that refuses the connection. */
export function isConnackRefusal(code: number): boolean {
  return Number.isInteger(code) && code > 0 && code <= 0xff;
}

/** "CONNACK 4 (bad user name or password): check mqtt.username …" for a refusal code. */
export function describeConnackRefusal(code: number): string {
  const known = CONNACK_REFUSALS[code];
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  return known === undefined
    ? `the broker refused the connection with CONNACK code ${code} (${hex})`
    : `the broker refused the connection with CONNACK ${code} (${known.meaning}): ${known.hint}`;
}

/** CONNACK codes that refuse who the client is (3.1.1 and MQTT 5). */
const LOGIN_REFUSALS = new Set([4, 5, 134, 135]);

/**
 * What to add to a login refusal when the client logged in with its node key (a signed token),
 * not with configured credentials: the hints about mqtt.username and mqtt.password do not apply.
 */
export function nodeLoginHint(code: unknown, nodeId: string): string {
  if (typeof code !== 'number' || !LOGIN_REFUSALS.has(code)) return '';
  return (
    ` — this agent logged in with its node key (username ${nodeId}): a fieldmesh broker must trust it` +
    ' (broker.auth.trustedNodes) and its clock must agree within broker.auth.clockSkewS (the broker log says' +
    ' which); for a broker with accounts set mqtt.username and mqtt.password instead'
  );
}

/** Hints for the errno codes a TCP or TLS dial fails with. */
const SOCKET_HINTS: Record<string, (url: string) => string> = {
  ECONNREFUSED: (url) => `connection refused — is the broker running at ${url}? ${URL_SETTING}`,
  ENOTFOUND: () => `the host name does not resolve — check the host in the URL; ${URL_SETTING}`,
  EAI_AGAIN: () => `the host name could not be resolved (DNS unavailable?) — ${URL_SETTING}`,
  EHOSTUNREACH: () => `the host is unreachable — check the network and the URL; ${URL_SETTING}`,
  ENETUNREACH: () => `the network is unreachable — check this device's network and the URL; ${URL_SETTING}`,
  ETIMEDOUT: () => `the TCP connection timed out — check the network, firewalls and the URL; ${URL_SETTING}`,
  ECONNRESET: () =>
    'the broker closed the connection during the handshake — is it an MQTT broker, does it want TLS (mqtts://)?',
  EPIPE: () =>
    'the broker closed the connection during the handshake — is it an MQTT broker, does it want TLS (mqtts://)?',
};

/**
 * Why one connection attempt to `url` failed, from the error mqtt.js or the socket emitted
 * (or undefined when nothing was said at all); `tls` says what a TLS dial trusted and saw.
 */
export function describeConnectFailure(err: unknown, url: string, tls: TlsFailureContext = {}): string {
  if (err === undefined || err === null) {
    return 'no answer from the broker (the TCP connection or the MQTT handshake did not complete)';
  }
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'number' && isConnackRefusal(code)) return describeConnackRefusal(code);
  if (typeof code === 'string') {
    const hint = SOCKET_HINTS[code];
    if (hint !== undefined) return `${message} (${code}): ${hint(url)}`;
    if (TLS_CODES.test(code)) return describeTlsFailure(code, err, tls);
    return `${message} (${code})`;
  }
  if (message === 'connack timeout') {
    return 'the broker accepted the TCP connection but never answered CONNECT — is it an MQTT broker?';
  }
  return message;
}
