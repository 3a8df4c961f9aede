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
        // The same body answers the history too: no `epochs` list in it, so none.
        epochs: [],
        atMs: 1_000,
      },
    });
  });

  it('reads the last epochs from the per-node list, bounded, and keeps the totals when it 404s', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({
      epoch: 30 - i,
      closedAtMs: i === 0 ? null : 5_000 - i,
      credit: 3,
      cumulative: 90 - 3 * i,
      receipts: i === 1 ? null : 2,
    }));
    server = createServer((req, res) => {
      const body = req.url?.includes('/epochs?limit=12')
        ? { node: NODE, epochs: [{ epoch: 'x' }, ...rows], next: null }
        : { credited: 90 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const answer = await fetchNodeCredits(url, NODE, 2_000);
    if (!answer.ok) throw new Error(answer.error);
    expect(answer.credits.credited).toBe(90);
    expect(answer.credits.epochs).toHaveLength(12);
    expect(answer.credits.epochs[0]).toEqual({
      epoch: 30,
      closedAtMs: null,
      credit: 3,
      cumulative: 90,
      receipts: 2,
    });
    expect(answer.credits.epochs[1]).toMatchObject({ epoch: 29, closedAtMs: 4_999, receipts: null });

    await new Promise((resolve) => server?.close(resolve));
    server = createServer((req, res) => {
      if (req.url?.includes('/epochs')) return void res.writeHead(404).end('{"error":"unknown_node"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"credited":5}');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const noHistory = await fetchNodeCredits(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      NODE,
      2_000,
    );
    expect(noHistory).toMatchObject({ ok: true, credits: { credited: 5, epochs: [] } });
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
