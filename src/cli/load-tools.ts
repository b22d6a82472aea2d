import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SetupFn } from '../http/server.js';
import { UsageError } from './args.js';

const EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

/**
 * Loads a `--tools` module and returns its default export, which must be a
 * function receiving the SDK's `McpServer`. TypeScript is loaded through tsx.
 */
export async function loadToolsModule(path: string): Promise<SetupFn> {
  const file = resolve(path);
  if (!EXTENSIONS.has(extname(file))) {
    throw new UsageError(`--tools: ${path} must be a .ts, .mts, .js or .mjs file`);
  }
  if (!existsSync(file)) throw new UsageError(`--tools: ${path} does not exist`);
  let mod: { default?: unknown };
  try {
    if (extname(file).endsWith('ts')) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
    } else {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    }
  } catch (err) {
    throw new UsageError(`--tools: cannot load ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  // tsx may wrap a CommonJS-shaped default once more.
  const exported =
    typeof mod.default === 'object' && mod.default !== null
      ? (mod.default as { default?: unknown }).default
      : mod.default;
  if (typeof exported !== 'function') {
    throw new UsageError(`--tools: ${path} must default-export a function (server: McpServer) => void`);
  }
  return exported as SetupFn;
}
