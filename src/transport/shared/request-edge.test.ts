import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogLine } from '../../../test/support/tether.js';
import { type RequestEdgeOptions, readJsonRpcPost } from './request-edge.js';

const MAX_BODY_BYTES = 256;
const JSON_AND_SSE = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
const PING = { jsonrpc: '2.0', id: 1, method: 'ping' };

/** Runs before the edge, as a framework's body parser would. */
type Parser = (req: IncomingMessage) => Promise<void>;

interface Edge {
  port: number;
  logs: LogLine[];
}

let server: Server | undefined;

async function stopEdge(): Promise<void> {
  const s = server;
  server = undefined;
  if (s === undefined) return;
  s.closeAllConnections();
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

afterEach(stopEdge);

/** A node:http server on 127.0.0.1:0 that answers 200 with what the edge returned, if it did not answer. */
async function startEdge(options: Partial<RequestEdgeOptions> = {}, parser?: Parser): Promise<Edge> {
  await stopEdge();
  const { logger, logs } = captureLogs('warn');
  const edgeOptions: RequestEdgeOptions = {
    maxBodyBytes: MAX_BODY_BYTES,
    logger,
    accept: 'json+sse',
    shape: 'batch',
    ...options,
  };
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    await parser?.(req);
    const read = await readJsonRpcPost(req, res, edgeOptions);
    if (read !== undefined)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(read));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, logs };
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { kind?: string; error?: { code: number; data?: { code: string } } };
}

/**
 * POSTs `chunks` one write each (chunked when no Content-Length is given), then ends the body
 * unless `end` is false; bounded at 3 s.
 */
function send(
  edge: Edge,
  chunks: string[],
  headers: Record<string, string> = JSON_AND_SSE,
  end = true,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: edge.port, method: 'POST', path: '/', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.setTimeout(3_000, () => req.destroy(new Error('no answer within 3 s')));
    req.once('error', reject);
    for (const chunk of chunks) req.write(chunk);
    if (end) req.end();
  });
}

const sendJson = (edge: Edge, body: unknown, headers?: Record<string, string>) =>
  send(edge, [typeof body === 'string' ? body : JSON.stringify(body)], headers);

/** Reads the stream to the end and leaves `body` (if any) on `req.body`. */
function parserLeaving(body?: unknown): Parser {
  return async (req) => {
    for await (const _ of req);
    if (body !== undefined) Object.assign(req, { body });
  };
}

