#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../config/options.js';
import { createTether } from '../server/create-tether.js';
import { parseServeArgs, USAGE, UsageError } from './args.js';
import { loadToolsModule } from './load-tools.js';

function readTokenFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--auth-token-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const tokens = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (tokens.length === 0) throw new UsageError(`--auth-token-file: ${path} has no tokens`);
  return tokens;
}

function fail(message: string): never {
  process.stderr.write(`mcp-tether: ${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command !== 'serve') fail(`unknown command "${command}" (try: mcp-tether serve --help)`);
  const parsed = parseServeArgs(rest, process.env);
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (parsed.authTokenFile !== undefined) {
    parsed.options.authTokens = [
      ...(parsed.options.authTokens ?? []),
      ...readTokenFile(parsed.authTokenFile),
    ];
  }
  const tools = parsed.toolsModule === undefined ? undefined : await loadToolsModule(parsed.toolsModule);
  const tether = createTether({ ...parsed.options, ...tools });
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      tether.logger.warn({ signal }, 'server.forced_exit');
      process.exit(1);
    }
    tether.logger.info({ signal }, 'server.signal_received');
    tether.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Installed before the server starts, so a signal that arrives while it does (or just after its
  // listening line) drains it instead of killing it. SIGHUP (the terminal or a supervisor going
  // away) drains like SIGTERM instead of Node's default immediate exit 129, unlogged.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
  try {
    await tether.start();
  } catch (err) {
    fail(`${(err as Error).message} (--redis)`);
  }
  try {
    await tether.listen();
  } catch (err) {
    fail(`cannot listen on ${tether.options.host}:${tether.options.port}: ${(err as Error).message}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof InvalidOptionError) fail(err.message);
  process.stderr.write(`mcp-tether: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
