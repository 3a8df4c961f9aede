import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { MqttConfigError } from './errors.js';

/**
 * mqtt.tls as configured: files by path, read once when the link is created. Fields may be
 * explicitly undefined, so the validated config section can be handed over as it is.
 */
export interface MqttTlsInit {
  /** PEM file of the CA(s) that signed the broker's certificate; without it, the system store. */
  ca?: string | undefined;
  /** PEM client certificate, for brokers that ask for one (with `key`). */
  cert?: string | undefined;
  /** PEM private key of `cert` (unencrypted). */
  key?: string | undefined;
  /** Refuse a broker whose certificate does not verify. Default true; false is for experiments only. */
  rejectUnauthorized?: boolean | undefined;
  /** The name the broker's certificate must carry, when it differs from the host in the URL. */
  servername?: string | undefined;
}

/** mqtt.tls with the files read: what the transport dials with. */
export interface TlsSettings {
  ca?: Buffer;
  /** Where `ca` came from, for error messages. */
  caFile?: string;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** Reads the files mqtt.tls names; throws MqttConfigError (MQTT_CONFIG_INVALID) naming the field and the path. */
export function loadTlsSettings(init: MqttTlsInit): TlsSettings {
  if ((init.cert === undefined) !== (init.key === undefined)) {
    const [has, lacks] = init.cert === undefined ? ['key', 'cert'] : ['cert', 'key'];
    throw new MqttConfigError(
      `tls.${lacks}`,
      `is missing while mqtt.tls.${has} is set; a client certificate needs both cert and key`,
    );
  }
  const settings: TlsSettings = { rejectUnauthorized: init.rejectUnauthorized ?? true };
  if (init.ca !== undefined) {
    settings.ca = readPem('ca', init.ca, 'the CA certificate that signed the broker');
    settings.caFile = init.ca;
  }
  if (init.cert !== undefined) settings.cert = readPem('cert', init.cert, "this agent's client certificate");
  if (init.key !== undefined) settings.key = readPem('key', init.key, "the client certificate's private key");
  if (init.servername !== undefined) settings.servername = init.servername;
  return settings;
}

function readPem(field: string, file: string, what: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new MqttConfigError(
      `tls.${field}`,
      `cannot read ${JSON.stringify(file)} (${typeof code === 'string' ? code : String(err)}): ` +
        `point it at ${what} (PEM), readable by the user the agent runs as`,
    );
  }
  if (!bytes.includes('-----BEGIN ')) {
    throw new MqttConfigError(
      `tls.${field}`,
      `${JSON.stringify(file)} is not a PEM file (no "-----BEGIN" line): point it at ${what}`,
    );
  }
  return bytes;
}

/** What the broker's certificate says about itself, captured while the TLS handshake ends. */
export interface PeerCertificateSummary {
  subject: string;
  issuer: string;
  /** "DNS:broker.local, IP Address:10.0.0.2", or '' when it lists none. */
  altNames: string;
}

const peers = new WeakMap<tls.TLSSocket, PeerCertificateSummary>();

/**
 * Remembers the broker's certificate of `socket` for error messages. Node verifies the chain
 * in its own 'secure' listener and destroys the socket on failure, after which the certificate
 * is gone; a listener put in front of Node's still sees it (Node 20). It only reads.
 */
export function watchPeerCertificate(socket: tls.TLSSocket): void {
  socket.prependOnceListener('secure', () => {
    const cert = socket.getPeerCertificate();
    if (cert === null || Object.keys(cert).length === 0) return;
    peers.set(socket, {
      subject: distinguishedName(cert.subject),
      issuer: distinguishedName(cert.issuer),
      altNames: cert.subjectaltname ?? '',
    });
  });
}

/** The certificate `socket`'s broker presented, when watchPeerCertificate saw it. */
export function peerCertificateOf(socket: tls.TLSSocket): PeerCertificateSummary | undefined {
  return peers.get(socket);
}

/** "CN=broker.local, O=Plant 4" from Node's parsed subject/issuer object. */
function distinguishedName(name: tls.Certificate | undefined): string {
  if (name === undefined) return '?';
  const parts = Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length === 0 ? '(empty)' : parts.join(', ');
}
