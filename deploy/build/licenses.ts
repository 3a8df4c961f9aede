import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * LICENSES.txt: the licence of every package whose code a release carries, with its name and
 * version, as their licences ask when the code is redistributed.
 */
export async function writeLicenses(packages: readonly string[], file: string): Promise<void> {
  const parts: string[] = [];
  for (const dir of packages) {
    const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    const text = await licenceText(dir);
    parts.push(
      `${'='.repeat(72)}\n${manifest.name}@${manifest.version} (${manifest.license ?? 'see text'})\n\n${
        text ?? `No licence file ships with this package; its package.json declares ${manifest.license}.`
      }\n`,
    );
  }
  await writeFile(file, parts.join('\n'));
}

async function licenceText(dir: string): Promise<string | undefined> {
  const names = (await readdir(dir)).filter((n) => /^(licen[cs]e|copying)(\.|$)/i.test(n)).sort();
  if (names[0] === undefined) return undefined;
  return (await readFile(path.join(dir, names[0]), 'utf8')).trim();
}
