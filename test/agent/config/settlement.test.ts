import { describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '../../../agent/config/errors.js';
import { parseConfigText } from '../../../agent/config/load.js';
import { identityFromSeed } from '../../../protocol/identity.js';

const service = identityFromSeed(new Uint8Array(32).fill(3));
const HEX = Buffer.from(service.publicKey).toString('hex');
const FILE = '/etc/fieldmesh/site.yaml';

const withSettlement = (section: string) => `
settlement:
${section
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, FILE, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as ConfigInvalidError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('settlement config section', () => {
  it('is off when absent', () => {
    expect(parseConfigText('log: { level: warn }', FILE, { env: {} }).settlement).toBeUndefined();
  });

  it('fills every default around the two required fields, and freezes them', () => {
    const cfg = parseConfigText(
      withSettlement(`url: http://127.0.0.1:8710\nservicePublicKey: ${service.peerId}`),
      FILE,
      { env: {} },
    );
    expect(cfg.settlement).toEqual({
      url: 'http://127.0.0.1:8710',
      servicePublicKey: service.peerId,
      batch: { maxReceipts: 500, maxAgeMs: 10_000, maxBytes: 1024 * 1024 },
      outbox: { maxBytes: 256 * 1024 * 1024 },
      retention: { maxAgeMs: 3_600_000, maxBytes: 128 * 1024 * 1024 },
      requestTimeoutMs: 10_000,
      backoff: { minMs: 1_000, maxMs: 60_000 },
      challengePollMs: 5_000,
      creditsPollMs: 15_000,
    });
    expect(Object.isFrozen(cfg.settlement?.batch)).toBe(true);
  });

  it('takes the service key as 64 hex digits too', () => {
    const cfg = parseConfigText(
      withSettlement(`url: https://settle.example.org/base\nservicePublicKey: "${HEX}"`),
      FILE,
      { env: {} },
    );
    expect(cfg.settlement?.servicePublicKey).toBe(HEX);
  });

  it('reports a bad URL, a bad key and a missing key each with its path', () => {
    const problems = problemsOf(
      withSettlement(
        'url: ftp://127.0.0.1:8710\nservicePublicKey: 12D3KooWnotakey\nbatch: { maxReceipts: 0 }',
      ),
    );
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'settlement.url',
        'settlement.servicePublicKey',
        'settlement.batch.maxReceipts',
      ]),
    );
    expect(problems.find((p) => p.path === 'settlement.url')?.expected).toMatch(/http:\/\/ or https:\/\//);
    expect(problems.find((p) => p.path === 'settlement.servicePublicKey')?.expected).toMatch(/PeerId/);
    expect(problemsOf(withSettlement('url: http://127.0.0.1:8710')).map((p) => p.path)).toContain(
      'settlement.servicePublicKey',
    );
  });

  it('checks ordered bounds: backoff, and an outbox that holds a full batch', () => {
    const problems = problemsOf(
      withSettlement(
        `url: http://h:1\nservicePublicKey: ${service.peerId}\nbackoff: { minMs: 500, maxMs: 100 }\nbatch: { maxBytes: 2000000 }\noutbox: { maxBytes: 1000000 }`,
      ),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'settlement.backoff.maxMs',
      'settlement.outbox.maxBytes',
    ]);
  });

  it('takes the service URL from FIELDMESH_SETTLEMENT_URL', () => {
    const cfg = parseConfigText(
      withSettlement(`url: http://127.0.0.1:8710\nservicePublicKey: ${service.peerId}`),
      FILE,
      { env: { FIELDMESH_SETTLEMENT_URL: 'http://10.0.0.5:8710' } },
    );
    expect(cfg.settlement?.url).toBe('http://10.0.0.5:8710');
  });
});
