import type { PeerCertificateSummary } from './tls-settings.js';

/**
 * Sentences for a TLS connection to the broker that failed verification: which certificate the
 * broker showed, what it was checked against, and which setting to change. Pure.
 */

/** What the link trusted and what the broker presented, as far as known. */
export interface TlsFailureContext {
  /** The mqtt.tls.ca file, when one is set; otherwise the system store was used. */
  caFile?: string;
  /** The broker's certificate, when the handshake got far enough to see it. */
  peer?: PeerCertificateSummary;
}

/** OpenSSL verification codes meaning "signed by no CA this client trusts". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

const EXPIRY = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** TLS failures Node reports by OpenSSL's code or its own ERR_TLS_/ERR_SSL_ codes. */
export const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;

/** A verification failure: the next attempt meets the same certificate, so retrying cannot help. */
export function isCertificateRejection(code: unknown): boolean {
  return (
    typeof code === 'string' &&
    (UNTRUSTED.has(code) || EXPIRY.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID')
  );
}

/** Why a TLS dial failed with `code`, for an operator. */
export function describeTlsFailure(code: string, err: unknown, context: TlsFailureContext = {}): string {
  const message = err instanceof Error ? err.message : String(err);
  const peer = context.peer;
  const shown =
    peer === undefined ? "the broker's certificate" : `the broker's certificate (${describePeer(peer)})`;
  if (UNTRUSTED.has(code)) {
    const trusted =
      context.caFile === undefined
        ? 'any CA in the system store or NODE_EXTRA_CA_CERTS'
        : `the CA in mqtt.tls.ca (${context.caFile})`;
    return (
      `TLS failed: ${shown} is not trusted: it is not signed by ${trusted} (${code}: ${message}) — ` +
      "set mqtt.tls.ca to the PEM file of the CA that signed the broker's certificate"
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const detail = err as { host?: unknown; cert?: { subjectaltname?: unknown } };
    const host = typeof detail.host === 'string' ? detail.host : 'the host in mqtt.url';
    const names = detail.cert?.subjectaltname ?? peer?.altNames;
    const listed = typeof names === 'string' && names !== '' ? `it names ${names}` : 'it lists no names';
    return (
      `TLS failed: ${shown} is not valid for ${host}: ${listed} (${code}) — ` +
      'put a name the certificate lists in mqtt.url, or set mqtt.tls.servername to it'
    );
  }
  if (EXPIRY.has(code)) {
    return `TLS failed: ${shown} is outside its validity period (${code}: ${message}) — renew it on the broker, or check this device's clock`;
  }
  return `TLS failed: ${message} (${code}) — check mqtt.tls (ca, cert, key) and the broker's TLS listener`;
}

function describePeer(peer: PeerCertificateSummary): string {
  return `subject ${peer.subject}, issued by ${peer.issuer}`;
}
