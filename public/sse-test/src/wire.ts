import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { EventLog } from './log.js';

/** One HTTP response whose body is an SSE stream. */
export interface StreamInfo {
  /** e.g. `GET /mcp` */
  readonly label: string;
  readonly method: string;
  /** The request body, when it was text (JSON-RPC for POSTs). */
  readonly body: string;
  /** The `Last-Event-ID` the request carried: the stream resumes after that event. */
  readonly lastEventId: string | null;
}

/** Who ended a stream: the server (clean end), the page (abort), or the network (reset, refused). */
export type StreamEnd = 'server' | 'client' | 'network';

/** What the session code wants to know about the frames on the wire. */
export interface WireHooks {
  /** A request is about to go out. */
  sending?(stream: StreamInfo): void;
  /** A response arrived (any status); `stream` says which request it answers. */
  opened?(res: Response, stream: StreamInfo): void;
  event?(event: EventSourceMessage, stream: StreamInfo): void;
  comment?(text: string, stream: StreamInfo): void;
  end?(how: StreamEnd, stream: StreamInfo, error?: unknown): void;
}

type FetchInput = string | URL;

/** Rebuilds the frame as it was written: field lines, then the blank line. */
function wireForm(event: EventSourceMessage): string {
  const lines: string[] = [];
  if (event.id !== undefined) lines.push(`id: ${event.id}`);
  if (event.event !== undefined) lines.push(`event: ${event.event}`);
  for (const line of event.data.split('\n')) lines.push(`data: ${line}`);
  return `${lines.join('\n')}\n\n`;
}

function pathOf(url: URL): string {
  return url.pathname + url.search;
}

function isEventStream(res: Response): boolean {
  return res.headers.get('content-type')?.toLowerCase().startsWith('text/event-stream') === true;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

function headerLines(headers: Headers): string {
  const lines: string[] = [];
  headers.forEach((value, name) => {
    lines.push(`${name}: ${name === 'authorization' ? 'Bearer ••••••' : value}`);
  });
  return lines.join('\n');
}

/**
 * Everything the page sends and receives goes through here: each HTTP
 * exchange is logged, and each SSE body is read with `eventsource-parser`
 * so that every frame (comments and `retry:` fields too, which the SDK
 * transports swallow) reaches the log and the {@link WireHooks}.
 */
export class Wire {
  private readonly readers = new Set<ReadableStreamDefaultReader<string>>();

  constructor(
    private readonly log: EventLog,
    private readonly hooks: WireHooks,
  ) {}

  /**
   * A `fetch` for the SDK's transports: SSE bodies are split with `tee()`,
   * one branch for the SDK, one read here.
   */
  readonly fetch = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const { res, info } = await this.exchange(input, init);
    if (res.body === null || !isEventStream(res) || !res.ok) return res;
    const [mine, theirs] = res.body.tee();
    void this.read(mine, info);
    const copy = new Response(theirs, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
    Object.defineProperty(copy, 'url', { value: res.url });
    return copy;
  };

  /**
   * Opens a request whose SSE body the page reads itself (the seed endpoint):
   * frames go to the hooks; the returned promise settles once the stream has
   * started, with the response (its body already taken).
   */
  async open(input: FetchInput, init: RequestInit): Promise<{ res: Response; ended: Promise<void> }> {
    const { res, info } = await this.exchange(input, init);
    if (res.body === null || !isEventStream(res) || !res.ok) return { res, ended: Promise.resolve() };
    return { res, ended: this.read(res.body, info) };
  }

  /** Stops reading every stream (the page is disconnecting). */
  dispose(): void {
    for (const reader of this.readers) void reader.cancel().catch(() => {});
    this.readers.clear();
  }

  private async exchange(
    input: FetchInput,
    init?: RequestInit,
  ): Promise<{ res: Response; info: StreamInfo }> {
    const url = new URL(String(input), location.href);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = new Headers(init?.headers);
    const lastEventId = headers.get('last-event-id');
    const label = `${method} ${pathOf(url)}`;
    const body = typeof init?.body === 'string' ? init.body : '';
    if (lastEventId !== null) {
      this.log.add({
        type: 'resume',
        summary: `resuming after event ${lastEventId}`,
        source: label,
        raw: `${method} ${pathOf(url)}\n${headerLines(headers)}`,
        tone: 'warn',
      });
    } else {
      this.log.add({
        type: 'http',
        summary: body === '' ? `→ ${label}` : `→ ${body}`,
        source: label,
        raw: `${method} ${pathOf(url)}\n${headerLines(headers)}${body === '' ? '' : `\n\n${body}`}`,
      });
    }
    const info: StreamInfo = { label, method, body, lastEventId };
    this.hooks.sending?.(info);
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (error) {
      if (!isAbort(error)) {
        this.log.add({
          type: 'http',
          summary: `✕ request failed: ${error instanceof Error ? error.message : String(error)} (server unreachable?)`,
          source: label,
          tone: 'error',
        });
      }
      throw error;
    }
    const type = res.headers.get('content-type') ?? '';
    const sessionId = res.headers.get('mcp-session-id');
    this.log.add({
      type: 'http',
      summary: `← ${res.status} ${res.statusText}${type ? ` · ${type.split(';')[0]}` : ''}${sessionId ? ` · Mcp-Session-Id ${sessionId}` : ''}`,
      source: label,
      raw: `HTTP ${res.status} ${res.statusText}\n${headerLines(res.headers)}`,
      tone: res.ok ? undefined : 'error',
    });
    this.hooks.opened?.(res, info);
    return { res, info };
  }

  /** Reads one SSE body to its end; resolves when it ends, however it ends. */
  private async read(body: ReadableStream<Uint8Array>, stream: StreamInfo): Promise<void> {
    const parser = createParser({
      onEvent: (event) => {
        this.log.add({
          type: event.event ?? 'message',
          summary:
            event.data === '' && event.id !== undefined ? `(priming event, id ${event.id})` : event.data,
          raw: wireForm(event),
          source: stream.label,
          tone: event.event === 'error' || event.event === 'close' ? 'warn' : undefined,
        });
        this.hooks.event?.(event, stream);
      },
      onComment: (text) => {
        this.log.add({ type: 'comment', summary: `: ${text}`, raw: `: ${text}\n\n`, source: stream.label });
        this.hooks.comment?.(text, stream);
      },
      onRetry: (ms) => {
        this.log.add({
          type: 'retry',
          summary: `server asks clients to wait ${ms} ms before reconnecting`,
          raw: `retry: ${ms}\n`,
          source: stream.label,
        });
      },
      onError: (error) => {
        this.log.add({ type: 'page', summary: `unparsable SSE line: ${error.message}`, tone: 'error' });
      },
    });
    const reader = (body as ReadableStream<BufferSource>).pipeThrough(new TextDecoderStream()).getReader();
    this.readers.add(reader);
    let how: StreamEnd = 'server';
    let failure: unknown;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch (error) {
      how = isAbort(error) ? 'client' : 'network';
      failure = error;
    } finally {
      // A cancelled reader resolves `done` like a clean end: tell them apart.
      if (!this.readers.delete(reader)) how = 'client';
    }
    this.log.add({
      type: 'stream',
      summary:
        how === 'server'
          ? 'stream ended by the server'
          : how === 'client'
            ? 'stream closed by the page'
            : `stream broken: ${failure instanceof Error ? failure.message : String(failure)}`,
      source: stream.label,
      tone: how === 'network' ? 'warn' : undefined,
    });
    this.hooks.end?.(how, stream, failure);
  }
}
