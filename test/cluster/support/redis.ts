/**
 * A real redis-server for the cluster suites: started on a free loopback
 * port with no persistence, stopped by its PID. `start()` after `stop()` or
 * {@link pauseRedis} starts a fresh one on the same port (an outage the nodes
 * must survive).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, freePort, poll, spawnChild } from '../../support/process.js';

export const REDIS_BIN = '/usr/bin/redis-server';

export function hasRedis(): boolean {
  return existsSync(REDIS_BIN);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let data = '';
    socket.setTimeout(300, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
    socket.on('data', (chunk) => {
      data += String(chunk);
      if (data.includes('\r\n')) {
        socket.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}

export interface RunningRedis {
  port: number;
  url: string;
  pid(): number | undefined;
  /** SIGTERM by PID (SIGKILL if it lingers); removes its directory. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export async function startRedis(): Promise<RunningRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tether-redis-'));
  const port = await freePort();
  let child: Child | undefined;
  const start = async () => {
    const c = spawnChild(REDIS_BIN, [
      ...['--port', String(port), '--bind', '127.0.0.1'],
      ...['--save', '', '--appendonly', 'no', '--dir', dir],
    ]);
    child = c;
    await poll(
      async () => {
        if (!c.alive()) throw new Error(`redis-server exited: ${c.stderr()}${c.stdout()}`);
        return (await ping(port)) ? true : undefined;
      },
      10_000,
      'redis-server to answer PING',
    );
  };
  const stop = async () => {
    await child?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `redis://127.0.0.1:${port}`, pid: () => child?.pid, start, stop };
}

/** Stops redis at once (SIGKILL) but keeps its port and directory for `start()`. */
export async function pauseRedis(redis: RunningRedis): Promise<void> {
  const pid = redis.pid();
  if (pid === undefined) return;
  process.kill(pid, 'SIGKILL');
  // wait until the port stops answering
  const deadline = Date.now() + 5_000;
  while ((await ping(redis.port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}
