import { describe, expect, it } from 'vitest';
import {
  describeConnackRefusal,
  describeConnectFailure,
  isConnackRefusal,
} from '../../../agent/mqtt/explain.js';
import { describeTlsFailure } from '../../../agent/mqtt/explain-tls.js';

const url = 'mqtt://10.0.0.5:1883';

function errno(code: string, message = `connect ${code} 10.0.0.5:1883`): Error {
  return Object.assign(new Error(message), { code });
}

describe('connect failure explanations', () => {
  it('names every MQTT 3.1.1 CONNACK refusal and says what to change', () => {
    expect(describeConnackRefusal(1)).toMatch(
      /CONNACK 1 \(unacceptable protocol version\).*protocolVersion to 4/,
    );
    expect(describeConnackRefusal(2)).toMatch(/identifier rejected.*mqtt\.clientId/);
    expect(describeConnackRefusal(3)).toMatch(/server unavailable/);
    expect(describeConnackRefusal(4)).toMatch(
      /bad user name or password.*mqtt\.username.*FIELDMESH_MQTT_PASSWORD/,
    );
    expect(describeConnackRefusal(5)).toMatch(/not authorized/);
  });

  it('names MQTT 5 reason codes and falls back to the number for unknown ones', () => {
    expect(describeConnackRefusal(0x86)).toMatch(/CONNACK 134 \(bad user name or password\)/);
    expect(describeConnackRefusal(0x8a)).toMatch(/banned/);
    expect(describeConnackRefusal(0xfe)).toBe(
      'the broker refused the connection with CONNACK code 254 (0xfe)',
    );
  });

  it('tells refusal codes from success and nonsense', () => {
    expect([0, 1, 5, 0x80, 0xff, 256, -1, 1.5].map(isConnackRefusal)).toEqual([
      false,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('points ECONNREFUSED at the broker address and the setting to change', () => {
    const text = describeConnectFailure(errno('ECONNREFUSED'), url);
    expect(text).toContain('(ECONNREFUSED)');
    expect(text).toContain(`is the broker running at ${url}?`);
    expect(text).toContain('set mqtt.url or FIELDMESH_MQTT_URL');
  });

  it('explains name resolution, reachability and resets', () => {
    expect(describeConnectFailure(errno('ENOTFOUND'), url)).toMatch(/does not resolve/);
    expect(describeConnectFailure(errno('EHOSTUNREACH'), url)).toMatch(/unreachable/);
    expect(describeConnectFailure(errno('ETIMEDOUT'), url)).toMatch(/timed out/);
    expect(describeConnectFailure(errno('ECONNRESET'), url)).toMatch(/MQTT broker.*TLS/);
  });

  it('explains TLS trust failures, CONNACK refusals carried on errors, and silence', () => {
    expect(
      describeConnectFailure(errno('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), url),
    ).toMatch(/TLS failed: the broker's certificate is not trusted.*self-signed certificate.*mqtt\.tls\.ca/);
    const refused = Object.assign(new Error('Connection refused: Not authorized'), { code: 5 });
    expect(describeConnectFailure(refused, url)).toMatch(/CONNACK 5 \(not authorized\)/);
    expect(describeConnectFailure(new Error('connack timeout'), url)).toMatch(/never answered CONNECT/);
    expect(describeConnectFailure(undefined, url)).toMatch(/no answer from the broker/);
    expect(describeConnectFailure(errno('EWEIRD', 'odd'), url)).toBe('odd (EWEIRD)');
    expect(describeConnectFailure('plain text', url)).toBe('plain text');
  });

  it('names the CA used and the certificate the broker showed when TLS trust fails', () => {
    const peer = { subject: 'CN=broker.local', issuer: 'CN=Plant CA', altNames: 'DNS:broker.local' };
    const err = errno('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate');
    expect(
      describeTlsFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', err, { caFile: '/etc/fm/ca.pem', peer }),
    ).toBe(
      "TLS failed: the broker's certificate (subject CN=broker.local, issued by CN=Plant CA) is not trusted: " +
        'it is not signed by the CA in mqtt.tls.ca (/etc/fm/ca.pem) ' +
        '(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate) — ' +
        "set mqtt.tls.ca to the PEM file of the CA that signed the broker's certificate",
    );
    expect(describeTlsFailure('SELF_SIGNED_CERT_IN_CHAIN', err)).toMatch(
      /system store or NODE_EXTRA_CA_CERTS/,
    );
  });

  it('says which names a certificate holds on a host name mismatch, and what to change', () => {
    const err = Object.assign(
      errno('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
      {
        host: '10.0.0.5',
        cert: { subjectaltname: 'DNS:broker.local' },
      },
    );
    expect(describeConnectFailure(err, 'mqtts://10.0.0.5:8883')).toBe(
      "TLS failed: the broker's certificate is not valid for 10.0.0.5: it names DNS:broker.local " +
        '(ERR_TLS_CERT_ALTNAME_INVALID) — put a name the certificate lists in mqtt.url, or set mqtt.tls.servername to it',
    );
  });

  it('explains expired certificates and other TLS failures', () => {
    expect(
      describeTlsFailure('CERT_HAS_EXPIRED', errno('CERT_HAS_EXPIRED', 'certificate has expired')),
    ).toMatch(/outside its validity period.*clock/);
    expect(
      describeTlsFailure(
        'ERR_SSL_WRONG_VERSION_NUMBER',
        errno('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      ),
    ).toBe(
      "TLS failed: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER) — check mqtt.tls (ca, cert, key) and the broker's TLS listener",
    );
  });
});
