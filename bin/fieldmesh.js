#!/usr/bin/env node
// Thin launcher: the CLI is TypeScript compiled to dist/ by `npm run build` (run by npm install).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/agent/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(
    `fieldmesh is not built yet (${main} is missing): run "npm run build" in the project folder.\n`,
  );
  process.exit(1);
}
const { run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
