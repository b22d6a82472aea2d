/**
 * The system nginx for the suites that run behind it. A site config (an
 * `http` block's server/upstream text, usually read from a doc so the doc and
 * the test cannot drift) is wrapped in a main context whose pid file, logs and
 * temp paths live in a temp dir. nginx runs in the foreground (`daemon off`)
 * as the current user, on a free port, and is stopped by its PID.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, poll, spawnChild } from './process.js';

export const NGINX_BIN = '/usr/sbin/nginx';

export function hasNginx(): boolean {
  return existsSync(NGINX_BIN);
}

/** The one ```nginx fenced block between `<!-- <marker>:start -->` and `<!-- <marker>:end -->` of a doc. */
export function configFromDoc(doc: URL, marker: string): string {
  const text = readFileSync(doc, 'utf8');
  const start = text.indexOf(`<!-- ${marker}:start -->`);
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  if (start === -1 || end === -1) throw new Error(`${doc.pathname} lacks the ${marker} markers`);
  const fenced = text.slice(start + `<!-- ${marker}:start -->`.length, end).trim();
  const match = /^```nginx\n([\s\S]*)\n```$/.exec(fenced);
  if (!match?.[1])
    throw new Error(`the ${marker} config in ${doc.pathname} must be one \`\`\`nginx fenced block`);
  return match[1];
}

/** `text` with `from` replaced by `to`; throws unless `from` occurs exactly once. */
export function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`expected "${from}" exactly once in the nginx config`);
  return parts.join(to);
}

function mainConfig(dir: string, site: string): string {
  // `user` only applies when nginx starts as root; then workers must run as
  // this user too, or they could not use the temp dir.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  return `${user}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events {
    worker_connections 256;
}
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

${site}
}
`;
}

/** A running nginx. */
export interface RunningNginx {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  pid: number;
  /** The config file nginx runs. */
  configPath: string;
  /** nginx's error log so far (and its stderr). */
  errorLog(): string;
  /** nginx's access log so far. */
  accessLog(): string;
  /** Stops nginx by its PID (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Options for {@link startNginx}. */
export interface StartNginxOptions {
  /** The site config for nginx's listen port (point its `listen` at `127.0.0.1:<port>`). */
  site(listenPort: number): string;
  /** A path that answers 200 once nginx serves. Default `/healthz`. */
  readyPath?: string;
  readyTimeoutMs?: number;
}

async function readyOrExited(url: string, nginx: { alive(): boolean }, timeoutMs: number): Promise<void> {
  await poll(
    async () => {
      if (!nginx.alive()) throw new Error('nginx exited during start-up');
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      } catch {
        return undefined; // not listening yet
      }
    },
    timeoutMs,
    `nginx to serve ${url}`,
  );
}

/**
 * Starts nginx on a free port with the site `options.site(port)` and waits
 * until it serves. The free port may be taken between probing and nginx's
 * bind: then it retries with another (three attempts).
 */
export async function startNginx(options: StartNginxOptions): Promise<RunningNginx> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-tether-nginx-'));
    const port = await freePort();
    const configPath = join(dir, 'nginx.conf');
    const readLog = (name: string) => {
      const file = join(dir, name);
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    };
    let nginx: ReturnType<typeof spawnChild> | undefined;
    const stop = async () => {
      await nginx?.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      writeFileSync(configPath, mainConfig(dir, options.site(port)));
      nginx = spawnChild(NGINX_BIN, ['-c', configPath, '-p', `${dir}/`, '-e', `${dir}/error.log`]);
      const child = nginx;
      const url = `http://127.0.0.1:${port}`;
      await readyOrExited(
        `${url}${options.readyPath ?? '/healthz'}`,
        child,
        options.readyTimeoutMs ?? 10_000,
      );
      return {
        url,
        pid: child.pid,
        configPath,
        errorLog: () => readLog('error.log') + child.stderr(),
        accessLog: () => readLog('access.log'),
        stop,
      };
    } catch (err) {
      lastError = new Error(`${(err as Error).message}\n${readLog('error.log')}${nginx?.stderr() ?? ''}`);
      await stop();
    }
  }
  throw lastError;
}
