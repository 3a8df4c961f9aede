import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import {
  NODE_A,
  NODE_B,
  REVEAL_WINDOW_MS,
  runSpotCheckStory,
  type SpotCheckStory,
} from '../../helpers/settlement-scenario.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import { EXAMPLE_MANIFESTS, honestJob } from '../../helpers/spotcheck.js';

/**
 * The read-only lists over HTTP, on a real service: credit per epoch and per node on a real
 * PostgreSQL server, flagged equivocations and spot checks on the embedded store.
 */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field below.
type Json = any;
async function get(url: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

const C = testIdentity(11);
const D = testIdentity(12);
const E = testIdentity(13);

describe('credit lists: epochs, nodes, one node’s epochs (PostgreSQL)', () => {
  let s: TestSettlement;
  let modelHex: string;
  const send = async (node: typeof C, seqs: number[], batch: number) => {
    const bodies = seqs.map((q) =>
      receiptBody({ provider: node, consumer: node }, q, {
        modelSha256: Buffer.from(modelHex, 'hex'),
        startTimeMs: Date.now(),
      }),
    );
    const res = await fetch(`${s.url}/v1/batches`, {
      method: 'POST',
      body: submissionOf(node, bodies, batch),
    });
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    s = await startTestSettlement({
      store: 'postgres',
      init: { spotCheckPpm: 0 },
      registerNodes: [E.peerId],
    });
    modelHex = (await honestJob(EXAMPLE_MANIFESTS[0] as string, 1)).modelSha256Hex;
    await send(C, [1, 2], 1);
    await s.service.closeEpoch(); // epoch 1: C +2
    await send(C, [3, 4, 5], 2);
    await send(D, [1], 1);
    await s.service.closeEpoch(); // epoch 2: C +3, D +1
    await s.service.closeEpoch(); // epoch 3: nothing new
  });
  afterAll(async () => {
    await s?.close();
  });

  it('lists epochs newest first, the open one included, with what each close credited', async () => {
    const { status, body } = await get(`${s.url}/v1/epochs`);
    expect(status).toBe(200);
    const rows = body.epochs.map((e: Json) => [
      e.epoch,
      e.credit,
      e.totalCredit,
      e.nodesCredited,
      e.leafCount,
    ]);
    expect(rows).toEqual([
      [4, 0, 0, 0, null],
      [3, 0, 6, 0, 2],
      [2, 4, 6, 2, 2],
      [1, 2, 2, 1, 1],
    ]);
    expect(body.epochs[0].closedAtMs).toBeNull();
    expect(body.epochs[1].rewardRoot).toMatch(/^[0-9a-f]{64}$/);
    expect(body.epochs[1].rewardRoot).toBe((await get(`${s.url}/v1/epochs/3`)).body.rewardRoot);
    expect(body.next).toBeNull();
  });

  it('pages epochs with limit and before, ending with next: null', async () => {
    const first = (await get(`${s.url}/v1/epochs?limit=2`)).body;
    expect(first.epochs.map((e: Json) => e.epoch)).toEqual([4, 3]);
    expect(first.next).toBe('3');
    const second = (await get(`${s.url}/v1/epochs?limit=2&before=${first.next}`)).body;
    expect(second.epochs.map((e: Json) => e.epoch)).toEqual([2, 1]);
    const third = (await get(`${s.url}/v1/epochs?limit=2&before=${second.next}`)).body;
    expect(third).toEqual({ epochs: [], next: null });
  });

  it('lists known nodes by key, the registered one without receipts too, with the figures of /v1/nodes/<node>', async () => {
    const { body } = await get(`${s.url}/v1/nodes`);
    const byId = new Map(body.nodes.map((n: Json) => [n.node, n]));
    expect([...byId.keys()].sort()).toEqual([C.peerId, D.peerId, E.peerId].sort());
    const keys = body.nodes.map((n: Json) => n.publicKey);
    expect(keys).toEqual([...keys].sort());
    expect(byId.get(C.peerId)).toMatchObject({
      registered: false,
      credited: 5,
      pending: 0,
      voided: 0,
      receipts: { valid: 5 },
      openChallenges: 0,
      lastEpoch: { epoch: 3, cumulative: 5 },
    });
    expect(byId.get(E.peerId)).toMatchObject({
      registered: true,
      credited: 0,
      receipts: {},
      lastEpoch: null,
    });
    const single = (await get(`${s.url}/v1/nodes/${C.peerId}`)).body;
    const listed = byId.get(C.peerId) as Json;
    for (const f of ['credited', 'pending', 'voided', 'receipts', 'openChallenges', 'lastEpoch'])
      expect(listed[f]).toEqual(single[f]);
    const page1 = (await get(`${s.url}/v1/nodes?limit=2`)).body;
    const page2 = (await get(`${s.url}/v1/nodes?limit=2&after=${page1.next}`)).body;
    expect([...page1.nodes, ...page2.nodes].map((n: Json) => n.publicKey)).toEqual(keys);
    expect(page2.next).toBeNull();
  });

  it('answers a node’s credit history in the dashboard’s contract, newest first', async () => {
    const { status, body } = await get(`${s.url}/v1/nodes/${C.peerId}/epochs`);
    expect(status).toBe(200);
    expect(body.node).toBe(C.peerId);
    expect(body.epochs.map(({ closedAtMs, ...e }: Json) => e)).toEqual([
      { epoch: 3, credit: 0, cumulative: 5, receipts: 0 },
      { epoch: 2, credit: 3, cumulative: 5, receipts: 3 },
      { epoch: 1, credit: 2, cumulative: 2, receipts: 2 },
    ]);
    for (const e of body.epochs) expect(typeof e.closedAtMs).toBe('number');
    const hexKey = Buffer.from(C.publicKey).toString('hex');
    const limited = (await get(`${s.url}/v1/nodes/${hexKey}/epochs?limit=1&before=3`)).body;
    expect(limited).toMatchObject({ node: C.peerId, epochs: [{ epoch: 2, cumulative: 5 }], next: '2' });
    const d = (await get(`${s.url}/v1/nodes/${D.peerId}/epochs`)).body;
    expect(d.epochs.map((e: Json) => [e.epoch, e.credit, e.cumulative])).toEqual([
      [3, 0, 1],
      [2, 1, 1],
    ]);
    expect((await get(`${s.url}/v1/nodes/${E.peerId}/epochs`)).body).toEqual({
      node: E.peerId,
      epochs: [],
      next: null,
    });
  });

  it('answers 404 for a node it does not know and 400 for what is not a node', async () => {
    const unknown = await get(`${s.url}/v1/nodes/${testIdentity(99).peerId}/epochs`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'unknown_node' });
    const bad = await get(`${s.url}/v1/nodes/not-a-node/epochs`);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/PeerId/);
  });

  it('refuses a query it does not understand with a 400 that says how to fix it', async () => {
    const cases: [string, RegExp][] = [
      ['/v1/epochs?limit=0', /limit "0" must be a whole number from 1 to 500/],
      ['/v1/epochs?limit=501', /from 1 to 500/],
      ['/v1/epochs?limit=ten', /limit "ten"/],
      ['/v1/epochs?before=latest', /before "latest" is not an epoch number; pass the "next"/],
      ['/v1/epochs?page=2', /unknown parameter "page"; this list takes limit and before/],
      ['/v1/nodes?after=zz', /after "zz" is not a 64-hex public key/],
      ['/v1/nodes?before=1', /unknown parameter "before"; this list takes limit and after/],
      [`/v1/nodes/${C.peerId}/epochs?limit=-1`, /limit "-1"/],
      ['/v1/equivocations?before=12', /before "12" is not a cursor <ms>.<batch>.<64 hex>/],
      ['/v1/spotchecks?before=3.abc', /before "3.abc" is not a cursor <epoch>.<64 hex>/],
    ];
    for (const [path, detail] of cases) {
      const { status, body } = await get(`${s.url}${path}`);
      expect({ path, status, error: body.error }).toEqual({ path, status: 400, error: 'bad_query' });
      expect(body.detail).toMatch(detail);
    }
  });
});

