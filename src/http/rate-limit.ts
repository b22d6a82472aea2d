/**
 * A token bucket per key (client address): `ratePerMinute` tokens a minute,
 * up to `burst` at once. Buckets that have refilled completely are dropped,
 * so memory follows the number of recently active clients.
 *
 * @example
 * const limiter = new RateLimiter(60, 10);
 * const wait = limiter.take('127.0.0.1'); // 0 when allowed, else seconds to wait
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    readonly ratePerMinute: number,
    readonly burst: number,
  ) {
    this.perMs = ratePerMinute / 60_000;
  }

  get enabled(): boolean {
    return this.ratePerMinute > 0;
  }

  /** Takes one token for `key`; returns 0 when allowed, otherwise whole seconds until one is available. */
  take(key: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      return 0;
    }
    this.buckets.set(key, b);
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  /** Forgets full buckets; called from the scheduler's tick. */
  prune(now = Date.now()): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.burst) this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
