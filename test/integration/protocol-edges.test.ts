import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { deleteSession, getStream, openRawSession, post, type RawSession, rpc } from '../support/rpc.js';
import { SseReader, type Wire } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup } from './fixtures.js';

const MAX_BODY = 2_048;

let t: TestTether;
let session: RawSession;

beforeEach(async () => {
  t = await startTether({
    setup: fixtureSetup,
    maxBodyBytes: MAX_BODY,
    allowedOrigins: ['https://app.example.com'],
  });
  session = await openRawSession(t.mcpUrl);
});

afterEach(async () => {
  await t.close();
});

/** The JSON-RPC error body of an HTTP error answer. */
async function errorOf(res: Response): Promise<Wire['error'] & { id: unknown }> {
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = (await res.json()) as Wire;
  expect(body.jsonrpc).toBe('2.0');
  return { ...body.error!, id: body.id };
}

/** Answers a request with a session on its SSE stream; returns the one response message. */
async function answer(res: Response): Promise<Wire | undefined> {
  expect(res.status).toBe(200);
  const sse = new SseReader(res.body!);
  const m = await sse.nextMessage();
  await sse.rest();
  return m?.message;
}

/** An HTTP request with full control of the Host header (fetch does not allow overriding it). */
function rawRequest(
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: Number(t.mcpUrl.port), path: '/mcp', method, headers, timeout: 5_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const toolsList = (id = 1) => rpc(id, 'tools/list');

describe('/mcp sessions (2025 era)', () => {
  it('400 for a non-initialize POST without Mcp-Session-Id', async () => {
    const res = await post(t.mcpUrl, toolsList());
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toEqual({
      code: -32000,
      message: 'Bad Request: Mcp-Session-Id header is required',
      data: { code: 'TETHER_ERR_SESSION_REQUIRED' },
      id: null,
    });
  });

  it('404 for an unknown session id on POST, GET and DELETE', async () => {
    const headers = { 'mcp-session-id': 'no-such-session', 'mcp-protocol-version': '2025-11-25' };
    const posted = await post(t.mcpUrl, toolsList(), headers);
    expect(posted.status).toBe(404);
    expect(await errorOf(posted)).toMatchObject({
      code: -32001,
      data: { code: 'TETHER_ERR_SESSION_NOT_FOUND' },
    });
    const got = await fetch(t.mcpUrl, { headers: { accept: 'text/event-stream', ...headers } });
    expect(got.status).toBe(404);
    await got.body?.cancel();
    const deleted = await fetch(t.mcpUrl, { method: 'DELETE', headers });
    expect(deleted.status).toBe(404);
    await deleted.body?.cancel();
  });

  it('DELETE ends the session; later requests get 404', async () => {
    expect(t.tether.sessions.get(session.sessionId)).toBeDefined();
    const res = await deleteSession(t.mcpUrl, session);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(t.tether.sessions.get(session.sessionId)).toBeUndefined();
    expect(t.logsOf('session.closed')).toMatchObject([
      { session_id: session.sessionId, reason: 'session_deleted' },
    ]);

    const after = await post(t.mcpUrl, toolsList(), session.headers);
    expect(after.status).toBe(404);
    await after.body?.cancel();
    const again = await deleteSession(t.mcpUrl, session);
    expect(again.status).toBe(404);
    await again.body?.cancel();
  });

  it('DELETE closes the open standalone GET stream with reason session_deleted', async () => {
    const get = await getStream(t.mcpUrl, session);
    expect(get.status).toBe(200);
    const sse = new SseReader(get.body!);
    await sse.next();
    const res = await deleteSession(t.mcpUrl, session);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    // The stream ends (after a final retry hint), it is not left hanging.
    const rest = await sse.rest(3_000);
    expect(rest.filter((f) => f.data !== undefined && f.data !== '')).toEqual([]);
    expect(t.logsOf('connection.closed').filter((l) => l.stream === 'standalone')).toMatchObject([
      { session_id: session.sessionId, reason: 'session_deleted' },
    ]);
    expect(t.tether.registry.size).toBe(0);
  });

  it('a second standalone GET is refused with 409; a GET after the first closed is accepted', async () => {
    const aborter = new AbortController();
    const first = await getStream(t.mcpUrl, session, undefined, {}, aborter.signal);
    expect(first.status).toBe(200);
    const second = await getStream(t.mcpUrl, session);
    expect(second.status).toBe(409);
    expect(await errorOf(second)).toMatchObject({ data: { code: 'TETHER_ERR_SESSION_STREAM_CONFLICT' } });
    aborter.abort();
    await waitFor(() => t.tether.registry.size === 0, 3_000, 'the first GET stream to close');
    const third = await getStream(t.mcpUrl, session);
    expect(third.status).toBe(200);
    await third.body?.cancel();
  });

  it('unsupported MCP-Protocol-Version on a session request: 400', async () => {
    const res = await post(t.mcpUrl, toolsList(), {
      ...session.headers,
      'mcp-protocol-version': '1999-01-01',
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.data).toEqual({ code: 'TETHER_ERR_SESSION_PROTOCOL_VERSION' });
    expect(error.message).toContain('"1999-01-01"');
  });

  it('initialize must come alone: in a batch it is refused with -32600', async () => {
    const res = await post(t.mcpUrl, [
      rpc(1, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      }),
      toolsList(2),
    ]);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: -32600, id: 1 });
    expect(t.tether.sessions.size).toBe(1);
  });

  it('initialize with an unknown protocol version negotiates the latest supported one', async () => {
    const res = await post(
      t.mcpUrl,
      rpc(1, 'initialize', {
        protocolVersion: '1999-01-01',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      }),
    );
    const init = await answer(res);
    expect(init?.result?.protocolVersion).toBe('2025-11-25');
  });

  it('a batch of requests is answered on one SSE stream', async () => {
    const res = await post(t.mcpUrl, [rpc(5, 'tools/list'), rpc(6, 'prompts/list')], session.headers);
    expect(res.status).toBe(200);
    const sse = new SseReader(res.body!);
    const ids: unknown[] = [];
    for (;;) {
      const m = await sse.nextMessage();
      if (m === undefined) break;
      ids.push(m.message.id);
    }
    expect(ids.sort()).toEqual([5, 6]);
  });

  it('notifications and responses alone are accepted with 202', async () => {
    const res = await post(
      t.mcpUrl,
      { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      session.headers,
    );
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
  });
});

