import type { IncomingMessage } from 'node:http';

/** The outcome of reading a request body under a byte limit. */
export type BodyResult =
  | { ok: true; text: string }
  | {
      ok: false;
      tooLarge: boolean;
      /** Read by a framework before us and not left on `req.body`. */
      consumed?: boolean;
    };

/**
 * The body of a request whose stream a framework already consumed
 * (`express.json()`, Fastify's parser): `req.body` when the framework left it
 * there. Waiting on such a stream would hang, since `end` was already emitted.
 */
function alreadyRead(req: IncomingMessage, maxBytes: number): BodyResult {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed === undefined) return { ok: false, tooLarge: false, consumed: true };
  const text =
    typeof parsed === 'string'
      ? parsed
      : Buffer.isBuffer(parsed)
        ? parsed.toString('utf8')
        : JSON.stringify(parsed);
  if (Buffer.byteLength(text) > maxBytes) return { ok: false, tooLarge: true };
  return { ok: true, text };
}

/**
 * Reads the whole body as UTF-8, stopping at `maxBytes` (a declared
 * Content-Length over the limit is refused before reading). Behind a body
 * parser that already read the stream, the parsed `req.body` is used.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  if (req.readableEnded) return Promise.resolve(alreadyRead(req, maxBytes));
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
