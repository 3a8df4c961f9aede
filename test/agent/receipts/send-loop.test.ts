import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SendLoop } from '../../../agent/receipts/send-loop.js';
import type { DrainResult, SettlementSender } from '../../../agent/receipts/sender.js';

/** A sender whose every drainOnce waits until the test answers it. */
function heldSender() {
  const calls: { cutNow: boolean; answer: (r: DrainResult) => void }[] = [];
  const sender = {
    drainOnce: (options?: { readonly cutNow?: boolean }) =>
      new Promise<DrainResult>((answer) => calls.push({ cutNow: options?.cutNow === true, answer })),
    drain: async () => undefined,
    stop: () => undefined,
  } as unknown as SettlementSender;
  return { sender, calls };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('the send loop', () => {
  it('keeps a flush asked while a timer send is running, and cuts the partial batch after it', async () => {
    const { sender, calls } = heldSender();
    const loop = new SendLoop(
      { url: 'http://service.invalid', tickMs: 60_000, backoff: { minMs: 10, maxMs: 100 } },
      { sender, logger: pino({ level: 'silent' }), now: Date.now },
    );
    loop.tick();
    expect(calls.map((c) => c.cutNow)).toEqual([false]);
    // The operator's flush arrives while the tick still waits on the outbox.
    loop.flush();
    calls[0]?.answer({ sent: false, removed: 0 });
    await settle();
    expect(calls.map((c) => c.cutNow)).toEqual([false, true]);
    calls[1]?.answer({ sent: true, removed: 5 });
    await settle();
    calls[2]?.answer({ sent: false, removed: 0 });
    await settle();
    expect(calls.map((c) => c.cutNow)).toEqual([false, true, true]);
    expect(loop.acknowledgedReceipts).toBe(5);

    // Answered: the next tick (never started, so no timer runs) waits for due batches again.
    loop.tick();
    expect(calls.at(-1)?.cutNow).toBe(false);
    calls.at(-1)?.answer({ sent: false, removed: 0 });
    await settle();
    expect(calls).toHaveLength(4);
  });
});
