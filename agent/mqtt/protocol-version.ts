/**
 * Which MQTT version the link speaks. With 'auto' it offers MQTT 5 first and falls back to
 * 3.1.1 when the broker turns the version down; the first accepted CONNACK settles it for every
 * reconnect. Nothing in the mesh depends on MQTT 5 (DESIGN.md), so either outcome works. Pure:
 * the link reports what happened, this decides.
 */

/** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 4 | 5;
export type ProtocolVersionSetting = ProtocolVersion | 'auto';

/** How one connection attempt ended before its CONNACK accepted it. */
export interface FailedAttempt {
  /** The CONNACK return/reason code when the broker refused; undefined when it sent none. */
  connackCode?: number;
  /** Whether the TCP (and TLS) connection was up, i.e. the broker had the CONNECT to read. */
  reachedBroker: boolean;
}

/**
 * A server that does not support the requested protocol level answers CONNACK 0x01 and closes
 * [MQTT-3.1.2-2]; an MQTT 5 server that cannot do the version answers 0x84 (§3.2.2.2).
 */
const VERSION_REFUSALS = new Set([0x01, 0x84]);

export class ProtocolVersionChoice {
  private next: ProtocolVersion;
  private settledOn: ProtocolVersion | null = null;

  constructor(readonly setting: ProtocolVersionSetting) {
    this.next = setting === 'auto' ? 5 : setting;
  }

  /** The version of the next CONNECT. */
  get current(): ProtocolVersion {
    return this.next;
  }

  /** The version a broker accepted, or null before the first accepted CONNACK. */
  get settled(): ProtocolVersion | null {
    return this.settledOn;
  }

  /** A CONNACK accepted the current version: keep it for every reconnect. */
  accepted(): void {
    this.settledOn = this.next;
  }

  /**
   * Whether `attempt` (with the current version) shows a broker that does not speak MQTT 5,
   * so the link should retry at once with 3.1.1 (true), or handle the failure as it would any
   * other (false). A CONNACK refusing the version always counts, even after MQTT 5 was
   * accepted once (the broker behind the address changed). A 3.1.1-only broker may instead
   * just close on a CONNECT it cannot parse: that counts only while negotiating, since a
   * settled link's connections close for many other reasons.
   */
  shouldFallBack(attempt: FailedAttempt): boolean {
    if (this.setting !== 'auto' || this.next !== 5) return false;
    const refusedVersion = attempt.connackCode !== undefined && VERSION_REFUSALS.has(attempt.connackCode);
    const closedSilently =
      this.settledOn === null && attempt.connackCode === undefined && attempt.reachedBroker;
    if (!refusedVersion && !closedSilently) return false;
    this.next = 4;
    this.settledOn = null;
    return true;
  }
}

/** "MQTT 5" / "MQTT 3.1.1", for logs. */
export function versionName(version: ProtocolVersion): string {
  return version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
}
