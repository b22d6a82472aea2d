import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { McpServerOptions } from '@modelcontextprotocol/server';
import type { SetupFn } from '../server/types.js';
import { UsageError } from './args.js';

/** A loaded tools module: its default export and, if it has one, its `serverOptions` export. */
export interface ToolsModule {
  setup: SetupFn;
  serverOptions: McpServerOptions | undefined;
}

const EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

/**
 * Loads a `--tools` module and returns its default export, which must be a
 * function receiving the SDK's `McpServer`. TypeScript is loaded through tsx.
 */
export async function loadToolsModule(path: string): Promise<ToolsModule> {
  const file = resolve(path);
  if (!EXTENSIONS.has(extname(file))) {
    throw new UsageError(`--tools: ${path} must be a .ts, .mts, .js or .mjs file`);
  }
  if (!existsSync(file)) throw new UsageError(`--tools: ${path} does not exist`);
  let mod: { default?: unknown; serverOptions?: unknown };
  try {
    if (extname(file).endsWith('ts')) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as typeof mod;
    } else {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
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
  const options =
    mod.serverOptions ?? (mod.default as { serverOptions?: unknown } | undefined)?.serverOptions;
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new UsageError(`--tools: ${path}: the serverOptions export must be an object`);
  }
  return { setup: exported as SetupFn, serverOptions: options as McpServerOptions | undefined };
}
