// Rewrites the error table in docs/errors.md from src/errors.ts (run: node --import tsx scripts/errors-table.mjs).
import { readFileSync, writeFileSync } from 'node:fs';

const { ERRORS } = await import('../src/errors.ts');
const rows = Object.entries(ERRORS)
  .map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.rpc} | ${e.message} |`)
  .join('\n');
const path = new URL('../docs/errors.md', import.meta.url);
const doc = readFileSync(path, 'utf8').replace(
  /\| code \| HTTP \| JSON-RPC \| message \|\n\|---\|---\|---\|---\|\n(\|.*\n)+/,
  `| code | HTTP | JSON-RPC | message |\n|---|---|---|---|\n${rows}\n`,
);
writeFileSync(path, doc);
