import type { IncomingMessage } from 'node:http';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Whether a bind address is loopback-only, so the DNS-rebinding Host check applies. */
export function isLoopbackBind(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
}

function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return undefined;
  }
}

function isLoopbackName(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * DNS-rebinding guard: when the server listens on loopback only, the Host
 * header must name a loopback host; a rebound name such as `evil.example`
 * is refused.
 */
export function hostAllowed(req: IncomingMessage, loopbackOnly: boolean): boolean {
  if (!loopbackOnly) return true;
  const host = req.headers.host;
  if (host === undefined) return false;
  const name = hostnameOf(host);
  return name !== undefined && isLoopbackName(name);
}

/**
 * Origin check (the transport spec's MUST): requests without Origin pass
 * (non-browser clients); a present Origin must be same-origin with the Host,
 * listed in `allowed` (or `*` listed), or loopback while bound to loopback.
 */
export function originAllowed(
  req: IncomingMessage,
  allowed: readonly string[],
  loopbackOnly: boolean,
): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (req.headers.host !== undefined && url.host === req.headers.host) return true;
  return loopbackOnly && isLoopbackName(url.hostname);
}
