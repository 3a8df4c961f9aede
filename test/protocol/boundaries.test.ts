import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rule of ../shared/DESIGN.md, checked on the sources: `protocol` imports none of
 * the parts; `settlement` never imports `agent`; `broker` and `models` import neither `agent`
 * nor `settlement` (the agent embeds them, not the other way round). Type-only imports count
 * too: they tie the parts together just the same for whoever reads or moves the code.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PARTS = ['protocol', 'agent', 'broker', 'models', 'settlement'] as const;
type Part = (typeof PARTS)[number];

const FORBIDDEN: Record<Part, readonly Part[]> = {
  protocol: ['agent', 'broker', 'models', 'settlement'],
  settlement: ['agent'],
  broker: ['agent', 'settlement'],
  models: ['agent', 'settlement'],
  // The CLI starts the settlement service (`fieldmesh settlement`, the demo): allowed.
  agent: [],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full));
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Relative specifiers of `import … from`, `export … from` and `import(…)` in one file. */
function relativeImports(text: string): string[] {
  const found: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) found.push(m[1] as string);
  return found;
}

/** Which part a resolved file belongs to, or null outside them (node_modules, bench, …). */
function partOf(file: string): Part | null {
  const top = path.relative(ROOT, file).split(path.sep)[0];
  return (PARTS as readonly string[]).includes(top ?? '') ? (top as Part) : null;
}

describe('the dependency rule between the parts', () => {
  it('finds relative imports of every form', () => {
    const text = [
      "import { a } from '../x/a.js';",
      "import type { B } from './b.js';",
      "export { c } from '../../c.js';",
      "const d = await import('../d.js');",
      "import './side-effect.js';",
      "import mqtt from 'mqtt';",
    ].join('\n');
    expect(relativeImports(text)).toEqual([
      '../x/a.js',
      './b.js',
      '../../c.js',
      '../d.js',
      './side-effect.js',
    ]);
  });

  for (const part of PARTS.filter((p) => FORBIDDEN[p].length > 0)) {
    it(`${part} imports none of ${FORBIDDEN[part].join(', ')}`, () => {
      const files = sources(path.join(ROOT, part));
      expect(files.length).toBeGreaterThan(0);
      const broken: string[] = [];
      for (const file of files) {
        for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
          const target = partOf(path.resolve(path.dirname(file), spec));
          if (target !== null && FORBIDDEN[part].includes(target))
            broken.push(`${path.relative(ROOT, file)} imports ${spec}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});
