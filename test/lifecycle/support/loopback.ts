import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConnectionRegistry } from '../../../src/connection/registry.js';
import type { ConnectionInfo, SseConnection } from '../../../src/connection/sse-connection.js';
import type { LogLine } from '../../support/tether.js';

/** A real `node:http` server on 127.0.0.1:0 whose every request becomes a registered SSE stream. */
export interface LoopbackStreams {
  registry: ConnectionRegistry;
  port: number;
  logs: LogLine[];
  logsOf(msg: string): LogLine[];
  /** Opens a reading client (node:http, no agent) and resolves once the server registered its stream. */
  openReading(info?: Partial<ConnectionInfo>): Promise<ReadingStream>;
  /** Opens a raw TCP client that sends a GET and then never reads. */
  openStalled(info?: Partial<ConnectionInfo>): Promise<StalledStream>;
  close(): Promise<void>;
}

/** A stream whose client reads everything into {@link text}. */
export interface ReadingStream {
  connection: SseConnection;
  /** Server side of the response, for socket-level assertions. */
  res: ServerResponse;
  /** Everything the client received so far. */
  text(): string;
  /** Resolves once the received text satisfies `predicate`; event-driven, so it works under fake timers. */
  until(predicate: (text: string) => boolean): Promise<string>;
  /** Resolves when the response ended cleanly ('end') or was reset ('close' without end). */
  ended: Promise<'end' | 'reset'>;
  destroy(): void;
}

/** A stream whose client never reads: the server's send buffer backs up. */
export interface StalledStream {
  connection: SseConnection;
  res: ServerResponse;
  /** Server-side socket. */
  serverSocket: Socket;
  client: Socket;
  destroy(): void;
}

interface Accepted {
  connection: SseConnection;
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Starts the loopback harness. Call before `vi.useFakeTimers()` so the
 * server's own housekeeping timers stay real.
 *
 * @example
 * const h = await startLoopbackStreams();
 * const s = await h.openReading();
 * s.connection.write('data: x\n\n');
 * await s.until((t) => t.includes('data: x'));
 * await h.close();
 */
export async function startLoopbackStreams(retryMs = 1_000, closeGraceMs = 300): Promise<LoopbackStreams> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const registry = new ConnectionRegistry(pino({ level: 'debug' }, sink), retryMs, closeGraceMs);
  const waiting: Array<(a: Accepted) => void> = [];
  const infos: Array<Partial<ConnectionInfo>> = [];
  const clients = new Set<{ destroy(): void }>();
  const server: Server = createServer((req, res) => {
    const info = infos.shift() ?? {};
    const connection = registry.open(req, res, { transport: 'streamable-http', kind: 'standalone', ...info });
    connection.open();
    waiting.shift()?.({ connection, req, res });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const accepted = (info: Partial<ConnectionInfo>) => {
    infos.push(info);
    return new Promise<Accepted>((resolve) => waiting.push(resolve));
  };

  return {
    registry,
    port,
    logs,
    logsOf: (msg) => logs.filter((l) => l.msg === msg),
    async openReading(info = {}) {
      const next = accepted(info);
      const req = get({ host: '127.0.0.1', port, path: '/', agent: false });
      const [clientRes] = (await once(req, 'response')) as [IncomingMessage];
      const { connection, res } = await next;
      let text = '';
      const watchers: Array<{ predicate: (t: string) => boolean; resolve: (t: string) => void }> = [];
      // A reset surfaces as 'error' on both ends of the client; `ended` reports it instead.
      req.on('error', () => {});
      clientRes.on('error', () => {});
      clientRes.setEncoding('utf8');
      clientRes.on('data', (chunk: string) => {
        text += chunk;
        for (const w of [...watchers]) {
          if (w.predicate(text)) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(text);
          }
        }
      });
      const ended = new Promise<'end' | 'reset'>((resolve) => {
        clientRes.once('end', () => resolve('end'));
        clientRes.once('close', () => resolve('reset'));
      });
      const stream: ReadingStream = {
        connection,
        res,
        text: () => text,
        until: (predicate) =>
          predicate(text)
            ? Promise.resolve(text)
            : new Promise((resolve) => watchers.push({ predicate, resolve })),
        ended,
        destroy: () => req.destroy(),
      };
      clients.add(stream);
      return stream;
    },
    async openStalled(info = {}) {
      const next = accepted(info);
      const client = connect({ host: '127.0.0.1', port });
      await once(client, 'connect');
      client.on('error', () => {});
      client.pause();
      client.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      const { connection, req, res } = await next;
      const stream: StalledStream = {
        connection,
        res,
        serverSocket: req.socket,
        client,
        destroy: () => client.destroy(),
      };
      clients.add(stream);
      return stream;
    },
    async close() {
      for (const c of clients) c.destroy();
      registry.closeAll('shutdown');
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
