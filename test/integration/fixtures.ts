import {
  acceptedContent,
  inputRequired,
  inputResponse,
  type McpServer,
  ResourceTemplate,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { SetupFn } from '../../src/index.js';
import { registerDemoTools } from '../../src/index.js';

/** Text of the static resource `info://server`. */
export const INFO_TEXT = 'mcp-tether integration fixture';

/**
 * The setup used by the integration suites: the demo tools (`echo`, `add`,
 * `server_time`, `countdown`) plus
 * - `log_twice {text}`: two logging notifications tied to the request, then a result;
 * - `announce {text}`: a logging notification and `notifications/tools/list_changed`
 *   that are NOT tied to the request (2025 era: they travel on the standalone GET stream);
 * - `ask_model {question}`: sampling round trip (2025 era: `sampling/createMessage`;
 *   2026-07-28: an `input_required` result fulfilled by the client);
 * - `confirm {action}`: elicitation round trip (same split by era);
 * - resources `info://server` (static) and `greeting://{name}` (template);
 * - prompts `summarize {topic}` and `hello` (no arguments).
 */
export const fixtureSetup: SetupFn = (server, { era }) => {
  registerDemoTools(server);
  registerLogging(server);
  registerServerRequests(server, era);
  registerResources(server);
  registerPrompts(server);
};

function registerLogging(server: McpServer): void {
  server.registerTool(
    'log_twice',
    {
      description: 'Sends two logging notifications for this request.',
      inputSchema: z.object({ text: z.string() }),
    },
    async ({ text }, ctx) => {
      await ctx.mcpReq.log('info', `first: ${text}`, 'fixture');
      await ctx.mcpReq.log('warning', { second: text }, 'fixture');
      return { content: [{ type: 'text', text: `logged ${text}` }] };
    },
  );

  server.registerTool(
    'announce',
    {
      description: 'Sends notifications unrelated to this request (standalone stream).',
      inputSchema: z.object({ text: z.string() }),
    },
    async ({ text }) => {
      await server.sendLoggingMessage({ level: 'notice', logger: 'announcer', data: `announce: ${text}` });
      server.sendToolListChanged();
      return { content: [{ type: 'text', text: `announced ${text}` }] };
    },
  );
}

const confirmSchema = z.object({ confirmed: z.boolean(), note: z.string() });

function registerServerRequests(server: McpServer, era: 'legacy' | 'modern'): void {
  server.registerTool(
    'ask_model',
    { description: 'Asks the client model a question.', inputSchema: z.object({ question: z.string() }) },
    async ({ question }, ctx) => {
      const params = {
        messages: [{ role: 'user' as const, content: { type: 'text' as const, text: question } }],
        maxTokens: 50,
      };
      if (era === 'legacy') {
        const result = await ctx.mcpReq.requestSampling(params);
        const content = Array.isArray(result.content) ? result.content[0] : result.content;
        const text = content?.type === 'text' ? content.text : `<${String(content?.type)}>`;
        return { content: [{ type: 'text', text: `model ${result.model} said: ${text}` }] };
      }
      const answer = inputResponse(ctx.mcpReq.inputResponses, 'answer');
      if (answer.kind !== 'sampling') {
        return inputRequired({ inputRequests: { answer: inputRequired.createMessage(params) } });
      }
      const content = Array.isArray(answer.result.content) ? answer.result.content[0] : answer.result.content;
      const text = content?.type === 'text' ? content.text : `<${String(content?.type)}>`;
      return { content: [{ type: 'text', text: `model ${answer.result.model} said: ${text}` }] };
    },
  );

  server.registerTool(
    'confirm',
    { description: 'Asks the user to confirm an action.', inputSchema: z.object({ action: z.string() }) },
    async ({ action }, ctx) => {
      const request = {
        message: `Really ${action}?`,
        requestedSchema: {
          type: 'object' as const,
          properties: {
            confirmed: { type: 'boolean' as const, title: 'Confirmed' },
            note: { type: 'string' as const, title: 'Note' },
          },
          required: ['confirmed', 'note'],
        },
      };
      if (era === 'legacy') {
        const result = await ctx.mcpReq.elicitInput({ mode: 'form', ...request });
        return {
          content: [{ type: 'text', text: `${result.action}: ${JSON.stringify(result.content ?? null)}` }],
        };
      }
      const view = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
      if (view.kind !== 'elicit') {
        return inputRequired({ inputRequests: { confirm: inputRequired.elicit(request) } });
      }
      const content = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', confirmSchema);
      return { content: [{ type: 'text', text: `${view.action}: ${JSON.stringify(content ?? null)}` }] };
    },
  );
}

function registerResources(server: McpServer): void {
  server.registerResource(
    'info',
    'info://server',
    { title: 'Server info', description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: INFO_TEXT }] }),
  );
  server.registerResource(
    'greeting',
    new ResourceTemplate('greeting://{name}', { list: undefined }),
    { title: 'Greeting', description: 'A greeting for a name', mimeType: 'text/plain' },
    async (uri, { name }) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: `Hello, ${String(name)}!` }],
    }),
  );
}

function registerPrompts(server: McpServer): void {
  server.registerPrompt(
    'summarize',
    { description: 'Summarize a topic', argsSchema: z.object({ topic: z.string() }) },
    ({ topic }) => ({
      messages: [
        { role: 'user' as const, content: { type: 'text' as const, text: `Summarize ${topic} briefly.` } },
      ],
    }),
  );
  server.registerPrompt('hello', { description: 'Say hello' }, () => ({
    messages: [{ role: 'user' as const, content: { type: 'text' as const, text: 'Hello there' } }],
  }));
}

/** Resolves after `ms`, or rejects with `what` timing out; for bounding a promise in a test. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
