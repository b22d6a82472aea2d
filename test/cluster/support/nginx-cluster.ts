/**
 * nginx as a round-robin load balancer without sticky sessions in front of
 * several nodes, with the configuration of docs/scaling.md (read from the
 * doc, so doc and test cannot drift): only the listen port and the upstream
 * addresses are changed. Same approach as test/nginx/support/nginx.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.js';

export const NGINX_BIN = '/usr/sbin/nginx';
const DOC = new URL('../../../docs/scaling.md', import.meta.url);
const START = '<!-- nginx-cluster-config:start -->';
const END = '<!-- nginx-cluster-config:end -->';

export function hasNginx(): boolean {
  return existsSync(NGINX_BIN);
}

/** The doc's config with its listen port and its upstream servers pointed at the test's. */
export function clusterConfigForTest(listenPort: number, upstreamPorts: number[]): string {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start === -1 || end === -1) throw new Error(`docs/scaling.md lacks ${START} … ${END}`);
  const match = /^```nginx\n([\s\S]*)\n```$/.exec(doc.slice(start + START.length, end).trim());
  if (!match?.[1]) throw new Error('the nginx config in docs/scaling.md must be one ```nginx fenced block');
  let conf = match[1];
  const servers = [...conf.matchAll(/^\s*server 10\.0\.0\.\d+:8000;$/gm)];
  if (servers.length < 2) throw new Error('expected at least two upstream servers in the doc');
  let i = 0;
  conf = conf.replace(/^(\s*)server 10\.0\.0\.\d+:8000;$/gm, (_all, indent: string) => {
    const port = upstreamPorts[i++];
    return port === undefined ? '' : `${indent}server 127.0.0.1:${port};`;
  });
  if (i < upstreamPorts.length) throw new Error('the doc lists fewer upstream servers than the test runs');
  const parts = conf.split('listen 80;');
  if (parts.length !== 2) throw new Error('expected "listen 80;" once');
  return parts.join(`listen 127.0.0.1:${listenPort};`);
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

export interface RunningNginx {
  url: string;
  accessLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx (foreground, as this user, temp dir) in front of the given ports; stopped by PID. */
export async function startNginxCluster(upstreamPorts: number[]): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tether-nginx-cluster-'));
  const port = await freePort();
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  const main = `${user}daemon off;
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

${clusterConfigForTest(port, upstreamPorts)}
}
`;
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, main);
  const child = spawn(NGINX_BIN, ['-c', configPath, '-p', `${dir}/`, '-e', `${dir}/error.log`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const killOnExit = () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  };
  process.once('exit', killOnExit);
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
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      await stop();
      throw new Error(`nginx did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const accessLog = () => {
    const file = join(dir, 'access.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  return { url, accessLog, stop };
}
