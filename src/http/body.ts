import type { IncomingMessage } from 'node:http';

/** The outcome of reading a request body under a byte limit. */
export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: boolean };

/**
 * Reads the whole body as UTF-8, stopping at `maxBytes` (a declared
 * Content-Length over the limit is refused before reading).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.resolve({ ok: false, tooLarge: true });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyResult) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.resume();
        finish({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish({ ok: true, text: Buffer.concat(chunks, size).toString('utf8') }));
    req.once('error', () => finish({ ok: false, tooLarge: false }));
    req.once('close', () => finish({ ok: false, tooLarge: false }));
  });
}
