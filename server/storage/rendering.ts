import { sql, type RawBuilder } from 'kysely';

/**
 * A time as the contract spells it (`iso` in domain/representations: UTC, milliseconds, `Z`),
 * written by PostgreSQL into a representation it renders as JSON text.
 */
export const utcMilliseconds = (column: RawBuilder<unknown>) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
