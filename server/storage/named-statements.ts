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
