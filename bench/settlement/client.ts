import { readFile } from 'node:fs/promises';
import { decodeCbor } from '../../protocol/cbor.js';

/**
 * The load for the settlement suite, in its own process so the service's CPU time is its own:
 * `node client.js <url> <file> <inFlight>` POSTs every submission in <file> (a CBOR array of
 * byte strings), <inFlight> at a time, checks each was acknowledged, and prints
 * `done <ms>` on stdout.
 */
const [url, file, inFlightText] = process.argv.slice(2);
const submissions = decodeCbor(await readFile(file as string), { maxDepth: 1 }) as Uint8Array[];
const inFlight = Number(inFlightText);
let next = 0;
const started = performance.now();
const worker = async (): Promise<void> => {
  while (next < submissions.length) {
    const body = submissions[next++] as Uint8Array;
    const res = await fetch(`${url}/v1/batches`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/cbor' },
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`settlement answered HTTP ${res.status}`);
  }
};
await Promise.all(Array.from({ length: inFlight }, worker));
process.stdout.write(`done ${performance.now() - started}\n`);
