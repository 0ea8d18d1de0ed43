import { sql, type OperationNodeSource } from 'kysely';
import type { Executor } from './database.js';

/** An insert, update or delete builder with a RETURNING clause, not yet executed. */
export type Write = OperationNodeSource & { execute(): Promise<unknown[]> };

/**
 * Runs writes in one statement (one round trip) as data-modifying CTEs, and returns how many rows
 * each one touched. They run on one snapshot and cannot see each other's effects, so they must
 * touch different rows, and none may depend on another's order (the one-owner index, for one,
 * needs its two updates in order: run those on their own).
 */
export async function runWrites(ex: Executor, writes: readonly Write[]): Promise<number[]> {
  if (writes.length === 0) return [];
  if (writes.length === 1) return [(await writes[0]!.execute()).length];
  const name = (i: number) => sql.ref(`w${i}`);
  const { rows } = await sql<Record<string, number>>`
    with ${sql.join(writes.map((write, i) => sql`${name(i)} as (${write})`))}
    select ${sql.join(writes.map((_, i) => sql`(select count(*)::int from ${name(i)}) as ${name(i)}`))}
  `.execute(ex);
  const row = rows[0]!;
  return writes.map((_, i) => Number(row[`w${i}`]));
}
