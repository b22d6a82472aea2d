import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { sendError } from '../errors.js';
import type { Admission } from './admission.js';
import type { TokenAuth } from './auth.js';
import { applyCors } from './cors.js';
import { hostAllowed, originAllowed } from './security.js';

/** One request as every stage of the router and the route's handler see it, parsed once. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The path below `basePath`, without the query. */
  readonly path: string;
  /** The parsed query: admission and the handler act on the same one. */
  readonly query: URLSearchParams;
  /** The verified principal on `token` routes when auth is on. */
  readonly authInfo: AuthInfo | undefined;
}

/** A line of `GET /mcp/stdio`'s endpoint list. */
export interface Endpoint {
  readonly method: string;
  readonly path: string;
  readonly purpose: string;
}

/**
 * One row of the route table: the router, the caps and the server
 * description are all read from it, so a new endpoint is one row.
 */
export interface Route {
  /** The path below `basePath` the route serves (exactly, unless {@link match} says otherwise). */
  readonly path: string;
  /** A wider match than the exact path (a folder of static files, an id below the path). */
  match?(path: string): boolean;
  /** The methods served; any other is answered 405 with `Allow`. Omitted: every method reaches the handler. */
  readonly methods?: readonly string[];
  /**
   * `public`: no token (health, metrics, the test page); `token`: the bearer
   * tokens when auth is on; `admin`: the handler checks the admin token.
   */
  readonly access: 'public' | 'token' | 'admin';
  /** MCP traffic: refused while draining, and served only once the cluster (Redis) is joined. */
  readonly mcp?: boolean;
  /** Whether the request opens a new stream; counted against the connection caps before it is served. */
  opensStream?(ctx: RequestContext): boolean;
  /** Whether the request creates a session without a body to look at; counted by the session rate limit. */
  opensSession?(ctx: RequestContext): boolean;
  /** What `GET /mcp/stdio` lists for this route. */
  readonly endpoints: readonly Endpoint[];
  handle(ctx: RequestContext): Promise<void> | void;
}

export interface RouterDeps {
  routes: readonly Route[];
  basePath: string;
  allowedOrigins: readonly string[];
  /** Whether the server listens on loopback only (Host checked against DNS rebinding). */
  loopbackOnly(): boolean;
  tokens: TokenAuth;
  admission: Admission;
  draining(): boolean;
  /**
   * Readies the MCP side before an MCP route is served (joins the cluster, starts the
   * scheduler). Returns false when it has answered the request itself.
   */
  prepareMcp(res: ServerResponse): Promise<boolean>;
  logger: Logger;
}

const NO_QUERY = new URLSearchParams();

function split(url: string, basePath: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (basePath !== '' && path.startsWith(basePath)) path = path.slice(basePath.length) || '/';
  return { path, query: q === -1 ? NO_QUERY : new URLSearchParams(url.slice(q + 1)) };
}

function refuseAuth(res: ServerResponse, presented: boolean): void {
  const challenge = presented
    ? 'Bearer realm="mcp-tether", error="invalid_token"'
    : 'Bearer realm="mcp-tether"';
  sendError(res, presented ? 'TETHER_ERR_AUTH_INVALID' : 'TETHER_ERR_AUTH_REQUIRED', {
    headers: { 'WWW-Authenticate': challenge },
  });
}

/**
 * The `node:http` handler over a route table, in a fixed order: Host and
 * Origin checks, CORS preflight, the route, its token, then for MCP routes
 * the drain and the caps, the cluster, the method, the session rate limit,
 * and the handler. A path no route serves goes to `next` when mounted in a
 * framework, else 404.
 *
 * @example
 * const handler = createRouter({ routes, basePath: '', ... });
 * http.createServer(handler).listen(8000);
 */
export function createRouter(deps: RouterDeps) {
  async function route(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const { path, query } = split(req.url ?? '/', deps.basePath);
    if (!hostAllowed(req, deps.loopbackOnly())) {
      sendError(res, 'TETHER_ERR_HTTP_FORBIDDEN_HOST');
      return true;
    }
    if (!originAllowed(req, deps.allowedOrigins, deps.loopbackOnly())) {
      sendError(res, 'TETHER_ERR_HTTP_FORBIDDEN_ORIGIN');
      return true;
    }
    if (applyCors(req, res)) return true;
    const found = deps.routes.find((r) => r.path === path || r.match?.(path) === true);
    if (found === undefined) return false;
    let authInfo: AuthInfo | undefined;
    if (found.access === 'token') {
      const auth = deps.tokens.check(req);
      if (!auth.ok) {
        refuseAuth(res, auth.presented);
        return true;
      }
      authInfo = auth.authInfo;
    }
    const ctx: RequestContext = { req, res, path, query, authInfo };
    if (found.mcp) {
      if (deps.draining()) {
        sendError(res, 'TETHER_ERR_HTTP_UNAVAILABLE', { headers: { 'Retry-After': '1' } });
        return true;
      }
      if (found.opensStream?.(ctx) === true && !deps.admission.admitStream(req, res)) return true;
      if (!(await deps.prepareMcp(res))) return true;
    }
    const method = req.method ?? 'GET';
    if (found.methods !== undefined && !found.methods.includes(method)) {
      sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: found.methods.join(', ') } });
      return true;
    }
    if (found.opensSession?.(ctx) === true && !deps.admission.admitSession(req, res)) return true;
    await found.handle(ctx);
    return true;
  }

  return (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    route(req, res)
      .then((handled) => {
        if (handled) return;
        if (next) next();
        else sendError(res, 'TETHER_ERR_HTTP_NOT_FOUND');
      })
      .catch((err: unknown) => {
        deps.logger.error({ err, method: req.method, url: req.url }, 'request.failed');
        sendError(res, 'TETHER_ERR_INTERNAL');
      });
  };
}
