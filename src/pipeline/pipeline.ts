import type {
  JSONRPCMessage,
  MessageExtraInfo,
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/server';

/** What a hook can do besides looking at messages: send one of its own out. */
export interface PipelineLink {
  /** Sends `message` to the client through the whole outbound chain (every hook sees it). */
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void>;
  /** The wrapped transport's session id, if it has one. */
  readonly sessionId: string | undefined;
}

/**
 * One layer of behaviour between a transport and the SDK server connected to
 * it. Every member is optional.
 */
export interface PipelineHooks {
  /**
   * A client message on its way to the server. Return `false` to stop it here
   * (the hook answered or dropped it); anything else passes it on.
   */
  inbound?(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): boolean | undefined;
  /**
   * A message the server sends, on its way to the client. Returns what to pass
   * on: the same message, a replacement, or `undefined` to drop it.
   */
  outbound?(message: JSONRPCMessage, options: TransportSendOptions | undefined): JSONRPCMessage | undefined;
  /** An outbound message the transport has taken (written, or failed: `ok` false). */
  sent?(message: JSONRPCMessage, ok: boolean): void;
  /** The transport closed; no message passes after this. */
  closed?(): void;
}

/** Builds a hook's per-connection state: called once for every transport a server connects to. */
export type PipelineHook = (link: PipelineLink) => PipelineHooks;

type InboundHandler = NonNullable<Transport['onmessage']>;

const CALLBACKS = new Set<PropertyKey>(['onmessage', 'onclose', 'onerror']);

/**
 * Wraps `inner` for a server to connect to: the server's callbacks and sends
 * pass through `hooks` in a stated order. Hooks are listed from the wire
 * inwards: client messages meet them first to last, server messages last to
 * first (as an onion: the first hook sees everything the others let through
 * or send).
 *
 * The wrapper is a `Proxy` so that the SDK's identity checks on the transport
 * it is given (`instanceof`, its own fields, which bind a 2026-07-28 server to
 * the request's revision) still hold; only `send` and the three callback slots
 * are the wrapper's own. Nothing on `inner` or on the SDK's objects is
 * replaced: `inner` gets its callbacks through its slots, as from any server.
 *
 * @example
 * const wrapped = wrapTransport(transport, [meter, tasks]);
 * await server.connect(wrapped);
 */
export function wrapTransport<T extends Transport>(inner: T, hooks: readonly PipelineHook[]): T {
  if (hooks.length === 0) return inner;
  let serverInbound: InboundHandler | undefined;
  let serverClose: (() => void) | undefined;
  let serverError: ((error: Error) => void) | undefined;
  let closed = false;

  const send = async (message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> => {
    let out: JSONRPCMessage | undefined = message;
    for (let i = layers.length - 1; i >= 0; i--) {
      const outbound = layers[i]?.outbound;
      if (outbound === undefined) continue;
      out = outbound(out, options);
      if (out === undefined) return;
    }
    let ok = false;
    try {
      await inner.send(out, options);
      ok = true;
    } finally {
      for (const layer of layers) layer.sent?.(out, ok);
    }
  };

  const link: PipelineLink = { send, sessionId: inner.sessionId };
  const layers = hooks.map((hook) => hook(link));

  const onmessage: InboundHandler = (message, extra) => {
    for (const layer of layers) if (layer.inbound?.(message, extra) === false) return;
    serverInbound?.(message, extra);
  };
  const onclose = () => {
    if (!closed) {
      closed = true;
      for (const layer of layers) layer.closed?.();
    }
    serverClose?.();
  };
  const onerror = (error: Error) => serverError?.(error);

  return new Proxy(inner, {
    get(target, property, receiver) {
      switch (property) {
        case 'send':
          return send;
        case 'onmessage':
          return serverInbound;
        case 'onclose':
          return serverClose;
        case 'onerror':
          return serverError;
        default:
          return Reflect.get(target, property, receiver);
      }
    },
    set(target, property, value, receiver) {
      if (!CALLBACKS.has(property)) return Reflect.set(target, property, value, receiver);
      // The server fills its slots on connect and clears them on close: the inner
      // transport's slots point at the chain while a server is attached.
      const attached = value !== undefined;
      if (property === 'onmessage') {
        serverInbound = value as InboundHandler | undefined;
        inner.onmessage = attached ? onmessage : undefined;
      } else if (property === 'onclose') {
        serverClose = value as (() => void) | undefined;
        inner.onclose = attached ? onclose : undefined;
      } else {
        serverError = value as ((error: Error) => void) | undefined;
        inner.onerror = attached ? onerror : undefined;
      }
      return true;
    },
  });
}
