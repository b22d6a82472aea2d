import pino, { type Logger } from 'pino';

/**
 * The process logger: JSON lines, or pretty output when stdout is a TTY.
 *
 * @example
 * const log = createLogger({ level: 'debug' });
 * log.info({ connection_id: 'c1' }, 'connection.opened');
 */
export function createLogger(options: { level: string; pretty?: boolean }): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}
