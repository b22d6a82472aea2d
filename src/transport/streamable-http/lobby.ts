import type { JSONRPCMessage, McpServer, RequestId, Transport } from '@modelcontextprotocol/server';
import { isResponse } from '../../protocol/json-rpc.js';

/** The lobby's end of its one server: requests in, their responses matched back by id. */
class LobbyTransport implements Transport {
  onmessage?: ((message: JSONRPCMessage) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  private next = 0;
  private readonly waiting = new Map<RequestId, (message: JSONRPCMessage) => void>();

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (!isResponse(message)) return;
    const resolve = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    resolve?.(message);
  }

  async close(): Promise<void> {
    this.onclose?.();
  }

  /** Hands `request` to the server under an id of its own; resolves with the response under the caller's id. */
  exchange(request: JSONRPCMessage & { id: RequestId }): Promise<JSONRPCMessage> {
    const id = `lobby-${this.next++}`;
    return new Promise((resolve) => {
      this.waiting.set(id, (response) => resolve({ ...response, id: request.id } as JSONRPCMessage));
      this.onmessage?.({ ...request, id } as JSONRPCMessage);
    });
  }
}

/**
 * Answers the `initialize` of new 2025-era sessions from one long-lived
 * server built by the same setup function, so a session builds a server of
 * its own only when a request needs one. `initialize` depends on nothing but
 * the server's definitions and the client's requested version, so the answer
 * is the one the session's own server would give; the session's server,
 * when built, is brought up to date by replaying the client's `initialize`.
 *
 * @example
 * const lobby = new InitializeLobby(() => buildServer('legacy'));
 * const response = await lobby.answer(initializeRequest);
 */
export class InitializeLobby {
  private readonly transport = new LobbyTransport();
  private server: Promise<McpServer> | undefined;

  constructor(private readonly createServer: () => Promise<McpServer>) {}

  /** Builds the lobby's server if it is not yet; rejects (and tries again next time) when setup throws. */
  async ready(): Promise<void> {
    this.server ??= this.connect();
    await this.server;
  }

  async answer(request: JSONRPCMessage & { id: RequestId }): Promise<JSONRPCMessage> {
    await this.ready();
    return this.transport.exchange(request);
  }

  private async connect(): Promise<McpServer> {
    try {
      const server = await this.createServer();
      await server.connect(this.transport);
      return server;
    } catch (err) {
      this.server = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await (await server?.catch(() => undefined))?.close().catch(() => {});
  }
}
