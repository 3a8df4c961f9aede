import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchNodeCredits } from '../../../agent/receipts/credits.js';
import { closedPort } from '../../helpers/broker.js';

const NODE = '12D3KooWBkTDseW4RJrpQQVQtApbDef7xtrkw3ZJ9zCjhYYN3ZVe';

describe('asking the settlement service what it credited', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** A service that answers every request with this status and body. */
  async function answering(status: number, body: string): Promise<string> {
    server = createServer((_req, res) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(body),
    );
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it('reads the totals, keeping numbers only where numbers belong', async () => {
    const url = await answering(
      200,
      JSON.stringify({
        credited: 42,
        pending: 'lots',
        voided: 3,
        receipts: { valid: 40, duplicate: 2 },
        openChallenges: 1,
        registered: true,
        lastEpoch: { epoch: 7, cumulative: 42 },
      }),
    );
    const answer = await fetchNodeCredits(url, NODE, 2_000, () => 1_000);
    expect(answer).toEqual({
      ok: true,
      credits: {
        credited: 42,
        pending: 0,
        voided: 3,
        receipts: { valid: 40, duplicate: 2 },
        openChallenges: 1,
        registered: true,
        lastEpoch: { epoch: 7, cumulative: 42 },
        atMs: 1_000,
      },
    });
  });

  it('says which URL failed and how, without throwing', async () => {
    const notFound = await fetchNodeCredits(await answering(404, '{}'), NODE, 2_000);
    expect(notFound).toMatchObject({ ok: false, error: expect.stringMatching(/does not know this node/) });
    await new Promise((resolve) => server?.close(resolve));
    const broken = await fetchNodeCredits(await answering(500, 'oops'), NODE, 2_000);
    expect(broken).toMatchObject({ ok: false, error: expect.stringMatching(/answered HTTP 500/) });
    const port = await closedPort();
    const down = await fetchNodeCredits(`http://127.0.0.1:${port}`, NODE, 2_000);
    expect(down).toMatchObject({ ok: false, error: expect.stringMatching(/unreachable \(.*ECONNREFUSED/) });
  });
});
