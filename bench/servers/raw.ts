import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announce, benchRoute, portFromEnv, released } from './common.js';

/**
 * The physical ceiling: plain `node:http`, no MCP. `POST /mcp` parses the
 * JSON-RPC body and answers the echo result as JSON; `GET /mcp` holds an SSE
 * stream with nothing behind it (the floor for memory per stream).
 */
const streams = new Set<ServerResponse>();

const server = createServer((req, res) => {
  if (benchRoute(req, res, { sessions: () => 0, streams: () => streams.size, notify: notifyAll })) return;
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    streams.add(res);
    res.on('close', () => {
      streams.delete(res);
      released();
    });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const msg = JSON.parse(Buffer.concat(chunks).toString()) as {
      id: number;
      params: { arguments: { text: string } };
    };
    const text = JSON.stringify({
      jsonrpc: '2.0',
      id: msg.id,
      result: { content: [{ type: 'text', text: msg.params.arguments.text }] },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});

function notifyAll(): void {
  const frame = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n';
  for (const res of streams) res.write(frame);
}

server.keepAliveTimeout = 60_000;
server.listen(portFromEnv(), '127.0.0.1', () => announce((server.address() as AddressInfo).port));