describe('flag lists: equivocations and spot checks (embedded store)', () => {
  const HOSTILE = '<img src=x onerror=alert(1)>';
  let clock = Date.now();
  let s: TestSettlement;
  let story: SpotCheckStory;

  beforeAll(async () => {
    s = await startTestSettlement({
      init: { spotCheckPpm: 1_000_000, revealWindowMs: REVEAL_WINDOW_MS },
      now: () => clock,
    });
    story = await runSpotCheckStory(s, (ms) => (clock += ms), HOSTILE, clock);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('lists the equivocation with both receipts and what differs', async () => {
    const { status, body } = await get(`${s.url}/v1/equivocations`);
    expect(status).toBe(200);
    expect(body).toEqual({
      equivocations: [
        {
          node: NODE_A.peerId,
          publicKey: Buffer.from(NODE_A.publicKey).toString('hex'),
          pipeline: HOSTILE,
          sequence: 1,
          keptReceipt: story.honestId,
          receipt: story.equivocationId,
          detectedAtMs: expect.any(Number),
          differs: ['startTimeMs'],
        },
      ],
      next: null,
    });
  });

  it('lists every spot check with how it ended, when, and why', async () => {
    const { body } = await get(`${s.url}/v1/spotchecks`);
    const byReceipt = new Map(body.spotchecks.map((c: Json) => [c.receipt, c]));
    expect(byReceipt.size).toBe(3);
    const epoch1 = (await get(`${s.url}/v1/epochs/1`)).body;
    expect(byReceipt.get(story.honestId)).toMatchObject({
      node: NODE_A.peerId,
      pipeline: HOSTILE,
      epoch: 1,
      openedAtMs: epoch1.closedAtMs,
      deadlineMs: epoch1.closedAtMs + REVEAL_WINDOW_MS,
      state: 'passed',
      resolvedAtMs: epoch1.closedAtMs + 1_000,
      reason: null,
    });
    expect(byReceipt.get(story.lieId)).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/output/),
    });
    expect(byReceipt.get(story.missedId)).toMatchObject({
      node: NODE_B.peerId,
      state: 'missed',
      resolvedAtMs: (await get(`${s.url}/v1/epochs/2`)).body.closedAtMs,
      reason: 'no reveal before the deadline',
    });
    const page1 = (await get(`${s.url}/v1/spotchecks?limit=2`)).body;
    const page2 = (await get(`${s.url}/v1/spotchecks?limit=2&before=${page1.next}`)).body;
    expect([...page1.spotchecks, ...page2.spotchecks].map((c: Json) => c.receipt)).toEqual(
      body.spotchecks.map((c: Json) => c.receipt),
    );
    expect(page2.next).toBeNull();
  });

  it('shows the outcome in the node list and the epochs', async () => {
    const nodes = new Map((await get(`${s.url}/v1/nodes`)).body.nodes.map((n: Json) => [n.node, n]));
    expect(nodes.get(NODE_A.peerId)).toMatchObject({
      credited: 3,
      voided: 2,
      receipts: { valid: 2, equivocation: 1 },
      lastEpoch: { epoch: 2, cumulative: 3 },
    });
    expect(nodes.get(NODE_B.peerId)).toMatchObject({ credited: 0, voided: 1, lastEpoch: null });
    const epochs = (await get(`${s.url}/v1/epochs`)).body.epochs;
    expect(epochs.map((e: Json) => [e.epoch, e.credit, e.nodesCredited])).toEqual([
      [3, 0, 0],
      [2, 3, 1],
      [1, 0, 0],
    ]);
  });
});
