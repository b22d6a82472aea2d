import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { layersTable, violations } from '../../scripts/layers.mjs';

describe('layers', () => {
  it('every import in src/ follows the documented direction', () => {
    expect(violations()).toEqual([]);
  });

  it('docs/architecture.md carries the table generated from the rules', () => {
    const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
    expect(doc).toContain(layersTable());
  });
});
