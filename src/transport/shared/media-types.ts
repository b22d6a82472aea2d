import type { IncomingMessage } from 'node:http';

/** Media types in an Accept header, lower-cased, parameters dropped; duplicates tolerated. */
export function acceptedTypes(req: IncomingMessage): Set<string> {
  const header = req.headers.accept ?? '';
  return new Set(
    header
      .split(',')
      .map((part) => part.split(';')[0]?.trim().toLowerCase() ?? '')
      .filter((t) => t !== ''),
  );
}

/** Whether Accept admits `type` (exactly, by `major/*`, or by `*\/*`). */
export function accepts(types: Set<string>, type: string): boolean {
  return types.has(type) || types.has(`${type.split('/')[0]}/*`) || types.has('*/*');
}

/** Whether the request's Content-Type is application/json (parameters such as charset ignored). */
export function isJsonContentType(req: IncomingMessage): boolean {
  return req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}
