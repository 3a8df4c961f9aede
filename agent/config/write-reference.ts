import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown, REFERENCE_BEGIN, REFERENCE_END } from './reference.js';

/** `npm run docs:config`: rewrites the configuration reference section of README.md. */
const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
const text = await readFile(readme, 'utf8');
const start = text.indexOf(REFERENCE_BEGIN);
const end = text.indexOf(REFERENCE_END);
if (start < 0 || end < start) {
  process.stderr.write(`${readme}: no ${REFERENCE_BEGIN} … ${REFERENCE_END} markers\n`);
  process.exit(1);
}
const next = `${text.slice(0, start + REFERENCE_BEGIN.length)}\n${configReferenceMarkdown()}\n${text.slice(end)}`;
await writeFile(readme, next);
process.stdout.write(`updated the configuration reference in ${readme}\n`);
