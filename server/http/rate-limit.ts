/** A fixed one-minute window per API key, counted in this process. */
export interface RateDecision {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset: number;
  allowed: boolean;
}

export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.perMinute > 0;
  }

  take(key: string): RateDecision {
    const now = this.now();
    let window = this.#windows.get(key);
    if (!window || now - window.start >= 60_000) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
      if (this.#windows.size > 10_000) this.#sweep(now);
    }
    window.count += 1;
    return {
      limit: this.perMinute,
      remaining: Math.max(0, this.perMinute - window.count),
      reset: Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000)),
      allowed: window.count <= this.perMinute,
    };
  }

  #sweep(now: number) {
    for (const [key, window] of this.#windows) {
      if (now - window.start >= 60_000) this.#windows.delete(key);
    }
  }
}
