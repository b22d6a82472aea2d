/** Checks shared by option resolution; each throws {@link InvalidOptionError} naming the option. */

/**
 * Raised for invalid options, at start-up rather than at the first request.
 *
 * @example
 * try { createTether({ port: 70_000 }); } catch (e) { if (e instanceof InvalidOptionError) console.error(e.message); }
 */
export class InvalidOptionError extends Error {
  override readonly name = 'InvalidOptionError';
  readonly code = 'TETHER_ERR_CONFIG_INVALID';
}

export function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) {
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return v;
}

export function origin(text: string): string {
  if (text === '*') return text;
  try {
    const url = new URL(text);
    if (url.origin === 'null') throw new Error('opaque');
    return url.origin;
  } catch {
    throw new InvalidOptionError(
      `allowedOrigins: "${text}" is not an origin such as https://app.example.com`,
    );
  }
}

export function redisUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidOptionError(`redisUrl: "${text}" is not a URL such as redis://127.0.0.1:6379`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidOptionError(`redisUrl: expected a redis:// or rediss:// URL, got "${text}"`);
  }
  return text;
}
