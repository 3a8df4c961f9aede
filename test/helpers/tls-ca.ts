import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Files of a throwaway certificate authority and one server certificate it signed. */
export interface TestCa {
  /** The CA certificate (PEM): what clients trust. */
  caFile: string;
  /** Server certificate (PEM) for `localhost` and 127.0.0.1, signed by the CA. */
  certFile: string;
  /** The server's private key (PEM, unencrypted). */
  keyFile: string;
  /** A second, unrelated CA: clients that trust only it must refuse the server. */
  otherCaFile: string;
}

/**
 * Makes a CA and a server certificate with openssl (Debian's package) in `dir`. EC P-256 keys
 * keep it fast; certificates are valid for a day. Every TLS test makes its own.
 */
export async function makeTestCa(dir: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const selfSigned = async (name: string, subject: string) => {
    await run('openssl', [
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.crt`),
      '-days',
      '1',
      '-subj',
      subject,
    ]);
  };
  await selfSigned('ca', '/CN=fieldmesh test CA');
  await selfSigned('other-ca', '/CN=some other CA');
  await run('openssl', [
    'req',
    '-new',
    ...ecKey,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  await writeFile(
    file('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '1',
    '-extfile',
    file('server.ext'),
  ]);
  return {
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
    otherCaFile: file('other-ca.crt'),
  };
}
