import { describe, expect, it } from 'vitest';
import { SubscriptionTable } from '../../../agent/mqtt/subscriptions.js';
import { hasCode } from '../../../protocol/errors.js';

const payload = new Uint8Array([1]);

describe('subscription table', () => {
  it('runs every handler whose filter matches, and none other', () => {
    const table = new SubscriptionTable();
    const seen: string[] = [];
    table.set('a/+/c', 1, (t) => seen.push(`plus ${t}`));
    table.set('a/#', 0, (t) => seen.push(`hash ${t}`));
    table.set('x/y', 0, (t) => seen.push(`exact ${t}`));
    expect(table.dispatch('a/b/c', payload, () => undefined)).toBe(2);
    expect(table.dispatch('x/y', payload, () => undefined)).toBe(1);
    expect(table.dispatch('q', payload, () => undefined)).toBe(0);
    expect(seen).toEqual(['plus a/b/c', 'hash a/b/c', 'exact x/y']);
  });

  it('keeps wildcards off $ topics [MQTT-4.7.2-1]', () => {
    const table = new SubscriptionTable();
    table.set('#', 0, () => undefined);
    expect(table.dispatch('$SYS/broker/uptime', payload, () => undefined)).toBe(0);
  });

  it('reports a throwing handler and still runs the rest', () => {
    const table = new SubscriptionTable();
    const errors: string[] = [];
    let ran = false;
    table.set('t', 0, () => {
      throw new Error('bad');
    });
    table.set('#', 0, () => {
      ran = true;
    });
    expect(
      table.dispatch('t', payload, (err, filter) => errors.push(`${filter}: ${(err as Error).message}`)),
    ).toBe(2);
    expect(errors).toEqual(['t: bad']);
    expect(ran).toBe(true);
  });

  it('replaces a filter on re-subscribe, forgets it on delete, and tracks grants', () => {
    const table = new SubscriptionTable();
    const first = table.set('t', 0, () => undefined);
    first.granted = true;
    const second = table.set('t', 1, () => undefined);
    expect(table.get('t')).toBe(second);
    expect(second.granted).toBe(false);
    expect(table.all()).toHaveLength(1);
    second.granted = true;
    table.revokeAll();
    expect(second.granted).toBe(false);
    expect(table.delete('t')).toBe(true);
    expect(table.delete('t')).toBe(false);
    expect(table.dispatch('t', payload, () => undefined)).toBe(0);
  });

  it('refuses an invalid filter with TOPIC_FILTER_INVALID', () => {
    const table = new SubscriptionTable();
    let err: unknown;
    try {
      table.set('a/#/b', 0, () => undefined);
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'TOPIC_FILTER_INVALID')).toBe(true);
    expect(table.all()).toHaveLength(0);
  });
});
