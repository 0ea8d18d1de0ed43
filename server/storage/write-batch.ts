import { CompiledQuery, type Compilable } from 'kysely';
import type { Executor } from './database.js';
import { nameWhenFrequent } from './named-statements.js';
import { bind, isPlainObject, placeholders, slotsOf, type Slot } from './placeholders.js';

/** An insert, update or delete with a RETURNING clause, not yet executed. */
export type Write = Compilable & { execute(): Promise<unknown[]> };

/**
 * Runs writes in one statement (one round trip) as data-modifying CTEs, and returns how many rows
 * each one touched. They run on one snapshot and cannot see each other's effects, so they must
 * touch different rows, and none may depend on another's order (the one-owner index, for one,
 * needs its two updates in order: run those on their own).
 */
export async function runWrites(ex: Executor, writes: readonly Write[]): Promise<number[]> {
  if (writes.length === 0) return [];
  const compiled = writes.map((write) => write.compile());
  if (compiled.length === 1) return [(await run(ex, compiled[0]!)).rows.length];
  const { rows } = await run(ex, together(compiled));
  const row = rows[0] as Record<string, number>;
  return compiled.map((_, i) => Number(row[`w${i}`]));
}

/** Runs a compiled write, as a named statement once its text is a frequent one. */
function run(ex: Executor, compiled: CompiledQuery) {
  nameWhenFrequent(compiled.sql);
  return ex.executeQuery(compiled);
}

/** The text of writes run together, by the texts of the writes (their shapes are few). */
const composed = new Map<string, string>();
const COMPOSED_AT_MOST = 1_000;

/** Writes as the CTEs of one statement, their parameters numbered on from one to the next. */
function together(writes: readonly CompiledQuery[]): CompiledQuery {
  const key = writes.map((write) => write.sql).join('\u0000');
  let text = composed.get(key);
  if (text === undefined) {
    let offset = 0;
    const ctes = writes.map((write, i) => {
      const renumbered = renumber(write.sql, offset);
      offset += write.parameters.length;
      return `w${i} as (${renumbered})`;
    });
    const counts = writes.map((_, i) => `(select count(*)::int from w${i}) as w${i}`);
    text = `with ${ctes.join(', ')} select ${counts.join(', ')}`;
    if (composed.size >= COMPOSED_AT_MOST) composed.clear();
    composed.set(key, text);
  }
  return CompiledQuery.raw(
    text,
    writes.flatMap((write) => write.parameters),
  );
}

/** `$n` placeholders (outside quoted text) moved up by `offset`. */
function renumber(text: string, offset: number): string {
  if (offset === 0) return text;
  return text
    .split("'")
    .map((part, i) =>
      i % 2 === 1 ? part : part.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`),
    )
    .join("'");
}

/**
 * A write built and compiled once per shape, then only bound: `build` (a function that makes a
 * write from its arguments) is called the first time with a placeholder for each value among
 * them (in objects and arrays, each of theirs), and compiled; later calls with arguments of the
 * same shape (the same keys given in their objects, as many items in their arrays) only put the
 * values in. The values must reach the statement as query parameters, unchanged (an array as
 * one parameter, or each item as one), and the statement may depend on their shape, not on
 * them. For writes run with others in `runWrites`, on the hot path of a change: executing one
 * alone bypasses the executor's plugins.
 */
export function preparedWrite<A extends unknown[]>(
  build: (ex: Executor, ...args: A) => Write,
): (ex: Executor, ...args: A) => Write {
  const statements = new Map<string, { sql: string; slots: Slot[] }>();
  return (ex, ...args) => {
    const shape = shapeOf(args);
    let statement = statements.get(shape);
    if (statement === undefined) {
      const built = build(ex, ...(placeholders(args, []) as A)).compile();
      statement = { sql: built.sql, slots: slotsOf(built, 'a prepared write') };
      if (statements.size >= SHAPES_AT_MOST) statements.clear();
      statements.set(shape, statement);
    }
    const compiled = CompiledQuery.raw(statement.sql, bind(statement.slots, args));
    return {
      compile: () => compiled,
      execute: async () => (await ex.executeQuery(compiled)).rows,
    };
  };
}

/** What of the arguments a statement can depend on: the keys given, the number of items. */
function shapeOf(value: unknown): string {
  if (value === undefined) return '-';
  if (Array.isArray(value)) return `[${value.map(shapeOf).join(',')}]`;
  if (value === null) return 'null'; // Kysely may write `is null` into the text for it
  if (!isPlainObject(value)) return '';
  let shape = '{';
  for (const key in value) shape += `${JSON.stringify(key)}:${shapeOf(value[key])},`;
  return `${shape}}`;
}

/** Shapes of one write kept at most (they are few; a bound all the same). */
const SHAPES_AT_MOST = 200;
