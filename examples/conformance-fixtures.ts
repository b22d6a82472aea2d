/**
 * MCP conformance fixtures ("everything server") for mcp-tether.
 *
 * Registers every tool, resource, resource template, prompt, completion and
 * logging hook that the official conformance suites expect in server mode:
 * `@modelcontextprotocol/conformance@0.1.16 server --suite all` and
 * `@modelcontextprotocol/conformance@0.2.0-alpha.12 server --requirements
 * 2025-11-25 | 2026-07-28`. Run them with `node scripts/conformance.mjs`.
 *
 * Written once against the public `@modelcontextprotocol/server` v2 API and
 * served to both eras: server-to-client interactions (sampling, elicitation,
 * roots) are returned as `inputRequired(...)` results, which the SDK answers
 * with multi-round-trip results on 2026-07-28 and turns into real
 * server-to-client requests on 2025-era connections (its legacy shim).
 *
 * Transport behaviour (sessions, SSE priming/resumption, Host/Origin checks,
 * header validation) is the runtime's job, not this module's. Three hooks here
 * rely on the runtime: the named export `serverOptions` must be passed to the
 * `McpServer` constructor (its `requestState.verify` turns a tampered MRTR
 * `requestState` into a JSON-RPC error, which a tool handler cannot do);
 * `test_reconnection` calls `ctx.http.closeSSE()`; and `test_trigger_*_change`
 * call `server.send*ListChanged()`, which on the 2026-07-28 path must be
 * published to the `subscriptions/listen` bus.
 *
 * The tasks extension tools (SEP-2663: `slow_compute`, `failing_job`,
 * `protocol_error_job`, `confirm_delete`, `multi_input`, `test_tool_with_task`)
 * are registered with mcp-tether's `registerTaskTool`; the runtime owns the
 * task store, `tasks/get|update|cancel` and the extension capability.
 */

import type {
  CallToolResult,
  ClientCapabilities,
  GetPromptResult,
  InputRequest,
  InputRequiredResult,
  McpServerOptions,
  ServerContext,
} from '@modelcontextprotocol/server';
import {
  acceptedContent,
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceTemplate,
} from '@modelcontextprotocol/server';
import { registerTaskTool } from 'mcp-tether';
import * as z from 'zod';

export interface FixtureContext {
  era: 'legacy' | 'modern';
}

type ToolReturn = Promise<CallToolResult | InputRequiredResult>;

/** 1x1 red PNG. */
const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** Minimal WAV file. */
const WAV_BASE64 = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

/** SEP-1613 / SEP-2106 schema, advertised verbatim by `tools/list`. */
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema `then` keyword, not a thenable
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

/** SEP-2243: `x-mcp-header` asks clients to mirror `region` into an `Mcp-Param-Region` header. */
const CUSTOM_HEADER_SCHEMA = {
  type: 'object',
  properties: { region: { type: 'string', description: 'Region to echo', 'x-mcp-header': 'Region' } },
  required: ['region'],
} as const;

/**
 * HMAC codec for multi-round-trip `requestState` (the spec requires integrity
 * protection). One random key per process: every round of a flow is served by
 * this process.
 */
const stateCodec = createRequestStateCodec<{ tool: string; round: number; name?: string }>({
  key: crypto.getRandomValues(new Uint8Array(32)),
});

/**
 * Options the runtime must merge into `new McpServer(info, options)` for both eras.
 * `requestState.verify` runs before the handler on every round that echoes a
 * `requestState`; a failed check becomes JSON-RPC error -32602 ("Invalid or
 * expired requestState"), as input-required-result-tampered-state requires.
 */
