import ms from 'ms';

/**
 * Parses a human duration (`15s`, `500ms`, `1h`, `2m`) or a bare number of
 * milliseconds into milliseconds.
 *
 * @example
 * parseDuration('15s'); // 15000
 * parseDuration('250'); // 250
 * @throws {RangeError} when the text is not a non-negative duration.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  let value: number | undefined;
  try {
    value = /^\d+$/.test(trimmed) ? Number(trimmed) : ms(trimmed as ms.StringValue);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`not a duration: "${text}" (use e.g. 500ms, 15s, 1h)`);
  }
  return Math.round(value);
}
