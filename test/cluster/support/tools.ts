import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { registerDemoTools } from '../../../src/demo/demo-tools.js';

/**
 * The cluster suites' setup: the demo tools, `announce` (a notification
 * unrelated to any request, so it goes to the standalone stream) and
 * `confirm` (asks the client: elicitation).
 */
export function clusterSetup(server: McpServer): void {
  registerDemoTools(server);
  server.registerTool(
    'announce',
    { description: 'tools/list_changed on the standalone stream' },
    async () => {
      await server.sendToolListChanged();
      return { content: [{ type: 'text', text: 'announced' }] };
    },
  );
  server.registerTool(
    'confirm',
    { description: 'asks the client (elicitation)', inputSchema: z.object({}) },
    async (_args, ctx) => {
      const result = await ctx.mcpReq.elicitInput({
        mode: 'form',
        message: 'Sure?',
        requestedSchema: {
          type: 'object',
          properties: { ok: { type: 'boolean', title: 'OK' } },
          required: ['ok'],
        },
      });
      return {
        content: [{ type: 'text', text: `${result.action}: ${JSON.stringify(result.content ?? null)}` }],
      };
    },
  );
}