describe('/mcp HTTP edge', () => {
  it('405 with Allow for an unsupported method', async () => {
    const res = await fetch(t.mcpUrl, { method: 'PUT', headers: session.headers });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
    expect(await errorOf(res)).toMatchObject({ data: { code: 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED' } });
  });

  it('406 for a POST that does not accept both application/json and text/event-stream', async () => {
    for (const accept of ['application/json', 'text/event-stream', 'text/html']) {
      const res = await post(t.mcpUrl, toolsList(), { ...session.headers, accept });
      expect(res.status, accept).toBe(406);
      expect(await errorOf(res)).toMatchObject({ data: { code: 'TETHER_ERR_HTTP_NOT_ACCEPTABLE' } });
    }
    // Wildcards and parameters are understood.
    const wildcard = await post(t.mcpUrl, toolsList(2), { ...session.headers, accept: '*/*' });
    expect((await answer(wildcard))?.id).toBe(2);
    const withQ = await post(t.mcpUrl, toolsList(3), {
      ...session.headers,
      accept: 'application/json;q=0.9, text/event-stream;q=0.8',
    });
    expect((await answer(withQ))?.id).toBe(3);
  });

  it('406 for a GET that does not accept text/event-stream', async () => {
    const res = await fetch(t.mcpUrl, { headers: { ...session.headers, accept: 'application/json' } });
    expect(res.status).toBe(406);
    expect(await errorOf(res)).toMatchObject({ data: { code: 'TETHER_ERR_HTTP_SSE_NOT_ACCEPTABLE' } });
  });

  it('lenient Accept on GET: "text/event-stream, text/event-stream" opens the stream', async () => {
    const res = await fetch(t.mcpUrl, {
      headers: { ...session.headers, accept: 'text/event-stream, text/event-stream' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('mcp-session-id')).toBe(session.sessionId);
    await res.body?.cancel();
  });

  it('415 for a POST whose Content-Type is not application/json', async () => {
    const res = await post(t.mcpUrl, toolsList(), { ...session.headers, 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(await errorOf(res)).toMatchObject({ data: { code: 'TETHER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE' } });
    const withCharset = await post(t.mcpUrl, toolsList(2), {
      ...session.headers,
      'content-type': 'application/json; charset=utf-8',
    });
    expect((await answer(withCharset))?.id).toBe(2);
  });

  it('413 for a body over maxBodyBytes, declared or chunked; the server keeps serving', async () => {
    const big = JSON.stringify(
      rpc(1, 'tools/call', { name: 'echo', arguments: { text: 'x'.repeat(MAX_BODY) } }),
    );
    const declared = await post(t.mcpUrl, big, session.headers);
    expect(declared.status).toBe(413);
    expect(await errorOf(declared)).toEqual({
      code: -32000,
      message: `Request body too large: the limit is ${MAX_BODY} bytes`,
      data: { code: 'TETHER_ERR_HTTP_BODY_TOO_LARGE' },
      id: null,
    });

    const chunked = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...session.headers,
      },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          const bytes = new TextEncoder().encode(big);
          for (let i = 0; i < bytes.length; i += 512) controller.enqueue(bytes.slice(i, i + 512));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    await chunked.body?.cancel();

    const small = await post(
      t.mcpUrl,
      rpc(2, 'tools/call', { name: 'echo', arguments: { text: 'fits' } }),
      session.headers,
    );
    expect((await answer(small))?.result).toEqual({ content: [{ type: 'text', text: 'fits' }] });
  });

  it('malformed JSON: HTTP 400 with JSON-RPC -32700, and the server keeps serving', async () => {
    for (const headers of [session.headers, {}]) {
      const res = await post(t.mcpUrl, '{"jsonrpc":"2.0","id":1,"method":', headers);
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toEqual({
        code: -32700,
        message: 'Parse error: the body is not valid JSON',
        data: { code: 'TETHER_ERR_RPC_PARSE' },
        id: null,
      });
    }
    const ok = await post(
      t.mcpUrl,
      rpc(9, 'tools/call', { name: 'echo', arguments: { text: 'alive' } }),
      session.headers,
    );
    expect((await answer(ok))?.result).toEqual({ content: [{ type: 'text', text: 'alive' }] });
    expect(t.tether.registry.size).toBe(0);
    expect(t.tether.sessions.get(session.sessionId)).toBeDefined();
  });

  it('a body that is JSON but not JSON-RPC: 400 with -32600', async () => {
    for (const body of ['{}', '[]', '42', '[{"foo":1}]']) {
      const res = await post(t.mcpUrl, body, session.headers);
      expect(res.status, body).toBe(400);
      expect((await errorOf(res)).code, body).toBe(-32600);
    }
  });
});

describe('/mcp security', () => {
  it('403 for a present, disallowed Origin; allowed, loopback and absent origins pass', async () => {
    const evil = await post(t.mcpUrl, toolsList(), { ...session.headers, origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(await errorOf(evil)).toMatchObject({ data: { code: 'TETHER_ERR_HTTP_FORBIDDEN_ORIGIN' } });
    const opaque = await post(t.mcpUrl, toolsList(), { ...session.headers, origin: 'null' });
    expect(opaque.status).toBe(403);
    await opaque.body?.cancel();
    const evilGet = await fetch(t.mcpUrl, {
      headers: { ...session.headers, accept: 'text/event-stream', origin: 'https://evil.example' },
    });
    expect(evilGet.status).toBe(403);
    await evilGet.body?.cancel();

    const allowed = await post(t.mcpUrl, toolsList(2), {
      ...session.headers,
      origin: 'https://app.example.com',
    });
    expect((await answer(allowed))?.id).toBe(2);
    const loopback = await post(t.mcpUrl, toolsList(3), {
      ...session.headers,
      origin: 'http://localhost:5173',
    });
    expect((await answer(loopback))?.id).toBe(3);
    const sameOrigin = await post(t.mcpUrl, toolsList(4), { ...session.headers, origin: t.url });
    expect((await answer(sameOrigin))?.id).toBe(4);
  });

  it('403 for a non-loopback Host header while bound to loopback (DNS rebinding)', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const body = JSON.stringify(
      rpc(1, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      }),
    );
    const rebound = await rawRequest('POST', { ...headers, host: `evil.example:${t.mcpUrl.port}` }, body);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({
      error: { data: { code: 'TETHER_ERR_HTTP_FORBIDDEN_HOST' } },
    });
    expect(t.tether.sessions.size).toBe(1);

    const local = await rawRequest('POST', { ...headers, host: `localhost:${t.mcpUrl.port}` }, body);
    expect(local.status).toBe(200);
    expect(t.tether.sessions.size).toBe(2);
  });
});

describe('/mcp 2026-07-28 requests', () => {
  const envelope = (version = '2026-07-28') => ({
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-fetch', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  });
  const modernHeaders = (method: string, extra: Record<string, string> = {}) => ({
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...extra,
  });

  it('server/discover is answered with the supported versions, capabilities and server info', async () => {
    const res = await post(
      t.mcpUrl,
      rpc(1, 'server/discover', { _meta: envelope() }),
      modernHeaders('server/discover'),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Wire;
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      result: {
        supportedVersions: ['2026-07-28'],
        capabilities: { logging: {}, tools: { listChanged: true } },
        _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-tether' } },
      },
    });
    // Stateless: no session, no Mcp-Session-Id.
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(t.tether.sessions.size).toBe(1);
  });

  it('a tools/call is answered without a session', async () => {
    const res = await post(
      t.mcpUrl,
      rpc(2, 'tools/call', { name: 'echo', arguments: { text: 'stateless' }, _meta: envelope() }),
      modernHeaders('tools/call', { 'mcp-name': 'echo' }),
    );
    expect(res.status).toBe(200);
    const text = await res.text();
    const message = (
      res.headers.get('content-type')?.startsWith('text/event-stream')
        ? JSON.parse(
            text
              .split('\n')
              .find((l) => l.startsWith('data: {'))!
              .slice(6),
          )
        : JSON.parse(text)
    ) as Wire;
    expect(message.result).toMatchObject({
      content: [{ type: 'text', text: 'stateless' }],
      resultType: 'complete',
    });
  });

  it('Mcp-Method header that disagrees with the body: 400 with -32020', async () => {
    const res = await post(
      t.mcpUrl,
      rpc(3, 'server/discover', { _meta: envelope() }),
      modernHeaders('tools/list'),
    );
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe(-32020);
    expect(error.id).toBe(3);
    expect(error.message).toContain('Mcp-Method header names tools/list');
  });

  it('a missing Mcp-Method header on a 2026-07-28 request: 400 with -32020', async () => {
    const res = await post(t.mcpUrl, rpc(4, 'tools/list', { _meta: envelope() }), {
      'mcp-protocol-version': '2026-07-28',
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe(-32020);
  });

  it('Mcp-Name header that disagrees with the tool name: 400 with -32020', async () => {
    const res = await post(
      t.mcpUrl,
      rpc(5, 'tools/call', { name: 'echo', arguments: { text: 'x' }, _meta: envelope() }),
      modernHeaders('tools/call', { 'mcp-name': 'add' }),
    );
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe(-32020);
    expect(error.message).toContain('Mcp-Name header names "add"');
  });

  it('an unsupported modern protocol version: 400 with -32022 listing the supported versions', async () => {
    const res = await post(t.mcpUrl, rpc(6, 'server/discover', { _meta: envelope('2030-01-01') }), {
      'mcp-protocol-version': '2030-01-01',
      'mcp-method': 'server/discover',
    });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toEqual({
      code: -32022,
      message: 'Unsupported protocol version: 2030-01-01',
      data: { supported: ['2026-07-28'], requested: '2030-01-01' },
      id: 6,
    });
  });

  it('header and envelope versions that disagree: 400 with -32020', async () => {
    const res = await post(t.mcpUrl, rpc(7, 'tools/list', { _meta: envelope() }), {
      'mcp-protocol-version': '2025-11-25',
      'mcp-method': 'tools/list',
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe(-32020);
  });
});
