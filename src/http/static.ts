import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendError } from '../errors.js';

/** The test page's URL path. */
export const TEST_PAGE_PATH = '/sse-test.html';

/** Folder of the page's assets, as a URL path prefix. */
const ASSET_PREFIX = '/sse-test/';

/** `public/` of the package: two levels up from both `src/http/` and `dist/http/`. */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/**
 * Asset names served from `public/sse-test/`: one flat level, known
 * extensions only, so neither `..` nor the page's TypeScript sources
 * (`public/sse-test/src/`) can be reached.
 */
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;

/**
 * The page talks only to the server it is pointed at; it loads nothing from
 * elsewhere. `connect-src *` because the operator may point it at another
 * deployment; tool results may carry images as `data:` URLs.
 */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src data:; connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // The page is a diagnostic tool: always the copy that matches the running server.
  'Cache-Control': 'no-cache',
};

/** Whether `path` (after the base path is stripped) belongs to the test page. */
export function isTestPagePath(path: string): boolean {
  return path === TEST_PAGE_PATH || path.startsWith(ASSET_PREFIX);
}

/** The file under `publicDir` that `path` names, or undefined when it names nothing servable. */
function fileFor(path: string): { file: string; type: string } | undefined {
  if (path === TEST_PAGE_PATH) return { file: 'sse-test.html', type: 'html' };
  const name = path.slice(ASSET_PREFIX.length);
  const match = ASSET_NAME.exec(name);
  return match?.[1] ? { file: `sse-test/${name}`, type: match[1] } : undefined;
}

/**
 * Serves the interactive test page (`GET /sse-test.html`) and its assets
 * (`GET /sse-test/<name>.js|css|svg`) from the package's `public/` folder.
 * The page's script is built by `npm run build`; until then its request
 * answers 404 and the page says how to build it.
 *
 * @example
 * if (isTestPagePath(path)) {
 *   await serveTestPage(req, res, path);
 *   return;
 * }
 */
export async function serveTestPage(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'GET, HEAD' } });
    return;
  }
  const target = fileFor(path);
  let body: Buffer | undefined;
  if (target) {
    try {
      body = await readFile(join(PUBLIC_DIR, target.file));
    } catch {
      body = undefined;
    }
  }
  if (target === undefined || body === undefined) {
    const unbuilt = target?.type === 'js';
    sendError(res, 'TETHER_ERR_HTTP_NOT_FOUND', {
      ...(unbuilt ? { detail: 'Not found: the test page script is built by `npm run build`' } : {}),
    });
    return;
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[target.type] ?? 'application/octet-stream',
    'Content-Length': body.byteLength,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
