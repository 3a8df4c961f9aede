import { describe, expect, it } from 'vitest';
import { ProtocolVersionChoice } from '../../../agent/mqtt/protocol-version.js';

describe('MQTT version choice', () => {
  it('speaks a fixed version and never falls back from it', () => {
    for (const v of [4, 5] as const) {
      const choice = new ProtocolVersionChoice(v);
      expect(choice.current).toBe(v);
      expect(choice.shouldFallBack({ connackCode: 1, reachedBroker: true })).toBe(false);
      expect(choice.shouldFallBack({ reachedBroker: true })).toBe(false);
      expect(choice.current).toBe(v);
    }
  });

  it("offers MQTT 5 first with 'auto' and settles on what the broker accepts", () => {
    const choice = new ProtocolVersionChoice('auto');
    expect([choice.current, choice.settled]).toEqual([5, null]);
    choice.accepted();
    expect(choice.settled).toBe(5);
  });

  it('falls back to 3.1.1 on CONNACK 1 (3.1.1 broker) or 0x84 (MQTT 5 broker), once', () => {
    for (const code of [1, 0x84]) {
      const choice = new ProtocolVersionChoice('auto');
      expect(choice.shouldFallBack({ connackCode: code, reachedBroker: true })).toBe(true);
      expect(choice.current).toBe(4);
      expect(choice.shouldFallBack({ connackCode: code, reachedBroker: true })).toBe(false);
      choice.accepted();
      expect(choice.settled).toBe(4);
    }
  });

  it('falls back when a broker closes the MQTT 5 CONNECT unanswered, only while negotiating', () => {
    const choice = new ProtocolVersionChoice('auto');
    expect(choice.shouldFallBack({ reachedBroker: false })).toBe(false); // never got there: no evidence
    expect(choice.shouldFallBack({ reachedBroker: true })).toBe(true);
    const settled = new ProtocolVersionChoice('auto');
    settled.accepted();
    expect(settled.shouldFallBack({ reachedBroker: true })).toBe(false);
    expect(settled.current).toBe(5);
  });

  it('keeps MQTT 5 on other refusals, and re-negotiates when a settled broker refuses the version', () => {
    const choice = new ProtocolVersionChoice('auto');
    for (const code of [4, 5, 0x86, 0x87, 0x80]) {
      expect(choice.shouldFallBack({ connackCode: code, reachedBroker: true })).toBe(false);
    }
    choice.accepted();
    expect(choice.shouldFallBack({ connackCode: 1, reachedBroker: true })).toBe(true);
    expect([choice.current, choice.settled]).toEqual([4, null]);
  });
});
