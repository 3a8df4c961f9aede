import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configReferenceMarkdown, REFERENCE_BEGIN, REFERENCE_END } from '../../../agent/config/reference.js';
import { configSchema } from '../../../agent/config/schema.js';

describe('configuration reference', () => {
  it('in README.md is the one generated from the schema (run npm run docs:config after changing it)', async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(
      readme.indexOf(REFERENCE_BEGIN) + REFERENCE_BEGIN.length,
      readme.indexOf(REFERENCE_END),
    );
    expect(section.trim()).toBe(configReferenceMarkdown().trim());
  });

  it('documents every field of the schema', () => {
    const table = configReferenceMarkdown();
    const undocumented = table
      .split('\n')
      .filter((row) => row.startsWith('| `') && row.trimEnd().endsWith('|  |'));
    expect(undocumented).toEqual([]);
    for (const section of Object.keys(configSchema.shape))
      expect(table).toMatch(new RegExp(`\\| \`${section}((\\[\\])?\\.|\` )`));
  });

  it('accepts every example configuration in deploy/examples', async () => {
    const { loadConfigFile } = await import('../../../agent/config/load.js');
    for (const file of ['deploy/examples/demo.yaml', 'deploy/examples/factory-line.yaml']) {
      const cfg = await loadConfigFile(file, { env: {} });
      expect(cfg.pipelines.length).toBeGreaterThan(0);
    }
  });
});
