import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_REASONS, ERRORS } from '../src/index.js';

const errorsDoc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('documentation matches the code', () => {
  it.each(Object.keys(ERRORS))('docs/errors.md documents %s', (code) => {
    expect(errorsDoc).toContain(`\`${code}\``);
  });

  it.each([...CLOSE_REASONS])('README names close reason %s', (reason) => {
    expect(readme).toContain(`\`${reason}\``);
  });
});
