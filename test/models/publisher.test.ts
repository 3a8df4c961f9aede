import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../models/manifest.js';
import {
  canonicalJson,
  checkManifestSignature,
  checkPublisherPolicy,
  ManifestSignatureError,
  ModelPublisherUntrustedError,
  manifestSigningBytes,
  signManifestJson,
} from '../../models/publisher.js';
import { identityFromSeed } from '../../protocol/identity.js';

const VIB = path.resolve('models/examples/vibration-ae/manifest.json');
const alice = identityFromSeed(new Uint8Array(32).fill(1));
const mallory = identityFromSeed(new Uint8Array(32).fill(2));

/** The fields the tests change, as a signed manifest has them. */
interface Editable {
  postprocessing: { threshold: number };
  preprocessing: { normalise: { std: number } };
  publisher: { id: string; name?: string };
  sha256: string;
  description: string;
}

async function raw(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(VIB, 'utf8')) as Record<string, unknown>;
}

describe('canonical JSON', () => {
  it('gives the same bytes whatever the key order, and different bytes for different values', () => {
    const a = canonicalJson({ b: 1, a: [{ y: 'x', x: 0.1 }], c: null });
    expect(a).toBe('{"a":[{"x":0.1,"y":"x"}],"b":1,"c":null}');
    expect(canonicalJson({ c: null, a: [{ x: 0.1, y: 'x' }], b: 1 })).toBe(a);
    expect(canonicalJson({ b: 1, a: [{ y: 'x', x: 0.10000001 }], c: null })).not.toBe(a);
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('leaves the signature out of what is signed, and the publisher id and name in', async () => {
    const signed = signManifestJson(await raw(), alice, 'QA');
    const text = new TextDecoder().decode(manifestSigningBytes(signed));
    expect(text).toContain(`"publisher":{"id":"${alice.peerId}","name":"QA"}`);
    expect(text).not.toContain('signature');
  });
});

describe('publisher signatures', () => {
  it('signs a manifest so that it still parses and checks as signed by its publisher', async () => {
    const signed = signManifestJson(await raw(), alice, 'line QA');
    expect(parseManifest(signed, 'm.json').publisher?.id).toBe(alice.peerId);
    expect(checkManifestSignature(signed, 'm.json')).toEqual({
      state: 'signed',
      id: alice.peerId,
      name: 'line QA',
    });
    expect(checkManifestSignature(await raw(), 'm.json')).toEqual({ state: 'unsigned' });
  });

  it('survives re-serialising with other key order and spacing', async () => {
    const signed = signManifestJson(await raw(), alice);
    const reordered = JSON.parse(
      JSON.stringify(Object.fromEntries(Object.entries(signed).reverse()), null, 4),
    );
    expect(checkManifestSignature(reordered, 'm.json').state).toBe('signed');
  });

  it.each([
    [
      'the threshold',
      (m: Editable) => {
        m.postprocessing.threshold *= 2;
      },
    ],
    [
      'the sha256 (other model bytes)',
      (m: Editable) => {
        m.sha256 = 'ab'.repeat(32);
      },
    ],
    [
      'the normalisation',
      (m: Editable) => {
        m.preprocessing.normalise.std += 0.001;
      },
    ],
    [
      'the publisher name',
      (m: Editable) => {
        m.publisher.name = 'someone else';
      },
    ],
    [
      'an added field',
      (m: Editable) => {
        m.description += ' (patched)';
      },
    ],
  ])('refuses a manifest whose %s changed after signing', async (_what, tamper) => {
    const signed = structuredClone(signManifestJson(await raw(), alice, 'QA')) as unknown as Editable;
    tamper(signed);
    const err = (() => {
      try {
        return checkManifestSignature(signed as unknown as Record<string, unknown>, 'plant/m.json');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ManifestSignatureError);
    expect((err as Error).message).toMatch(
      /^plant\/m\.json: the publisher signature does not hold: it does not verify under 12D3KooW/,
    );
    expect((err as Error).message).toContain('fieldmesh models sign');
  });

  it('refuses a signature moved under another publisher id', async () => {
    const signed = signManifestJson(await raw(), alice) as unknown as Editable;
    signed.publisher.id = mallory.peerId;
    expect(() => checkManifestSignature(signed as unknown as Record<string, unknown>, 'm.json')).toThrow(
      `does not verify under ${mallory.peerId}`,
    );
  });

  it('applies the publisher policy', async () => {
    const signed = checkManifestSignature(signManifestJson(await raw(), alice, 'QA'), 'm.json');
    const unsigned = checkManifestSignature(await raw(), 'm.json');
    expect(() => checkPublisherPolicy(unsigned, 'any', 'v', 'm.json')).not.toThrow();
    expect(() => checkPublisherPolicy(signed, [mallory.peerId, alice.peerId], 'v', 'm.json')).not.toThrow();
    expect(() => checkPublisherPolicy(signed, [mallory.peerId], 'v', 'm.json')).toThrow(
      ModelPublisherUntrustedError,
    );
    expect(() => checkPublisherPolicy(signed, [mallory.peerId], 'v', 'm.json')).toThrow(
      `model "v" (m.json) is signed by ${alice.peerId} (QA), who is not listed`,
    );
    expect(() => checkPublisherPolicy(unsigned, [alice.peerId], 'v', 'm.json')).toThrow('is not signed');
  });

  it('reports a malformed publisher block as a manifest problem, naming the field', async () => {
    const m = { ...(await raw()), publisher: { id: 'bob', signature: 'xyz' } };
    expect(() => parseManifest(m, 'm.json')).toThrow(/publisher\.id/);
    expect(() => parseManifest(m, 'm.json')).toThrow(/publisher\.signature/);
  });
});
