import { describe, expect, it } from 'vitest';
import { type BrokerCandidate, chooseBroker } from '../../../agent/mesh/election.js';

const node = (peerId: string, priority = 1, brokerUrl: string | null = null): BrokerCandidate => ({
  peerId,
  priority,
  brokerUrl,
});

describe('chooseBroker', () => {
  it('uses the broker a peer already hosts, even when this node ranks higher', () => {
    const choice = chooseBroker(node('A', 5), [node('B', 1, 'mqtt://10.0.0.2:1883')]);
    expect(choice).toEqual({ kind: 'use', host: 'B', url: 'mqtt://10.0.0.2:1883' });
  });

  it('elects the highest priority, then the lowest id, when nobody hosts', () => {
    expect(chooseBroker(node('B'), [node('A'), node('C')])).toEqual({ kind: 'wait', host: 'A' });
    expect(chooseBroker(node('A'), [node('B'), node('C')])).toEqual({ kind: 'host' });
    expect(chooseBroker(node('C', 9), [node('A'), node('B')])).toEqual({ kind: 'host' });
    expect(chooseBroker(node('A'), [node('C', 9), node('B')])).toEqual({ kind: 'wait', host: 'C' });
  });

  it('every node reaches the same answer from the same peers', () => {
    const all = [node('K', 2), node('D', 2), node('Z', 1), node('E', 0)];
    const hosts = all.map((self) => {
      const c = chooseBroker(
        self,
        all.filter((p) => p !== self),
      );
      return c.kind === 'host' ? self.peerId : c.kind === 'wait' ? c.host : c.kind;
    });
    expect(hosts).toEqual(['D', 'D', 'D', 'D']);
  });

  it('never elects a node with priority 0, and says so when none may host', () => {
    expect(chooseBroker(node('A', 0), [node('B', 0)])).toEqual({ kind: 'none' });
    expect(chooseBroker(node('A', 0), [node('B', 1)])).toEqual({ kind: 'wait', host: 'B' });
  });

  it('converges on the better-ranked host when two are hosted', () => {
    const self = node('B', 1, 'mqtt://b:1883');
    expect(chooseBroker(self, [node('A', 1, 'mqtt://a:1883')])).toEqual({
      kind: 'use',
      host: 'A',
      url: 'mqtt://a:1883',
    });
    expect(chooseBroker(node('A', 1, 'mqtt://a:1883'), [self])).toMatchObject({ kind: 'use', host: 'A' });
  });

  it('passes over an elected peer that never announced, and ignores itself in the peer list', () => {
    expect(chooseBroker(node('B'), [node('A'), node('C')], new Set(['A']))).toEqual({ kind: 'host' });
    expect(chooseBroker(node('B'), [node('B', 9), node('C')])).toEqual({ kind: 'host' });
  });
});
