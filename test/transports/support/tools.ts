import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { registerDemoTools, type SetupFn } from '../../../src/index.js';

/** What the `hold` tool saw: calls that started, and the abort reason of each call that was cancelled. */
export interface HoldRecord {
  started: string[];
  aborted: Array<{ tag: string; reason: unknown }>;
  /** Every server the setup built, to check that the stream's server was closed. */
  servers: McpServer[];
}

/**
 * The demo tools plus
 * - `hold {tag}`: never finishes on its own; records its start and the
 *   moment its `AbortSignal` fires (the in-flight call the transport must abort);
 * - `blob {bytes}`: returns a text of that many bytes (to back up a socket).
 */
export function holdSetup(): { setup: SetupFn; record: HoldRecord } {
  const record: HoldRecord = { started: [], aborted: [], servers: [] };
  const setup: SetupFn = (server) => {
    record.servers.push(server);
    registerDemoTools(server);
    server.registerTool(
      'hold',
      { description: 'Waits until cancelled.', inputSchema: z.object({ tag: z.string() }) },
      async ({ tag }, ctx) => {
        record.started.push(tag);
        const signal = ctx.mcpReq.signal;
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        record.aborted.push({ tag, reason: signal.reason });
        return { content: [{ type: 'text', text: `released ${tag}` }] };
      },
    );
    server.registerTool(
      'blob',
      { description: 'Returns `bytes` bytes of text.', inputSchema: z.object({ bytes: z.number().int() }) },
      async ({ bytes }) => ({ content: [{ type: 'text', text: 'x'.repeat(bytes) }] }),
    );
  };
  return { setup, record };
}

/** A `tools/call` request body. */
export function call(id: string | number, name: string, args: Record<string, unknown> = {}) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}
