import type { ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { StreamKind, StreamsOptions } from '../streams.js';
import { CLIENT_CPU, spawnNode, stderrTail, stop } from './proc.js';

/** Loopback source addresses the stream holders spread their sockets over. */
export const SOURCE_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/** Drives one `bench/streams.ts` process: one command, one answer. */
export class StreamsClient {
  readonly child: ChildProcess;
  private readonly rl: Interface;
  private readonly waiting: Array<{ event: string; resolve: (v: unknown) => void }> = [];
  private readonly ready: Promise<unknown>;

  constructor(kind: StreamKind, port: number, parallel = 128) {
    const options: StreamsOptions = { kind, port, parallel, localAddresses: SOURCE_ADDRESSES };
    this.child = spawnNode(CLIENT_CPU, [
      '--max-old-space-size=4096',
      '--import',
      'tsx',
      'bench/streams.ts',
      JSON.stringify(options),
    ]);
    this.rl = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    this.rl.on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; message?: string };
      const i = this.waiting.findIndex((w) => w.event === msg.event || msg.event === 'error');
      if (i === -1) return;
      const [w] = this.waiting.splice(i, 1);
      w?.resolve(msg);
    });
    this.ready = this.expect('ready', 120_000);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private expect(event: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onExit = () => {
        clearTimeout(timer);
        reject(new Error(`streams client exited\n${stderrTail(this.child)}`));
      };
      const timer = setTimeout(() => {
        this.child.off('exit', onExit);
        reject(new Error(`streams client: no "${event}" within ${timeoutMs} ms\n${stderrTail(this.child)}`));
      }, timeoutMs);
      this.waiting.push({
        event,
        resolve: (v) => {
          clearTimeout(timer);
          this.child.off('exit', onExit);
          const m = v as { event: string; message?: string };
          if (m.event === 'error') reject(new Error(`streams client: ${m.message}`));
          else resolve(v);
        },
      });
      this.child.once('exit', onExit);
    });
  }

  /** Sends a command and resolves with the answer event. */
  async command<T>(cmd: Record<string, unknown>, answer: string, timeoutMs = 120_000): Promise<T> {
    await this.ready;
    const reply = this.expect(answer, timeoutMs);
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
    return (await reply) as T;
  }

  open(count: number) {
    return this.command<{ total: number; failures: number; ms: number; errorSamples: string[] }>(
      { cmd: 'open', count },
      'opened',
      300_000,
    );
  }

  /** Kills the process outright (the SIGKILL scenario), by its PID. */
  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGKILL');
  }

  async close(): Promise<void> {
    this.rl.close();
    await stop(this.child, 1_000);
  }
}
