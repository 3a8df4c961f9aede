import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AclDocument } from '../../broker/acl.js';
import { hashPassword } from '../../broker/credentials.js';

/**
 * Who the load generator is and what it may do, the same for every broker: `PUBLISHERS` sensors
 * publishing telemetry under their own client id and one collector subscribed to all of it.
 * The embedded broker checks these users against a credentials file and an ACL; plain aedes and
 * Mosquitto (anonymous access) receive the same CONNECT packets and let everyone in.
 */
export interface LoadClient {
  clientId: string;
  username: string;
  password: string;
}
export interface LoadIdentities {
  publishers: (LoadClient & { topic: string })[];
  subscriber: LoadClient & { filter: string };
}

export const PUBLISHERS = 4;
/** Other users in the files, so lookups run over a realistic site rather than five entries. */
const BYSTANDERS = 40;

export function loadIdentities(): LoadIdentities {
  const publishers = Array.from({ length: PUBLISHERS }, (_, i) => ({
    clientId: `line${i + 1}-vib`,
    username: `sensor-${i + 1}`,
    password: `sensor-${i + 1}-secret`,
    topic: `plant/line${i + 1}-vib/telemetry`,
  }));
  return {
    publishers,
    subscriber: {
      clientId: 'historian',
      username: 'historian',
      password: 'historian-secret',
      filter: 'plant/+/telemetry',
    },
  };
}

/**
 * An ACL as a site would write it: roles for sensors, consumers and operators, `%c` rules that
 * tie a sensor to its own topics, and deny rules that every check walks before the allows.
 */
export function benchAcl(ids: LoadIdentities): AclDocument {
  const users: Record<string, { roles: string[] }> = {};
  for (const p of ids.publishers) users[p.username] = { roles: ['sensor'] };
  for (let i = 0; i < BYSTANDERS; i++) users[`device-${i}`] = { roles: ['sensor'] };
  users[ids.subscriber.username] = { roles: ['consumer'] };
  users.ops = { roles: ['operator', 'consumer'] };
  return {
    roles: {
      sensor: [
        { topic: 'plant/+/firmware/#', access: 'readwrite', permission: 'deny' },
        { topic: 'plant/%c/config/#', access: 'publish', permission: 'deny' },
        { topic: 'plant/%c/#', access: 'publish' },
        { topic: 'plant/%c/config/#', access: 'subscribe' },
      ],
      consumer: [
        { topic: 'plant/+/firmware/#', access: 'subscribe', permission: 'deny' },
        { topic: 'plant/+/telemetry', access: 'subscribe' },
        { topic: 'plant/+/status', access: 'subscribe' },
        { topic: 'alerts/%u/#', access: 'publish' },
      ],
      operator: [
        { topic: 'plant/+/config/#', access: 'readwrite' },
        { topic: 'plant/+/firmware/#', access: 'readwrite' },
      ],
    },
    users,
    authenticated: [{ topic: 'public/#', access: 'subscribe' }],
  };
}

/** Writes the credentials file (scrypt, the broker's default cost) and the ACL; returns their paths. */
export async function writeFixture(
  dir: string,
  ids: LoadIdentities,
): Promise<{ credentials: string; acl: string }> {
  const entries: [string, string][] = [
    ...ids.publishers.map((p): [string, string] => [p.username, p.password]),
    [ids.subscriber.username, ids.subscriber.password],
    ['ops', 'ops-secret'],
    ...Array.from({ length: BYSTANDERS }, (_, i): [string, string] => [`device-${i}`, `device-${i}-secret`]),
  ];
  const lines = await Promise.all(entries.map(async ([user, pass]) => `${user}:${await hashPassword(pass)}`));
  const credentials = path.join(dir, 'credentials');
  const acl = path.join(dir, 'acl.json');
  await writeFile(credentials, `${lines.join('\n')}\n`);
  await writeFile(acl, `${JSON.stringify(benchAcl(ids), null, 2)}\n`);
  return { credentials, acl };
}
