import { countRequest, sweepWindows } from '../storage/rate-limits.repository.js';
import type { DomainDeps } from './context.js';

export interface RateDecision {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset: number;
  allowed: boolean;
}

/** Counts a request against a per-minute limit; `bucket` is the API key it came with. */
export interface RateLimiter {
  take(bucket: string): Promise<RateDecision>;
}

const decide = (limit: number, count: number, secondsLeft: number): RateDecision => ({
  limit,
  remaining: Math.max(0, limit - count),
  reset: Math.min(60, Math.max(1, Math.ceil(secondsLeft))),
  allowed: count <= limit,
});

/** Windows kept in this process: right for the embedded database, which has one process. */
export function memoryRateLimiter(perMinute: number, now: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    take(bucket) {
      const at = now();
      let window = windows.get(bucket);
      if (!window || at - window.start >= 60_000) {
        window = { start: at, count: 0 };
        windows.set(bucket, window);
        if (windows.size > 10_000) {
          for (const [key, w] of windows) if (at - w.start >= 60_000) windows.delete(key);
        }
      }
      window.count += 1;
      return Promise.resolve(decide(perMinute, window.count, (window.start + 60_000 - at) / 1000));
    },
  };
}

/** Windows kept in PostgreSQL, so every server process in front of it counts against one limit. */
export function databaseRateLimiter(deps: DomainDeps, perMinute: number): RateLimiter {
  return {
    async take(bucket) {
      if (Math.random() < 0.001) await sweepWindows(deps.db);
      const { count, secondsLeft } = await countRequest(deps.db, bucket);
      return decide(perMinute, count, secondsLeft);
    },
  };
}
