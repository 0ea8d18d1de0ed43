import { sql, type Expression, type RawBuilder } from 'kysely';
import type { Fact } from './access.repository.js';

/**
 * A time as the contract spells it (`iso` in domain/representations: UTC, milliseconds, `Z`),
 * written by PostgreSQL into a representation it renders as JSON text.
 */
export const utcMilliseconds = (column: RawBuilder<unknown>) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Where the next page of a keyset list starts: the `size`-th of `keys` (the page's rows and more,
 * selected as `column`) in the list's order, compared bytewise; null when no more than `size`
 * were read, so no page follows.
 */
export function nextKeyFact(
  keys: Expression<unknown>,
  column: string,
  order: 'asc' | 'desc',
  size: string,
) {
  const key = sql.ref(`k.${column}`);
  return sql<string | null>`(
    select case when count(*) > ${size}::bigint
      then (array_agg(${key} order by ${key} collate "C" ${sql.raw(order)}))[${size}::int] end
    from (${keys}) k
  )` as Fact<string | null>;
}
