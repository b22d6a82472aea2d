import type { CallToolResult, Tool } from '@modelcontextprotocol/client';
import type { EventLog } from './log.js';

/** The transports the page can drive. */
export type TransportKind = 'streamable' | 'legacy' | 'seed';

/** `/mcp` revision choice: the 2025 `initialize` handshake, a pinned 2026-07-28, or the SDK's probe. */
export type RevisionChoice = 'legacy' | '2026-07-28' | 'auto';

/** What the user asked to connect to. */
export interface ConnectOptions {
  /** Base URL the endpoints hang off, e.g. `http://127.0.0.1:8000`. */
  baseUrl: string;
  transport: TransportKind;
  revision: RevisionChoice;
  token: string;
}

/** Facts about the live connection the page shows. */
export interface LiveInfo {
  /** Label for {@link LiveInfo.id}: `Session id` or `Connection id`. */
  idLabel: string;
  id: string;
  protocol: string;
}

/** Why a connection ended, and in words. */
export interface Closed {
  /** A server close reason (`shutdown`, `session_deleted`, …) or one of the page's own (`server_unreachable`). */
  reason: string;
  detail: string;
}

/** What a session tells the page while it lives. */
export interface SessionEvents {
  log: EventLog;
  info(patch: Partial<LiveInfo>): void;
  /** A keepalive or liveness ping arrived. */
  pinged(): void;
  /**
   * A long-lived stream ended without the page asking (server close, reset):
   * the page probes the server to tell a stop from a drop.
   */
  dropped(detail: string): void;
  /** A resumed stream is flowing again. */
  resumed(): void;
  /** The transport reported an error that may mean the server is gone. */
  troubled(): void;
  /** The connection is over; called once. */
  closed(why: Closed): void;
}

/** Options for one tool call. */
export interface CallOptions {
  signal: AbortSignal;
  onprogress(progress: { progress: number; total?: number | undefined; message?: string | undefined }): void;
}

/** One connection to one endpoint, whatever the transport. */
export interface McpSession {
  connect(): Promise<void>;
  listTools(): Promise<Tool[]>;
  callTool(name: string, args: Record<string, unknown>, options: CallOptions): Promise<CallToolResult>;
  /** Measures a round trip; resolves with what was sent (`ping`, or `server/discover` where ping is gone). */
  ping(): Promise<string>;
  /** Ends the connection the way a well-behaved client does (DELETE for a session, else close the stream). */
  disconnect(): Promise<void>;
  /** The server looked gone (health probe failed): stop everything without talking to it. */
  abandon(why: Closed): void;
  /** A stream dropped while the server answers: a resumable transport keeps going. */
  readonly resumable: boolean;
  /**
   * Whether the connection holds a stream while idle. One that does is
   * judged by that stream (a drain refuses new connections while it still
   * flows); a stateless one only by whether the server answers.
   */
  readonly holdsStream: boolean;
}

/** Thrown for a call the user cancelled. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor() {
    super('Cancelled from the test page');
  }
}
