import { describe, expect, it } from 'vitest';
import { isReservedTopic } from '../../broker/hooks.js';

describe('broker hooks', () => {
  it('reserves $SYS and everything under it, nothing else', () => {
    expect(['$SYS', '$SYS/x', '$SYS/broker/clients'].map(isReservedTopic)).toEqual([true, true, true]);
    expect(['$SYSTEM/x', 'a/$SYS/b', 'sys/x', '$share/g/t', ''].map(isReservedTopic)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
