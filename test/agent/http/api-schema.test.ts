import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../../agent/config/api-schema.js';
import { validateConfig } from '../../../agent/config/load.js';

const load = (api: Record<string, unknown>) =>
  validateConfig({ api }, '/etc/fieldmesh/agent.yaml', { env: {} });

describe('config: api section', () => {
  it('defaults to an open API on 127.0.0.1:7654', () => {
    expect(load({}).api).toEqual({ enabled: true, host: '127.0.0.1', port: 7654 });
  });

  it('refuses a non-loopback host without a token, saying what to add', () => {
    expect(() => load({ host: '0.0.0.0' })).toThrow(/api\.token.*api\.tokenFile/);
    expect(() => load({ host: '192.168.1.20' })).toThrow(/reachable from other machines/);
  });

  it('accepts a non-loopback host with a token or a token file (resolved next to the config)', () => {
    expect(load({ host: '0.0.0.0', token: 'a'.repeat(16) }).api.token).toBe('a'.repeat(16));
    expect(load({ host: '0.0.0.0', tokenFile: 'api.token' }).api.tokenFile).toBe('/etc/fieldmesh/api.token');
  });

  it('refuses a short token and token with tokenFile', () => {
    expect(() => load({ token: 'short' })).toThrow(/16/);
    expect(() => load({ token: 'a'.repeat(16), tokenFile: 'x' })).toThrow(/mutually exclusive/);
  });

  it('knows loopback from the rest', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com'].some(isLoopbackHost)).toBe(false);
  });
});
