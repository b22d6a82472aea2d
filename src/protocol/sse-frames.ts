import type { JSONRPCMessage } from '@modelcontextprotocol/server';

/** An SSE `message` event carrying one JSON-RPC message, with an event id when resumable. */
export function messageFrame(message: JSONRPCMessage, eventId?: string): string {
  return serializedMessageFrame(JSON.stringify(message), eventId);
}

/** {@link messageFrame} for a message serialized once and sent on many streams. */
export function serializedMessageFrame(data: string, eventId?: string): string {
  return eventId === undefined
    ? `event: message\ndata: ${data}\n\n`
    : `id: ${eventId}\nevent: message\ndata: ${data}\n\n`;
}

/** The priming event (2025-11-25): an id and empty data, so the client can resume before anything else arrives. */
export function primingFrame(eventId: string, retryMs: number): string {
  return `id: ${eventId}\nretry: ${retryMs}\ndata: \n\n`;
}

/** A JSON-RPC `ping` request from the server, for liveness; not stored, so never replayed. */
export function pingRequestFrame(id: string): string {
  return `event: message\ndata: {"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"ping"}\n\n`;
}
