import { describe, expect, it } from 'vitest';
import { runUntilStopped, type Startable } from '../../../agent/cli/lifecycle.js';
import { quietLogger } from '../../helpers/broker.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';

/** A part that records its start and stop; its start waits for `gate` when given one. */
function part(name: string, events: string[], gate?: Promise<void>): Startable {
  return {
    async start() {
      events.push(`start ${name}`);
      await gate;
      events.push(`started ${name}`);
    },
    async stop() {
      events.push(`stop ${name}`);
    },
  };
}

describe('runUntilStopped', () => {
  it('hears a SIGTERM that comes while a part starts: starts no more parts and stops the started ones', async () => {
    const events: string[] = [];
    const listeners = process.listenerCount('SIGTERM');
    const slow = deferred();
    const run = runUntilStopped(
      [part('broker', events), part('agent', events, slow.promise), part('api', events)],
      {
        logger: quietLogger,
      },
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['start broker', 'started broker', 'start agent']);
    process.kill(process.pid, 'SIGTERM'); // without a listener this would end the test process
    await new Promise((resolve) => setTimeout(resolve, 20));
    slow.resolve();
    await withTimeout(run, 'the parts to stop');
    expect(events).toEqual([
      'start broker',
      'started broker',
      'start agent',
      'started agent',
      'stop agent',
      'stop broker',
    ]);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('runs until the duration elapses, then stops in reverse order', async () => {
    const events: string[] = [];
    await withTimeout(
      runUntilStopped([part('a', events), part('b', events)], { logger: quietLogger, durationMs: 10 }),
      'the duration',
    );
    expect(events).toEqual(['start a', 'started a', 'start b', 'started b', 'stop b', 'stop a']);
  });
});
