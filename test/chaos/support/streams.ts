import type { ConnectionView } from '../../../src/http/admin.js';
import type { StreamInfo, StreamKind } from './holder.js';

/**
 * Finds the server-side connection of each stream a holder opened: by session
 * id where the stream has one, else by transport and stream kind (2026-07-28
 * streams carry no session; a holder opens at most one of each in that case).
 */
export function matchConnections(
  streams: StreamInfo[],
  connections: ConnectionView[],
): Map<number, ConnectionView> {
  const out = new Map<number, ConnectionView>();
  const taken = new Set<string>();
  const want: Record<StreamKind, { transport: string; stream: string }> = {
    get: { transport: 'streamable-http', stream: 'standalone' },
    post: { transport: 'streamable-http', stream: 'response' },
    modern: { transport: 'streamable-http', stream: 'response' },
    listen: { transport: 'streamable-http', stream: 'listen' },
    legacy: { transport: 'http-sse', stream: 'session' },
    seed: { transport: 'seed-sse', stream: 'session' },
  };
  for (const s of streams) {
    const { transport, stream } = want[s.kind];
    const sessionId = s.kind === 'modern' || s.kind === 'listen' ? null : s.sessionId;
    const found = connections.find(
      (c) =>
        !taken.has(c.id) &&
        c.transport === transport &&
        c.stream === stream &&
        (sessionId === null ? c.session_id === null : c.session_id === sessionId),
    );
    if (found) {
      out.set(s.i, found);
      taken.add(found.id);
    }
  }
  return out;
}

/** A label for a stream kind in measurements. */
export const KIND_LABEL: Record<StreamKind, string> = {
  get: '2025 GET',
  post: '2025 POST',
  modern: '2026-07-28 request',
  listen: '2026-07-28 listen',
  legacy: 'HTTP+SSE',
  seed: 'seed /mcp/sse',
};
