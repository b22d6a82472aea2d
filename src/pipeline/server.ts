import { McpServer, type Transport } from '@modelcontextprotocol/server';
import { type PipelineHook, wrapTransport } from './pipeline.js';

/**
 * The SDK's `McpServer` with a pipeline: every transport it connects to, by
 * our transports or by the SDK's per-request dispatcher (2026-07-28), is
 * wrapped in the hooks registered with {@link use}, in the order registered
 * (the first is nearest the wire). Setup functions see an ordinary
 * `McpServer`.
 *
 * @example
 * const server = new PipelinedServer({ name: 'demo', version: '1' }).use(meteringHook(tracker));
 * await server.connect(transport); // the server talks to `transport` through the meter
 */
export class PipelinedServer extends McpServer {
  readonly #hooks: PipelineHook[] = [];

  /** Adds a hook inside the ones already registered. Call before connecting. */
  use(hook: PipelineHook): this {
    this.#hooks.push(hook);
    return this;
  }

  override connect(transport: Transport): Promise<void> {
    return super.connect(wrapTransport(transport, this.#hooks));
  }
}