describe('readJsonRpcPost', () => {
  it('returns one message, or a batch, with the parsed value', async () => {
    const edge = await startEdge();
    expect(await sendJson(edge, PING)).toEqual({
      status: 200,
      body: { kind: 'messages', messages: [PING], parsed: PING },
    });
    const batch = [PING, { jsonrpc: '2.0', method: 'notifications/initialized' }];
    expect((await sendJson(edge, batch)).body).toMatchObject({ kind: 'messages', messages: batch });
  });

  it('with accept json+sse: 406 unless Accept admits both types; with any: not checked', async () => {
    const strict = await startEdge();
    const onlyJson = { accept: 'application/json', 'content-type': 'application/json' };
    const refused = await sendJson(strict, PING, onlyJson);
    expect(refused.status).toBe(406);
    expect(refused.body.error?.data).toEqual({ code: 'TETHER_ERR_HTTP_NOT_ACCEPTABLE' });
    expect((await sendJson(strict, PING, { ...onlyJson, accept: '*/*' })).status).toBe(200);

    const lenient = await startEdge({ accept: 'any' });
    expect((await sendJson(lenient, PING, { 'content-type': 'application/json' })).status).toBe(200);
  });

  it('415 unless Content-Type is application/json (charset allowed); with contentType any: not checked', async () => {
    const strict = await startEdge();
    const refused = await sendJson(strict, PING, { ...JSON_AND_SSE, 'content-type': 'text/plain' });
    expect(refused.status).toBe(415);
    expect(refused.body.error?.data).toEqual({ code: 'TETHER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE' });
    const charset = { ...JSON_AND_SSE, 'content-type': 'Application/JSON; charset=utf-8' };
    expect((await sendJson(strict, PING, charset)).status).toBe(200);

    const lenient = await startEdge({ contentType: 'any' });
    expect((await sendJson(lenient, PING, { ...JSON_AND_SSE, 'content-type': 'text/plain' })).status).toBe(
      200,
    );
  });

  it('413 for a body over the limit, declared by Content-Length or streamed without one', async () => {
    const edge = await startEdge();
    const big = JSON.stringify({ ...PING, params: { pad: 'x'.repeat(MAX_BODY_BYTES) } });
    // Only the start of the declared body is sent: the answer cannot wait for the rest.
    const declared = await send(
      edge,
      [big.slice(0, 8)],
      { ...JSON_AND_SSE, 'content-length': String(big.length) },
      false,
    );
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatchObject({
      message: `Request body too large: the limit is ${MAX_BODY_BYTES} bytes`,
      data: { code: 'TETHER_ERR_HTTP_BODY_TOO_LARGE' },
    });
    // Two writes without Content-Length go out chunked: only the running size can tell.
    const half = big.slice(0, big.length / 2);
    const streamed = await send(edge, [half, big.slice(half.length)]);
    expect(streamed.status).toBe(413);
    expect(streamed.body.error?.data).toEqual({ code: 'TETHER_ERR_HTTP_BODY_TOO_LARGE' });
  });

  it('500 BODY_CONSUMED, logged, for a stream a framework read without leaving req.body', async () => {
    const edge = await startEdge({}, parserLeaving(undefined));
    const answer = await sendJson(edge, PING);
    expect(answer.status).toBe(500);
    expect(answer.body.error).toMatchObject({
      code: -32603,
      data: { code: 'TETHER_ERR_HTTP_BODY_CONSUMED' },
    });
    expect(edge.logs.filter((l) => l.msg === 'request.body_already_consumed')).toEqual([
      expect.objectContaining({ method: 'POST', url: '/' }),
    ]);
  });

  it.each([
    ['an object', PING],
    ['a string', JSON.stringify(PING)],
    ['a Buffer', Buffer.from(JSON.stringify(PING))],
  ])('takes the body a framework left on req.body as %s', async (_what, body) => {
    const edge = await startEdge({}, parserLeaving(body));
    expect((await sendJson(edge, PING)).body).toEqual({ kind: 'messages', messages: [PING], parsed: PING });
  });

  it('413 for a req.body over the limit', async () => {
    const edge = await startEdge({}, parserLeaving({ ...PING, params: { pad: 'x'.repeat(MAX_BODY_BYTES) } }));
    expect((await sendJson(edge, PING)).status).toBe(413);
  });

  it('400 -32700 for a body that is not JSON', async () => {
    const edge = await startEdge();
    const answer = await sendJson(edge, '{"jsonrpc":');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      id: null,
      error: { code: -32700, data: { code: 'TETHER_ERR_RPC_PARSE' } },
    });
  });

  it('400 -32600, with the id when there is one, for JSON that is not JSON-RPC', async () => {
    const edge = await startEdge();
    const answer = await sendJson(edge, { jsonrpc: '1.0', id: 'x', method: 'ping' });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      id: 'x',
      error: { code: -32600, data: { code: 'TETHER_ERR_RPC_INVALID_REQUEST' } },
    });
    const badMember = await sendJson(edge, [PING, { id: 2 }]);
    expect(badMember).toMatchObject({ status: 400, body: { id: null, error: { code: -32600 } } });
  });

  it('400 -32600 for an empty batch', async () => {
    const edge = await startEdge();
    const answer = await sendJson(edge, []);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: -32600,
      message: 'Invalid Request: the body must be a JSON-RPC 2.0 message or a non-empty batch of them',
    });
  });

  it('with shape single: a batch is refused', async () => {
    const edge = await startEdge({ shape: 'single' });
    const answer = await sendJson(edge, [PING]);
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe(-32600);
  });

  it('with invalid return: parse and shape errors come back as JSON-RPC errors, the response left to the caller', async () => {
    const edge = await startEdge({ invalid: 'return', shape: 'single' });
    expect((await sendJson(edge, 'not json')).body).toEqual({
      kind: 'invalid',
      error: {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32700, message: 'Parse error: the body is not valid JSON' },
      },
    });
    expect((await sendJson(edge, { jsonrpc: '2.0', id: 'y' })).body).toEqual({
      kind: 'invalid',
      error: {
        jsonrpc: '2.0',
        id: 'y',
        error: { code: -32600, message: 'Invalid Request: expected one JSON-RPC 2.0 message' },
      },
    });
  });

  it('an empty body is a parse error unless allowEmpty', async () => {
    const strict = await startEdge();
    expect((await sendJson(strict, '')).body.error?.code).toBe(-32700);

    const lenient = await startEdge({ allowEmpty: true });
    expect((await sendJson(lenient, '  \n')).body).toEqual({ kind: 'empty' });
  });

  it('hands off what handOff claims without checking its shape', async () => {
    const edge = await startEdge({ handOff: (parsed) => (parsed as { era?: string }).era === 'modern' });
    expect((await sendJson(edge, { era: 'modern' })).body).toEqual({
      kind: 'handed-off',
      parsed: { era: 'modern' },
    });
    expect((await sendJson(edge, { era: 'other' })).status).toBe(400);
  });
});
