import { createHash } from 'node:crypto';
import type pg from 'pg';

/** SQL texts run as named (server-side prepared) statements on PostgreSQL, by their name. */
const names = new Map<string, string>();

/**
 * Marks a statement's SQL as one to prepare once per connection: PostgreSQL then parses it once,
 * may keep a generic plan, and each call sends only its values. For the hot statements (the
 * one-statement reads), whose planning costs more than their execution.
 */
export function nameStatement(sql: string): void {
  if (!names.has(sql)) {
    names.set(sql, `mr_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`);
  }
}

/** Texts seen so far (not yet named) and how often; cleared when it grows past its bound. */
const seen = new Map<string, number>();
const SEEN_AT_MOST = 2_000;
/** Named statements at most (each is prepared once on each connection that runs it). */
const NAMED_AT_MOST = 500;
/** A text run this often is one of the few shapes a use case sends, not a one-off. */
const RUNS_BEFORE_NAMING = 3;

/**
 * Names a statement once it has run a few times (the writes of the use cases: their shapes are
 * few, but some depend on the data, such as how many audit events one change writes), up to a
 * bound: PostgreSQL then plans it once per connection instead of on every run.
 */
export function nameWhenFrequent(sql: string): void {
  if (names.has(sql) || names.size >= NAMED_AT_MOST) return;
  // A prepared statement whose answer's columns change (a column added by a newer process's
  // migration, under `returning *`) fails on every later run on its connection: never named.
  if (sql.includes('returning *')) return;
  const runs = (seen.get(sql) ?? 0) + 1;
  if (runs < RUNS_BEFORE_NAMING) {
    if (seen.size >= SEEN_AT_MOST) seen.clear();
    seen.set(sql, runs);
    return;
  }
  seen.delete(sql);
  nameStatement(sql);
}

/**
 * Makes a pg client run the named statements as prepared statements (node-postgres prepares a
 * named statement on a connection the first time it sends it there).
 */
export function prepareNamedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((text: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof text === 'string' ? names.get(text) : undefined;
    if (name === undefined || typeof values === 'function') return query(text, values, callback);
    return query({ name, text, values }, callback);
  }) as typeof client.query;
}
