import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { iso } from '../server/domain/representations.js';

describe('timestamps are written as the contract spells them', () => {
  test('PostgreSQL’s UTC spelling becomes the same instant with milliseconds and Z, as Date writes it', () => {
    const micros = fc.integer({ min: 0, max: 999_999 });
    const instant = fc.date({
      min: new Date('1000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instant, micros, fc.integer({ min: 0, max: 6 }), (at, fraction, digits) => {
        const seconds = at.toISOString().slice(0, 19);
        const decimals = String(fraction).padStart(6, '0').slice(0, digits);
        const spelled = `${seconds}${digits > 0 ? `.${decimals}` : ''}+00:00`;
        expect(iso(spelled)).toBe(new Date(spelled).toISOString());
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  test('other spellings and Date values go through Date', () => {
    expect(iso('2026-11-30T17:03:54.5+01:00')).toBe('2026-11-30T16:03:54.500Z');
    expect(iso(new Date('2026-11-30T16:03:54.123Z'))).toBe('2026-11-30T16:03:54.123Z');
    expect(iso('2026-11-30 16:03:54.123456+00')).toBe('2026-11-30T16:03:54.123Z');
  });
});
