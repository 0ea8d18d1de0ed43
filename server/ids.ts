import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulidx';
import type { Clock, IdGenerator } from './domain/context.js';

export const systemClock: Clock = { now: () => new Date() };

/** ULIDs from one monotonic source, so ids made in one process sort in the order they were made. */
export function ulidIds(): IdGenerator {
  const ulid = monotonicFactory(pooledRandom());
  return { next: (prefix) => `${prefix}_${ulid()}` };
}

/**
 * Uniform numbers in [0, 1) from the system's cryptographic random source, drawn 4 KiB at a time
 * (as `crypto.randomUUID` keeps its entropy): ulidx's own asks the source once for each of a
 * ULID's 16 random characters, which was a tenth of a role change's CPU.
 */
function pooledRandom(): () => number {
  const pool = new Uint8Array(4096);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++]! / 256;
  };
}
