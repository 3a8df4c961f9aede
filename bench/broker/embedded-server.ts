/**
 * The subject of the broker suite: fieldmesh's embedded broker with authentication and ACLs on
 * (scrypt credentials file, the bench ACL), memory storage, default limits.
 *
 * Usage: node embedded-server.js <credentials file> <acl.json>. Prints `ready <port>` once
 * listening on 127.0.0.1; exits on SIGTERM.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import type { AclDocument } from '../../broker/acl.js';
import { openCredentialStore } from '../../broker/credentials.js';
import { createEmbeddedBroker } from '../../broker/embedded-broker.js';

const [credentialsFile = '', aclFile = ''] = process.argv.slice(2);
const acl = JSON.parse(await readFile(aclFile, 'utf8')) as AclDocument;
const credentials = await openCredentialStore({ file: credentialsFile });
// Warnings (a refused CONNECT, a denied PUBLISH) go to stderr: in this bench they mean the
// load and the ACL disagree, and the suite shows stderr when a run fails.
const logger = pino({ level: 'warn' }, pino.destination(2));
const broker = createEmbeddedBroker(
  {
    host: '127.0.0.1',
    port: 0,
    auth: { allowAnonymous: false, trustedNodes: [], credentials },
    acl,
    storage: { kind: 'memory' },
  },
  { logger: logger.child({ component: 'broker' }) },
);
await broker.start();
process.stdout.write(`ready ${broker.address().port}\n`);
process.once('SIGTERM', () => {
  const exit = setTimeout(() => process.exit(0), 3000);
  void broker.stop().finally(() => {
    clearTimeout(exit);
    process.exit(0);
  });
});
