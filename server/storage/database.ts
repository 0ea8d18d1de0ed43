import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type Transaction } from 'kysely';
import pg from 'pg';
import * as initial from './migrations/0001-initial.js';
import * as idempotency from './migrations/0002-idempotency.js';
import * as rateLimits from './migrations/0003-rate-limits.js';
import * as idempotencyCommitted from './migrations/0004-idempotency-committed.js';
import * as release2 from './migrations/0005-release-2.js';
import * as accessDecisions from './migrations/0006-access-decisions.js';
import * as auditKeyset from './migrations/0009-audit-keyset.js';
import * as organizationRevision from './migrations/0010-organization-revision.js';
import * as invitations from './migrations/0007-invitations.js';
import * as webhooks from './migrations/0008-webhooks.js';
import { classifyDatabaseError } from './database-errors.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { prepareNamedStatements } from './named-statements.js';
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
  /** PostgreSQL's pool as it stands (for metrics); PGlite has no pool. */
  poolStats?: () => { max: number; total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export const DEFAULT_PGLITE_DIR = './.data/pglite';

// Timestamps come back as Date and int8 (count(*)) as number on both engines.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface OpenOptions {
  /** Connections to PostgreSQL kept by this process (default 10). */
  poolSize?: number;
  /** How long making a connection, or waiting for a free one, may take (ms; default 5000). */
  connectTimeoutMs?: number;
  /** Told of a connection that broke (the pool discards it and makes a new one when needed). */
  onConnectionError?: (error: Error) => void;
  /**
   * For `memory://`: start from this dump of a PGlite data directory (`PGlite.dumpDataDir`)
   * rather than from an empty cluster, which PGlite takes seconds to make (the test suite starts
   * its services from one migrated cluster).
   */
  pgliteSnapshot?: Blob;
}

/**
 * Opens the database named by a DATABASE_URL value: unset → PGlite in ./.data/pglite,
 * `memory://` → PGlite in memory, `file:PATH` → PGlite at PATH, `postgres://…` → PostgreSQL.
 * A PostgreSQL server that cannot be reached, or does not answer within the connect timeout,
 * fails the opening with an error naming it.
 */
export async function openDatabase(
  url: string | undefined,
  options: OpenOptions = {},
): Promise<DatabaseHandle> {
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const onConnectionError = options.onConnectionError ?? (() => undefined);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: connectTimeoutMs,
      // A peer that vanished without closing the connection is noticed rather than waited for.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'member-roles',
      // A stuck statement or an abandoned transaction must not hold an organization's lock for long.
      statement_timeout: 15_000,
      idle_in_transaction_session_timeout: 30_000,
    });
    // A connection the server ends (restart, failover, pg_terminate_backend) emits 'error': an
    // idle one is discarded by the pool, which repeats the error on itself; one checked out by a
    // request has no listener of the pool's, and an unheard 'error' would end the process. Every
    // client gets a listener of its own; the request in flight sees the failure from its query,
    // and the pool discards the broken client when it is released.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', onConnectionError);
      prepareNamedStatements(client);
    });
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      log: countStatement,
    });
    const parsed = new URL(url);
    const location = `postgres://${parsed.host}${parsed.pathname}`;
    try {
      await firstAnswer(db, location, connectTimeoutMs);
    } catch (error) {
      await db.destroy().catch(() => undefined);
      throw error;
    }
    return {
      db,
      engine: 'postgres',
      location,
      persistent: true,
      poolStats: () => ({
        max: pool.options.max,
        total: pool.totalCount,
        idle: pool.idleCount,
        waiting: pool.waitingCount,
      }),
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
  const pglite = dataDir
    ? new PGlite(resolve(dataDir))
    : new PGlite(options.pgliteSnapshot ? { loadDataDir: options.pgliteSnapshot } : {});
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

/** The server must answer a first statement within the connect timeout (and a second's grace). */
async function firstAnswer(db: Db, location: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const seconds = Math.ceil(timeoutMs / 1000);
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the database at ${location} did not answer within ${seconds} s`)),
      timeoutMs + 1000,
    );
  });
  try {
    await Promise.race([sql`select 1`.execute(db), deadline]);
  } catch (error) {
    if ((error as Error).message.startsWith('the database at')) throw error;
    const failure = classifyDatabaseError(error);
    const reason =
      failure?.code === 'connect-timeout'
        ? `it did not answer within ${seconds} s`
        : `${(error as Error).message}${failure ? ` (${failure.code})` : ''}`;
    throw new Error(`could not connect to the database at ${location}: ${reason}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-idempotency': idempotency,
  '0003-rate-limits': rateLimits,
  '0004-idempotency-committed': idempotencyCommitted,
  '0005-release-2': release2,
  '0006-access-decisions': accessDecisions,
  '0007-invitations': invitations,
  '0008-webhooks': webhooks,
  '0009-audit-keyset': auditKeyset,
  '0010-organization-revision': organizationRevision,
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
