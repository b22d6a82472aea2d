import { performance } from 'node:perf_hooks';
import { HttpConnection, type HttpResponse } from './lib/http-client.js';
import {
  baseHeaders,
  type CallMode,
  checkEchoReply,
  echoCallBody,
  frameData,
  frameEvent,
  INITIALIZED_BODY,
  initializeBody,
  isEchoReply,
  modernHeaders,
  openSession,
  SseSplitter,
  sessionHeaders,
} from './lib/protocol.js';

/**
 * The load generator: `concurrency` keep-alive connections, each with one
 * `tools/call` of `echo` in flight at a time, over one initialized session.
 * Every reply is parsed and checked (id and echoed text). It prints
 * `{"event":"measure-start"}` after the warm-up and `{"event":"measure-end"}`
 * when the window closes, so the runner can read the server's CPU over
 * exactly that window, then one `RESULT` line. Bounded by time and by
 * `maxRequests`.
 */
export interface LoadOptions {
  mode: CallMode;
  port: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  maxRequests: number;
}

export interface LoadResult {
  completed: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  clientCpuPercent: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const { port, mode } = options;
const HOST = '127.0.0.1';

function emit(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Legacy HTTP+SSE: the GET stream that carries every reply, matched to requests by id. */
class LegacyChannel {
  readonly waiting = new Map<number, (message: unknown) => void>();
  endpoint = '';

  async open(): Promise<void> {
    const conn = new HttpConnection({ host: HOST, port });
    await conn.connected();
    const splitter = new SseSplitter();
    await new Promise<void>((resolve, reject) => {
      conn.stream('GET', '/sse', `host: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n`, '', {
        onHead: (status) => {
          if (status !== 200) reject(new Error(`GET /sse: ${status}`));
        },
        onData: (text) => {
          for (const frame of splitter.push(text)) {
            const data = frameData(frame);
            if (data === undefined) continue;
            if (frameEvent(frame) === 'endpoint') {
              this.endpoint = data;
              resolve();
              continue;
            }
            if (!data.startsWith('{')) continue;
            const message = JSON.parse(data) as { id?: unknown };
            const done = typeof message.id === 'number' ? this.waiting.get(message.id) : undefined;
            if (done) {
              this.waiting.delete(message.id as number);
              done(message);
            }
          }
        },
        onEnd: (error) => reject(error ?? new Error('GET /sse ended')),
      });
    });
  }

  reply(id: number): Promise<unknown> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

async function main(): Promise<void> {
  const conns: HttpConnection[] = [];
  for (let i = 0; i < options.concurrency; i++) {
    const c = new HttpConnection({ host: HOST, port });
    conns.push(c);
  }
  await Promise.all(conns.map((c) => c.connected()));
  const first = conns[0] as HttpConnection;

  let headers = baseHeaders(port);
  let legacy: LegacyChannel | undefined;
  if (mode === 'session') {
    headers = sessionHeaders(port, await openSession(first, port));
  } else if (mode === 'modern') {
    headers = modernHeaders(port, 'tools/call', 'echo');
  } else if (mode === 'http-sse') {
    legacy = new LegacyChannel();
    await legacy.open();
    const initReply = legacy.reply(0);
    const init = await first.request('POST', legacy.endpoint, headers, initializeBody());
    if (init.status !== 202 && init.status !== 200) throw new Error(`legacy initialize: ${init.status}`);
    await initReply;
    await first.request('POST', legacy.endpoint, headers, INITIALIZED_BODY);
  }
  const path = legacy ? legacy.endpoint : '/mcp';

  const start = performance.now();
  const measureStart = start + options.warmupMs;
  const measureEnd = measureStart + options.durationMs;
  const latencies = new Float64Array(Math.min(options.maxRequests, 5_000_000));
  let measured = 0;
  let completed = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  let nextId = 1;
  let cpuStart = process.cpuUsage();
  let cpuEnd: NodeJS.CpuUsage | undefined;
  let stopping = false;

  setTimeout(() => {
    cpuStart = process.cpuUsage();
    emit({ event: 'measure-start' });
  }, options.warmupMs);
  setTimeout(() => {
    cpuEnd = process.cpuUsage(cpuStart);
    stopping = true;
    emit({ event: 'measure-end' });
  }, options.warmupMs + options.durationMs);

  function fail(message: string): void {
    errors++;
    if (errorSamples.length < 3) errorSamples.push(message);
  }

  async function worker(conn: HttpConnection): Promise<void> {
    for (;;) {
      if (stopping || nextId > options.maxRequests || conn.closed) return;
      const id = nextId++;
      const text = `t${id}`;
      const body = echoCallBody(mode, id, text);
      const t0 = performance.now();
      let error: string | undefined;
      try {
        if (legacy) {
          const reply = legacy.reply(id);
          const res = await conn.request('POST', path, headers, body);
          if (res.status !== 202 && res.status !== 200) error = `status ${res.status}`;
          else if (!isEchoReply(await reply, id, text)) error = 'bad legacy reply';
        } else {
          const res: HttpResponse = await conn.request('POST', path, headers, body);
          error = checkEchoReply(res, id, text);
        }
      } catch (err) {
        error = String(err);
      }
      const t1 = performance.now();
      if (t1 >= measureStart && t1 < measureEnd) {
        if (error) fail(error);
        else {
          completed++;
          if (measured < latencies.length) latencies[measured++] = t1 - t0;
        }
      } else if (error && t1 < measureStart) fail(`warm-up: ${error}`);
    }
  }

  // A server that stops answering must not hang the run: stop 10 s after the window.
  const watchdog = setTimeout(
    () => {
      fail('watchdog: requests still in flight 10 s after the window');
      finish();
    },
    options.warmupMs + options.durationMs + 10_000,
  );

  function finish(): void {
    clearTimeout(watchdog);
    const sorted = latencies.subarray(0, measured).sort();
    const seconds = options.durationMs / 1000;
    const cpu = cpuEnd ?? process.cpuUsage(cpuStart);
    const result: LoadResult = {
      completed,
      errors,
      errorSamples,
      seconds,
      requestsPerSecond: completed / seconds,
      latencyMs: {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
      },
      clientCpuPercent: ((cpu.user + cpu.system) / 1000 / options.durationMs) * 100,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    for (const c of conns) c.destroy();
    process.exit(0);
  }

  await Promise.all(conns.map((c) => worker(c)));
  finish();
}

main().catch((err: unknown) => {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: String(err) })}\n`);
  process.exit(1);
});
