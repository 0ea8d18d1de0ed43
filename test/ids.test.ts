import { describe, expect, test } from '@jest/globals';
import { ulidIds } from '../server/ids.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('ids', () => {
  test('ids made in one process sort in the order they were made, as prefix_ and a ULID', () => {
    const ids = ulidIds();
    const made = Array.from({ length: 5_000 }, () => ids.next('evt'));
    for (const id of made) expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });

  test('the random part of a new millisecond is uniform over the 32 symbols, and differs between generators', () => {
    const counts = new Map<string, number>();
    const randoms = new Set<string>();
    for (let i = 0; i < 2_000; i += 1) {
      // A generator of its own each time: its first id draws a fresh random part.
      const random = ulidIds().next('evt').slice(-16);
      randoms.add(random);
      for (const symbol of random) counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
    }
    expect(randoms.size).toBe(2_000);
    expect([...counts.keys()].sort().join('')).toBe(CROCKFORD);
    // 32,000 symbols: 1,000 expected each (the bounds are almost five standard deviations).
    for (const symbol of CROCKFORD) {
      expect(counts.get(symbol)).toBeGreaterThan(850);
      expect(counts.get(symbol)).toBeLessThan(1_150);
    }
  });
});
