import {
  InMemoryTransport,
  type JSONRPCMessage,
  LATEST_PROTOCOL_VERSION,
  type McpServer,
} from '@modelcontextprotocol/server';

/** What a server built by the setup function offers. */
export interface ServerSurface {
  capabilities: Record<string, unknown>;
  tools: string[];
}

/**
 * Asks a freshly built server what it offers, through the SDK's in-memory
 * transport: `initialize`, then every page of `tools/list`.
 */
export async function introspect(server: McpServer): Promise<ServerSurface> {
  const [client, serverSide] = InMemoryTransport.createLinkedPair();
  const pending = new Map<number, (m: JSONRPCMessage) => void>();
  client.onmessage = (m) => {
    const id = (m as { id?: unknown }).id;
    if (typeof id === 'number') pending.get(id)?.(m);
  };
  let nextId = 1;
  const request = (method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (m) => {
        pending.delete(id);
        if ('error' in m) reject(new Error(JSON.stringify(m.error)));
        else resolve((m as { result: Record<string, unknown> }).result);
      });
      void client.send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage);
    });
  await server.connect(serverSide);
  try {
    const init = await request('initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-tether-introspect', version: '1' },
    });
    await client.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    const capabilities = (init.capabilities ?? {}) as Record<string, unknown>;
    const tools: string[] = [];
    if (capabilities.tools) {
      let cursor: string | undefined;
      do {
        const page = await request('tools/list', cursor ? { cursor } : {});
        for (const t of (page.tools ?? []) as Array<{ name: string }>) tools.push(t.name);
        cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
      } while (cursor);
    }
    return { capabilities, tools };
  } finally {
    await server.close().catch(() => {});
  }
}