export const serverOptions: Pick<McpServerOptions, 'requestState'> = {
  requestState: { verify: (state, ctx) => stateCodec.verify(state, ctx) },
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Like `sleep`, but rejects as soon as `signal` aborts (a cancelled task stops at once). */
const sleepUnlessAborted = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/**
 * The echoed `requestState` of this round. With `serverOptions` applied the SDK has
 * verified and decoded it already; otherwise it is verified here (a throw inside a
 * tool handler only yields an `isError` result, not the JSON-RPC error the spec wants).
 */
async function verifiedState(
  ctx: ServerContext,
): Promise<{ tool: string; round: number; name?: string } | undefined> {
  const state = ctx.mcpReq.requestState();
  if (state === undefined) return undefined;
  // A runtime that configured `requestState.verify` hands us the decoded payload already.
  if (typeof state !== 'string') return state as { tool: string; round: number; name?: string };
  try {
    return await stateCodec.verify(state, ctx);
  } catch {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Invalid or expired requestState', {
      reason: 'invalid_request_state',
    });
  }
}

const nameRequest = (message: string): InputRequest =>
  inputRequired.elicit({
    message,
    requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  });

/** Renders one `inputResponses` entry for the tool's text result. */
function describeResponse(responses: Record<string, unknown> | undefined, key: string): string {
  const view = inputResponse(responses, key);
  switch (view.kind) {
    case 'elicit':
      return `action=${view.action}, content=${JSON.stringify(view.content ?? {})}`;
    case 'sampling': {
      const blocks: unknown[] = Array.isArray(view.result.content)
        ? view.result.content
        : [view.result.content];
      return blocks.map((b) => (b as { text?: string }).text ?? '').join('');
    }
    case 'roots':
      return view.roots.map((r) => r.uri).join(', ');
    default:
      return 'missing';
  }
}

/**
 * Registers the conformance fixtures on `server`. Call before connecting it.
 */
