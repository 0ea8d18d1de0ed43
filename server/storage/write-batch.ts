import { sql, type Compilable, type CompiledQuery, type OperationNodeSource } from 'kysely';
import type { Executor } from './database.js';
import { nameWhenFrequent } from './named-statements.js';

/** An insert, update or delete builder with a RETURNING clause, not yet executed. */
export type Write = OperationNodeSource & Compilable & { execute(): Promise<unknown[]> };

/**
 * Runs writes in one statement (one round trip) as data-modifying CTEs, and returns how many rows
 * each one touched. They run on one snapshot and cannot see each other's effects, so they must
 * touch different rows, and none may depend on another's order (the one-owner index, for one,
 * needs its two updates in order: run those on their own).
 */
export async function runWrites(ex: Executor, writes: readonly Write[]): Promise<number[]> {
  if (writes.length === 0) return [];
  if (writes.length === 1) return [(await run(ex, writes[0]!.compile())).rows.length];
  const name = (i: number) => sql.ref(`w${i}`);
  const { rows } = await run(
    ex,
    sql<Record<string, number>>`
      with ${sql.join(writes.map((write, i) => sql`${name(i)} as (${write})`))}
      select ${sql.join(writes.map((_, i) => sql`(select count(*)::int from ${name(i)}) as ${name(i)}`))}
    `.compile(ex),
  );
  const row = rows[0]!;
  return writes.map((_, i) => Number(row[`w${i}`]));
}

/** Runs a compiled write, as a named statement once its text is a frequent one. */
function run<R>(ex: Executor, compiled: CompiledQuery<R>) {
  nameWhenFrequent(compiled.sql);
  return ex.executeQuery<R>(compiled);
}
