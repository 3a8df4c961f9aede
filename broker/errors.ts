import { FieldmeshError } from '../protocol/errors.js';

/** What an operator can do about a listen failure, keyed by the errno code Node reports. */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE:
    'another process (a second agent, Mosquitto?) already listens there: stop it, or set broker.port to a free port (0 picks one)',
  EACCES: 'ports below 1024 need root or CAP_NET_BIND_SERVICE: use a port above 1023 such as 1883',
  EADDRNOTAVAIL:
    'that address belongs to no interface of this host: set broker.host to one of its addresses or 0.0.0.0',
  ENOTFOUND: 'the host name does not resolve: set broker.host to an IP address',
};

/** The embedded broker could not open its TCP listener. */
export class BrokerListenError extends FieldmeshError {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, cause: unknown) {
    const errno = (cause as { code?: unknown } | null)?.code;
    const why = cause instanceof Error ? cause.message : String(cause);
    const hint = typeof errno === 'string' ? LISTEN_HINTS[errno] : undefined;
    super(
      'BROKER_LISTEN_FAILED',
      `embedded broker cannot listen on ${host}:${port}: ${why}${hint === undefined ? '' : ` — ${hint}`}`,
      { cause },
    );
    this.host = host;
    this.port = port;
  }
}

/** The broker core (aedes and its persistence) failed to set up, before any port was opened. */
export class BrokerSetupError extends FieldmeshError {
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('BROKER_SETUP_FAILED', `embedded broker could not set up its core: ${why}`, { cause });
  }
}

/** A setting the broker cannot work with; raised by the factory, before anything starts. */
export class BrokerConfigError extends FieldmeshError {
  constructor(field: string, problem: string) {
    super('BROKER_CONFIG_INVALID', `embedded broker: ${field} ${problem}`);
  }
}

/**
 * A CONNECT the broker answers with a non-zero CONNACK return code (MQTT 3.1.1 §3.2.2.3).
 * aedes reads `returnCode` off the error it is handed and puts it in the CONNACK.
 */
export class ConnectRefusedError extends FieldmeshError {
  readonly returnCode: 2 | 3 | 4 | 5;

  constructor(returnCode: 2 | 3 | 4 | 5, reason: string) {
    super('BROKER_CONNECT_REFUSED', reason);
    this.returnCode = returnCode;
  }
}
