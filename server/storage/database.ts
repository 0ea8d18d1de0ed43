import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, type Migration, type Transaction } from 'kysely';
import pg from 'pg';
import * as initial from './migrations/0001-initial.js';
import * as idempotency from './migrations/0002-idempotency.js';
import * as rateLimits from './migrations/0003-rate-limits.js';
import * as idempotencyCommitted from './migrations/0004-idempotency-committed.js';
import * as release2 from './migrations/0005-release-2.js';
import * as accessDecisions from './migrations/0006-access-decisions.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { countStatement } from './statement-count.js';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** A query target: the database or an open transaction. */
export type Executor = Db | Trx;

export interface DatabaseHandle {
  db: Db;
  /** `pglite` for the embedded engine (one session), `postgres` for a server. */
  engine: 'pglite' | 'postgres';
  /** Where the data lives, without credentials: for the start-up line. */
  location: string;
  /** True when the embedded engine keeps its data on disk. */
  persistent: boolean;
  close(): Promise<void>;
}

export const DEFAULT_PGLITE_DIR = './.data/pglite';

// Timestamps come back as Date and int8 (count(*)) as number on both engines.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Statement texts sent as named prepared statements on PostgreSQL, by text. */
const preparedTexts = new Map<string, string>();
const MAX_PREPARED = 200;

/**
 * Marks a statement text (fixed, with `$n` parameters) to be sent as a named prepared statement
 * on PostgreSQL: each connection parses it once, and after a few executions the server keeps its
 * plan, so a hot statement is no longer planned on every request. Texts that vary per request
 * must not be marked (each would hold a prepared statement per connection).
 */
export function prepareOnServer(text: string): void {
  if (preparedTexts.has(text) || preparedTexts.size >= MAX_PREPARED) return;
  preparedTexts.set(text, `mr_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
}

type Query = (text: unknown, values?: unknown) => unknown;

/** Sends the statements marked by `prepareOnServer` as named ones on this connection. */
function namingPrepared(client: pg.PoolClient) {
  const query = client.query.bind(client) as Query;
  (client as unknown as { query: Query }).query = (text, values) => {
    const name = typeof text === 'string' ? preparedTexts.get(text) : undefined;
    return name === undefined ? query(text, values) : query({ name, text, values });
  };
}

/**
 * Opens the database named by a DATABASE_URL value: unset → PGlite in ./.data/pglite,
 * `memory://` → PGlite in memory, `file:PATH` → PGlite at PATH, `postgres://…` → PostgreSQL.
 */
export async function openDatabase(url: string | undefined): Promise<DatabaseHandle> {
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      // A stuck statement or an abandoned transaction must not hold an organization's lock for long.
      statement_timeout: 15_000,
      idle_in_transaction_session_timeout: 30_000,
    });
    // An idle connection the server dropped is discarded by the pool; it must not crash the process.
    pool.on('error', () => undefined);
    pool.on('connect', namingPrepared);
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      log: countStatement,
    });
    const parsed = new URL(url);
    return {
      db,
      engine: 'postgres',
      location: `postgres://${parsed.host}${parsed.pathname}`,
      persistent: true,
      close: () => db.destroy(),
    };
  }
  let dataDir: string | undefined;
  if (!url) dataDir = DEFAULT_PGLITE_DIR;
  else if (url.startsWith('file:')) dataDir = url.slice('file:'.length);
  else if (url !== 'memory://') {
    throw new Error('DATABASE_URL must be postgres://…, memory:// or file:PATH');
  }
  if (dataDir) mkdirSync(resolve(dataDir), { recursive: true });
  const pglite = dataDir ? new PGlite(resolve(dataDir)) : new PGlite();
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite), log: countStatement });
  return {
    db,
    engine: 'pglite',
    location: dataDir ? `pglite:${dataDir}` : 'pglite:memory',
    persistent: Boolean(dataDir),
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-idempotency': idempotency,
  '0003-rate-limits': rateLimits,
  '0004-idempotency-committed': idempotencyCommitted,
  '0005-release-2': release2,
  '0006-access-decisions': accessDecisions,
};

/** Brings the schema up to date; safe to run from several processes at once on PostgreSQL. */
export async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
}
