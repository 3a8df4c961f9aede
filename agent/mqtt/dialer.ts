import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log.js';
import type { TlsFailureContext } from './explain-tls.js';
import { type MqttLinkInit, validateLinkInit } from './link-types.js';
import { type ProtocolVersion, ProtocolVersionChoice, versionName } from './protocol-version.js';
import { loadTlsSettings, peerCertificateOf } from './tls-settings.js';
import { type BrokerTarget, type MqttTransport, parseBrokerUrl } from './transport.js';

/**
 * Where and how the link dials, from its settings: the URL parsed, the settings checked, the
 * TLS files read. Throws MqttConfigError (MQTT_CONFIG_INVALID) for what can never work.
 */
export function brokerTarget(init: MqttLinkInit, log: Logger): BrokerTarget {
  const target = parseBrokerUrl(init.url);
  validateLinkInit(init);
  if (init.tls !== undefined) target.tls = loadTlsSettings(init.tls);
  if (target.tls?.rejectUnauthorized === false) {
    log.warn(
      { url: target.displayUrl },
      "mqtt.tls.rejectUnauthorized is false: any broker's certificate is accepted, so the connection can be intercepted",
    );
  }
  return target;
}

/** How far one connection attempt got. */
interface Attempt {
  /** TCP (and TLS) up: the broker could read the CONNECT. */
  reachedBroker: boolean;
  /** The CONNACK refusal code, if the broker sent one. */
  connackCode?: number;
  /** The broker turned MQTT 5 down with its CONNACK. */
  refusedVersion: boolean;
  tls: TlsFailureContext;
}

/**
 * Opens the link's connection attempts, one at a time, and watches how far each gets: that
 * decides the MQTT version fallback ('auto') and fills in TLS failure messages.
 */
export class Dialer {
  private readonly version: ProtocolVersionChoice;
  private attempt: Attempt = { reachedBroker: false, refusedVersion: false, tls: {} };

  constructor(
    private readonly target: BrokerTarget,
    private readonly transport: MqttTransport,
    setting: ProtocolVersion | 'auto',
    private readonly log: Logger,
  ) {
    this.version = new ProtocolVersionChoice(setting);
  }

  /** The version the next CONNECT speaks. */
  get nextVersion(): ProtocolVersion {
    return this.version.current;
  }

  /** The version a broker accepted, or null before the first connection. */
  get settledVersion(): ProtocolVersion | null {
    return this.version.settled;
  }

  /** What the current attempt trusted and saw, for TLS failure messages. */
  get tlsContext(): TlsFailureContext {
    return this.attempt.tls;
  }

  /** mqtt.js's stream builder: one socket per attempt. */
  open(): net.Socket {
    const socket = this.transport(this.target);
    const attempt: Attempt = { reachedBroker: false, refusedVersion: false, tls: {} };
    if (this.target.tls?.caFile !== undefined) attempt.tls.caFile = this.target.tls.caFile;
    this.attempt = attempt;
    const secure = socket instanceof tls.TLSSocket;
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      attempt.reachedBroker = true;
    });
    if (secure) {
      socket.prependListener('error', () => {
        const peer = peerCertificateOf(socket);
        if (peer !== undefined) attempt.tls.peer = peer;
      });
    }
    return socket;
  }

  /**
   * The broker refused the CONNECT with `code`. True when that declines MQTT 5 and the next
   * attempt will speak 3.1.1: then it is no error, and the link should redial at once.
   */
  refused(code: number): boolean {
    this.attempt.connackCode = code;
    if (!this.version.shouldFallBack({ connackCode: code, reachedBroker: true })) return false;
    this.attempt.refusedVersion = true;
    // Routine with a 3.1.1 broker: the line that matters is the one saying what was accepted.
    this.log.debug(
      { url: this.target.displayUrl, code },
      'the broker refused MQTT 5; retrying with MQTT 3.1.1',
    );
    return true;
  }

  /**
   * The connection closed before a CONNACK accepted it. True when the link should redial at
   * once with the version that comes next (refused above, or closed unanswered by a broker
   * that cannot read MQTT 5).
   */
  closedUnaccepted(): boolean {
    if (this.attempt.refusedVersion) return true;
    const { connackCode, reachedBroker } = this.attempt;
    if (
      !this.version.shouldFallBack({ ...(connackCode === undefined ? {} : { connackCode }), reachedBroker })
    )
      return false;
    this.log.info(
      { url: this.target.displayUrl },
      'the broker closed the MQTT 5 connection without an answer; retrying with MQTT 3.1.1',
    );
    return true;
  }

  /** A CONNACK accepted the version: every reconnect keeps it. */
  accepted(): void {
    if (this.version.settled === null && this.version.setting === 'auto') {
      this.log.info(
        { url: this.target.displayUrl, protocolVersion: this.version.current },
        `the broker accepted ${versionName(this.version.current)}; reconnects use it too`,
      );
    }
    this.version.accepted();
  }
}
