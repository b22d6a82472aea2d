/**
 * Runs the nginx configuration of docs/deploying-behind-nginx.md with the
 * system nginx: the server block is read from the doc (so the doc and the
 * test cannot drift), its two addresses are pointed at test ports, and it is
 * wrapped in a main context whose pid file, logs and temp paths live in a
 * temp dir. nginx runs in the foreground (`daemon off`) as the current user
 * and is stopped by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const NGINX_BIN = '/usr/sbin/nginx';

export function hasNginx(): boolean {
  return existsSync(NGINX_BIN);
}

const DOC = new URL('../../../docs/deploying-behind-nginx.md', import.meta.url);
const START = '<!-- nginx-config:start -->';
const END = '<!-- nginx-config:end -->';

/** The server block exactly as the doc shows it. */
export function configFromDoc(): string {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start === -1 || end === -1) throw new Error(`docs/deploying-behind-nginx.md lacks ${START} … ${END}`);
  const fenced = doc.slice(start + START.length, end).trim();
  const match = /^```nginx\n([\s\S]*)\n```$/.exec(fenced);
  if (!match?.[1]) throw new Error('the nginx config in the doc must be one ```nginx fenced block');
  return match[1];
}

function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`expected "${from}" exactly once in the doc's nginx config`);
  return parts.join(to);
}

/** The doc's block with only its two addresses changed: nginx's listen port and the upstream. */
export function configForTest(listenPort: number, upstreamPort: number): string {
  let conf = configFromDoc();
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${listenPort};`);
  conf = replaceOnce(conf, 'server 127.0.0.1:8000;', `server 127.0.0.1:${upstreamPort};`);
  return conf;
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A running nginx in front of one upstream. */
export interface RunningNginx {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  pid: number;
  /** The config file nginx runs. */
  configPath: string;
  /** nginx's error log so far. */
  errorLog(): string;
  /** Stops nginx by its PID (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function waitUntilServing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('nginx exited during start-up');
    try {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nginx did not serve ${url}/healthz within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts nginx with the doc's config in front of `127.0.0.1:<upstreamPort>`. */
export async function startNginx(upstreamPort: number): Promise<RunningNginx> {
  let lastError: unknown;
  // The free port may be taken between probing and nginx's bind: retry with another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-tether-nginx-'));
    const port = await freePort();
    const configPath = join(dir, 'nginx.conf');
    writeFileSync(configPath, mainConfig(dir, configForTest(port, upstreamPort)));
    const child = spawn(NGINX_BIN, ['-c', configPath, '-p', `${dir}/`, '-e', `${dir}/error.log`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    // Last resort if the test process ends without running its hooks (a killed
    // worker): nginx in the foreground would otherwise outlive it.
    const killOnExit = () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    };
    process.once('exit', killOnExit);
    const errorLog = () => {
      const file = join(dir, 'error.log');
      return (existsSync(file) ? readFileSync(file, 'utf8') : '') + stderr;
    };
    const stop = async () => {
      process.off('exit', killOnExit);
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        if (!(await exited(child, 5_000))) {
          process.kill(child.pid, 'SIGKILL');
          await exited(child, 5_000);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    };
    const url = `http://127.0.0.1:${port}`;
    try {
      if (child.pid === undefined) throw new Error('nginx did not start');
      await waitUntilServing(url, child, 10_000);
      return { url, pid: child.pid, configPath, errorLog, stop };
    } catch (err) {
      lastError = new Error(`${(err as Error).message}\n${errorLog()}`);
      await stop();
    }
  }
  throw lastError;
}
