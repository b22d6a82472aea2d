import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/server';

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The bearer token of a request, if it sent one. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** What a token check concluded. */
export type AuthResult = { ok: true; authInfo: AuthInfo | undefined } | { ok: false; presented: boolean };

/**
 * Bearer-token verification against a fixed set of tokens. Tokens are
 * compared as SHA-256 digests with `timingSafeEqual`, against every
 * configured token, so timing reveals neither a prefix nor which token
 * matched. A verified request gets an `AuthInfo` whose `clientId` is a
 * fingerprint of the token: sessions are bound to it.
 *
 * @example
 * const auth = new TokenAuth(['s3cret']);
 * auth.check(req); // { ok: true, authInfo: { clientId: 'token:…', … } } or { ok: false, … }
 */
export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether `token` is one of the configured tokens, in constant time. */
  matches(token: string): boolean {
    const presented = digest(token);
    let found = false;
    for (const d of this.digests) if (timingSafeEqual(d, presented)) found = true;
    return found;
  }

  check(req: IncomingMessage): AuthResult {
    if (!this.enabled) return { ok: true, authInfo: undefined };
    const token = bearerOf(req);
    if (token === undefined || !this.matches(token)) return { ok: false, presented: token !== undefined };
    return {
      ok: true,
      authInfo: { token, clientId: `token:${digest(token).toString('hex').slice(0, 16)}`, scopes: [] },
    };
  }
}
