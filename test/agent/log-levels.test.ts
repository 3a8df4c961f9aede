import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogging, type LogInit } from '../../agent/log.js';
import { FieldmeshError } from '../../protocol/errors.js';

/** A real pino logger writing JSON lines into memory. */
function capture(init: Omit<LogInit, 'destination' | 'format'>) {
  const lines: { msg: string; component?: string; level: number }[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logging = createLogging({ ...init, format: 'json', destination: out });
  return { ...logging, msgs: () => lines.map((l) => l.msg) };
}

describe('per-component log levels', () => {
  it("shows a component's debug lines once its level is set, and only that component's", () => {
    const { logger, levels, msgs } = capture({ level: 'info' });
    const mqtt = logger.child({ component: 'mqtt' });
    const pipeline = logger.child({ component: 'pipeline', pipeline: 'press' });
    mqtt.debug('mqtt before');
    levels.set('mqtt', 'debug');
    mqtt.debug('mqtt after');
    pipeline.debug('pipeline after');
    logger.debug('root after');
    expect(msgs()).toEqual(['mqtt after']);
    expect(levels.levels()).toMatchObject({ '*': 'info', mqtt: 'debug', pipeline: 'info' });
  });

  it('applies to grandchildren and to loggers made after the change', () => {
    const { logger, levels, msgs } = capture({ level: 'info' });
    const child = logger.child({ component: 'mesh' });
    const grandchild = child.child({ peer: 'p1' });
    levels.set('mesh', 'debug');
    grandchild.debug('grandchild');
    child.child({ peer: 'p2' }).debug('new grandchild');
    logger.child({ component: 'mesh' }).debug('new child');
    expect(msgs()).toEqual(['grandchild', 'new grandchild', 'new child']);
    levels.set('mesh', 'warn');
    grandchild.info('quiet now');
    expect(msgs()).toHaveLength(3);
  });

  it('applies the configured levels from the start; unconfigured components follow the root', () => {
    const { logger, levels, msgs } = capture({ level: 'warn', levels: { bridge: 'debug' } });
    logger.child({ component: 'bridge' }).debug('bridge');
    logger.child({ component: 'mqtt' }).info('mqtt');
    logger.child({ component: 'mqtt' }).warn('mqtt warn');
    expect(msgs()).toEqual(['bridge', 'mqtt warn']);
    expect(levels.levels()).toEqual({ '*': 'warn', bridge: 'debug', mqtt: 'warn' });
  });

  it('sets the root and every component when no component is named', () => {
    const { logger, levels, msgs } = capture({ level: 'info', levels: { bridge: 'error' } });
    const bridge = logger.child({ component: 'bridge' });
    const plain = logger.child({ request: 1 });
    levels.set(undefined, 'debug');
    bridge.debug('bridge');
    plain.debug('plain');
    logger.debug('root');
    expect(msgs()).toEqual(['bridge', 'plain', 'root']);
    expect(levels.levels()).toEqual({ '*': 'debug', bridge: 'debug' });
  });

  it('refuses an unknown level with the valid ones in the message', () => {
    const { levels } = capture({ level: 'info' });
    let caught: unknown;
    try {
      levels.set('mqtt', 'verbose');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FieldmeshError);
    expect((caught as FieldmeshError).code).toBe('LOG_LEVEL_UNKNOWN');
    expect((caught as Error).message).toMatch(/"verbose".*fatal, error, warn, info, debug, trace, silent/);
    expect(() => capture({ level: 'info', levels: { mqtt: 'loud' } })).toThrow(/"loud"/);
    expect(levels.levels().mqtt).toBeUndefined();
  });
});
