import { monotonicFactory } from 'ulidx';
import type { Clock, IdGenerator } from './domain/context.js';

export const systemClock: Clock = { now: () => new Date() };

/** ULIDs from one monotonic source, so ids made in one process sort in the order they were made. */
export function ulidIds(): IdGenerator {
  const ulid = monotonicFactory();
  return { next: (prefix) => `${prefix}_${ulid()}` };
}