export default function setup(server: McpServer, ctx: FixtureContext): void {
  const { era } = ctx;
  // Everything the scenarios need, whatever the runtime declared already (merged).
  server.server.registerCapabilities({
    tools: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    prompts: { listChanged: true },
    logging: {},
    completions: {},
  });
  const clientCaps = (): ClientCapabilities => server.server.getClientCapabilities() ?? {};

  // ===== Content tools (tools-call-*) =====
  // Registered first: http-header-validation calls tools[0] with `arguments: {}`.

  server.registerTool('test_simple_text', { description: 'Tests simple text content response' }, async () =>
    text('This is a simple text response for testing.'),
  );

  server.registerTool('test_image_content', { description: 'Tests image content response' }, async () => ({
    content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }],
  }));

  server.registerTool('test_audio_content', { description: 'Tests audio content response' }, async () => ({
    content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }],
  }));

  server.registerTool(
    'test_embedded_resource',
    { description: 'Tests embedded resource content response' },
    async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  );

  server.registerTool(
    'test_multiple_content_types',
    { description: 'Tests response with multiple content types (text, image, resource)' },
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );

  // ===== Logging, errors, progress =====

  // tools-call-with-logging (2025): three info logs ~50 ms apart. `ctx.mcpReq.log` honours
  // logging/setLevel on 2025 and `_meta` logLevel on 2026 (no logLevel => no log).
  server.registerTool(
    'test_tool_with_logging',
    { description: 'Tests tool that emits log messages during execution', inputSchema: z.object({}) },
    async (_args, c) => {
      await c.mcpReq.log('info', 'Tool execution started');
      await sleep(50);
      await c.mcpReq.log('info', 'Tool processing data');
      await sleep(50);
      await c.mcpReq.log('info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  );

  // server-stateless (2026): must not log when the request carried no logLevel.
  server.registerTool(
    'test_logging_tool',
    { description: 'Logs at info level, only if the client asked for logs' },
    async (c) => {
      await c.mcpReq.log('info', 'test_logging_tool ran');
      return text('Logging tool executed');
    },
  );

  // tools-call-error: a thrown error becomes an `isError: true` result.
  server.registerTool('test_error_handling', { description: 'Tests error response handling' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });

  // tools-call-with-progress: 0/50/100 of 100 against the request's progressToken.
  server.registerTool(
    'test_tool_with_progress',
    { description: 'Tests tool that reports progress notifications', inputSchema: z.object({}) },
    async (_args, c) => {
      const progressToken = c.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await c.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
        }
        if (progress !== 100) await sleep(50);
      }
      return text(String(progressToken ?? 'no progress token'));
    },
  );

  // server-sse-polling (SEP-1699, 2025 sessionful): close the POST SSE stream mid-call; the
  // result must then reach the client on its GET reconnection with Last-Event-ID.
  server.registerTool(
    'test_reconnection',
    {
      description:
        'Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and send the result after client reconnects.',
      inputSchema: z.object({}),
    },
    async (_args, c) => {
      c.http?.closeSSE?.();
      await sleep(100);
      return text(
        'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.',
      );
    },
  );

  // ===== Sampling and elicitation (2025 push requests via the SDK legacy shim) =====

  server.registerTool(
    'test_sampling',
    {
      description: 'Tests server-initiated sampling (LLM completion request)',
      inputSchema: z.object({ prompt: z.string().describe('The prompt to send to the LLM') }),
    },
    async ({ prompt }, c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'completion').kind !== 'sampling') {
        return inputRequired({
          inputRequests: {
            completion: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
              maxTokens: 100,
            }),
          },
        });
      }
      return text(`LLM response: ${describeResponse(c.mcpReq.inputResponses, 'completion')}`);
    },
  );

  server.registerTool(
    'test_elicitation',
    {
      description: 'Tests server-initiated elicitation (user input request)',
      inputSchema: z.object({ message: z.string().describe('The message to show the user') }),
    },
    async ({ message }, c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'response').kind !== 'elicit') {
        return inputRequired({
          inputRequests: {
            response: inputRequired.elicit({
              message,
              requestedSchema: {
                type: 'object',
                properties: {
                  username: { type: 'string', description: "User's response" },
                  email: { type: 'string', description: "User's email address" },
                },
                required: ['username', 'email'],
              },
            }),
          },
        });
      }
      return text(`User response: ${describeResponse(c.mcpReq.inputResponses, 'response')}`);
    },
  );

  // elicitation-sep1034-defaults: a default for every primitive type.
  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Tests elicitation with default values per SEP-1034', inputSchema: z.object({}) },
    async (_args, c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'form').kind !== 'elicit') {
        return inputRequired({
          inputRequests: {
            form: inputRequired.elicit({
              message: 'Please review and update the form fields with defaults',
              requestedSchema: {
                type: 'object',
                properties: {
                  name: { type: 'string', description: 'User name', default: 'John Doe' },
                  age: { type: 'integer', description: 'User age', default: 30 },
                  score: { type: 'number', description: 'User score', default: 95.5 },
                  status: {
                    type: 'string',
                    description: 'User status',
                    enum: ['active', 'inactive', 'pending'],
                    default: 'active',
                  },
                  verified: { type: 'boolean', description: 'Verification status', default: true },
                },
                required: [],
              },
            }),
          },
        });
      }
      return text(`Elicitation completed: ${describeResponse(c.mcpReq.inputResponses, 'form')}`);
    },
  );

  // elicitation-sep1330-enums: untitled/titled single, legacy enumNames, untitled/titled multi.
  server.registerTool(
    'test_elicitation_sep1330_enums',
    {
      description: 'Tests elicitation with enum schema improvements per SEP-1330',
      inputSchema: z.object({}),
    },
    async (_args, c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'choices').kind !== 'elicit') {
        return inputRequired({
          inputRequests: {
            choices: inputRequired.elicit({
              message: 'Please select options from the enum fields',
              requestedSchema: {
                type: 'object',
                properties: {
                  untitledSingle: {
                    type: 'string',
                    description: 'Select one option',
                    enum: ['option1', 'option2', 'option3'],
                  },
                  titledSingle: {
                    type: 'string',
                    description: 'Select one option with titles',
                    oneOf: [
                      { const: 'value1', title: 'First Option' },
                      { const: 'value2', title: 'Second Option' },
                      { const: 'value3', title: 'Third Option' },
                    ],
                  },
                  legacyEnum: {
                    type: 'string',
                    description: 'Select one option (legacy)',
                    enum: ['opt1', 'opt2', 'opt3'],
                    enumNames: ['Option One', 'Option Two', 'Option Three'],
                  },
                  untitledMulti: {
                    type: 'array',
                    description: 'Select multiple options',
                    minItems: 1,
                    maxItems: 3,
                    items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                  },
                  titledMulti: {
                    type: 'array',
                    description: 'Select multiple options with titles',
                    minItems: 1,
                    maxItems: 3,
                    items: {
                      anyOf: [
                        { const: 'value1', title: 'First Choice' },
                        { const: 'value2', title: 'Second Choice' },
                        { const: 'value3', title: 'Third Choice' },
                      ],
                    },
                  },
                },
                required: [],
              },
            }),
          },
        });
      }
      return text(`Elicitation completed: ${describeResponse(c.mcpReq.inputResponses, 'choices')}`);
    },
  );

  // json-schema-2020-12: keywords must survive into tools/list unchanged.
  server.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: fromJsonSchema<Record<string, unknown>>(JSON_SCHEMA_2020_12),
    },
    async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
  );

  // http-custom-header-server-validation (SEP-2243): a string parameter mirrored into `Mcp-Param-Region`.
  server.registerTool(
    'test_custom_header_param',
    {
      description: 'Echoes a parameter that clients mirror into the Mcp-Param-Region header (SEP-2243)',
      inputSchema: fromJsonSchema<{ region: string }>(CUSTOM_HEADER_SCHEMA),
    },
    async ({ region }) => text(`region=${region}`),
  );

  // ===== Multi-round-trip (SEP-2322, input-required-result-*) =====

  // Basic elicitation; also serves missing-input-response, result-type, ignore-extra-params and
  // validate-input: anything but an accepted `user_name` answer re-requests it.
  server.registerTool(
    'test_input_required_result_elicitation',
    { description: 'MRTR: asks for the user name via elicitation' },
    async (c): ToolReturn => {
      const answer = acceptedContent<{ name?: unknown }>(c.mcpReq.inputResponses, 'user_name');
      if (typeof answer?.name !== 'string') {
        return inputRequired({ inputRequests: { user_name: nameRequest('What is your name?') } });
      }
      return text(`Hello, ${answer.name}!`);
    },
  );

  server.registerTool(
    'test_input_required_result_sampling',
    { description: 'MRTR: asks the client for an LLM completion' },
    async (c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'capital_question').kind !== 'sampling') {
        return inputRequired({
          inputRequests: {
            capital_question: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
              maxTokens: 100,
            }),
          },
        });
      }
      return text(`Sampling answer: ${describeResponse(c.mcpReq.inputResponses, 'capital_question')}`);
    },
  );

  server.registerTool(
    'test_input_required_result_list_roots',
    { description: 'MRTR: asks the client for its roots' },
    async (c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'client_roots').kind !== 'roots') {
        return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
      }
      return text(`Client roots: ${describeResponse(c.mcpReq.inputResponses, 'client_roots')}`);
    },
  );

  server.registerTool(
    'test_input_required_result_request_state',
    { description: 'MRTR: round-trips an integrity-protected requestState' },
    async (c): ToolReturn => {
      const state = await verifiedState(c);
      const confirmed = acceptedContent(c.mcpReq.inputResponses, 'confirm');
      if (state?.tool !== 'test_input_required_result_request_state' || confirmed === undefined) {
        return inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              message: 'Please confirm',
              requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
            }),
          },
          requestState: await stateCodec.mint({ tool: 'test_input_required_result_request_state', round: 1 }),
        });
      }
      return text(`state-ok: confirmed=${JSON.stringify(confirmed)}`);
    },
  );

  server.registerTool(
    'test_input_required_result_multiple_inputs',
    { description: 'MRTR: elicitation, sampling and roots in one round' },
    async (c): ToolReturn => {
      const state = await verifiedState(c);
      const responses = c.mcpReq.inputResponses;
      const complete =
        state?.tool === 'test_input_required_result_multiple_inputs' &&
        inputResponse(responses, 'user_name').kind === 'elicit' &&
        inputResponse(responses, 'greeting').kind === 'sampling' &&
        inputResponse(responses, 'client_roots').kind === 'roots';
      if (!complete) {
        return inputRequired({
          inputRequests: {
            user_name: nameRequest('What is your name?'),
            greeting: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
              maxTokens: 50,
            }),
            client_roots: inputRequired.listRoots(),
          },
          requestState: await stateCodec.mint({
            tool: 'test_input_required_result_multiple_inputs',
            round: 1,
          }),
        });
      }
      return text(
        `All inputs received: user_name(${describeResponse(responses, 'user_name')}), greeting(${describeResponse(responses, 'greeting')}), roots(${describeResponse(responses, 'client_roots')})`,
      );
    },
  );

  // Three rounds: step1 (name) -> step2 (colour) -> complete; requestState changes every round.
  server.registerTool(
    'test_input_required_result_multi_round',
    { description: 'MRTR: two elicitation rounds with evolving requestState' },
    async (c): ToolReturn => {
      const tool = 'test_input_required_result_multi_round';
      const state = await verifiedState(c);
      const responses = c.mcpReq.inputResponses;
      if (state?.tool === tool && state.round === 2) {
        const colour = acceptedContent<{ color?: unknown }>(responses, 'step2');
        if (typeof colour?.color === 'string')
          return text(`${state.name ?? 'Someone'} likes ${colour.color}.`);
      }
      const step1 = acceptedContent<{ name?: unknown }>(responses, 'step1');
      if (state?.tool === tool && typeof step1?.name === 'string') {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: 'Step 2: What is your favorite color?',
              requestedSchema: {
                type: 'object',
                properties: { color: { type: 'string' } },
                required: ['color'],
              },
            }),
          },
          requestState: await stateCodec.mint({ tool, round: 2, name: step1.name }),
        });
      }
      return inputRequired({
        inputRequests: { step1: nameRequest('Step 1: What is your name?') },
        requestState: await stateCodec.mint({ tool, round: 1 }),
      });
    },
  );

  // A modified requestState fails HMAC verification -> JSON-RPC error -32602.
  server.registerTool(
    'test_input_required_result_tampered_state',
    { description: 'MRTR: rejects a tampered requestState' },
    async (c): ToolReturn => {
      const state = await verifiedState(c);
      if (
        state?.tool !== 'test_input_required_result_tampered_state' ||
        acceptedContent(c.mcpReq.inputResponses, 'confirm') === undefined
      ) {
        return inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              message: 'Please confirm',
              requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
            }),
          },
          requestState: await stateCodec.mint({
            tool: 'test_input_required_result_tampered_state',
            round: 1,
          }),
        });
      }
      return text('state-ok: requestState verified');
    },
  );

  // Only asks for what the client declared in its capabilities.
  server.registerTool(
    'test_input_required_result_capabilities',
    { description: 'MRTR: only requests input kinds the client declared' },
    async (c): ToolReturn => {
      const caps = clientCaps();
      const responses = c.mcpReq.inputResponses;
      const requests: Record<string, InputRequest> = {};
      if (caps.elicitation && inputResponse(responses, 'user_name').kind === 'missing') {
        requests.user_name = nameRequest('What is your name?');
      }
      if (caps.sampling && inputResponse(responses, 'greeting').kind === 'missing') {
        requests.greeting = inputRequired.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
          maxTokens: 50,
        });
      }
      if (caps.roots && inputResponse(responses, 'client_roots').kind === 'missing') {
        requests.client_roots = inputRequired.listRoots();
      }
      if (Object.keys(requests).length > 0) return inputRequired({ inputRequests: requests });
      return text(`Declared capabilities: ${Object.keys(caps).join(', ') || 'none'}`);
    },
  );

  // server-stateless: needs `sampling`, which the probe does not declare -> -32021 (HTTP 400).
  server.registerTool(
    'test_missing_capability',
    { description: 'Requires the sampling client capability' },
    async (c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'completion').kind !== 'sampling') {
        return inputRequired({
          inputRequests: {
            completion: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: 'Say hello' } }],
              maxTokens: 20,
            }),
          },
        });
      }
      return text(`Sampling answer: ${describeResponse(c.mcpReq.inputResponses, 'completion')}`);
    },
  );

  // server-stateless: the response stream may only carry the (input_required) result.
  server.registerTool(
    'test_streaming_elicitation',
    { description: 'Asks for input via an input_required result, never via a pushed request' },
    async (c): ToolReturn => {
      if (inputResponse(c.mcpReq.inputResponses, 'user_name').kind !== 'elicit') {
        return inputRequired({ inputRequests: { user_name: nameRequest('What is your name?') } });
      }
      return text(`Received: ${describeResponse(c.mcpReq.inputResponses, 'user_name')}`);
    },
  );

  // server-stateless: announce a tools/prompts list change (the list itself stays the same).
  server.registerTool(
    'test_trigger_tool_change',
    { description: 'Sends notifications/tools/list_changed' },
    async () => {
      server.sendToolListChanged();
      return text('Tool list change announced');
    },
  );
  server.registerTool(
    'test_trigger_prompt_change',
    { description: 'Sends notifications/prompts/list_changed' },
    async () => {
      server.sendPromptListChanged();
      return text('Prompt list change announced');
    },
  );

  // ===== Tasks extension (SEP-2663, io.modelcontextprotocol/tasks; tasks-* scenarios) =====
  // A task tool becomes a task when the 2026-07-28 request declares the extension; an
  // `optional` one runs inside the request otherwise, a `required` one is refused (-32021).

  server.registerTool(
    'greet',
    { description: 'Sync-only greeting (never a task)', inputSchema: z.object({ name: z.string() }) },
    async ({ name }) => text(`Hello, ${name}!`),
  );

  registerTaskTool(
    server,
    'slow_compute',
    {
      description: 'Sleeps `seconds` seconds, then answers; cancellable',
      inputSchema: z.object({ seconds: z.number().min(0).max(3600), label: z.string().optional() }),
    },
    async ({ seconds, label }, task) => {
      await sleepUnlessAborted(seconds * 1000, task.signal);
      return text(`slow_compute${label ? ` ${label}` : ''} finished after ${seconds}s`);
    },
  );

  // Registered as `required`: a client without the extension gets -32021 before it runs.
  registerTaskTool(
    server,
    'failing_job',
    { description: 'Always reports a tool execution error after ~1s', taskSupport: 'required' },
    async (_args, task) => {
      await sleepUnlessAborted(1000, task.signal);
      return { content: [{ type: 'text', text: 'failing_job failed, as it always does' }], isError: true };
    },
  );

  // A protocol-level error: the task ends `failed` with the JSON-RPC error inlined.
  registerTaskTool(
    server,
    'protocol_error_job',
    { description: 'Fails with a JSON-RPC protocol error' },
    async (_args, task) => {
      await sleepUnlessAborted(200, task.signal);
      throw new ProtocolError(
        ProtocolErrorCode.InternalError,
        'protocol_error_job failed at the protocol level',
      );
    },
  );

  // Parks the task on one elicitation; `tasks/update` resumes it.
  registerTaskTool(
    server,
    'confirm_delete',
    {
      description: 'Asks for confirmation, then "deletes" the file',
      inputSchema: z.object({ filename: z.string() }),
    },
    async ({ filename }, task) => {
      const answers = await task.requestInput({
        confirm: inputRequired.elicit({
          message: `Delete ${filename}?`,
          requestedSchema: {
            type: 'object',
            properties: { confirm: { type: 'boolean' } },
            required: ['confirm'],
          },
        }),
      });
      const confirmed = acceptedContent<{ confirm?: unknown }>(answers, 'confirm')?.confirm === true;
      return text(confirmed ? `Deleted ${filename}` : `Kept ${filename}`);
    },
  );

  // Two elicitations pending at once; they may be answered one at a time.
  registerTaskTool(
    server,
    'multi_input',
    { description: 'Asks two questions in parallel' },
    async (_args, task) => {
      const [first, second] = await Promise.all([
        task.requestInput({ first: nameRequest('First: what is your name?') }),
        task.requestInput({ second: nameRequest('Second: what is your name?') }),
      ]);
      const nameOf = (answers: Record<string, unknown>, key: string) =>
        String(acceptedContent<{ name?: unknown }>(answers, key)?.name ?? '(none)');
      return text(`first=${nameOf(first, 'first')}, second=${nameOf(second, 'second')}`);
    },
  );

  // MRTR, then a task: round 1 asks for `user_name`, the round that has it creates the task.
  registerTaskTool(
    server,
    'test_tool_with_task',
    {
      description: 'Gathers the user name by multi-round-trip, then greets from a task',
      taskSupport: 'required',
      prepare: (_args, c) => {
        const answer = acceptedContent<{ name?: unknown }>(c.mcpReq.inputResponses, 'user_name');
        if (typeof answer?.name !== 'string') {
          return inputRequired({ inputRequests: { user_name: nameRequest('What is your name?') } });
        }
        return { name: answer.name };
      },
    },
    async (_args, task) => {
      await sleepUnlessAborted(100, task.signal);
      return text(`Hello, ${task.prepared.name}! (from a task)`);
    },
  );

  // ===== Resources =====

  server.registerResource(
    'static-text',
    'test://static-text',
    {
      title: 'Static Text Resource',
      description: 'A static text resource for testing',
      mimeType: 'text/plain',
    },
    async (uri) => ({
      contents: [
        { uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
      ],
    }),
  );

  server.registerResource(
    'static-binary',
    'test://static-binary',
    {
      title: 'Static Binary Resource',
      description: 'A static binary resource (image) for testing',
      mimeType: 'image/png',
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_BASE64 }] }),
  );

  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', {
      list: undefined,
      complete: { id: (value) => ['123', '456', '789'].filter((id) => id.startsWith(value)) },
    }),
    {
      title: 'Resource Template',
      description: 'A resource template with parameter substitution',
      mimeType: 'application/json',
    },
    async (uri, variables) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({
            id: variables.id,
            templateTest: true,
            data: `Data for ID: ${String(variables.id)}`,
          }),
        },
      ],
    }),
  );

  server.registerResource(
    'watched-resource',
    'test://watched-resource',
    { title: 'Watched Resource', description: 'A resource clients can subscribe to', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }],
    }),
  );

  // resources-subscribe / resources-unsubscribe exist on 2025 only (removed in 2026-07-28).
  if (era === 'legacy') {
    server.server.setRequestHandler('resources/subscribe', async () => ({}));
    server.server.setRequestHandler('resources/unsubscribe', async () => ({}));
  }

  // ===== Prompts =====

  server.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'A simple prompt without arguments' },
    async (): Promise<GetPromptResult> => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
    }),
  );

  // completion-complete asks for `arg1` of this prompt; `completable` installs completion/complete.
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      argsSchema: z.object({
        arg1: completable(z.string().describe('First test argument'), (value) =>
          ['paris', 'park', 'party', 'test', 'testing'].filter((v) => v.startsWith(value)),
        ),
        arg2: z.string().describe('Second test argument'),
      }),
    },
    async ({ arg1, arg2 }): Promise<GetPromptResult> => ({
      messages: [
        {
          role: 'user',
          content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
        },
      ],
    }),
  );

  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that includes an embedded resource',
      argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
    },
    async ({ resourceUri }): Promise<GetPromptResult> => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: {
              uri: resourceUri,
              mimeType: 'text/plain',
              text: 'Embedded resource content for testing.',
            },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );

  server.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt With Image', description: 'A prompt that includes image content' },
    async (): Promise<GetPromptResult> => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  );

  // input-required-result-non-tool-request: MRTR on prompts/get.
  server.registerPrompt(
    'test_input_required_result_prompt',
    { title: 'Prompt Needing Input', description: 'MRTR: asks for context before rendering the prompt' },
    async (c): Promise<GetPromptResult | InputRequiredResult> => {
      const answer = acceptedContent<{ context?: unknown }>(c.mcpReq.inputResponses, 'user_context');
      if (typeof answer?.context !== 'string') {
        return inputRequired({
          inputRequests: {
            user_context: inputRequired.elicit({
              message: 'What context should the prompt use?',
              requestedSchema: {
                type: 'object',
                properties: { context: { type: 'string' } },
                required: ['context'],
              },
            }),
          },
        });
      }
      return {
        messages: [
          {
            role: 'user',
            content: { type: 'text', text: `Prompt rendered with context: ${answer.context}` },
          },
        ],
      };
    },
  );
}
