import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadModelFile } from '../../../models/manifest.js';
import { checkPublisherPolicy, signManifestJson } from '../../../models/publisher.js';
import { verifyLoadedModel } from '../../../models/signature.js';
import { readIdentity } from '../../../protocol/keystore.js';
import { UsageError } from '../args.js';
import { EXIT } from '../exit-codes.js';

/**
 * `fieldmesh models sign MANIFEST --key-dir DIR [--name NAME] [--out FILE]`: checks that the
 * manifest describes its .onnx (digest and graph), then writes it signed by the key in DIR.
 */
export async function signVerb(
  manifestPath: string,
  options: { keyDir?: string | undefined; name?: string | undefined; out?: string | undefined },
): Promise<number> {
  if (!options.keyDir) {
    throw new UsageError(
      'fieldmesh models sign: give --key-dir DIR, the folder of the publisher key (fieldmesh keys create --data-dir DIR makes one)',
    );
  }
  const identity = await readIdentity(path.resolve(options.keyDir));
  if (identity === null) {
    process.stderr.write(
      `no key in ${options.keyDir}: run "fieldmesh keys create --data-dir ${options.keyDir}" to make a publisher key\n`,
    );
    return EXIT.input;
  }
  // Signing vouches for the bytes: refuse a manifest that does not describe its model. An old
  // signature that no longer holds is about to be replaced, so it is not checked.
  verifyLoadedModel(await loadModelFile(manifestPath, { ignoreSignature: true }));
  const raw = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
  const signed = signManifestJson(raw, identity, options.name);
  const out = options.out ?? manifestPath;
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(signed, null, 2)}\n`);
  await rename(tmp, out);
  process.stdout.write(`signed ${out} as ${identity.peerId}${options.name ? ` (${options.name})` : ''}\n`);
  return EXIT.ok;
}

/**
 * `fieldmesh models verify MANIFEST [--publisher ID]...`: the digest of the .onnx, the graph
 * against the declared inputs and outputs, the publisher signature and, given publishers, that
 * the signer is one of them. Prints what holds; any failure exits 5 with the reason.
 */
export async function verifyVerb(
  manifestPath: string,
  options: { publishers: readonly string[]; json: boolean },
): Promise<number> {
  const loaded = await loadModelFile(manifestPath);
  verifyLoadedModel(loaded);
  const m = loaded.manifest;
  if (options.publishers.length > 0) {
    checkPublisherPolicy(loaded.publisher, options.publishers, m.id, manifestPath);
  }
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ manifest: manifestPath, id: m.id, version: m.version, sha256: loaded.sha256, publisher: loaded.publisher })}\n`,
    );
    return EXIT.ok;
  }
  const p = loaded.publisher;
  const who = p.state === 'signed' ? `signed by ${p.id}${p.name ? ` (${p.name})` : ''}` : 'unsigned';
  process.stdout.write(
    [
      `ok        ${m.id} ${m.version}`,
      `sha256    ${loaded.sha256} (matches ${path.basename(loaded.path)})`,
      `graph     inputs and outputs match the manifest`,
      `publisher ${who}`,
    ].join('\n') + '\n',
  );
  return EXIT.ok;
}
